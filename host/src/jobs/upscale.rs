//! Upscale requests: the factor's bounds, the one input they take, and the
//! target size the factor gives for the chosen model.

use super::GenerateSpec;
use crate::field_error::FieldError;
use crate::model::{Dimensions, ImageRole, ModelInfo};
use crate::request::MAX_UPSCALE;
use crate::store::MAX_PIXELS;

/// Check what an upscale asks before its input is fetched: a factor above 1
/// and at most [`MAX_UPSCALE`], and exactly one input, not a mask.
///
/// Errors: field `scale` or `image`.
pub fn check_request(spec: &GenerateSpec) -> Result<f32, FieldError> {
    let scale = spec.scale.unwrap_or(2.0);
    if !scale.is_finite() || scale <= 1.0 || scale > MAX_UPSCALE {
        return Err(FieldError::field(
            "scale",
            format!("must be more than 1 and at most {MAX_UPSCALE} (got {scale}); 2 doubles width and height"),
        ));
    }
    match spec.inputs.as_slice() {
        [one] if one.role == ImageRole::Reference => Ok(scale),
        _ => Err(FieldError::field("image", "give exactly one image to upscale")),
    }
}

/// The size an input of `input` pixels becomes at `scale` for `model`:
/// each side times the factor, rounded to the model's `size_multiple`.
///
/// Errors (field `scale`): a target over the model's `max_side`, or over
/// the [`MAX_PIXELS`] the store keeps, naming the largest factor that fits.
pub fn target_size(scale: f32, input: Dimensions, model: &ModelInfo) -> Result<Dimensions, FieldError> {
    let multiple = model.size_multiple.max(1);
    let side = |pixels: u32| {
        let scaled = (f64::from(pixels) * f64::from(scale)).round() as u64;
        (scaled / u64::from(multiple)).max(1) * u64::from(multiple)
    };
    let (width, height) = (side(input.width), side(input.height));
    let long = input.width.max(input.height).max(1);
    let by_side = f64::from(model.max_side) / f64::from(long);
    let by_pixels = (MAX_PIXELS as f64 / (f64::from(input.width.max(1)) * f64::from(input.height.max(1)))).sqrt();
    let fits = |limit: f64| format!("at most {:.2}", (limit * 100.0).floor() / 100.0);
    if width.max(height) > u64::from(model.max_side) {
        return Err(FieldError::field(
            "scale",
            format!(
                "{scale} × {}x{} gives {width}x{height}, but model `{}` makes at most {} pixels a side; use a scale of {}",
                input.width,
                input.height,
                model.id,
                model.max_side,
                fits(by_side)
            ),
        ));
    }
    if width * height > MAX_PIXELS {
        return Err(FieldError::field(
            "scale",
            format!(
                "{scale} × {}x{} gives {width}x{height}, more than the {MAX_PIXELS} pixels (8192x8192) an image may have; use a scale of {}",
                input.width,
                input.height,
                fits(by_pixels)
            ),
        ));
    }
    Ok(Dimensions { width: width as u32, height: height as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::InputSpec;
    use serde_json::json;

    fn upscaler(max_side: u32, size_multiple: u32) -> ModelInfo {
        serde_json::from_value(json!({
            "id": "esrgan", "display_name": "ESRGAN", "aliases": [], "operations": ["upscale"], "aspect_ratios": [],
            "size_tiers": [], "sizes": [], "min_side": 16, "max_side": max_side, "size_multiple": size_multiple,
            "default_size": {"width": 512, "height": 512}, "max_images": 1, "max_input_images": 1,
            "features": {"negative_prompt": false, "seed": false, "steps": false, "guidance": false, "strength": false,
                         "mask": false, "custom_size": true},
            "output_formats": ["image/png"], "lifecycle": "current", "replacement": null,
            "price_per_image_usd": null, "prompt_notes": null}))
        .unwrap()
    }

    fn spec(scale: f32, roles: &[ImageRole]) -> GenerateSpec {
        GenerateSpec {
            scale: Some(scale),
            inputs: roles.iter().map(|role| InputSpec { id: "a".into(), role: *role }).collect(),
            ..GenerateSpec::default()
        }
    }

    #[test]
    fn a_factor_multiplies_each_side_and_rounds_to_the_models_multiple() {
        let input = Dimensions { width: 640, height: 427 };
        assert_eq!(target_size(2.0, input, &upscaler(8192, 1)).unwrap(), Dimensions { width: 1280, height: 854 });
        assert_eq!(target_size(1.5, input, &upscaler(8192, 8)).unwrap(), Dimensions { width: 960, height: 640 });
    }

    #[test]
    fn a_target_past_the_model_or_the_store_names_the_largest_factor_that_fits() {
        let error = target_size(4.0, Dimensions { width: 1024, height: 768 }, &upscaler(2048, 1)).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("scale"));
        assert!(
            error.message.contains("gives 4096x3072") && error.message.contains("at most 2.00"),
            "{}",
            error.message
        );
        let error = target_size(8.0, Dimensions { width: 2048, height: 2048 }, &upscaler(100_000, 1)).unwrap_err();
        assert!(error.message.contains("8192x8192") && error.message.contains("at most 4.00"), "{}", error.message);
    }

    #[test]
    fn the_factor_and_the_input_are_checked_before_anything_is_fetched() {
        for bad in [1.0, 0.5, 9.0, f32::NAN] {
            let error = check_request(&spec(bad, &[ImageRole::Reference])).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("scale"), "{bad}");
        }
        assert_eq!(check_request(&spec(4.0, &[ImageRole::Reference])).unwrap(), 4.0);
        for roles in [&[][..], &[ImageRole::Mask], &[ImageRole::Reference, ImageRole::Reference]] {
            assert_eq!(check_request(&spec(2.0, roles)).unwrap_err().field.as_deref(), Some("image"));
        }
    }
}
