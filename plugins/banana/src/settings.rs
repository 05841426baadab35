//! The `[plugins.banana.config]` keys (documented in the crate root), read
//! and checked once per call, and the model list they imply.

use crate::template;
use crate::types::{Dims, Host, Lifecycle, ModelInfo, Operation, PromptStyle, ProviderError};
use easel_plugin_kit::config::{bad_config, config_list, config_str, config_u64, config_url};
use easel_plugin_kit::size::parse_size;
use serde_json::Value;

/// The optional secret; header (Potassium) or `apiKey` body field (v4).
pub const SECRET: &str = "BANANA_API_KEY";
/// Potassium's default address (docs/providers/banana.md#potassium, #potassium).
pub const DEFAULT_POTASSIUM_URL: &str = "http://127.0.0.1:8000";
/// The header the V2 SDK sent the key in (docs/providers/banana.md#v2); any proxy header works.
pub const DEFAULT_KEY_HEADER: &str = "X-Banana-Api-Key";
const DEFAULT_BUSY_RETRY_MS: u64 = 1_000;
/// Asked-for timeout of one handler call; the host caps it at the
/// plugin's `timeout_secs`.
const DEFAULT_TIMEOUT_MS: u32 = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST JSON to a handler route, synchronously (docs/providers/banana.md#potassium).
    Potassium,
    /// `POST /start/v4/` then `POST /check/v4/` (docs/providers/banana.md#v4).
    V4,
}

/// One model: a Potassium route or a v4 model key.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    /// `/route` (Potassium) or the model key (v4).
    pub address: String,
}

pub struct Settings {
    pub mode: Mode,
    pub base: String,
    pub targets: Vec<Target>,
    pub template: Value,
    pub image_pointer: Option<String>,
    pub seed_pointer: Option<String>,
    pub key_header: String,
    /// Whether `BANANA_API_KEY` is configured.
    pub key_set: bool,
    pub max_images: u32,
    pub default_size: Option<(u32, u32)>,
    pub size_multiple: u32,
    pub busy_retry_ms: u64,
    pub timeout_ms: u32,
}

