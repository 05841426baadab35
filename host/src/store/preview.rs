//! Inline previews: one policy for every result that carries pixels — at
//! most `max_edge` pixels on the long edge and a byte budget per result —
//! made from already-decoded pixels: a SIMD downscale (`fast_image_resize`),
//! then the original bytes, PNG or JPEG (`jpeg-encoder`), never SVG.

use super::views::View;
use anyhow::{Context, Result};
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, IntoImageView, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::{CompressionType, PngEncoder};
use image::{DynamicImage, ExtendedColorType, GenericImageView, ImageEncoder};

/// JPEG qualities tried in turn when a preview must be lossy.
const JPEG_QUALITIES: [u8; 3] = [85, 70, 50];

/// Make a preview of encoded `bytes` (see [`preview_of`]): decodes first.
/// For callers that do not hold the pixels; CPU-heavy, call it through
/// `crate::blocking::image_work` from async code.
pub fn preview(bytes: &[u8], max_edge: u32, max_bytes: usize) -> Result<Option<View>> {
    let image = image::load_from_memory(bytes).context("decoding the image for a preview")?;
    preview_of(&image, bytes, max_edge, max_bytes)
}

/// Make a preview of `image` (the decoded pixels of `original`, its encoded
/// bytes) no longer than `max_edge` on its long edge and no bigger than
/// `max_bytes`:
/// - the original bytes themselves when it is PNG or JPEG, fits the edge and the budget (nothing is re-encoded);
/// - else the pixels downscaled to the edge, as PNG when the original's own compression ratio says a PNG
///   of that size fits (exact pixels, for flat art), else JPEG at falling quality;
/// - else smaller sizes, halving the edge down to 64 pixels.
///
/// `Ok(None)` when nothing fits the budget. Errors only from the encoders.
pub fn preview_of(image: &DynamicImage, original: &[u8], max_edge: u32, max_bytes: usize) -> Result<Option<View>> {
    let (width, height) = image.dimensions();
    let original_mime = match image::guess_format(original) {
        Ok(image::ImageFormat::Png) => Some("image/png"),
        Ok(image::ImageFormat::Jpeg) => Some("image/jpeg"),
        _ => None,
    };
    if let Some(mime_type) = original_mime
        && width.max(height) <= max_edge
        && original.len() <= max_bytes
    {
        return Ok(Some(View { mime_type, width, height, data: original.to_vec() }));
    }
    let pixels = rgb_or_rgba(image);
    // Bytes of encoded data per byte of raw pixels in the original: a PNG
    // preview is tried only when that ratio predicts it fits.
    let ratio = original.len() as f64 / (u64::from(width) * u64::from(height) * 3).max(1) as f64;
    let try_png = original_mime == Some("image/png");
    let mut edge = max_edge.max(16);
    loop {
        let scaled = downscale(&pixels, edge)?;
        let (w, h) = scaled.dimensions();
        let raw = u64::from(w) * u64::from(h) * 3;
        if try_png && (raw as f64 * ratio) as usize <= max_bytes {
            let png = encode_png(&scaled)?;
            if png.len() <= max_bytes {
                return Ok(Some(View { mime_type: "image/png", width: w, height: h, data: png }));
            }
        }
        let rgb = scaled.to_rgb8();
        for quality in JPEG_QUALITIES {
            let jpeg = encode_jpeg(rgb.as_raw(), w, h, quality)?;
            if jpeg.len() <= max_bytes {
                return Ok(Some(View { mime_type: "image/jpeg", width: w, height: h, data: jpeg }));
            }
        }
        if edge <= 64 {
            return Ok(None);
        }
        edge /= 2;
    }
}

/// The pixels as 8-bit RGB, or RGBA when they have alpha (the layouts the
/// resizer and the encoders share); borrowed when they already are.
fn rgb_or_rgba(image: &DynamicImage) -> std::borrow::Cow<'_, DynamicImage> {
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => std::borrow::Cow::Borrowed(image),
        other if other.color().has_alpha() => std::borrow::Cow::Owned(DynamicImage::ImageRgba8(other.to_rgba8())),
        other => std::borrow::Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
    }
}

