//! Components built against `easel:image-provider@0.1.0`: its imports,
//! implemented by delegating to 0.2.0's (`runtime::since_v0_2`, which
//! delegates to the latest), and `From` impls that carry its types up to
//! 0.2.0, from where `since_v0_2` carries them to the latest, so that the
//! rest of the host only ever sees one version. 0.1.0 lacks
//! `model-info.parameters` (read as `none`: nothing declared, every param
//! passes through).

use super::bindings::v0_1::easel::image_provider as v0_1;
use super::bindings::v0_2::easel::image_provider as next;
use super::state::PluginState;

impl v0_1::types::Host for PluginState {}

impl v0_1::egress::Host for PluginState {
    async fn fetch(
        &mut self,
        request: v0_1::egress::HttpRequest,
    ) -> wasmtime::Result<Result<v0_1::egress::HttpResponse, v0_1::egress::EgressError>> {
        let request = next::egress::HttpRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let result = next::egress::Host::fetch(self, request).await?;
        Ok(result.map(|r| v0_1::egress::HttpResponse { status: r.status, headers: r.headers, body: r.body }).map_err(
            |e| {
                use next::egress::EgressError as E;
                use v0_1::egress::EgressError as Old;
                match e {
                    E::Denied(m) => Old::Denied(m),
                    E::SecretUnavailable(m) => Old::SecretUnavailable(m),
                    E::InvalidRequest(m) => Old::InvalidRequest(m),
                    E::Connection(m) => Old::Connection(m),
                    E::Timeout(m) => Old::Timeout(m),
                    E::TooLarge(m) => Old::TooLarge(m),
                }
            },
        ))
    }

    async fn secret_configured(&mut self, name: String) -> wasmtime::Result<bool> {
        next::egress::Host::secret_configured(self, name).await
    }
}

impl v0_1::log::Host for PluginState {
    async fn log(&mut self, level: v0_1::log::Level, message: String) -> wasmtime::Result<()> {
        use next::log::Level as L;
        use v0_1::log::Level as Old;
        let level = match level {
            Old::Trace => L::Trace,
            Old::Debug => L::Debug,
            Old::Info => L::Info,
            Old::Warn => L::Warn,
            Old::Error => L::Error,
        };
        next::log::Host::log(self, level, message).await
    }
}

impl v0_1::progress::Host for PluginState {
    async fn report(&mut self, fraction: Option<f32>, message: String) -> wasmtime::Result<()> {
        next::progress::Host::report(self, fraction, message).await
    }
}

impl v0_1::config::Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        next::config::Host::get(self, key).await
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        next::config::Host::all(self).await
    }
}

use next::types as new;
use v0_1::types as old;

impl From<old::ProviderInfo> for new::ProviderInfo {
    fn from(i: old::ProviderInfo) -> Self {
        new::ProviderInfo {
            id: i.id,
            display_name: i.display_name,
            version: i.version,
            description: i.description,
            models: i.models.into_iter().map(Into::into).collect(),
            default_model: i.default_model,
            secrets: i
                .secrets
                .into_iter()
                .map(|s| new::SecretNeed { name: s.name, description: s.description, required: s.required })
                .collect(),
            hosts: i.hosts,
        }
    }
}

impl From<old::ModelInfo> for new::ModelInfo {
    fn from(m: old::ModelInfo) -> Self {
        new::ModelInfo {
            id: m.id,
            display_name: m.display_name,
            aliases: m.aliases,
            operations: m.operations.into_iter().map(Into::into).collect(),
            aspect_ratios: m.aspect_ratios,
            size_tiers: m.size_tiers,
            sizes: m.sizes.into_iter().map(|d| new::Dimensions { width: d.width, height: d.height }).collect(),
            min_side: m.min_side,
            max_side: m.max_side,
            size_multiple: m.size_multiple,
            default_size: new::Dimensions { width: m.default_size.width, height: m.default_size.height },
            max_images: m.max_images,
            max_input_images: m.max_input_images,
            features: features(m.features),
            output_formats: m.output_formats,
            lifecycle: match m.lifecycle {
                old::Lifecycle::Current => new::Lifecycle::Current,
                old::Lifecycle::Legacy => new::Lifecycle::Legacy,
                old::Lifecycle::Deprecated => new::Lifecycle::Deprecated,
                old::Lifecycle::Retired => new::Lifecycle::Retired,
            },
            replacement: m.replacement,
            price_per_image_usd: m.price_per_image_usd,
            prompt_notes: m.prompt_notes,
            parameters: None,
        }
    }
}

