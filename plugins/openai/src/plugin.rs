//! The component glue (wasm32 only): WIT bindings, the exported
//! `describe`/`submit`/`poll`/`cancel`, the one `egress.fetch` call per
//! submit, and conversions between the WIT types and `types`.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "image-provider",
});

use self::easel::image_provider::log::{Level, log};
use self::easel::image_provider::types as wit;
use self::easel::image_provider::{config, egress, progress};
use self::exports::easel::image_provider::provider::Guest;
use crate::models::{self, Lifecycle, Model, feat};
use crate::request::{self, SECRET, Settings};
use crate::response;
use crate::types::{Bytes, Failure, HttpRequest, HttpResponse, Image, Input, Op, Request, Role};
use crate::util;

struct OpenAi;

impl Guest for OpenAi {
    fn describe() -> Result<wit::ProviderInfo, wit::ProviderError> {
        let settings = Settings::from_config(config::get);
        Ok(wit::ProviderInfo {
            id: "openai".into(),
            display_name: "OpenAI Images".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "OpenAI's GPT Image models (gpt-image-1.5, gpt-image-2, …): text-to-image and multi-image edits with masks, synchronous, billed per image.".into(),
            models: models::MODELS.iter().map(model_info).collect(),
            default_model: models::DEFAULT_MODEL.into(),
            secrets: vec![wit::SecretNeed {
                name: SECRET.into(),
                description: "OpenAI API key (sk-…), from https://platform.openai.com/api-keys; sent as `Authorization: Bearer`.".into(),
                required: true,
            }],
            hosts: vec![util::origin(&settings.base_url)],
        })
    }

    fn submit(request: wit::GenerationRequest) -> Result<wit::Submission, wit::ProviderError> {
        if !egress::secret_configured(SECRET) {
            return Err(wit::ProviderError::Unauthorized(format!(
                "{SECRET} is not set: set the environment variable named in [plugins.openai.secrets.{SECRET}] of plugins.toml"
            )));
        }
        let settings = Settings::from_config(config::get);
        let req = from_wit(request);
        let built = request::build(&req, &settings).map_err(to_wit_error)?;
        let endpoint = if req.op == Op::Generate { "images/generations" } else { "images/edits" };
        log(Level::Debug, &format!("POST {} model={} n={} ({} bytes)", built.http.url, req.model, req.count, built.http.body.len()));
        progress::report(None, &format!("waiting for OpenAI {endpoint} ({})", req.model));
        let response = fetch(built.http)?;
        let images = response::interpret(&response, built.output_format.as_deref(), now_unix_secs()).map_err(to_wit_error)?;
        log(Level::Debug, &format!("OpenAI returned {} image(s)", images.len()));
        Ok(wit::Submission::Done(images.into_iter().map(to_wit_image).collect()))
    }

    fn poll(token: String) -> Result<wit::JobState, wit::ProviderError> {
        Err(wit::ProviderError::InvalidRequest(wit::InvalidField {
            field: Some("job_id".into()),
            message: format!("OpenAI Images is synchronous: submit returns the images, so there is no job `{token}` to poll"),
        }))
    }

    fn cancel(_token: String) -> Result<(), wit::ProviderError> {
        Ok(())
    }
}

export!(OpenAi with_types_in crate::plugin);

/// One HTTP exchange through the host; egress errors keep the host's
/// message, which already says which `allowed_hosts` entry to add.
fn fetch(http: HttpRequest) -> Result<HttpResponse, wit::ProviderError> {
    let url = http.url.clone();
    let request = egress::HttpRequest { method: http.method, url: http.url, headers: http.headers, body: http.body, timeout_ms: http.timeout_ms };
    match egress::fetch(&request) {
        Ok(r) => Ok(HttpResponse { status: r.status, headers: r.headers, body: r.body }),
        Err(error) => Err(to_wit_error(match error {
            egress::EgressError::Denied(m) => Failure::Unavailable(m),
            egress::EgressError::SecretUnavailable(m) => Failure::Unauthorized(m),
            egress::EgressError::InvalidRequest(m) => Failure::Internal(format!("the host refused the request to {url}: {m}")),
            egress::EgressError::Connection(m) => Failure::Unavailable(format!("cannot reach OpenAI at {url}: {m}")),
            egress::EgressError::Timeout(m) => Failure::Timeout(format!("OpenAI did not answer in time: {m}")),
            egress::EgressError::TooLarge(m) => Failure::Upstream { status: 0, message: format!("OpenAI's answer was too large: {m}") },
        })),
    }
}

