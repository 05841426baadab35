//! Deterministic abstract art: a gradient with soft blobs and bands, all
//! drawn from a seeded generator so that equal inputs give equal pixels.

use crate::easel::image_provider::types::{GenerationRequest, ProviderError};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};

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

/// What one picture is made of, drawn from the seeded generator: a
/// gradient (two colours along a direction), soft blobs and bands.
struct Scene {
    top: [f32; 3],
    bottom: [f32; 3],
    dir_x: f32,
    dir_y: f32,
    blobs: Vec<Blob>,
    band_freq: f32,
    band_phase: f32,
}

impl Scene {
    /// The prompt and seed pick the palette and the shapes; `negative_prompt`
    /// shifts the palette, `steps` sets how many blobs (4..=24, default 10)
    /// and `guidance` the saturation (default 7 → 0.7).
    fn new(request: &GenerationRequest, seed: u64, width: u32, height: u32) -> Scene {
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
        let blobs = (0..blob_count)
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
        Scene { top, bottom, dir_x, dir_y, blobs, band_freq, band_phase }
    }
}

/// Render one image for a generate request (see [`Scene::new`] for what
/// picks what).
pub fn render(request: &GenerationRequest, seed: u64, width: u32, height: u32) -> RgbImage {
    let Scene { top, bottom, dir_x, dir_y, blobs, band_freq, band_phase } = Scene::new(request, seed, width, height);
    let bands = BandTable::new(band_freq, band_phase);
    let (fw, fh) = (width as f32, height as f32);
    let mut image = RgbImage::new(width, height);
    // One row at a time: the gradient (its position `t` kept per pixel),
    // then each blob over just the span of the row it covers, then bands.
    let mut ts = vec![0.0f32; width as usize];
    let mut colors = vec![[0.0f32; 3]; width as usize];
    for (py, out) in image.chunks_exact_mut(width as usize * 3).enumerate() {
        let y = py as f32;
        let v = y / fh;
        for (px, (t, c)) in ts.iter_mut().zip(colors.iter_mut()).enumerate() {
            let u = px as f32 / fw;
            *t = (((u - 0.5) * dir_x + (v - 0.5) * dir_y) + 0.5).clamp(0.0, 1.0);
            for i in 0..3 {
                c[i] = top[i] * (1.0 - *t) + bottom[i] * *t;
            }
        }
        for blob in blobs.iter().filter(|b| (y - b.y).abs() < b.radius) {
            let dy = y - blob.y;
            let half = (blob.radius * blob.radius - dy * dy).max(0.0).sqrt();
            let from = (blob.x - half).floor().max(0.0) as usize;
            let to = ((blob.x + half).ceil() + 1.0).clamp(0.0, fw) as usize;
            for (px, c) in colors.iter_mut().enumerate().take(to).skip(from) {
                let dx = px as f32 - blob.x;
                let d2 = (dx * dx + dy * dy) / (blob.radius * blob.radius);
                if d2 < 1.0 {
                    let a = blob.strength * (1.0 - d2) * (1.0 - d2);
                    for (channel, color) in c.iter_mut().zip(blob.color) {
                        *channel = *channel * (1.0 - a) + color * a;
                    }
                }
            }
        }
        for ((pixel, t), c) in out.chunks_exact_mut(3).zip(&ts).zip(&colors) {
            let band = bands.at(*t);
            for (byte, value) in pixel.iter_mut().zip(c) {
                *byte = ((value + band).clamp(0.0, 1.0) * 255.0) as u8;
            }
        }
    }
    image
}

/// The bands' brightness offset, `0.035 · sin(t · freq · 2π + phase)` for
/// `t` in 0..=1, sampled once and interpolated (a `sin` per pixel was most
/// of a render's time).
struct BandTable(Vec<f32>);

impl BandTable {
    const SAMPLES: usize = 4096;

    fn new(freq: f32, phase: f32) -> BandTable {
        BandTable(
            (0..=Self::SAMPLES)
                .map(|i| {
                    let t = i as f32 / Self::SAMPLES as f32;
                    0.035 * (t * freq * std::f32::consts::TAU + phase).sin()
                })
                .collect(),
        )
    }

    fn at(&self, t: f32) -> f32 {
        let at = t.clamp(0.0, 1.0) * Self::SAMPLES as f32;
        let i = (at as usize).min(Self::SAMPLES - 1);
        let frac = at - i as f32;
        self.0[i] * (1.0 - frac) + self.0[i + 1] * frac
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::easel::image_provider::types::Operation;

    fn request(prompt: &str, steps: u32) -> GenerationRequest {
        GenerationRequest {
            operation: Operation::Generate,
            model: "abstract-v1".into(),
            prompt: prompt.into(),
            negative_prompt: None,
            size: None,
            aspect_ratio: None,
            size_tier: None,
            count: 1,
            seed: None,
            steps: Some(steps),
            guidance: None,
            strength: None,
            images: vec![],
            extra: None,
        }
    }

    /// The per-pixel shading the row renderer replaced, as it was.
    fn reference(request: &GenerationRequest, seed: u64, width: u32, height: u32) -> RgbImage {
        let Scene { top, bottom, dir_x, dir_y, blobs, band_freq, band_phase } =
            Scene::new(request, seed, width, height);
        RgbImage::from_fn(width, height, |px, py| {
            let (x, y) = (px as f32, py as f32);
            let t = (((x / width as f32 - 0.5) * dir_x + (y / height as f32 - 0.5) * dir_y) + 0.5).clamp(0.0, 1.0);
            let mut c = [0.0f32; 3];
            for i in 0..3 {
                c[i] = top[i] * (1.0 - t) + bottom[i] * t;
            }
            for blob in &blobs {
                let d2 = ((x - blob.x).powi(2) + (y - blob.y).powi(2)) / (blob.radius * blob.radius);
                if d2 < 1.0 {
                    let a = blob.strength * (1.0 - d2) * (1.0 - d2);
                    for (channel, color) in c.iter_mut().zip(blob.color) {
                        *channel = *channel * (1.0 - a) + color * a;
                    }
                }
            }
            let band = 0.035 * ((t * band_freq * std::f32::consts::TAU + band_phase).sin());
            image::Rgb(c.map(|v| ((v + band).clamp(0.0, 1.0) * 255.0) as u8))
        })
    }

    #[test]
    fn the_row_renderer_draws_the_same_picture_as_per_pixel_shading() {
        for (prompt, steps, seed, width, height) in
            [("a lighthouse", 10, 7, 300, 200), ("blobs", 24, 99, 128, 333), ("few", 4, 1, 64, 64)]
        {
            let fast = render(&request(prompt, steps), seed, width, height);
            let slow = reference(&request(prompt, steps), seed, width, height);
            let worst = fast.as_raw().iter().zip(slow.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(worst <= 1, "{prompt}: a channel differs by {worst}");
        }
    }

    #[test]
    fn equal_requests_render_equal_pixels() {
        let a = render(&request("same", 10), 5, 200, 100);
        assert_eq!(a, render(&request("same", 10), 5, 200, 100));
        assert_ne!(a, render(&request("same", 10), 6, 200, 100));
    }
}
