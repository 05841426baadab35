//! Outpainting (`expand`): the request's bounds, the canvas size it gives
//! for the chosen model, and the padded canvas and mask that turn it into
//! an inpaint any masking backend can run.
//!
//! The canvas is the input with its edge pixels stretched outward; the
//! mask is opaque black over the original and transparent white over the
//! new margins, so it reads "edit here" under both conventions plugins
//! use (OpenAI: transparent = edit; Stable Diffusion, ComfyUI's alpha
//! mask, fal and Replicate `mask` inputs: white = edit). Neither is stored:
//! the result's parent is the original input, and its recipe keeps
//! `expand`, so `vary_image` outpaints the same input again.

use super::GenerateSpec;
use crate::field_error::FieldError;
use crate::model::{Dimensions, ImageRole, InputImage, ModelInfo, Operation};
use crate::request::{Expand, MAX_EXPAND};
use crate::store::MAX_PIXELS;
use image::{ImageFormat, Rgba, RgbaImage};
use std::io::Cursor;

/// Check what an outpaint asks before its input is fetched: some margin,
/// none over [`MAX_EXPAND`], and exactly one reference image (no mask: the
/// host makes it).
///
/// Errors: field `expand` or `images`.
pub fn check_request(spec: &GenerateSpec) -> Result<Expand, FieldError> {
    let Some(expand) = spec.expand else { return Err(FieldError::field("expand", "no margins given")) };
    let sides = [expand.left, expand.top, expand.right, expand.bottom];
    if sides.iter().all(|side| *side == 0) {
        return Err(FieldError::field("expand", "give at least one side more than 0 pixels, e.g. {\"right\": 256}"));
    }
    if let Some(side) = sides.iter().find(|side| **side > MAX_EXPAND) {
        return Err(FieldError::field(
            "expand",
            format!("{side} pixels is more than the {MAX_EXPAND} a side may grow"),
        ));
    }
    match spec.inputs.as_slice() {
        [one] if one.role == ImageRole::Reference => Ok(expand),
        _ => Err(FieldError::field("images", "expand takes exactly one reference image and makes the mask itself")),
    }
}

/// The margins and canvas size for an input of `input` pixels on `model`:
/// `right` and `bottom` grow so that each side is a multiple of the
/// model's `size_multiple`.
///
/// Errors: a model that takes no mask (field `model`); a canvas over the
/// model's `max_side` or the store's [`MAX_PIXELS`] (field `expand`).
pub fn canvas_size(expand: Expand, input: Dimensions, model: &ModelInfo) -> Result<(Expand, Dimensions), FieldError> {
    let masks = model.features.mask
        && (model.operations.contains(&Operation::Inpaint) || model.operations.contains(&Operation::Edit));
    if !masks {
        return Err(FieldError::field(
            "model",
            format!(
                "model `{}` cannot paint inside a mask, which expand needs; choose a model that inpaints",
                model.id
            ),
        ));
    }
    let multiple = u64::from(model.size_multiple.max(1));
    let grown = |base: u32, a: u32, b: u32| {
        let total = u64::from(base) + u64::from(a) + u64::from(b);
        let rounded = total.div_ceil(multiple) * multiple;
        (rounded, b as u64 + (rounded - total))
    };
    let (width, right) = grown(input.width, expand.left, expand.right);
    let (height, bottom) = grown(input.height, expand.top, expand.bottom);
    if width.max(height) > u64::from(model.max_side) {
        return Err(FieldError::field(
            "expand",
            format!(
                "{}x{} grown this way is {width}x{height}, but model `{}` makes at most {} pixels a side",
                input.width, input.height, model.id, model.max_side
            ),
        ));
    }
    if width * height > MAX_PIXELS {
        return Err(FieldError::field(
            "expand",
            format!("{width}x{height} is more than the {MAX_PIXELS} pixels (8192x8192) an image may have"),
        ));
    }
    let expand = Expand { right: right as u32, bottom: bottom as u32, ..expand };
    Ok((expand, Dimensions { width: width as u32, height: height as u32 }))
}

