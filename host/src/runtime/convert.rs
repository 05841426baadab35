//! `From` impls between the latest WIT bindings (0.3.0) and the host's `model`
//! types, one per record, variant and enum that crosses the boundary (the
//! shape of Zed's `wasm_host/wit/since_v*.rs`). Text a plugin sends for
//! users (error and progress messages) is escaped and cut here, so no
//! caller prints a plugin's control characters.

use super::bindings::latest::easel::image_provider::types as wit;
use super::logs::{MAX_PROGRESS_CHARS, sanitize};
use crate::model;

/// Longest plugin error message kept, characters.
pub const MAX_ERROR_CHARS: usize = 2000;

/// Longest field name a plugin's `invalid-request` may carry, characters.
const MAX_FIELD_CHARS: usize = 100;

impl From<wit::ProviderInfo> for model::ProviderInfo {
    fn from(info: wit::ProviderInfo) -> Self {
        model::ProviderInfo {
            id: info.id,
            display_name: info.display_name,
            version: info.version,
            description: info.description,
            models: info.models.into_iter().map(Into::into).collect(),
            default_model: info.default_model,
            secrets: info
                .secrets
                .into_iter()
                .map(|s| model::SecretNeed { name: s.name, description: s.description, required: s.required })
                .collect(),
            hosts: info.hosts,
        }
    }
}

impl From<wit::Features> for model::Features {
    fn from(f: wit::Features) -> Self {
        model::Features {
            negative_prompt: f.contains(wit::Features::NEGATIVE_PROMPT),
            seed: f.contains(wit::Features::SEED),
            steps: f.contains(wit::Features::STEPS),
            guidance: f.contains(wit::Features::GUIDANCE),
            strength: f.contains(wit::Features::STRENGTH),
            mask: f.contains(wit::Features::MASK),
            custom_size: f.contains(wit::Features::CUSTOM_SIZE),
        }
    }
}

impl From<wit::Dimensions> for model::Dimensions {
    fn from(d: wit::Dimensions) -> Self {
        model::Dimensions { width: d.width, height: d.height }
    }
}

impl From<model::Dimensions> for wit::Dimensions {
    fn from(d: model::Dimensions) -> Self {
        wit::Dimensions { width: d.width, height: d.height }
    }
}

impl From<wit::Lifecycle> for model::Lifecycle {
    fn from(lifecycle: wit::Lifecycle) -> Self {
        match lifecycle {
            wit::Lifecycle::Current => model::Lifecycle::Current,
            wit::Lifecycle::Legacy => model::Lifecycle::Legacy,
            wit::Lifecycle::Deprecated => model::Lifecycle::Deprecated,
            wit::Lifecycle::Retired => model::Lifecycle::Retired,
        }
    }
}

/// A model as the host uses it: a `size-multiple` or `max-images` of 0 is
/// read as 1, a price that is negative or not finite as unknown, and the
/// `parameters` schema text as JSON.
impl From<wit::ModelInfo> for model::ModelInfo {
    fn from(m: wit::ModelInfo) -> Self {
        model::ModelInfo {
            id: m.id,
            display_name: m.display_name,
            aliases: m.aliases,
            operations: m.operations.into_iter().map(Into::into).collect(),
            aspect_ratios: m.aspect_ratios,
            size_tiers: m.size_tiers,
            sizes: m.sizes.into_iter().map(Into::into).collect(),
            min_side: m.min_side,
            max_side: m.max_side,
            size_multiple: m.size_multiple.max(1),
            default_size: m.default_size.into(),
            max_images: m.max_images.max(1),
            max_input_images: m.max_input_images,
            features: m.features.into(),
            output_formats: m.output_formats,
            lifecycle: m.lifecycle.into(),
            replacement: m.replacement,
            price_per_image_usd: m.price_per_image_usd.filter(|p| p.is_finite() && *p >= 0.0),
            prompt_notes: m.prompt_notes,
            prompt_style: match m.prompt_style {
                wit::PromptStyle::NaturalLanguage => model::PromptStyle::NaturalLanguage,
                wit::PromptStyle::WeightedTags => model::PromptStyle::WeightedTags,
                wit::PromptStyle::T5Prose => model::PromptStyle::T5Prose,
            },
            // Text that is not JSON is kept as a string, which
            // `ProviderInfo::problems` reports as not a schema.
            parameters: m.parameters.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))),
        }
    }
}

impl From<wit::Operation> for model::Operation {
    fn from(op: wit::Operation) -> Self {
        match op {
            wit::Operation::Generate => model::Operation::Generate,
            wit::Operation::Edit => model::Operation::Edit,
            wit::Operation::Inpaint => model::Operation::Inpaint,
            wit::Operation::Upscale => model::Operation::Upscale,
            wit::Operation::Variation => model::Operation::Variation,
        }
    }
}