impl Settings {
    pub fn read(host: &dyn Host) -> Result<Settings, ProviderError> {
        let mode = match config_str(host, "mode").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("potassium") => Mode::Potassium,
            Some("v4") => Mode::V4,
            Some(_) => return Err(bad_config("mode", "\"potassium\" or \"v4\"")),
        };
        let base = match mode {
            Mode::Potassium => config_url(host, "base_url", DEFAULT_POTASSIUM_URL),
            Mode::V4 => {
                let base = config_url(host, "base_url", "");
                if base.is_empty() {
                    return Err(ProviderError::invalid(
                        None,
                        "mode = \"v4\" needs base_url: the address of your v4-compatible server (api.banana.dev shut down in 2024)",
                    ));
                }
                base
            }
        };
        let targets = match mode {
            Mode::Potassium => {
                let mut routes = config_list(host, "routes");
                if routes.is_empty() {
                    routes.push(config_str(host, "route").unwrap_or_else(|| "/".into()));
                }
                routes.iter().map(|r| route_target(r)).collect()
            }
            Mode::V4 => {
                let mut keys = config_list(host, "model_keys");
                if keys.is_empty() {
                    keys.extend(config_str(host, "model_key"));
                }
                if keys.is_empty() {
                    return Err(ProviderError::invalid(
                        None,
                        "mode = \"v4\" needs model_key (or model_keys): the model key(s) your v4 server knows",
                    ));
                }
                keys.into_iter().map(|k| Target { id: k.clone(), address: k }).collect()
            }
        };
        let template = template::parse(
            &config_str(host, "request_template").unwrap_or_else(|| template::DEFAULT_TEMPLATE.into()),
        )?;
        if !template.is_object() {
            return Err(bad_config("request_template", "a JSON object"));
        }
        let default_size = match config_str(host, "default_size") {
            None => None,
            Some(text) => {
                Some(parse_size(&text).ok_or_else(|| bad_config("default_size", "\"WxH\", e.g. \"768x768\""))?)
            }
        };
        let batch = template::takes_count(&template);
        let default_max = if batch || mode == Mode::Potassium { 4 } else { 1 };
        Ok(Settings {
            mode,
            base,
            targets,
            image_pointer: config_str(host, "image_pointer"),
            seed_pointer: config_str(host, "seed_pointer"),
            key_header: config_str(host, "api_key_header").unwrap_or_else(|| DEFAULT_KEY_HEADER.into()),
            key_set: host.secret_configured(SECRET),
            max_images: config_u64(host, "max_images").map_or(default_max, |n| n.clamp(1, 16) as u32),
            default_size,
            size_multiple: config_u64(host, "size_multiple").map_or(8, |n| n.clamp(1, 256) as u32),
            busy_retry_ms: config_u64(host, "busy_retry_ms").unwrap_or(DEFAULT_BUSY_RETRY_MS),
            timeout_ms: config_u64(host, "request_timeout_secs")
                .map_or(DEFAULT_TIMEOUT_MS, |s| (s.clamp(1, 86_400) * 1000) as u32),
            template,
        })
    }

    /// The server as messages name it.
    pub fn server_name(&self) -> &'static str {
        match self.mode {
            Mode::Potassium => "Potassium server",
            Mode::V4 => "Banana v4 server",
        }
    }

    /// The "not reachable" sentence of egress failures.
    pub fn not_reachable(&self) -> String {
        format!("{} not reachable at {}", self.server_name(), self.base)
    }

    /// The target a request's model id names.
    pub fn target(&self, model: &str) -> Result<&Target, ProviderError> {
        self.targets.iter().find(|t| t.id.eq_ignore_ascii_case(model) || t.address == model).ok_or_else(|| {
            ProviderError::invalid(
                Some("model"),
                format!(
                    "model `{model}` is not configured; configured: {}",
                    self.targets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// One model per target, with capabilities read off the template.
    pub fn models(&self) -> Vec<ModelInfo> {
        let features = template::features(&self.template);
        let image = template::takes_image(&self.template);
        let mut operations = vec![Operation::Generate];
        if image {
            operations.push(Operation::Edit);
            if features.mask {
                operations.push(Operation::Inpaint);
            }
        }
        let (w, h) = self.default_size.unwrap_or((512, 512));
        let used = template::placeholders(&self.template);
        let notes = format!(
            "Banana.dev's hosted service shut down in 2024; this model is a {} at {} that Easel reaches through the `banana` plugin. \
             What the prompt should look like depends on the model behind it. The request body comes from request_template, which passes: {}. \
             Parameters not in the template are not supported here.",
            match self.mode {
                Mode::Potassium => "handler route of a self-hosted Potassium server",
                Mode::V4 => "model key on a server that speaks the old Banana v4 start/check API",
            },
            self.base,
            used.join(", ")
        );
        self.targets
            .iter()
            .enumerate()
            .map(|(index, t)| ModelInfo {
                id: t.id.clone(),
                display_name: match self.mode {
                    Mode::Potassium => format!("Potassium handler {}", t.address),
                    Mode::V4 => format!("Banana v4 model {}", t.address),
                },
                aliases: if index == 0 && t.id != "default" { vec!["default".into()] } else { vec![] },
                operations: operations.clone(),
                aspect_ratios: vec![],
                size_tiers: vec![],
                sizes: vec![],
                min_side: 64,
                max_side: 2048,
                size_multiple: self.size_multiple,
                default_size: Dims { width: w, height: h },
                max_images: self.max_images,
                max_input_images: u32::from(image),
                features,
                output_formats: vec!["image/png".into(), "image/jpeg".into(), "image/webp".into()],
                lifecycle: if self.mode == Mode::V4 { Lifecycle::Legacy } else { Lifecycle::Current },
                replacement: None,
                price_per_image_usd: None,
                parameters: None,
                prompt_style: PromptStyle::WeightedTags,
                prompt_notes: Some(notes.clone()),
            })
            .collect()
    }

    /// Headers for a call: JSON, and the key header when the secret is set
    /// (Potassium mode; v4 puts the key in the body).
    pub fn headers(&self, request_id: Option<&str>) -> Vec<(String, String)> {
        let mut h = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".into(), "application/json".into()),
        ];
        if let Some(id) = request_id {
            h.push(("X-Banana-Request-Id".into(), id.into()));
        }
        if self.key_set && self.mode == Mode::Potassium {
            h.push((self.key_header.clone(), format!("{{{{secret:{SECRET}}}}}")));
        }
        h
    }
}

/// `/` → model `default`; `/txt2img` → `txt2img`.
fn route_target(route: &str) -> Target {
    let route = format!("/{}", route.trim().trim_start_matches('/'));
    let id = route.trim_matches('/');
    Target { id: if id.is_empty() { "default".into() } else { id.to_string() }, address: route }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_become_model_ids() {
        assert_eq!(route_target("/"), Target { id: "default".into(), address: "/".into() });
        assert_eq!(route_target("txt2img"), Target { id: "txt2img".into(), address: "/txt2img".into() });
        assert_eq!(route_target("/v1/gen/"), Target { id: "v1/gen".into(), address: "/v1/gen/".into() });
    }
}
