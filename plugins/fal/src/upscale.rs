//! Upscale requests for fal's Clarity Upscaler (`fal-ai/clarity-upscaler`,
//! docs/providers/fal.md#upscaling): the input image as `image_url`, the factor the
//! host's target size gives as `upscale_factor`, and the SD-style prompt
//! fields only when the request sets them.

use crate::input::Submit;
use crate::types::{Dims, InputImage, Operation, ProviderError, Request, Role};
use easel_plugin_kit::codec::data_uri;
use easel_plugin_kit::params;
use serde_json::{Map, Value, json};

/// Endpoint id of fal's Clarity Upscaler (docs/providers/fal.md#upscaling).
pub const CLARITY: &str = "fal-ai/clarity-upscaler";

/// The `upscale_factor` range fal documents for Clarity, both ends included
/// (default 2; docs/providers/fal.md#upscaling) [P].
pub const FACTOR_RANGE: (f64, f64) = (1.0, 4.0);

/// The submission for an upscale with Clarity, to `endpoint` (its own id).
///
/// The body holds `image_url` (the reference image as a `data:` URI, which
/// fal accepts for file inputs) and `upscale_factor` = target width / input
/// width; `prompt` and `negative_prompt` only when not blank (fal then uses
/// its defaults), `seed`, `num_inference_steps` (steps) and `guidance_scale`
/// (guidance) when set; then the caller's `params` (e.g. `creativity`,
/// `resemblance`, `enable_safety_checker`) merged in.
///
/// Errors: any operation but upscale is `unsupported`; no reference image
/// (field `image`), no target size or a factor outside 1–4 (field `scale`,
/// never clamped: the caller asked for that size), a reserved key in
/// `params` (field `params.<key>`).
pub fn build(request: &Request, endpoint: String) -> Result<Submit, ProviderError> {
    if request.operation != Operation::Upscale {
        return Err(ProviderError::Unsupported(format!(
            "`{CLARITY}` only upscales images: use upscale_image with it, or another fal model for this"
        )));
    }
    let image = request.images.iter().find(|i| i.role == Role::Reference).ok_or_else(|| {
        ProviderError::invalid(Some("image"), "an upscale needs the image to upscale (one input with role `reference`)")
    })?;
    let factor = upscale_factor(image, request.size)?;
    let mut body = Map::new();
    body.insert("image_url".into(), json!(data_uri(&image.mime_type, &image.data)));
    body.insert("upscale_factor".into(), json!(factor));
    if !request.prompt.trim().is_empty() {
        body.insert("prompt".into(), json!(request.prompt));
    }
    if let Some(negative) = request.negative_prompt.as_deref().filter(|n| !n.trim().is_empty()) {
        body.insert("negative_prompt".into(), json!(negative));
    }
    if let Some(seed) = request.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(steps) = request.steps {
        body.insert("num_inference_steps".into(), json!(steps));
    }
    if let Some(guidance) = request.guidance {
        body.insert("guidance_scale".into(), json!(guidance));
    }
    params::merge(&mut body, request.extra.as_deref(), RESERVED)?;
    Ok(Submit { endpoint, body: Value::Object(body) })
}

/// `upscale_factor` for `image` to reach `target`: the width ratio, exact
/// (not rounded), so that input width × factor is the target width.
///
/// Errors (field `scale`): no target size, an input without a width, or a
/// ratio outside [`FACTOR_RANGE`].
pub fn upscale_factor(image: &InputImage, target: Option<Dims>) -> Result<f64, ProviderError> {
    let target = target.ok_or_else(|| {
        ProviderError::invalid(Some("scale"), "an upscale needs a target size (the input's size times the scale)")
    })?;
    if image.width == 0 {
        return Err(ProviderError::invalid(Some("image"), "the input image has no width"));
    }
    let factor = f64::from(target.width) / f64::from(image.width);
    let (low, high) = FACTOR_RANGE;
    if !(low..=high).contains(&factor) {
        return Err(ProviderError::invalid(
            Some("scale"),
            format!(
                "`{CLARITY}` upscales by {low} to {high} (its upscale_factor); {}x{} to {}x{} would need {factor:.2}",
                image.width, image.height, target.width, target.height
            ),
        ));
    }
    Ok(factor)
}

