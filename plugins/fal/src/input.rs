//! Builds the fal queue submission for a request: which endpoint, and the
//! model input JSON with Easel's common parameters under fal's own names
//! (docs/providers/fal.md#inputs).

use crate::models::{self, BANANA_RATIOS, BANANA_TIERS, FLUX_PRESETS, FLUX_RATIOS, Family};
use crate::types::{Operation, ProviderError, Request, Role};
use crate::upscale;
use easel_plugin_kit::codec::data_uri;
use easel_plugin_kit::params;
use easel_plugin_kit::size::nearest_ratio;
use serde_json::{Map, Value, json};

/// Where to POST and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    /// Full endpoint id, e.g. `fal-ai/flux/dev/image-to-image`.
    pub endpoint: String,
    /// The model input JSON object.
    pub body: Value,
}

/// Map `request` to an endpoint and input. `output_format` (config) is sent
/// when the family accepts it: FLUX `jpeg`/`png`, nano-banana also `webp`.
/// The upscaler's input is built by [`upscale::build`].
pub fn build(request: &Request, output_format: Option<&str>) -> Result<Submit, ProviderError> {
    let family = models::family(&request.model);
    let endpoint = models::endpoint(&request.model, request.operation);
    let mut body = Map::new();
    body.insert("prompt".into(), json!(request.prompt));
    body.insert("num_images".into(), json!(request.count.max(1)));
    if let Some(seed) = request.seed {
        body.insert("seed".into(), json!(seed));
    }
    let references: Vec<String> =
        request.images.iter().filter(|i| i.role == Role::Reference).map(|i| data_uri(&i.mime_type, &i.data)).collect();
    let is_edit = request.operation != Operation::Generate;
    match family {
        Family::Flux => {
            if let Some(size) = flux_image_size(request) {
                body.insert("image_size".into(), size);
            }
            if let Some(steps) = request.steps {
                body.insert("num_inference_steps".into(), json!(steps));
            }
            if let Some(guidance) = request.guidance {
                body.insert("guidance_scale".into(), json!(guidance));
            }
            if is_edit {
                let first = references.first().ok_or_else(no_reference)?;
                body.insert("image_url".into(), json!(first));
                if let Some(strength) = request.strength {
                    body.insert("strength".into(), json!(strength));
                }
            }
            insert_format(&mut body, output_format, &["jpeg", "png"]);
        }
        Family::NanoBanana { resolution } => {
            let ratio = match (&request.aspect_ratio, request.size) {
                (Some(ratio), _) => Some(ratio.clone()),
                (None, Some(size)) => nearest_ratio(size.width, size.height, &BANANA_RATIOS).map(String::from),
                (None, None) if is_edit => Some("auto".into()),
                (None, None) => None,
            };
            if let Some(ratio) = ratio {
                body.insert("aspect_ratio".into(), json!(ratio));
            }
            if resolution {
                let tier =
                    request.size_tier.clone().or_else(|| request.size.map(|s| tier_for(s.width.max(s.height)).into()));
                if let Some(tier) = tier {
                    body.insert("resolution".into(), json!(tier.to_ascii_uppercase()));
                }
            }
            if is_edit {
                if references.is_empty() {
                    return Err(no_reference());
                }
                body.insert("image_urls".into(), json!(references));
            }
            insert_format(&mut body, output_format, &["png", "jpeg", "webp"]);
        }
        // An upscaler's input shares none of the fields above.
        Family::Clarity => return upscale::build(request, endpoint),
        Family::Generic => {
            if let Some(size) = request.size {
                body.insert("image_size".into(), json!({"width": size.width, "height": size.height}));
            }
            if let Some(ratio) = &request.aspect_ratio {
                body.insert("aspect_ratio".into(), json!(ratio));
            }
            if let Some(tier) = &request.size_tier {
                body.insert("resolution".into(), json!(tier));
            }
            if let Some(steps) = request.steps {
                body.insert("num_inference_steps".into(), json!(steps));
            }
            if let Some(guidance) = request.guidance {
                body.insert("guidance_scale".into(), json!(guidance));
            }
            if let Some(negative) = &request.negative_prompt {
                body.insert("negative_prompt".into(), json!(negative));
            }
            if let Some(strength) = request.strength {
                body.insert("strength".into(), json!(strength));
            }
            if let Some(first) = references.first() {
                body.insert("image_url".into(), json!(first));
                body.insert("image_urls".into(), json!(references));
            }
            if let Some(mask) = request.images.iter().find(|i| i.role == Role::Mask) {
                body.insert("mask_url".into(), json!(data_uri(&mask.mime_type, &mask.data)));
            }
            insert_format(&mut body, output_format, &["png", "jpeg", "webp"]);
        }
    }
    params::merge(&mut body, request.extra.as_deref(), RESERVED)?;
    Ok(Submit { endpoint, body: Value::Object(body) })
}

/// FLUX `image_size`: a preset name when the size or ratio matches one,
/// else `{width, height}`; `None` leaves fal's default (landscape_4_3).
fn flux_image_size(request: &Request) -> Option<Value> {
    if let Some(size) = request.size {
        let preset = FLUX_PRESETS.iter().find(|(_, w, h)| *w == size.width && *h == size.height);
        return Some(match preset {
            Some((name, _, _)) => json!(name),
            None => json!({"width": size.width, "height": size.height}),
        });
    }
    let ratio = request.aspect_ratio.as_deref()?;
    FLUX_RATIOS.iter().find(|(r, _)| *r == ratio).map(|(_, preset)| json!(preset))
}

/// The smallest nano-banana-pro tier whose long edge covers `long_edge`.
fn tier_for(long_edge: u32) -> &'static str {
    BANANA_TIERS.iter().find(|(_, px)| long_edge <= *px).map_or("4K", |(t, _)| t)
}

