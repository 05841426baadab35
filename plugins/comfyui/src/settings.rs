//! Operator settings from `[plugins.comfyui.config]` (strings stay strings,
//! other TOML values arrive as JSON text — WIT `config`), per-request
//! `extra` JSON, and the size rules for a request.
//!
//! | key                  | default                 | meaning                                  |
//! |----------------------|-------------------------|------------------------------------------|
//! | `base_url`           | `http://127.0.0.1:8188` | the ComfyUI server                       |
//! | `default_checkpoint` | first listed checkpoint | default model                            |
//! | `workflow_txt2img`   | built-in                | API-format workflow JSON text            |
//! | `workflow_img2img`   | built-in                | API-format workflow JSON text            |
//! | `sampler`            | `euler`                 | `{{sampler}}` (KSampler `sampler_name`)  |
//! | `scheduler`          | `normal`                | `{{scheduler}}`                          |
//! | `steps`              | 20                      | `{{steps}}` when the request gives none  |
//! | `cfg`                | 7.0                     | `{{cfg}}` when the request gives none    |
//! | `denoise`            | 0.75                    | img2img `{{denoise}}` without strength   |
//! | `negative_prompt`    | empty                   | `{{negative_prompt}}` without one        |
//! | `max_images`         | 8                       | largest batch                            |
//! | `default_size`       | by checkpoint name      | `WxH` when the request gives no size     |

use crate::api::{self, DEFAULT_BASE_URL};
use crate::types::{Dims, Host, ProviderError};
use easel_plugin_kit::config::config_url;
use serde_json::Value;

pub const MIN_SIDE: u32 = 64;
pub const MAX_SIDE: u32 = 4096;
pub const SIZE_MULTIPLE: u32 = 8;
/// Longest side an img2img input keeps by default (larger inputs are scaled down).
pub const MAX_EDIT_SIDE: u32 = 2048;

/// The optional secret for a token-checking proxy in front of ComfyUI.
pub const TOKEN_SECRET: &str = "COMFYUI_TOKEN";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub base: String,
    pub default_checkpoint: Option<String>,
    pub workflow_txt2img: Option<String>,
    pub workflow_img2img: Option<String>,
    pub sampler: String,
    pub scheduler: String,
    pub steps: u32,
    pub cfg: f64,
    pub denoise: f64,
    pub negative_prompt: String,
    pub max_images: u32,
    pub default_size: Option<Dims>,
}

impl Settings {
    pub fn load(host: &dyn Host) -> Result<Settings, ProviderError> {
        let get = |key: &str| host.config(key).filter(|v| !v.trim().is_empty());
        let number = |key: &str, default: f64, min: f64, max: f64| -> Result<f64, ProviderError> {
            match get(key) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(ProviderError::invalid(
                        None,
                        format!("config `{key}` must be a number in {min}..={max}, not `{text}`"),
                    )),
                },
            }
        };
        let default_size = match get("default_size") {
            None => None,
            Some(text) => Some(parse_size(&text).ok_or_else(|| {
                ProviderError::invalid(None, format!("config `default_size` must be `WxH` with sides {MIN_SIDE}..={MAX_SIDE} in multiples of {SIZE_MULTIPLE}, not `{text}`"))
            })?),
        };
        Ok(Settings {
            base: api::normalize_base(&config_url(host, "base_url", DEFAULT_BASE_URL))?,
            default_checkpoint: get("default_checkpoint"),
            workflow_txt2img: get("workflow_txt2img"),
            workflow_img2img: get("workflow_img2img"),
            sampler: get("sampler").unwrap_or_else(|| "euler".into()),
            scheduler: get("scheduler").unwrap_or_else(|| "normal".into()),
            steps: number("steps", 20.0, 1.0, 10_000.0)? as u32,
            cfg: number("cfg", 7.0, 0.0, 100.0)?,
            denoise: number("denoise", 0.75, 0.0, 1.0)?,
            negative_prompt: get("negative_prompt").unwrap_or_default(),
            max_images: number("max_images", 8.0, 1.0, 64.0)? as u32,
            default_size,
        })
    }

    /// The default output size for a checkpoint: config `default_size`, else
    /// 1024² for names that look like SDXL/SD3/FLUX-class models, else 512².
    pub fn default_size_for(&self, checkpoint: &str) -> Dims {
        if let Some(size) = self.default_size {
            return size;
        }
        let name = checkpoint.to_ascii_lowercase();
        let big = [
            "xl",
            "sd3",
            "flux",
            "1024",
            "pony",
            "illustrious",
            "noob",
            "playground",
            "cascade",
            "hidream",
            "qwen",
            "auraflow",
        ]
        .iter()
        .any(|hint| name.contains(hint));
        let side = if big { 1024 } else { 512 };
        Dims { width: side, height: side }
    }
}

/// Values from the request's `params` (a JSON object, parsed by
/// [`easel_plugin_kit::params::parse`]): `sampler` and `scheduler`
/// override the config for one request; other keys are ignored
/// (docs/providers/comfyui.md#params).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    pub sampler: Option<String>,
    pub scheduler: Option<String>,
}

