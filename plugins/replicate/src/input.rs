//! Builds a Replicate create-prediction call: which endpoint (official model
//! or version, docs/providers/replicate.md#calls) and the model `input` with Easel's common
//! parameters under the model's own names (docs/providers/replicate.md#models).

use crate::models::{self, BANANA_RATIOS, BANANA_TIERS, FLUX_RATIOS, Family};
use crate::types::{Operation, ProviderError, Request, Role};
use crate::upscale;
use easel_plugin_kit::codec::data_uri;
use easel_plugin_kit::params;
use easel_plugin_kit::size::nearest_ratio;
use serde_json::{Map, Value, json};

/// The create call: path below the API base (`/models/{owner}/{name}/predictions`
/// or `/predictions`) and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub path: String,
    pub body: Value,
}

/// Map a request to its create call. `output_format` (config) is sent when
/// the family takes it (`jpeg` is spelled `jpg` on Replicate).
pub fn build(request: &Request, output_format: Option<&str>) -> Result<Create, ProviderError> {
    let id = models::canonical(&request.model);
    // A built-in community model runs its pinned version through `/predictions`.
    let id = match models::pinned_version(&id) {
        Some(version) => format!("{id}:{version}"),
        None => id,
    };
    let input = build_input(request, output_format)?;
    let (name, version) = match id.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None if is_version(&id) => ("", Some(id.as_str())),
        None => (id.as_str(), None),
    };
    if let Some(version) = version {
        if !is_version(version) {
            return Err(ProviderError::invalid(
                Some("model"),
                format!("`{version}` is not a Replicate version id (64 hex digits)"),
            ));
        }
        return Ok(Create { path: "/predictions".into(), body: json!({"version": version, "input": input}) });
    }
    let (owner, model) =
        name.split_once('/').filter(|(o, m)| !o.is_empty() && !m.is_empty() && !m.contains('/')).ok_or_else(|| {
            ProviderError::invalid(
                Some("model"),
                format!("`{id}` is not a Replicate model id (owner/name or owner/name:version)"),
            )
        })?;
    Ok(Create { path: format!("/models/{owner}/{model}/predictions"), body: json!({"input": input}) })
}