fn insert_format(body: &mut Map<String, Value>, format: Option<&str>, accepted: &[&str]) {
    if let Some(format) = format.map(|f| f.trim().to_ascii_lowercase()) {
        let format = if format == "jpg" { "jpeg".to_string() } else { format };
        if accepted.contains(&format.as_str()) {
            body.insert("output_format".into(), json!(format));
        }
    }
}

/// Input fields the plugin sets from Easel arguments (on some endpoint
/// family or other), refused in `params`: docs/providers/fal.md#params.
pub const RESERVED: &[params::Reserved<'static>] = &[
    ("prompt", "prompt"),
    ("negative_prompt", "negative_prompt"),
    ("num_images", "count"),
    ("seed", "seed"),
    ("image_size", "size or aspect_ratio"),
    ("aspect_ratio", "aspect_ratio or size"),
    ("resolution", "size_tier or size"),
    ("num_inference_steps", "steps"),
    ("guidance_scale", "guidance"),
    ("strength", "strength"),
    ("image_url", "images"),
    ("image_urls", "images"),
    ("mask_url", "images (role `mask`)"),
];

fn no_reference() -> ProviderError {
    ProviderError::invalid(Some("images"), "an edit needs at least one image with role `reference`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Dims, InputImage};

    fn png(role: Role) -> InputImage {
        InputImage { role, mime_type: "image/png".into(), width: 2, height: 2, data: b"\x89PNG".to_vec() }
    }

    #[test]
    fn flux_text_to_image() {
        let mut r = Request::text("fal-ai/flux/dev", "a fox");
        r.size = Some(Dims { width: 512, height: 384 });
        r.count = 2;
        r.seed = Some(7);
        r.steps = Some(20);
        r.guidance = Some(4.5);
        let s = build(&r, Some("png")).unwrap();
        assert_eq!(s.endpoint, "fal-ai/flux/dev");
        assert_eq!(
            s.body,
            json!({"prompt":"a fox","num_images":2,"seed":7,"image_size":{"width":512,"height":384},
                   "num_inference_steps":20,"guidance_scale":4.5,"output_format":"png"})
        );
        r.size = Some(Dims { width: 1024, height: 576 });
        assert_eq!(build(&r, None).unwrap().body["image_size"], json!("landscape_16_9"));
        r.size = None;
        r.aspect_ratio = Some("3:4".into());
        assert_eq!(build(&r, Some("webp")).unwrap().body["image_size"], json!("portrait_4_3"));
        assert!(build(&r, Some("webp")).unwrap().body.get("output_format").is_none());
    }

    #[test]
    fn flux_edit_uses_image_to_image() {
        let mut r = Request::text("fal-ai/flux/dev", "make it night");
        r.operation = Operation::Edit;
        r.strength = Some(0.6);
        r.images = vec![png(Role::Reference)];
        let s = build(&r, None).unwrap();
        assert_eq!(s.endpoint, "fal-ai/flux/dev/image-to-image");
        assert_eq!(s.body["image_url"], json!("data:image/png;base64,iVBORw=="));
        assert_eq!(s.body["strength"].as_f64().map(|f| (f * 10.0).round()), Some(6.0));
        r.images.clear();
        assert!(matches!(build(&r, None), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "images"));
    }

    #[test]
    fn banana_maps_sizes_to_ratio_and_tier() {
        let mut r = Request::text("fal-ai/nano-banana-pro", "a fox");
        r.size = Some(Dims { width: 1920, height: 1080 });
        let s = build(&r, Some("png")).unwrap();
        assert_eq!(s.body["aspect_ratio"], json!("16:9"));
        assert_eq!(s.body["resolution"], json!("2K"));
        r.size = None;
        r.operation = Operation::Edit;
        r.images = vec![png(Role::Reference), png(Role::Reference)];
        let s = build(&r, None).unwrap();
        assert_eq!(s.endpoint, "fal-ai/nano-banana-pro/edit");
        assert_eq!(s.body["aspect_ratio"], json!("auto"));
        assert_eq!(s.body["image_urls"].as_array().unwrap().len(), 2);
        let plain = build(&Request::text("fal-ai/nano-banana", "x"), None).unwrap();
        assert!(plain.body.get("resolution").is_none() && plain.body.get("aspect_ratio").is_none());
    }

    #[test]
    fn generic_endpoints_get_everything_and_params_join_the_input() {
        let mut r = Request::text("fal-ai/recraft/v3", "a fox");
        r.negative_prompt = Some("blur".into());
        r.images = vec![png(Role::Reference), png(Role::Mask)];
        r.extra =
            Some(r#"{"style":"digital_illustration","enable_safety_checker":false,"output_format":"png"}"#.into());
        r.count = 3;
        let s = build(&r, Some("jpeg")).unwrap();
        assert_eq!(s.endpoint, "fal-ai/recraft/v3");
        assert_eq!(s.body["style"], json!("digital_illustration"));
        assert_eq!(s.body["enable_safety_checker"], json!(false));
        assert_eq!(s.body["output_format"], json!("png"), "params go over the config's output_format");
        assert_eq!(s.body["num_images"], json!(3));
        assert!(s.body["mask_url"].as_str().unwrap().starts_with("data:image/png"));
        r.extra = Some(r#"{"num_images": 1}"#.into());
        let refused = build(&r, None).unwrap_err();
        assert!(
            matches!(&refused, ProviderError::InvalidRequest { field: Some(f), message } if f == "params.num_images" && message.contains("count argument")),
            "{refused:?}"
        );
        r.extra = Some("[1]".into());
        assert!(
            matches!(build(&r, None).unwrap_err(), ProviderError::InvalidRequest { field: Some(f), .. } if f == "params")
        );
    }
}
