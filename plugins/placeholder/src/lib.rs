//! Easel's placeholder provider: keyless, offline and deterministic.
//!
//! It renders abstract PNG art from a hash of (prompt, seed, size) — the same
//! inputs always give the same bytes — and edits by a deterministic tint and
//! blend of the input image; its `placeholder-upscale` model resizes an image
//! for real. It exists so that the whole pipeline (MCP tool →
//! host → sandboxed plugin → store) can run and be tested with no keys and no
//! network. It imports nothing but `log`.

mod edit;
mod render;
mod upscale;

wit_bindgen::generate!({
    path: "../../wit/v0.3.0",
    world: "image-provider",
});

use easel::image_provider::log::{Level, log};
use easel::image_provider::types::{
    Dimensions, Features, GenerationRequest, ImageData, ImageOutput, InlineImage, InvalidField, JobState, Lifecycle,
    ModelInfo, Operation, PromptStyle, ProviderError, ProviderInfo, Submission,
};
use exports::easel::image_provider::provider::Guest;

/// The one model this plugin serves.
pub const MODEL_ID: &str = "placeholder-1";

/// Aspect ratios accepted with a size tier (`W:H`).
const ASPECT_RATIOS: [&str; 7] = ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"];

/// Size tiers: the long edge in pixels.
const SIZE_TIERS: [(&str, u32); 3] = [("0.5K", 512), ("1K", 1024), ("2K", 2048)];

const MAX_SIDE: u32 = 4096;
/// Seeds are kept below 2^53 so that JavaScript clients read them exactly
/// (the host refuses larger ones too).
const SEED_MASK: u64 = (1 << 53) - 1;

struct Placeholder;

