//! Upscale requests for `nightmareai/real-esrgan` on Replicate
//! (docs/providers/replicate.md#upscaling): a community model, so it runs
//! by a pinned version through `POST /v1/predictions`, with the input image
//! as `image` and the factor the host's target size gives as `scale`.

use crate::types::{Dims, InputImage, Operation, ProviderError, Request, Role};
use easel_plugin_kit::codec::data_uri;
use easel_plugin_kit::params;
use serde_json::{Map, Value, json};

/// The model's `owner/name` (docs/providers/replicate.md#upscaling).
pub const ESRGAN: &str = "nightmareai/real-esrgan";

/// The version a bare [`ESRGAN`] runs, pinned: versions are immutable, so
/// the inputs below stay valid whatever the owner pushes later. Seen in
/// third-party code from 2025 on [S]; not confirmed from the model's
/// versions page (docs/providers/replicate.md#upscaling). A model id
/// `nightmareai/real-esrgan:<version>` runs that version instead.
pub const ESRGAN_VERSION: &str = "b3ef194191d13140337468c916c2c5b96dd0cb06dffc032a022a31807f6a5ea8";

/// `scale` bounds of the model's input schema, both ends included (default 4) [S].
pub const SCALE_RANGE: (f64, f64) = (0.0, 10.0);

/// The prediction `input` for an upscale: `image` (the reference image as a
/// `data:` URI) and `scale` = target width / input width, then the caller's
/// `params` (e.g. `face_enhance`) merged in. The model takes no prompt, so
/// none is sent, and no seed, steps or output format.
///
/// Errors: any operation but upscale is `unsupported`; no reference image
/// (field `image`), no target size or a factor outside 0–10 (field `scale`,
/// never clamped), a reserved key in `params` (field `params.<key>`).
pub fn esrgan_input(request: &Request) -> Result<Map<String, Value>, ProviderError> {
    if request.operation != Operation::Upscale {
        return Err(ProviderError::Unsupported(format!(
            "`{ESRGAN}` only upscales images: use upscale_image with it, or another Replicate model for this"
        )));
    }
    let image = request.images.iter().find(|i| i.role == Role::Reference).ok_or_else(|| {
        ProviderError::invalid(Some("image"), "an upscale needs the image to upscale (one input with role `reference`)")
    })?;
    let mut input = Map::new();
    input.insert("image".into(), json!(data_uri(&image.mime_type, &image.data)));
    input.insert("scale".into(), json!(scale(image, request.size)?));
    params::merge(&mut input, request.extra.as_deref(), RESERVED)?;
    Ok(input)
}

/// `scale` for `image` to reach `target`: the width ratio, exact (not
/// rounded). Real-ESRGAN makes `int(width × scale)` pixels, so a
/// non-integer factor may give a pixel less than the target [S].
///
/// Errors (field `scale`): no target size, an input without a width, or a
/// ratio outside [`SCALE_RANGE`] (0 excluded: that is no image).
pub fn scale(image: &InputImage, target: Option<Dims>) -> Result<f64, ProviderError> {
    let target = target.ok_or_else(|| {
        ProviderError::invalid(Some("scale"), "an upscale needs a target size (the input's size times the scale)")
    })?;
    if image.width == 0 {
        return Err(ProviderError::invalid(Some("image"), "the input image has no width"));
    }
    let factor = f64::from(target.width) / f64::from(image.width);
    let (low, high) = SCALE_RANGE;
    if factor <= low || factor > high {
        return Err(ProviderError::invalid(
            Some("scale"),
            format!(
                "`{ESRGAN}` scales by more than {low} and at most {high}; {}x{} to {}x{} would need {factor:.2}",
                image.width, image.height, target.width, target.height
            ),
        ));
    }
    Ok(factor)
}

/// Input fields the upscale sets from Easel arguments, refused in `params`
/// (docs/providers/replicate.md#upscaling).
pub const RESERVED: &[params::Reserved<'static>] = &[("image", "image"), ("scale", "scale")];

#[cfg(test)]
mod tests {
    use super::*;

    fn upscale(width: u32, target_width: u32) -> Request {
        Request {
            operation: Operation::Upscale,
            images: vec![InputImage {
                role: Role::Reference,
                mime_type: "image/png".into(),
                width,
                height: width,
                data: b"\x89PNG".to_vec(),
            }],
            size: Some(Dims { width: target_width, height: target_width }),
            ..Request::text(ESRGAN, "a prompt it cannot use")
        }
    }

    #[test]
    fn the_input_is_the_image_and_the_width_ratio_and_no_prompt() {
        let input = esrgan_input(&upscale(320, 640)).unwrap();
        assert_eq!(Value::Object(input), json!({"image": "data:image/png;base64,iVBORw==", "scale": 2.0}));
        let mut r = upscale(512, 1280);
        r.extra = Some(r#"{"face_enhance": true}"#.into());
        let input = esrgan_input(&r).unwrap();
        assert_eq!((input["scale"].as_f64(), input["face_enhance"].as_bool()), (Some(2.5), Some(true)));
        assert_eq!(esrgan_input(&upscale(100, 1000)).unwrap()["scale"], json!(10.0), "10 is in range");
    }

    #[test]
    fn bad_factors_missing_inputs_and_reserved_params_are_refused() {
        let field = |r: &Request| match esrgan_input(r) {
            Err(ProviderError::InvalidRequest { field, message }) => (field.unwrap_or_default(), message),
            other => panic!("{other:?}"),
        };
        let (f, message) = field(&upscale(100, 1100));
        assert_eq!(f, "scale");
        assert!(message.contains("at most 10") && message.contains("11.00"), "{message}");
        let mut r = upscale(100, 200);
        r.size = None;
        assert_eq!(field(&r).0, "scale");
        r.size = Some(Dims { width: 200, height: 200 });
        r.images.clear();
        assert_eq!(field(&r).0, "image");
        let mut r = upscale(100, 200);
        r.extra = Some(r#"{"scale": 4}"#.into());
        assert_eq!(field(&r).0, "params.scale");
        r.extra = None;
        r.operation = Operation::Edit;
        assert!(matches!(esrgan_input(&r), Err(ProviderError::Unsupported(m)) if m.contains("only upscales")));
    }
}
