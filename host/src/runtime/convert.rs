//! Conversions between the WIT 0.1.0 bindings and the host's `model` types.
//! Text a plugin sends for users (error and progress messages) is escaped
//! and cut here, so no caller prints a plugin's control characters.

use super::bindings::easel::image_provider::types as wit;
use crate::model;

pub fn provider_info(info: wit::ProviderInfo) -> model::ProviderInfo {
    model::ProviderInfo {
        id: info.id,
        display_name: info.display_name,
        version: info.version,
        description: info.description,
        models: info.models.into_iter().map(model_info).collect(),
        default_model: info.default_model,
        secrets: info
            .secrets
            .into_iter()
            .map(|s| model::SecretNeed { name: s.name, description: s.description, required: s.required })
            .collect(),
        hosts: info.hosts,
    }
}

fn model_info(m: wit::ModelInfo) -> model::ModelInfo {
    let f = m.features;
    model::ModelInfo {
        id: m.id,
        display_name: m.display_name,
        aliases: m.aliases,
        operations: m.operations.into_iter().map(operation).collect(),
        aspect_ratios: m.aspect_ratios,
        size_tiers: m.size_tiers,
        sizes: m.sizes.into_iter().map(|d| model::Dimensions { width: d.width, height: d.height }).collect(),
        min_side: m.min_side,
        max_side: m.max_side,
        size_multiple: m.size_multiple.max(1),
        default_size: model::Dimensions { width: m.default_size.width, height: m.default_size.height },
        max_images: m.max_images.max(1),
        max_input_images: m.max_input_images,
        features: model::Features {
            negative_prompt: f.contains(wit::Features::NEGATIVE_PROMPT),
            seed: f.contains(wit::Features::SEED),
            steps: f.contains(wit::Features::STEPS),
            guidance: f.contains(wit::Features::GUIDANCE),
            strength: f.contains(wit::Features::STRENGTH),
            mask: f.contains(wit::Features::MASK),
            custom_size: f.contains(wit::Features::CUSTOM_SIZE),
        },
        output_formats: m.output_formats,
        lifecycle: match m.lifecycle {
            wit::Lifecycle::Current => model::Lifecycle::Current,
            wit::Lifecycle::Legacy => model::Lifecycle::Legacy,
            wit::Lifecycle::Deprecated => model::Lifecycle::Deprecated,
            wit::Lifecycle::Retired => model::Lifecycle::Retired,
        },
        replacement: m.replacement,
        price_per_image_usd: m.price_per_image_usd.filter(|p| p.is_finite() && *p >= 0.0),
        prompt_notes: m.prompt_notes,
    }
}

fn operation(op: wit::Operation) -> model::Operation {
    match op {
        wit::Operation::Generate => model::Operation::Generate,
        wit::Operation::Edit => model::Operation::Edit,
        wit::Operation::Inpaint => model::Operation::Inpaint,
        wit::Operation::Upscale => model::Operation::Upscale,
        wit::Operation::Variation => model::Operation::Variation,
    }
}

pub fn request(r: &model::GenerationRequest) -> wit::GenerationRequest {
    wit::GenerationRequest {
        operation: match r.operation {
            model::Operation::Generate => wit::Operation::Generate,
            model::Operation::Edit => wit::Operation::Edit,
            model::Operation::Inpaint => wit::Operation::Inpaint,
            model::Operation::Upscale => wit::Operation::Upscale,
            model::Operation::Variation => wit::Operation::Variation,
        },
        model: r.model.clone(),
        prompt: r.prompt.clone(),
        negative_prompt: r.negative_prompt.clone(),
        size: r.size.map(|d| wit::Dimensions { width: d.width, height: d.height }),
        aspect_ratio: r.aspect_ratio.clone(),
        size_tier: r.size_tier.clone(),
        count: r.count,
        seed: r.seed,
        steps: r.steps,
        guidance: r.guidance,
        strength: r.strength,
        images: r
            .images
            .iter()
            .map(|i| wit::InputImage {
                role: match i.role {
                    model::ImageRole::Reference => wit::ImageRole::Reference,
                    model::ImageRole::Mask => wit::ImageRole::Mask,
                    model::ImageRole::Control => wit::ImageRole::Control,
                },
                mime_type: i.mime_type.clone(),
                width: i.width,
                height: i.height,
                data: i.data.clone(),
            })
            .collect(),
        extra: r.extra.clone(),
    }
}

fn outputs(images: Vec<wit::ImageOutput>) -> Vec<model::ImageOutput> {
    images
        .into_iter()
        .map(|o| model::ImageOutput {
            data: match o.data {
                wit::ImageData::Inline(i) => model::ImageData::Inline { mime_type: i.mime_type, data: i.data },
                wit::ImageData::Remote(r) => model::ImageData::Remote { url: r.url, headers: r.headers },
            },
            seed: o.seed,
            revised_prompt: o.revised_prompt,
        })
        .collect()
}

pub fn submission(s: wit::Submission) -> model::Submission {
    match s {
        wit::Submission::Done(images) => model::Submission::Done(outputs(images)),
        wit::Submission::Pending(token) => model::Submission::Pending(token),
    }
}

pub fn job_state(s: wit::JobState) -> model::JobState {
    match s {
        wit::JobState::Queued(position) => model::JobState::Queued(position),
        wit::JobState::Running(r) => model::JobState::Running {
            fraction: r.fraction.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0)),
            message: r.message.map(|m| super::logs::sanitize(&m, super::logs::MAX_PROGRESS_CHARS)),
        },
        wit::JobState::Done(images) => model::JobState::Done(outputs(images)),
        wit::JobState::Failed(e) => model::JobState::Failed(provider_error(e)),
    }
}

/// Longest plugin error message kept, characters.
pub const MAX_ERROR_CHARS: usize = 2000;

fn clean(message: String) -> String {
    super::logs::sanitize(&message, MAX_ERROR_CHARS)
}

pub fn provider_error(e: wit::ProviderError) -> model::ProviderError {
    use model::ProviderError as P;
    match e {
        wit::ProviderError::InvalidRequest(f) => {
            P::InvalidRequest { field: f.field.map(|f| super::logs::sanitize(&f, 100)), message: clean(f.message) }
        }
        wit::ProviderError::Unsupported(message) => P::Unsupported { message: clean(message) },
        wit::ProviderError::Unauthorized(message) => P::Unauthorized { message: clean(message) },
        wit::ProviderError::ContentBlocked(message) => P::ContentBlocked { message: clean(message) },
        wit::ProviderError::RateLimited(r) => P::RateLimited { retry_after_ms: r.retry_after_ms, message: clean(r.message) },
        wit::ProviderError::Upstream(u) => P::Upstream { status: u.status, message: clean(u.message) },
        wit::ProviderError::Timeout(message) => P::Timeout { message: clean(message) },
        wit::ProviderError::Unavailable(message) => P::Unavailable { message: clean(message) },
        wit::ProviderError::Internal(message) => P::Internal { message: clean(message) },
    }
}