impl From<model::Operation> for wit::Operation {
    fn from(op: model::Operation) -> Self {
        match op {
            model::Operation::Generate => wit::Operation::Generate,
            model::Operation::Edit => wit::Operation::Edit,
            model::Operation::Inpaint => wit::Operation::Inpaint,
            model::Operation::Upscale => wit::Operation::Upscale,
            model::Operation::Variation => wit::Operation::Variation,
        }
    }
}

impl From<model::ImageRole> for wit::ImageRole {
    fn from(role: model::ImageRole) -> Self {
        match role {
            model::ImageRole::Reference => wit::ImageRole::Reference,
            model::ImageRole::Mask => wit::ImageRole::Mask,
            model::ImageRole::Control => wit::ImageRole::Control,
        }
    }
}

impl From<&model::InputImage> for wit::InputImage {
    fn from(i: &model::InputImage) -> Self {
        wit::InputImage {
            role: i.role.into(),
            mime_type: i.mime_type.clone(),
            width: i.width,
            height: i.height,
            data: i.data.clone(),
        }
    }
}

/// The request as the plugin receives it; `extra` carries the caller's
/// `params` as JSON object text.
impl From<&model::GenerationRequest> for wit::GenerationRequest {
    fn from(r: &model::GenerationRequest) -> Self {
        wit::GenerationRequest {
            operation: r.operation.into(),
            model: r.model.clone(),
            prompt: r.prompt.clone(),
            negative_prompt: r.negative_prompt.clone(),
            size: r.size.map(Into::into),
            aspect_ratio: r.aspect_ratio.clone(),
            size_tier: r.size_tier.clone(),
            count: r.count,
            seed: r.seed,
            steps: r.steps,
            guidance: r.guidance,
            strength: r.strength,
            images: r.images.iter().map(Into::into).collect(),
            extra: r.extra.clone(),
        }
    }
}

impl From<wit::ImageOutput> for model::ImageOutput {
    fn from(o: wit::ImageOutput) -> Self {
        model::ImageOutput {
            data: match o.data {
                wit::ImageData::Inline(i) => model::ImageData::Inline { mime_type: i.mime_type, data: i.data },
                wit::ImageData::Remote(r) => model::ImageData::Remote { url: r.url, headers: r.headers },
            },
            seed: o.seed,
            revised_prompt: o.revised_prompt,
        }
    }
}

impl From<wit::Submission> for model::Submission {
    fn from(s: wit::Submission) -> Self {
        match s {
            wit::Submission::Done(images) => model::Submission::Done(images.into_iter().map(Into::into).collect()),
            wit::Submission::Pending(token) => model::Submission::Pending(token),
        }
    }
}

/// A poll result; a progress fraction outside 0..=1 is clamped (one that
/// is not finite dropped) and the message sanitized.
impl From<wit::JobState> for model::JobState {
    fn from(s: wit::JobState) -> Self {
        match s {
            wit::JobState::Queued(position) => model::JobState::Queued(position),
            wit::JobState::Running(r) => model::JobState::Running {
                fraction: r.fraction.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0)),
                message: r.message.map(|m| sanitize(&m, MAX_PROGRESS_CHARS)),
            },
            wit::JobState::Done(images) => model::JobState::Done(images.into_iter().map(Into::into).collect()),
            wit::JobState::Failed(e) => model::JobState::Failed(e.into()),
        }
    }
}

/// A plugin's error, its messages sanitized and cut to [`MAX_ERROR_CHARS`].
impl From<wit::ProviderError> for model::ProviderError {
    fn from(e: wit::ProviderError) -> Self {
        use model::ProviderError as P;
        let clean = |message: String| sanitize(&message, MAX_ERROR_CHARS);
        match e {
            wit::ProviderError::InvalidRequest(f) => {
                P::InvalidRequest { field: f.field.map(|f| sanitize(&f, MAX_FIELD_CHARS)), message: clean(f.message) }
            }
            wit::ProviderError::Unsupported(message) => P::Unsupported { message: clean(message) },
            wit::ProviderError::Unauthorized(message) => P::Unauthorized { message: clean(message) },
            wit::ProviderError::ContentBlocked(message) => P::ContentBlocked { message: clean(message) },
            wit::ProviderError::RateLimited(r) => {
                P::RateLimited { retry_after_ms: r.retry_after_ms, message: clean(r.message) }
            }
            wit::ProviderError::Upstream(u) => P::Upstream { status: u.status, message: clean(u.message) },
            wit::ProviderError::Timeout(message) => P::Timeout { message: clean(message) },
            wit::ProviderError::Unavailable(message) => P::Unavailable { message: clean(message) },
            wit::ProviderError::Internal(message) => P::Internal { message: clean(message) },
        }
    }
}
