//! Deterministic edits: the first reference image, resized to the output
//! size and blended toward a prompt-derived tint, only inside the mask when
//! one is given — enough to test editing and lineage without a model.

use crate::easel::image_provider::types::{GenerationRequest, ImageRole, InvalidField, ProviderError};
use crate::render::{Rng, hash_str, hsv};
use image::imageops::FilterType;
use image::{GrayImage, Rgb, RgbImage};

/// Transform the request's first reference image (edit, inpaint, variation).
///
/// `strength` (0..=1, default 0.5) is how far pixels move toward the tint.
/// A mask selects where: transparent or white mask pixels are edited
/// (OpenAI's convention is transparent = edit; white = edit for SD-style masks).
pub fn transform(request: &GenerationRequest, seed: u64, width: u32, height: u32) -> Result<RgbImage, ProviderError> {
    let reference = request
        .images
        .iter()
        .find(|i| i.role == ImageRole::Reference)
        .ok_or_else(|| invalid("images", "an edit needs at least one image with role `reference`"))?;
    let source = decode(&reference.data, "images[0]")?.to_rgb8();
    let source = if source.dimensions() == (width, height) {
        source
    } else {
        image::imageops::resize(&source, width, height, FilterType::Triangle)
    };
    let mask = match request.images.iter().find(|i| i.role == ImageRole::Mask) {
        Some(mask) => Some(edit_mask(&mask.data, width, height)?),
        None => None,
    };
    let mut rng = Rng::new(hash_str(&request.prompt) ^ seed.rotate_left(23));
    let tint = hsv(rng.unit(), 0.8, 0.9);
    let strength = request.strength.unwrap_or(0.5).clamp(0.0, 1.0);
    let swap = rng.next_u64() % 3;
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let Rgb(p) = *source.get_pixel(x, y);
        let weight = strength * mask.as_ref().map_or(1.0, |m| f32::from(m.get_pixel(x, y).0[0]) / 255.0);
        // Rotate channels by a seed-chosen amount, then blend toward the tint.
        let rotated = [p[(swap as usize) % 3], p[(swap as usize + 1) % 3], p[(swap as usize + 2) % 3]];
        let mut out = [0u8; 3];
        for i in 0..3 {
            let moved = f32::from(rotated[i]) * 0.5 + tint[i] * 255.0 * 0.5;
            out[i] = (f32::from(p[i]) * (1.0 - weight) + moved * weight).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    }))
}

fn decode(bytes: &[u8], field: &str) -> Result<image::DynamicImage, ProviderError> {
    image::load_from_memory(bytes).map_err(|e| invalid(field, &format!("cannot decode the input image: {e}")))
}

/// Mask as 0..=255 "edit here" weights: max(transparency, luminance).
fn edit_mask(bytes: &[u8], width: u32, height: u32) -> Result<GrayImage, ProviderError> {
    let mask = decode(bytes, "mask")?.to_rgba8();
    // Resampled only when its size differs: a same-size resize would blur
    // the mask's edge into pixels it keeps.
    let mask = if mask.dimensions() == (width, height) {
        mask
    } else {
        image::imageops::resize(&mask, width, height, FilterType::Triangle)
    };
    Ok(GrayImage::from_fn(width, height, |x, y| {
        let [r, g, b, a] = mask.get_pixel(x, y).0;
        let luminance = ((u32::from(r) * 3 + u32::from(g) * 6 + u32::from(b)) / 10) as u8;
        image::Luma([luminance.max(255 - a)])
    }))
}

fn invalid(field: &str, message: &str) -> ProviderError {
    ProviderError::InvalidRequest(InvalidField { field: Some(field.into()), message: message.into() })
}