/// Input fields the upscale body sets from Easel arguments, refused in
/// `params` (docs/providers/fal.md#upscaling).
pub const RESERVED: &[params::Reserved<'static>] = &[
    ("image_url", "image"),
    ("upscale_factor", "scale"),
    ("prompt", "prompt"),
    ("negative_prompt", "negative_prompt"),
    ("seed", "seed"),
    ("num_inference_steps", "steps"),
    ("guidance_scale", "guidance"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn upscale(width: u32, height: u32, target: (u32, u32)) -> Request {
        Request {
            operation: Operation::Upscale,
            images: vec![InputImage {
                role: Role::Reference,
                mime_type: "image/png".into(),
                width,
                height,
                data: b"\x89PNG".to_vec(),
            }],
            size: Some(Dims { width: target.0, height: target.1 }),
            ..Request::text(CLARITY, "")
        }
    }

    #[test]
    fn the_factor_is_the_width_ratio_and_an_empty_prompt_is_left_to_fal() {
        let s = build(&upscale(512, 384, (1024, 768)), CLARITY.into()).unwrap();
        assert_eq!(s.body, json!({"image_url": "data:image/png;base64,iVBORw==", "upscale_factor": 2.0}));
        let odd = build(&upscale(427, 640, (641, 960)), CLARITY.into()).unwrap();
        let factor = odd.body["upscale_factor"].as_f64().unwrap();
        assert_eq!((427.0 * factor).round(), 641.0, "input width × factor is the target width");
        let mut r = upscale(100, 100, (400, 400));
        r.prompt = "   ".into();
        r.negative_prompt = Some(String::new());
        assert_eq!(build(&r, CLARITY.into()).unwrap().body["upscale_factor"], json!(4.0), "4 is in range");
        assert!(build(&r, CLARITY.into()).unwrap().body.get("prompt").is_none());
    }

    #[test]
    fn prompts_and_sampling_settings_go_under_fals_names() {
        let mut r = upscale(256, 256, (768, 768));
        r.prompt = "sharp brick texture".into();
        r.negative_prompt = Some("blur".into());
        r.seed = Some(7);
        r.steps = Some(30);
        r.guidance = Some(5.5);
        r.extra = Some(r#"{"creativity": 0.5, "enable_safety_checker": false}"#.into());
        let s = build(&r, CLARITY.into()).unwrap();
        assert_eq!(
            s.body,
            json!({"image_url": "data:image/png;base64,iVBORw==", "upscale_factor": 3.0, "prompt": "sharp brick texture",
                   "negative_prompt": "blur", "seed": 7, "num_inference_steps": 30, "guidance_scale": 5.5,
                   "creativity": 0.5, "enable_safety_checker": false})
        );
    }

    #[test]
    fn out_of_range_factors_missing_inputs_and_reserved_params_are_refused() {
        let field = |r: &Request| match build(r, CLARITY.into()) {
            Err(ProviderError::InvalidRequest { field, message }) => (field.unwrap_or_default(), message),
            other => panic!("{other:?}"),
        };
        let (f, message) = field(&upscale(512, 512, (2600, 2600)));
        assert_eq!(f, "scale");
        assert!(message.contains("1 to 4") && message.contains("5.08"), "{message}");
        assert_eq!(field(&upscale(512, 512, (500, 500))).0, "scale", "below 1 is not an upscale");
        let mut r = upscale(512, 512, (1024, 1024));
        r.size = None;
        assert_eq!(field(&r).0, "scale");
        r.size = Some(Dims { width: 1024, height: 1024 });
        r.images.clear();
        assert_eq!(field(&r).0, "image");
        let mut r = upscale(512, 512, (1024, 1024));
        r.extra = Some(r#"{"upscale_factor": 3}"#.into());
        let (f, message) = field(&r);
        assert_eq!(f, "params.upscale_factor");
        assert!(message.contains("scale argument"), "{message}");
        let mut r = upscale(512, 512, (1024, 1024));
        r.operation = Operation::Generate;
        assert!(matches!(build(&r, CLARITY.into()), Err(ProviderError::Unsupported(m)) if m.contains("only upscales")));
    }
}
