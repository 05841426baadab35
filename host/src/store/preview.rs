//! Inline previews: one policy for every result that carries pixels — at
//! most `max_edge` pixels on the long edge and a byte budget per result —
//! made with the `image` crate (PNG or JPEG out; never SVG).

use anyhow::{Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, GenericImageView};

/// An encoded preview.
#[derive(Debug, Clone)]
pub struct Preview {
    pub mime_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Make a preview of `bytes` no longer than `max_edge` on its long edge and
/// no bigger than `max_bytes`. Tries PNG first (exact pixels, for images
/// that are small already), then JPEG at falling quality, then smaller
/// sizes. `Ok(None)` when nothing fits the budget.
pub fn preview(bytes: &[u8], max_edge: u32, max_bytes: usize) -> Result<Option<Preview>> {
    let image = image::load_from_memory(bytes).context("decoding the image for a preview")?;
    let mut edge = max_edge.max(16);
    loop {
        let scaled = scale(&image, edge);
        let (width, height) = scaled.dimensions();
        let png = encode_png(&scaled)?;
        if png.len() <= max_bytes {
            return Ok(Some(Preview { mime_type: "image/png", width, height, data: png }));
        }
        for quality in [85u8, 70, 50] {
            let jpeg = encode_jpeg(&scaled, quality)?;
            if jpeg.len() <= max_bytes {
                return Ok(Some(Preview { mime_type: "image/jpeg", width, height, data: jpeg }));
            }
        }
        if edge <= 64 {
            return Ok(None);
        }
        edge /= 2;
    }
}

fn scale(image: &DynamicImage, max_edge: u32) -> DynamicImage {
    let (width, height) = image.dimensions();
    if width.max(height) <= max_edge {
        image.clone()
    } else {
        // `thumbnail` is the image crate's fast box-filter downscale: plenty for a preview.
        image.thumbnail(max_edge, max_edge)
    }
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(&image.to_rgb8())?;
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

    #[test]
    fn small_images_keep_their_size_and_big_ones_shrink_to_the_edge() {
        let small = preview(&noisy_png(100, 50), 512, 1 << 20).unwrap().unwrap();
        assert_eq!((small.width, small.height), (100, 50));
        let big = preview(&noisy_png(1024, 768), 512, 1 << 20).unwrap().unwrap();
        assert_eq!((big.width, big.height), (512, 384));
    }

    #[test]
    fn previews_stay_within_the_byte_budget() {
        let p = preview(&noisy_png(1024, 1024), 512, 40_000).unwrap().unwrap();
        assert!(p.data.len() <= 40_000, "{} bytes", p.data.len());
        assert_eq!(p.mime_type, "image/jpeg");
    }
}