/// The padded canvas (role `reference`) and its mask (role `mask`), both
/// PNG, for `source` grown by `expand`.
///
/// Errors (field `images[0].image`): an input that does not decode.
pub fn canvas_and_mask(source: &InputImage, expand: Expand) -> Result<[InputImage; 2], FieldError> {
    let original = image::load_from_memory(&source.data)
        .map_err(|e| FieldError::field("images[0].image", format!("cannot decode the image to expand: {e}")))?
        .to_rgba8();
    let (w, h) = original.dimensions();
    let (width, height) = (w + expand.left + expand.right, h + expand.top + expand.bottom);
    let inside = |x: u32, y: u32| x >= expand.left && x < expand.left + w && y >= expand.top && y < expand.top + h;
    let canvas = RgbaImage::from_fn(width, height, |x, y| {
        // Edge pixels stretched outward: a start the model blends from.
        let sx = x.saturating_sub(expand.left).min(w - 1);
        let sy = y.saturating_sub(expand.top).min(h - 1);
        *original.get_pixel(sx, sy)
    });
    let mask =
        RgbaImage::from_fn(
            width,
            height,
            |x, y| {
                if inside(x, y) { Rgba([0, 0, 0, 255]) } else { Rgba([255, 255, 255, 0]) }
            },
        );
    let png = |image: &RgbaImage| {
        let mut bytes = Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, ImageFormat::Png)
            .map(|()| bytes.into_inner())
            .map_err(|e| FieldError::other(format!("cannot encode the outpaint canvas: {e}")))
    };
    let input = |role, data| InputImage { role, mime_type: "image/png".into(), width, height, data };
    Ok([input(ImageRole::Reference, png(&canvas)?), input(ImageRole::Mask, png(&mask)?)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::InputSpec;
    use serde_json::json;

    fn inpainter(max_side: u32, size_multiple: u32, mask: bool) -> ModelInfo {
        serde_json::from_value(json!({
            "id": "sd", "display_name": "SD", "aliases": [], "operations": ["generate", "edit", "inpaint"],
            "aspect_ratios": [], "size_tiers": [], "sizes": [], "min_side": 64, "max_side": max_side,
            "size_multiple": size_multiple, "default_size": {"width": 512, "height": 512}, "max_images": 1,
            "max_input_images": 1,
            "features": {"negative_prompt": false, "seed": true, "steps": false, "guidance": false, "strength": true,
                         "mask": mask, "custom_size": true},
            "output_formats": ["image/png"], "lifecycle": "current", "replacement": null,
            "price_per_image_usd": null, "prompt_notes": null}))
        .unwrap()
    }

    fn spec(expand: Expand, roles: &[ImageRole]) -> GenerateSpec {
        GenerateSpec {
            expand: Some(expand),
            inputs: roles.iter().map(|role| InputSpec { id: "a".into(), role: *role }).collect(),
            ..GenerateSpec::default()
        }
    }

    #[test]
    fn margins_are_checked_before_anything_is_fetched() {
        let right = Expand { right: 256, ..Expand::default() };
        assert_eq!(check_request(&spec(right, &[ImageRole::Reference])).unwrap(), right);
        let none = check_request(&spec(Expand::default(), &[ImageRole::Reference])).unwrap_err();
        assert_eq!(none.field.as_deref(), Some("expand"));
        let huge = check_request(&spec(Expand { top: MAX_EXPAND + 1, ..right }, &[ImageRole::Reference])).unwrap_err();
        assert!(huge.message.contains("more than"), "{}", huge.message);
        for roles in [&[][..], &[ImageRole::Reference, ImageRole::Mask], &[ImageRole::Reference, ImageRole::Reference]]
        {
            assert_eq!(check_request(&spec(right, roles)).unwrap_err().field.as_deref(), Some("images"));
        }
    }

    #[test]
    fn the_canvas_rounds_up_to_the_models_multiple_and_stays_within_its_limits() {
        let input = Dimensions { width: 500, height: 300 };
        let asked = Expand { left: 10, right: 10, ..Expand::default() };
        let (expand, size) = canvas_size(asked, input, &inpainter(2048, 8, true)).unwrap();
        assert_eq!(size, Dimensions { width: 520, height: 304 });
        assert_eq!((expand.left, expand.right, expand.top, expand.bottom), (10, 10, 0, 4));
        let over = canvas_size(Expand { right: 1600, ..asked }, input, &inpainter(2048, 1, true)).unwrap_err();
        assert!(over.field.as_deref() == Some("expand") && over.message.contains("2110x300"), "{}", over.message);
        let maskless = canvas_size(asked, input, &inpainter(2048, 1, false)).unwrap_err();
        assert_eq!(maskless.field.as_deref(), Some("model"));
    }

    #[test]
    fn the_original_is_kept_pixel_for_pixel_and_only_the_margins_are_masked() {
        let original = RgbaImage::from_fn(4, 3, |x, y| Rgba([x as u8 * 60, y as u8 * 80, 7, 255]));
        let mut bytes = Cursor::new(Vec::new());
        original.write_to(&mut bytes, ImageFormat::Png).unwrap();
        let source = InputImage {
            role: ImageRole::Reference,
            mime_type: "image/png".into(),
            width: 4,
            height: 3,
            data: bytes.into_inner(),
        };
        let [canvas, mask] = canvas_and_mask(&source, Expand { left: 2, top: 1, right: 3, bottom: 0 }).unwrap();
        assert_eq!((canvas.width, canvas.height, canvas.role), (9, 4, ImageRole::Reference));
        assert_eq!(mask.role, ImageRole::Mask);
        let canvas = image::load_from_memory(&canvas.data).unwrap().to_rgba8();
        let mask = image::load_from_memory(&mask.data).unwrap().to_rgba8();
        for y in 0..3 {
            for x in 0..4 {
                assert_eq!(canvas.get_pixel(x + 2, y + 1), original.get_pixel(x, y));
                assert_eq!(mask.get_pixel(x + 2, y + 1).0, [0, 0, 0, 255]);
            }
        }
        // Margins: the nearest edge pixel, and "edit here" in the mask.
        assert_eq!(canvas.get_pixel(0, 0), original.get_pixel(0, 0));
        assert_eq!(canvas.get_pixel(8, 3), original.get_pixel(3, 2));
        assert_eq!(mask.get_pixel(0, 0).0, [255, 255, 255, 0]);
        assert_eq!(mask.get_pixel(8, 2).0, [255, 255, 255, 0]);
    }
}
