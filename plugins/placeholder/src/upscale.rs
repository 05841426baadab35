//! Upscaling for the `placeholder-upscale` model: a real bilinear resize
//! of the one input to the requested size, so that upscale pipelines run
//! offline. It samples each output pixel from the input (the `image`
//! crate's `sample_bilinear`), so memory is the input plus the output.

use crate::easel::image_provider::types::{GenerationRequest, ImageRole, InvalidField, ProviderError};
use image::RgbImage;
use image::imageops::sample_bilinear;

/// The model id that upscales.
pub const UPSCALE_MODEL_ID: &str = "placeholder-upscale";

/// Largest side the upscaler makes, pixels: a 4096×4096 RGB output is
/// 48 MiB, well inside the default 256 MiB instance memory.
pub const MAX_UPSCALE_SIDE: u32 = 4096;

/// The request's reference image resized to `width` × `height`.
///
/// Errors: no reference image, or bytes that do not decode (field `image`).
pub fn upscale(request: &GenerationRequest, width: u32, height: u32) -> Result<RgbImage, ProviderError> {
    let input = request
        .images
        .iter()
        .find(|i| i.role == ImageRole::Reference)
        .ok_or_else(|| invalid("give the image to upscale"))?;
    let source =
        image::load_from_memory(&input.data).map_err(|e| invalid(&format!("cannot decode the image: {e}")))?.to_rgb8();
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    Ok(RgbImage::from_fn(width, height, |x, y| {
        // The centre of output pixel (x, y) in the input's [0, 1] square.
        let (u, v) = (((x as f32 + 0.5) / w).min(1.0), ((y as f32 + 0.5) / h).min(1.0));
        sample_bilinear(&source, u, v).unwrap_or(image::Rgb([0, 0, 0]))
    }))
}

fn invalid(message: &str) -> ProviderError {
    ProviderError::InvalidRequest(InvalidField { field: Some("image".into()), message: message.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::easel::image_provider::types::{Dimensions, InputImage, Operation};
    use image::Rgb;

    fn request_for(source: &RgbImage, width: u32, height: u32) -> GenerationRequest {
        GenerationRequest {
            operation: Operation::Upscale,
            model: UPSCALE_MODEL_ID.into(),
            prompt: String::new(),
            negative_prompt: None,
            size: Some(Dimensions { width, height }),
            aspect_ratio: None,
            size_tier: None,
            count: 1,
            seed: None,
            steps: None,
            guidance: None,
            strength: None,
            images: vec![InputImage {
                role: ImageRole::Reference,
                mime_type: "image/png".into(),
                width: source.width(),
                height: source.height(),
                data: crate::render::encode_png(source).unwrap(),
            }],
            extra: None,
        }
    }

    #[test]
    fn an_upscale_keeps_the_picture_at_the_new_size() {
        // Left half red, right half blue, a vertical gradient of green.
        let source = RgbImage::from_fn(32, 24, |x, y| {
            Rgb([if x < 16 { 255 } else { 0 }, (y * 10) as u8, if x < 16 { 0 } else { 255 }])
        });
        let out = upscale(&request_for(&source, 64, 48), 64, 48).unwrap();
        assert_eq!(out.dimensions(), (64, 48));
        // Away from the seam each output pixel is its source pixel's colour.
        for (x, y) in [(4, 4), (60, 40), (20, 30), (44, 10)] {
            let (got, want) = (out.get_pixel(x, y).0, source.get_pixel(x / 2, y / 2).0);
            for channel in 0..3 {
                assert!(got[channel].abs_diff(want[channel]) <= 6, "({x},{y}): {got:?} vs {want:?}");
            }
        }
        // At the seam the two halves blend, as a bilinear resize does.
        let seam = out.get_pixel(32, 20).0;
        assert!(seam[0] > 40 && seam[2] > 40, "{seam:?}");
    }

    #[test]
    fn an_input_that_does_not_decode_is_refused_naming_the_image() {
        let mut request = request_for(&RgbImage::new(4, 4), 8, 8);
        request.images[0].data = b"not a png".to_vec();
        match upscale(&request, 8, 8) {
            Err(ProviderError::InvalidRequest(InvalidField { field, message })) => {
                assert_eq!(field.as_deref(), Some("image"));
                assert!(message.contains("cannot decode"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