impl Extra {
    pub fn parse(extra: Option<&str>) -> Result<Extra, ProviderError> {
        let object = easel_plugin_kit::params::parse(extra)?;
        let string = |key: &str| -> Result<Option<String>, ProviderError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ProviderError::invalid(
                    Some(&format!("params.{key}")),
                    "must be a string, the name of a ComfyUI sampler or scheduler",
                )),
            }
        };
        Ok(Extra { sampler: string("sampler")?, scheduler: string("scheduler")? })
    }
}

/// `WxH` (also `W×H`, `W,H`: the kit's [`parse_size`](easel_plugin_kit::size::parse_size)) with valid sides.
pub fn parse_size(text: &str) -> Option<Dims> {
    let (width, height) = easel_plugin_kit::size::parse_size(text)?;
    let dims = Dims { width, height };
    valid_size(dims).then_some(dims)
}

pub fn valid_size(d: Dims) -> bool {
    [d.width, d.height].iter().all(|s| (MIN_SIDE..=MAX_SIDE).contains(s) && s % SIZE_MULTIPLE == 0)
}

/// Nearest multiple of 8 within `MIN_SIDE..=MAX_SIDE`.
pub fn round_side(side: f64) -> u32 {
    let rounded = (side / SIZE_MULTIPLE as f64).round() as u32 * SIZE_MULTIPLE;
    rounded.clamp(MIN_SIDE, MAX_SIDE)
}

/// Output size of a request: the explicit size (checked), else `W:H` at the
/// default long side, else an img2img input's size (long side at most
/// [`MAX_EDIT_SIDE`], rounded to multiples of 8), else `default`.
pub fn output_size(
    size: Option<Dims>,
    aspect_ratio: Option<&str>,
    input: Option<Dims>,
    default: Dims,
) -> Result<Dims, ProviderError> {
    if let Some(size) = size {
        for (field, side) in [("width", size.width), ("height", size.height)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&side) || side % SIZE_MULTIPLE != 0 {
                return Err(ProviderError::invalid(
                    Some(field),
                    format!(
                        "ComfyUI latents need {field} in {MIN_SIDE}..={MAX_SIDE} and a multiple of {SIZE_MULTIPLE}; got {side}"
                    ),
                ));
            }
        }
        return Ok(size);
    }
    if let Some(ratio) = aspect_ratio {
        let parsed = ratio
            .split_once(':')
            .and_then(|(w, h)| Some((w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?)));
        let Some((w, h)) = parsed.filter(|(w, h)| *w > 0.0 && *h > 0.0) else {
            return Err(ProviderError::invalid(Some("aspect_ratio"), format!("`{ratio}` is not W:H")));
        };
        let long = default.width.max(default.height) as f64;
        return Ok(if w >= h {
            Dims { width: round_side(long), height: round_side(long * h / w) }
        } else {
            Dims { width: round_side(long * w / h), height: round_side(long) }
        });
    }
    if let Some(input) = input.filter(|d| d.width > 0 && d.height > 0) {
        let long = input.width.max(input.height) as f64;
        let scale = if long > MAX_EDIT_SIDE as f64 { MAX_EDIT_SIDE as f64 / long } else { 1.0 };
        return Ok(Dims {
            width: round_side(input.width as f64 * scale),
            height: round_side(input.height as f64 * scale),
        });
    }
    Ok(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(width: u32, height: u32) -> Dims {
        Dims { width, height }
    }

    #[test]
    fn sizes() {
        assert_eq!(output_size(Some(d(640, 480)), None, None, d(512, 512)).unwrap(), d(640, 480));
        assert!(output_size(Some(d(650, 480)), None, None, d(512, 512)).is_err());
        assert_eq!(output_size(None, Some("16:9"), None, d(1024, 1024)).unwrap(), d(1024, 576));
        assert_eq!(output_size(None, Some("2:3"), None, d(512, 512)).unwrap(), d(344, 512));
        assert_eq!(output_size(None, None, Some(d(321, 243)), d(512, 512)).unwrap(), d(320, 240));
        assert_eq!(output_size(None, None, Some(d(4000, 3000)), d(512, 512)).unwrap(), d(2048, 1536));
        assert_eq!(output_size(None, None, None, d(512, 512)).unwrap(), d(512, 512));
    }

    #[test]
    fn size_text() {
        assert_eq!(parse_size("768x512"), Some(d(768, 512)));
        assert_eq!(parse_size("768 × 512"), Some(d(768, 512)));
        assert_eq!(parse_size("770x512"), None);
    }

    #[test]
    fn extra_overrides() {
        let e = Extra::parse(Some(r#"{"sampler": "dpmpp_2m", "scheduler": "karras", "other": 1}"#)).unwrap();
        assert_eq!((e.sampler.as_deref(), e.scheduler.as_deref()), (Some("dpmpp_2m"), Some("karras")));
        assert!(Extra::parse(Some("[1]")).is_err());
        assert_eq!(Extra::parse(None).unwrap(), Extra::default());
    }
}