fn is_version(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The model `input` object (an upscaler's comes from [`upscale::esrgan_input`]).
pub fn build_input(request: &Request, output_format: Option<&str>) -> Result<Map<String, Value>, ProviderError> {
    let family = models::family(&request.model);
    if family == Family::Esrgan {
        return upscale::esrgan_input(request);
    }
    let mut input = Map::new();
    input.insert("prompt".into(), json!(request.prompt));
    if let Some(seed) = request.seed {
        input.insert("seed".into(), json!(seed));
    }
    let references: Vec<String> =
        request.images.iter().filter(|i| i.role == Role::Reference).map(|i| data_uri(&i.mime_type, &i.data)).collect();
    let is_edit = request.operation != Operation::Generate;
    if is_edit && references.is_empty() {
        return Err(ProviderError::invalid(Some("images"), "an edit needs at least one image with role `reference`"));
    }
    match family {
        // Built above: an upscaler's input shares none of these fields.
        Family::Esrgan => {}
        Family::Flux { dev } => {
            input.insert("num_outputs".into(), json!(request.count.max(1)));
            if let Some(ratio) = ratio_for(request, &FLUX_RATIOS) {
                input.insert("aspect_ratio".into(), json!(ratio));
            }
            if dev {
                if let Some(steps) = request.steps {
                    input.insert("num_inference_steps".into(), json!(steps));
                }
                if let Some(guidance) = request.guidance {
                    input.insert("guidance".into(), json!(guidance));
                }
                if let Some(first) = references.first() {
                    input.insert("image".into(), json!(first));
                    if let Some(strength) = request.strength {
                        input.insert("prompt_strength".into(), json!(strength));
                    }
                }
            }
            insert_format(&mut input, output_format, &["webp", "jpg", "png"]);
        }
        Family::NanoBanana { pro } => {
            match ratio_for(request, &BANANA_RATIOS) {
                Some(ratio) => input.insert("aspect_ratio".into(), json!(ratio)),
                None if is_edit => input.insert("aspect_ratio".into(), json!("match_input_image")),
                None => None,
            };
            if pro {
                let tier =
                    request.size_tier.clone().or_else(|| request.size.map(|s| tier_for(s.width.max(s.height)).into()));
                if let Some(tier) = tier {
                    input.insert("resolution".into(), json!(tier.to_ascii_uppercase()));
                }
            }
            if !references.is_empty() {
                input.insert("image_input".into(), json!(references));
            }
            insert_format(&mut input, output_format, &["jpg", "png"]);
        }
        Family::Generic => {
            if request.count > 1 {
                input.insert("num_outputs".into(), json!(request.count));
            }
            if let Some(ratio) = &request.aspect_ratio {
                input.insert("aspect_ratio".into(), json!(ratio));
            }
            if let Some(size) = request.size {
                input.insert("width".into(), json!(size.width));
                input.insert("height".into(), json!(size.height));
            }
            if let Some(steps) = request.steps {
                input.insert("num_inference_steps".into(), json!(steps));
            }
            if let Some(guidance) = request.guidance {
                input.insert("guidance_scale".into(), json!(guidance));
            }
            if let Some(negative) = &request.negative_prompt {
                input.insert("negative_prompt".into(), json!(negative));
            }
            if let Some(first) = references.first() {
                input.insert("image".into(), json!(first));
            }
            if let Some(mask) = request.images.iter().find(|i| i.role == Role::Mask) {
                input.insert("mask".into(), json!(data_uri(&mask.mime_type, &mask.data)));
            }
            if let Some(strength) = request.strength {
                input.insert("prompt_strength".into(), json!(strength));
            }
        }
    }
    params::merge(&mut input, request.extra.as_deref(), RESERVED)?;
    Ok(input)
}

/// The request's ratio, or the nearest offered one to its width/height.
fn ratio_for(request: &Request, offered: &[&str]) -> Option<String> {
    match (&request.aspect_ratio, request.size) {
        (Some(ratio), _) => Some(ratio.clone()),
        (None, Some(size)) => nearest_ratio(size.width, size.height, offered).map(String::from),
        (None, None) => None,
    }
}

fn tier_for(long_edge: u32) -> &'static str {
    BANANA_TIERS.iter().find(|(_, px)| long_edge <= *px).map_or("4K", |(t, _)| t)
}

fn insert_format(input: &mut Map<String, Value>, format: Option<&str>, accepted: &[&str]) {
    if let Some(format) = format.map(|f| f.trim().to_ascii_lowercase()) {
        let format = if format == "jpeg" { "jpg".to_string() } else { format };
        if accepted.contains(&format.as_str()) {
            input.insert("output_format".into(), json!(format));
        }
    }
}

/// Input fields the plugin sets from Easel arguments (for some model
/// family or other), refused in `params`: docs/providers/replicate.md#params.
pub const RESERVED: &[params::Reserved<'static>] = &[
    ("prompt", "prompt"),
    ("negative_prompt", "negative_prompt"),
    ("num_outputs", "count"),
    ("seed", "seed"),
    ("aspect_ratio", "aspect_ratio or size"),
    ("width", "size"),
    ("height", "size"),
    ("resolution", "size_tier or size"),
    ("num_inference_steps", "steps"),
    ("guidance", "guidance"),
    ("guidance_scale", "guidance"),
    ("prompt_strength", "strength"),
    ("image", "images"),
    ("image_input", "images"),
    ("mask", "images (role `mask`)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Dims, InputImage};

    const V: &str = "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b";

    fn png(role: Role) -> InputImage {
        InputImage { role, mime_type: "image/png".into(), width: 2, height: 2, data: b"\x89PNG".to_vec() }
    }

    #[test]
    fn official_models_and_versions() {
        let mut r = Request::text("flux-schnell", "a red fox");
        r.aspect_ratio = Some("16:9".into());
        r.count = 2;
        let c = build(&r, Some("png")).unwrap();
        assert_eq!(c.path, "/models/black-forest-labs/flux-schnell/predictions");
        assert_eq!(
            c.body,
            json!({"input":{"prompt":"a red fox","num_outputs":2,"aspect_ratio":"16:9","output_format":"png"}})
        );
        let r = Request::text(&format!("stability-ai/sdxl:{V}"), "x");
        let c = build(&r, None).unwrap();
        assert_eq!((c.path.as_str(), c.body["version"].as_str()), ("/predictions", Some(V)));
        assert!(build(&Request::text(V, "x"), None).is_ok());
        assert!(
            matches!(build(&Request::text("sdxl", "x"), None), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "model")
        );
        assert!(build(&Request::text("a/b:nothex", "x"), None).is_err());
    }

    #[test]
    fn flux_dev_edit_and_size_mapping() {
        let mut r = Request::text("black-forest-labs/flux-dev", "make it night");
        r.operation = Operation::Edit;
        r.images = vec![png(Role::Reference)];
        r.strength = Some(0.5);
        r.steps = Some(30);
        r.size = Some(Dims { width: 1344, height: 768 });
        let input = build_input(&r, Some("jpeg")).unwrap();
        assert_eq!(input["image"], json!("data:image/png;base64,iVBORw=="));
        assert_eq!(input["prompt_strength"], json!(0.5));
        assert_eq!(input["num_inference_steps"], json!(30));
        assert_eq!(input["aspect_ratio"], json!("16:9"));
        assert_eq!(input["output_format"], json!("jpg"));
        r.images.clear();
        assert!(build_input(&r, None).is_err());
    }

    #[test]
    fn banana_and_generic_inputs() {
        let mut r = Request::text("google/nano-banana-pro", "a cat");
        r.operation = Operation::Edit;
        r.images = vec![png(Role::Reference), png(Role::Reference)];
        r.size_tier = Some("2k".into());
        let input = build_input(&r, Some("webp")).unwrap();
        assert_eq!(input["image_input"].as_array().unwrap().len(), 2);
        assert_eq!(
            (input["aspect_ratio"].as_str(), input["resolution"].as_str()),
            (Some("match_input_image"), Some("2K"))
        );
        assert!(input.get("output_format").is_none() && input.get("num_outputs").is_none());
        let mut g = Request::text("me/model", "x");
        g.size = Some(Dims { width: 640, height: 480 });
        g.extra = Some(r#"{"scheduler":"K_EULER"}"#.into());
        let input = build_input(&g, Some("png")).unwrap();
        assert_eq!(
            serde_json::Value::Object(input),
            json!({"prompt":"x","width":640,"height":480,"scheduler":"K_EULER"})
        );
    }

    #[test]
    fn params_join_the_input_but_not_over_arguments() {
        let mut r = Request::text("black-forest-labs/flux-schnell", "a fox");
        r.extra = Some(r#"{"output_quality": 90, "disable_safety_checker": true}"#.into());
        let input = build_input(&r, None).unwrap();
        assert_eq!(
            (input["output_quality"].clone(), input["disable_safety_checker"].clone()),
            (json!(90), json!(true))
        );
        r.extra = Some(r#"{"num_outputs": 4}"#.into());
        let Err(ProviderError::InvalidRequest { field, message }) = build_input(&r, None) else { panic!() };
        assert_eq!(
            (field.as_deref(), message.as_str()),
            (Some("params.num_outputs"), "use the count argument instead: the plugin sets `num_outputs` from it")
        );
        r.extra = Some(r#""fast""#.into());
        let Err(ProviderError::InvalidRequest { field, .. }) = build_input(&r, None) else { panic!() };
        assert_eq!(field.as_deref(), Some("params"));
    }
}