/// `image` (RGB8 or RGBA8) fitted inside `max_edge`, aspect kept: a
/// bilinear convolution, alpha-aware. A copy when it already fits.
pub fn downscale(image: &DynamicImage, max_edge: u32) -> Result<DynamicImage> {
    let (width, height) = image.dimensions();
    if width.max(height) <= max_edge {
        return Ok(image.clone());
    }
    let scale = f64::from(max_edge) / f64::from(width.max(height));
    let w = ((f64::from(width) * scale).round() as u32).clamp(1, max_edge);
    let h = ((f64::from(height) * scale).round() as u32).clamp(1, max_edge);
    let pixel_type = image.pixel_type().unwrap_or(PixelType::U8x3);
    let mut out = Image::new(w, h, pixel_type);
    Resizer::new()
        .resize(image, &mut out, &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)))
        .context("resizing for a preview")?;
    let buffer = out.into_vec();
    let resized = match pixel_type {
        PixelType::U8x4 => image::RgbaImage::from_raw(w, h, buffer).map(DynamicImage::ImageRgba8),
        _ => image::RgbImage::from_raw(w, h, buffer).map(DynamicImage::ImageRgb8),
    };
    resized.context("the resizer returned a buffer of the wrong size")
}

/// PNG with fast compression (speed over size: a preview is short-lived).
fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let color = if image.color().has_alpha() { ExtendedColorType::Rgba8 } else { ExtendedColorType::Rgb8 };
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, image::codecs::png::FilterType::Adaptive)
        .write_image(image.as_bytes(), image.width(), image.height(), color)?;
    Ok(out)
}

/// Baseline JPEG of 8-bit RGB `pixels` (`jpeg-encoder`, AVX2 where the CPU
/// has it). Errors: a side over 65,535 pixels (JPEG's own limit).
pub fn encode_jpeg(pixels: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width), u16::try_from(height));
    let (Ok(w), Ok(h)) = (w, h) else { anyhow::bail!("a {width}x{height} image is too large for JPEG") };
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .context("JPEG encoding failed")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy_png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            let v = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(y as u8)])
        });
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    fn flat_png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(width, height, |x, _| image::Rgb([((x / 64) as u8).wrapping_mul(40), 90, 200]));
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn small_images_keep_their_size_and_big_ones_shrink_to_the_edge() {
        let small = preview(&noisy_png(100, 50), 512, 1 << 20).unwrap().unwrap();
        assert_eq!((small.width, small.height), (100, 50));
        let big = preview(&noisy_png(1024, 768), 512, 1 << 20).unwrap().unwrap();
        assert_eq!((big.width, big.height), (512, 384));
    }

    #[test]
    fn a_small_png_within_the_budget_is_its_own_preview_byte_for_byte() {
        let png = noisy_png(100, 50);
        let p = preview(&png, 512, 1 << 20).unwrap().unwrap();
        assert_eq!((p.mime_type, &p.data), ("image/png", &png));
    }

    #[test]
    fn previews_stay_within_the_byte_budget() {
        let p = preview(&noisy_png(1024, 1024), 512, 40_000).unwrap().unwrap();
        assert!(p.data.len() <= 40_000, "{} bytes", p.data.len());
        assert_eq!(p.mime_type, "image/jpeg");
        assert_eq!(image::guess_format(&p.data).unwrap(), image::ImageFormat::Jpeg);
        assert_eq!(image::load_from_memory(&p.data).unwrap().dimensions(), (p.width, p.height));
    }

    #[test]
    fn flat_art_stays_png_with_exact_colours_and_noise_becomes_jpeg() {
        let flat = preview(&flat_png(1024, 512), 512, 400 << 10).unwrap().unwrap();
        assert_eq!((flat.mime_type, flat.width, flat.height), ("image/png", 512, 256));
        let pixels = image::load_from_memory(&flat.data).unwrap().to_rgb8();
        assert_eq!(pixels.get_pixel(10, 10).0, [0, 90, 200], "a flat area keeps its exact colour");
        let noisy = preview(&noisy_png(1024, 1024), 512, 400 << 10).unwrap().unwrap();
        assert_eq!(noisy.mime_type, "image/jpeg");
    }

    #[test]
    fn images_with_alpha_and_other_layouts_get_previews() {
        let rgba = image::RgbaImage::from_fn(800, 600, |x, y| image::Rgba([x as u8, y as u8, 7, (x % 255) as u8]));
        let gray = image::GrayImage::from_fn(800, 600, |x, y| image::Luma([(x ^ y) as u8]));
        for image in [DynamicImage::ImageRgba8(rgba), DynamicImage::ImageLuma8(gray)] {
            let mut png = Vec::new();
            image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
            let p = preview(&png, 400, 400 << 10).unwrap().unwrap();
            assert_eq!((p.width, p.height), (400, 300), "{:?}", image.color());
            assert_eq!(image::load_from_memory(&p.data).unwrap().dimensions(), (400, 300));
        }
    }
}