impl Guest for Placeholder {
    fn describe() -> Result<ProviderInfo, ProviderError> {
        Ok(ProviderInfo {
            id: "placeholder".into(),
            display_name: "Placeholder (offline)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Deterministic abstract art rendered inside the sandbox: no key, no network, no cost.".into(),
            models: vec![
                ModelInfo {
                    id: MODEL_ID.into(),
                    display_name: "Placeholder v1".into(),
                    aliases: vec!["placeholder".into(), "default".into()],
                    operations: vec![Operation::Generate, Operation::Edit, Operation::Inpaint, Operation::Variation],
                    aspect_ratios: ASPECT_RATIOS.iter().map(|s| s.to_string()).collect(),
                    size_tiers: SIZE_TIERS.iter().map(|(n, _)| n.to_string()).collect(),
                    sizes: vec![],
                    min_side: 16,
                    max_side: MAX_SIDE,
                    size_multiple: 1,
                    default_size: Dimensions { width: 1024, height: 1024 },
                    max_images: 4,
                    max_input_images: 4,
                    features: Features::NEGATIVE_PROMPT
                        | Features::SEED
                        | Features::STEPS
                        | Features::GUIDANCE
                        | Features::STRENGTH
                        | Features::MASK
                        | Features::CUSTOM_SIZE,
                    output_formats: vec!["image/png".into()],
                    lifecycle: Lifecycle::Current,
                    replacement: None,
                    price_per_image_usd: Some(0.0),
                    // The placeholder has no provider parameters: say so, so
                    // that `params` sent to it are refused instead of ignored.
                    parameters: Some(r#"{"type": "object", "additionalProperties": false}"#.into()),
                    prompt_style: PromptStyle::NaturalLanguage,
                    prompt_notes: Some(
                        "Any prompt works; the picture is abstract art seeded by the prompt, not a depiction of it."
                            .into(),
                    ),
                },
                upscaler(),
            ],
            default_model: MODEL_ID.into(),
            secrets: vec![],
            hosts: vec![],
        })
    }

    fn submit(request: GenerationRequest) -> Result<Submission, ProviderError> {
        let upscaling = request.model == upscale::UPSCALE_MODEL_ID;
        if request.model != MODEL_ID && !upscaling {
            return Err(ProviderError::Unsupported(format!(
                "model `{}` is not served by the placeholder; use `{MODEL_ID}` (or `{}` to upscale)",
                request.model,
                upscale::UPSCALE_MODEL_ID
            )));
        }
        if upscaling != (request.operation == Operation::Upscale) {
            return Err(ProviderError::Unsupported(format!(
                "`{}` does {}; use `{}`",
                request.model,
                if upscaling { "only upscale" } else { "not upscale" },
                if upscaling { MODEL_ID } else { upscale::UPSCALE_MODEL_ID }
            )));
        }
        let (width, height) = output_size(&request)?;
        // Seeds stay within 53 bits, so JavaScript clients read them exactly.
        let base_seed = request.seed.unwrap_or_else(|| render::hash_str(&request.prompt)) & SEED_MASK;
        log(
            Level::Debug,
            &format!("placeholder {:?} {width}x{height} x{} seed {base_seed}", request.operation, request.count),
        );
        let mut images = Vec::with_capacity(request.count as usize);
        for index in 0..request.count.max(1) {
            let seed = base_seed.wrapping_add(u64::from(index)) & SEED_MASK;
            let rgba = match request.operation {
                Operation::Generate => render::render(&request, seed, width, height),
                Operation::Upscale => upscale::upscale(&request, width, height)?,
                _ => edit::transform(&request, seed, width, height)?,
            };
            images.push(ImageOutput {
                data: ImageData::Inline(InlineImage {
                    mime_type: "image/png".into(),
                    data: render::encode_png(&rgba)?,
                }),
                width: Some(rgba.width()),
                height: Some(rgba.height()),
                seed: Some(seed),
                revised_prompt: None,
            });
        }
        Ok(Submission::Done(images))
    }

    fn poll(token: String) -> Result<JobState, ProviderError> {
        Err(ProviderError::InvalidRequest(InvalidField {
            field: Some("job_id".into()),
            message: format!("the placeholder finishes every job at once; there is no job `{token}` to poll"),
        }))
    }

    fn cancel(_token: String) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// The upscale model: one input, any factor the host allows, up to
/// [`upscale::MAX_UPSCALE_SIDE`] a side, free.
fn upscaler() -> ModelInfo {
    ModelInfo {
        id: upscale::UPSCALE_MODEL_ID.into(),
        display_name: "Placeholder upscaler (bilinear)".into(),
        aliases: vec![],
        operations: vec![Operation::Upscale],
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![],
        min_side: 16,
        max_side: upscale::MAX_UPSCALE_SIDE,
        size_multiple: 1,
        default_size: Dimensions { width: 2048, height: 2048 },
        max_images: 1,
        max_input_images: 1,
        features: Features::CUSTOM_SIZE,
        output_formats: vec!["image/png".into()],
        lifecycle: Lifecycle::Current,
        replacement: None,
        price_per_image_usd: Some(0.0),
        parameters: Some(r#"{"type": "object", "additionalProperties": false}"#.into()),
        prompt_style: PromptStyle::NaturalLanguage,
        prompt_notes: Some("A plain bilinear resize: it adds no detail and ignores the prompt.".into()),
    }
}

/// Output size: explicit size, else aspect ratio × tier, else the first
/// input image's size (edits), else 1024×1024.
fn output_size(request: &GenerationRequest) -> Result<(u32, u32), ProviderError> {
    if let Some(size) = &request.size {
        return Ok((size.width, size.height));
    }
    if request.aspect_ratio.is_some() || request.size_tier.is_some() {
        let ratio = request.aspect_ratio.as_deref().unwrap_or("1:1");
        let (w, h) = parse_ratio(ratio).ok_or_else(|| invalid("aspect_ratio", format!("`{ratio}` is not W:H")))?;
        let tier = request.size_tier.as_deref().unwrap_or("1K");
        let long = SIZE_TIERS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(tier))
            .map(|(_, px)| *px)
            .ok_or_else(|| invalid("size_tier", format!("`{tier}` is not one of 0.5K, 1K, 2K")))?;
        let (width, height) = if w >= h { (long, long * h / w) } else { (long * w / h, long) };
        return Ok((width.max(16), height.max(16)));
    }
    if let Some(first) = request.images.first() {
        return Ok((first.width.clamp(16, MAX_SIDE), first.height.clamp(16, MAX_SIDE)));
    }
    Ok((1024, 1024))
}

fn parse_ratio(ratio: &str) -> Option<(u32, u32)> {
    let (w, h) = ratio.split_once(':')?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

fn invalid(field: &str, message: String) -> ProviderError {
    ProviderError::InvalidRequest(InvalidField { field: Some(field.into()), message })
}

export!(Placeholder);