fn now_unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn from_wit(r: wit::GenerationRequest) -> Request {
    Request {
        op: match r.operation {
            wit::Operation::Generate => Op::Generate,
            wit::Operation::Edit => Op::Edit,
            wit::Operation::Inpaint => Op::Inpaint,
            wit::Operation::Upscale => Op::Upscale,
            wit::Operation::Variation => Op::Variation,
        },
        model: r.model,
        prompt: r.prompt,
        negative_prompt: r.negative_prompt,
        size: r.size.map(|d| (d.width, d.height)),
        aspect_ratio: r.aspect_ratio,
        size_tier: r.size_tier,
        count: r.count,
        seed: r.seed,
        steps: r.steps,
        guidance: r.guidance,
        strength: r.strength,
        images: r
            .images
            .into_iter()
            .map(|i| Input {
                role: match i.role {
                    wit::ImageRole::Reference => Role::Reference,
                    wit::ImageRole::Mask => Role::Mask,
                    wit::ImageRole::Control => Role::Control,
                },
                mime_type: i.mime_type,
                width: i.width,
                height: i.height,
                data: i.data,
            })
            .collect(),
        extra: r.extra,
    }
}

fn to_wit_image(image: Image) -> wit::ImageOutput {
    wit::ImageOutput {
        data: match image.data {
            Bytes::Inline(data) => wit::ImageData::Inline(wit::InlineImage { mime_type: image.mime_type, data }),
            Bytes::Url(url) => wit::ImageData::Remote(wit::RemoteImage { url, headers: vec![] }),
        },
        width: image.width,
        height: image.height,
        seed: image.seed,
        revised_prompt: image.revised_prompt,
    }
}

fn to_wit_error(failure: Failure) -> wit::ProviderError {
    match failure {
        Failure::InvalidRequest { field, message } => wit::ProviderError::InvalidRequest(wit::InvalidField { field, message }),
        Failure::Unsupported(m) => wit::ProviderError::Unsupported(m),
        Failure::Unauthorized(m) => wit::ProviderError::Unauthorized(m),
        Failure::ContentBlocked(m) => wit::ProviderError::ContentBlocked(m),
        Failure::RateLimited { retry_after_ms, message } => wit::ProviderError::RateLimited(wit::RateLimit { retry_after_ms, message }),
        Failure::Upstream { status, message } => wit::ProviderError::Upstream(wit::UpstreamFailure { status, message }),
        Failure::Timeout(m) => wit::ProviderError::Timeout(m),
        Failure::Unavailable(m) => wit::ProviderError::Unavailable(m),
        Failure::Internal(m) => wit::ProviderError::Internal(m),
    }
}

fn model_info(m: &Model) -> wit::ModelInfo {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut features = wit::Features::empty();
    for (bit, flag) in [
        (feat::NEGATIVE_PROMPT, wit::Features::NEGATIVE_PROMPT),
        (feat::SEED, wit::Features::SEED),
        (feat::STEPS, wit::Features::STEPS),
        (feat::GUIDANCE, wit::Features::GUIDANCE),
        (feat::STRENGTH, wit::Features::STRENGTH),
        (feat::MASK, wit::Features::MASK),
        (feat::CUSTOM_SIZE, wit::Features::CUSTOM_SIZE),
    ] {
        if m.features & bit != 0 {
            features = features | flag;
        }
    }
    wit::ModelInfo {
        id: m.id.into(),
        display_name: m.display_name.into(),
        aliases: strings(m.aliases),
        operations: m
            .operations
            .iter()
            .map(|op| match op {
                Op::Generate => wit::Operation::Generate,
                Op::Edit => wit::Operation::Edit,
                Op::Inpaint => wit::Operation::Inpaint,
                Op::Upscale => wit::Operation::Upscale,
                Op::Variation => wit::Operation::Variation,
            })
            .collect(),
        aspect_ratios: strings(m.aspect_ratios),
        size_tiers: strings(m.size_tiers),
        sizes: m.sizes.iter().map(|&(width, height)| wit::Dimensions { width, height }).collect(),
        min_side: m.min_side,
        max_side: m.max_side,
        size_multiple: m.size_multiple,
        default_size: wit::Dimensions { width: m.default_size.0, height: m.default_size.1 },
        max_images: m.max_images,
        max_input_images: m.max_input_images,
        features,
        output_formats: strings(m.output_formats),
        lifecycle: match m.lifecycle {
            Lifecycle::Current => wit::Lifecycle::Current,
            Lifecycle::Legacy => wit::Lifecycle::Legacy,
            Lifecycle::Deprecated => wit::Lifecycle::Deprecated,
            Lifecycle::Retired => wit::Lifecycle::Retired,
        },
        replacement: m.replacement.map(Into::into),
        price_per_image_usd: m.price_per_image_usd,
        prompt_notes: m.prompt_notes.map(Into::into),
    }
}