fn features(f: old::Features) -> new::Features {
    let pairs = [
        (old::Features::NEGATIVE_PROMPT, new::Features::NEGATIVE_PROMPT),
        (old::Features::SEED, new::Features::SEED),
        (old::Features::STEPS, new::Features::STEPS),
        (old::Features::GUIDANCE, new::Features::GUIDANCE),
        (old::Features::STRENGTH, new::Features::STRENGTH),
        (old::Features::MASK, new::Features::MASK),
        (old::Features::CUSTOM_SIZE, new::Features::CUSTOM_SIZE),
    ];
    pairs.into_iter().filter(|(o, _)| f.contains(*o)).fold(new::Features::empty(), |all, (_, n)| all | n)
}

impl From<old::Operation> for new::Operation {
    fn from(op: old::Operation) -> Self {
        match op {
            old::Operation::Generate => new::Operation::Generate,
            old::Operation::Edit => new::Operation::Edit,
            old::Operation::Inpaint => new::Operation::Inpaint,
            old::Operation::Upscale => new::Operation::Upscale,
            old::Operation::Variation => new::Operation::Variation,
        }
    }
}

impl From<new::Operation> for old::Operation {
    fn from(op: new::Operation) -> Self {
        match op {
            new::Operation::Generate => old::Operation::Generate,
            new::Operation::Edit => old::Operation::Edit,
            new::Operation::Inpaint => old::Operation::Inpaint,
            new::Operation::Upscale => old::Operation::Upscale,
            new::Operation::Variation => old::Operation::Variation,
        }
    }
}

/// A request for an 0.1.0 component (the two versions' requests are the same shape).
impl From<&new::GenerationRequest> for old::GenerationRequest {
    fn from(r: &new::GenerationRequest) -> Self {
        old::GenerationRequest {
            operation: r.operation.into(),
            model: r.model.clone(),
            prompt: r.prompt.clone(),
            negative_prompt: r.negative_prompt.clone(),
            size: r.size.map(|d| old::Dimensions { width: d.width, height: d.height }),
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
                .map(|i| old::InputImage {
                    role: match i.role {
                        new::ImageRole::Reference => old::ImageRole::Reference,
                        new::ImageRole::Mask => old::ImageRole::Mask,
                        new::ImageRole::Control => old::ImageRole::Control,
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
}

impl From<old::ImageOutput> for new::ImageOutput {
    fn from(o: old::ImageOutput) -> Self {
        new::ImageOutput {
            data: match o.data {
                old::ImageData::Inline(i) => {
                    new::ImageData::Inline(new::InlineImage { mime_type: i.mime_type, data: i.data })
                }
                old::ImageData::Remote(r) => {
                    new::ImageData::Remote(new::RemoteImage { url: r.url, headers: r.headers })
                }
            },
            width: o.width,
            height: o.height,
            seed: o.seed,
            revised_prompt: o.revised_prompt,
        }
    }
}

impl From<old::Submission> for new::Submission {
    fn from(s: old::Submission) -> Self {
        match s {
            old::Submission::Done(images) => new::Submission::Done(images.into_iter().map(Into::into).collect()),
            old::Submission::Pending(token) => new::Submission::Pending(token),
        }
    }
}

impl From<old::JobState> for new::JobState {
    fn from(s: old::JobState) -> Self {
        match s {
            old::JobState::Queued(position) => new::JobState::Queued(position),
            old::JobState::Running(r) => {
                new::JobState::Running(new::RunningState { fraction: r.fraction, message: r.message })
            }
            old::JobState::Done(images) => new::JobState::Done(images.into_iter().map(Into::into).collect()),
            old::JobState::Failed(e) => new::JobState::Failed(e.into()),
        }
    }
}

impl From<old::ProviderError> for new::ProviderError {
    fn from(e: old::ProviderError) -> Self {
        match e {
            old::ProviderError::InvalidRequest(f) => {
                new::ProviderError::InvalidRequest(new::InvalidField { field: f.field, message: f.message })
            }
            old::ProviderError::Unsupported(m) => new::ProviderError::Unsupported(m),
            old::ProviderError::Unauthorized(m) => new::ProviderError::Unauthorized(m),
            old::ProviderError::ContentBlocked(m) => new::ProviderError::ContentBlocked(m),
            old::ProviderError::RateLimited(r) => {
                new::ProviderError::RateLimited(new::RateLimit { retry_after_ms: r.retry_after_ms, message: r.message })
            }
            old::ProviderError::Upstream(u) => {
                new::ProviderError::Upstream(new::UpstreamFailure { status: u.status, message: u.message })
            }
            old::ProviderError::Timeout(m) => new::ProviderError::Timeout(m),
            old::ProviderError::Unavailable(m) => new::ProviderError::Unavailable(m),
            old::ProviderError::Internal(m) => new::ProviderError::Internal(m),
        }
    }
}
