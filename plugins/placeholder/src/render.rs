//! Deterministic abstract art: a gradient with soft blobs and bands, all
//! drawn from a seeded generator so that equal inputs give equal pixels.

use crate::easel::image_provider::types::{GenerationRequest, ProviderError};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, Rgb, RgbImage};

/// FNV-1a, 64-bit: a stable hash of a prompt (std's hasher is randomised).
pub fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// splitmix64: a tiny, well-distributed seeded generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// HSV (h in turns, s and v in 0..=1) to RGB floats in 0..=1.
pub fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let c = v * s;
    let x = c * (1.0 - ((h6 % 2.0) - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

struct Blob {
    x: f32,
    y: f32,
    radius: f32,
    color: [f32; 3],
    strength: f32,
}

/// Render one image for a generate request.
///
/// The prompt and seed pick the palette and the shapes; `negative_prompt`
/// shifts the palette, `steps` sets how many blobs (4..=24, default 10) and
/// `guidance` the saturation (default 7 → 0.7).
pub fn render(request: &GenerationRequest, seed: u64, width: u32, height: u32) -> RgbImage {
    let negative = request.negative_prompt.as_deref().map(hash_str).unwrap_or(0);
    let mut rng = Rng::new(hash_str(&request.prompt) ^ seed.rotate_left(17) ^ negative.rotate_left(41));
    let saturation = (request.guidance.unwrap_or(7.0) / 10.0).clamp(0.15, 1.0);
    let base_hue = rng.unit();
    let top = hsv(base_hue, saturation * 0.8, 0.95);
    let bottom = hsv(base_hue + 0.25 + rng.unit() * 0.3, saturation, 0.35 + rng.unit() * 0.3);
    let angle = rng.unit() * std::f32::consts::TAU;
    let (dir_x, dir_y) = (angle.cos(), angle.sin());
    let blob_count = request.steps.unwrap_or(10).clamp(4, 24);
    let short = width.min(height) as f32;
    let blobs: Vec<Blob> = (0..blob_count)
        .map(|_| Blob {
            x: rng.unit() * width as f32,
            y: rng.unit() * height as f32,
            radius: short * (0.08 + rng.unit() * 0.3),
            color: hsv(base_hue + rng.unit() * 0.6 - 0.3, saturation, 0.5 + rng.unit() * 0.5),
            strength: 0.7 + rng.unit() * 0.3,
        })
        .collect();
    let band_freq = 2.0 + rng.unit() * 10.0;
    let band_phase = rng.unit() * std::f32::consts::TAU;

    let (fw, fh) = (width as f32, height as f32);
    let mut image = RgbImage::new(width, height);
    let mut row_blobs: Vec<&Blob> = Vec::with_capacity(blobs.len());
    for (py, row) in image.enumerate_rows_mut() {
        let y = py as f32;
        // Only blobs that reach this row matter.
        row_blobs.clear();
        row_blobs.extend(blobs.iter().filter(|b| (y - b.y).abs() < b.radius));
        for (px, _, pixel) in row {
            *pixel = shade(
                px as f32 / fw,
                y / fh,
                px as f32,
                y,
                dir_x,
                dir_y,
                top,
                bottom,
                &row_blobs,
                band_freq,
                band_phase,
            );
        }
    }
    image
}

/// One pixel: gradient, then blobs, then bands.
#[allow(clippy::too_many_arguments)]
fn shade(
    u: f32,
    v: f32,
    x: f32,
    y: f32,
    dir_x: f32,
    dir_y: f32,
    top: [f32; 3],
    bottom: [f32; 3],
    blobs: &[&Blob],
    band_freq: f32,
    band_phase: f32,
) -> Rgb<u8> {
    {
        let t = (((u - 0.5) * dir_x + (v - 0.5) * dir_y) + 0.5).clamp(0.0, 1.0);
        let mut c = [0.0f32; 3];
        for i in 0..3 {
            c[i] = top[i] * (1.0 - t) + bottom[i] * t;
        }
        for blob in blobs {
            let (dx, dy) = (x - blob.x, y - blob.y);
            let d2 = (dx * dx + dy * dy) / (blob.radius * blob.radius);
            if d2 < 1.0 {
                let a = blob.strength * (1.0 - d2) * (1.0 - d2);
                for (channel, color) in c.iter_mut().zip(blob.color) {
                    *channel = *channel * (1.0 - a) + color * a;
                }
            }
        }
        let band = 0.035 * ((t * band_freq * std::f32::consts::TAU + band_phase).sin());
        Rgb(c.map(|v| ((v + band).clamp(0.0, 1.0) * 255.0) as u8))
    }
}

/// PNG-encode with fast compression (speed over size: previews are re-encoded anyway).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::with_capacity((image.width() * image.height()) as usize);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| ProviderError::Internal(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}
