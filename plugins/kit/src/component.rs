//! The WASI component glue (wasm32 only): the generated bindings, the
//! [`t::Host`] implementation over the imports, the [`Adapter`] that exports
//! any [`Provider`] through the bindings' `Guest` trait, and conversions
//! between the bindings and the plain types in [`crate::types`].

/// The bindings wit-bindgen generates for the `image-provider` world. The
/// export macro is public so that each plugin crate exports its own
/// provider (see [`crate::export_provider`]).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.3.0",
        world: "image-provider",
        pub_export_macro: true,
        default_bindings_module: "easel_plugin_kit::bindings",
    });
}

use crate::Provider;
use crate::types as t;
use bindings::easel::image_provider::types as w;
use bindings::easel::image_provider::{config, egress, log, progress, streams};
use bindings::exports::easel::image_provider::provider::Guest;
use std::marker::PhantomData;

/// The host's imports as a [`t::Host`].
struct Imports;

fn request_to(request: t::HttpRequest) -> egress::HttpRequest {
    egress::HttpRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout_ms: request.timeout_ms,
    }
}

fn response_from(r: egress::HttpResponse) -> t::HttpResponse {
    t::HttpResponse { status: r.status, headers: r.headers, body: r.body }
}

fn egress_error_from(e: egress::EgressError) -> t::EgressError {
    match e {
        egress::EgressError::Denied(m) => t::EgressError::Denied(m),
        egress::EgressError::SecretUnavailable(m) => t::EgressError::SecretUnavailable(m),
        egress::EgressError::InvalidRequest(m) => t::EgressError::InvalidRequest(m),
        egress::EgressError::Connection(m) => t::EgressError::Connection(m),
        egress::EgressError::Timeout(m) => t::EgressError::Timeout(m),
        egress::EgressError::TooLarge(m) => t::EgressError::TooLarge(m),
    }
}

impl t::EventStream for streams::EventStream {
    fn next(&mut self, timeout_ms: u32) -> Result<Option<t::SseEvent>, t::EgressError> {
        streams::EventStream::next(self, timeout_ms)
            .map(|event| event.map(|e| t::SseEvent { event: e.event, data: e.data, id: e.id }))
            .map_err(egress_error_from)
    }
}

impl t::WebSocket for streams::Websocket {
    fn send(&mut self, message: t::WsMessage) -> Result<(), t::EgressError> {
        let message = match message {
            t::WsMessage::Text(text) => streams::WsMessage::Text(text),
            t::WsMessage::Binary(bytes) => streams::WsMessage::Binary(bytes),
        };
        streams::Websocket::send(self, &message).map_err(egress_error_from)
    }

    fn receive(&mut self, timeout_ms: u32) -> Result<Option<t::WsMessage>, t::EgressError> {
        let message = streams::Websocket::receive(self, timeout_ms).map_err(egress_error_from)?;
        Ok(message.map(|m| match m {
            streams::WsMessage::Text(text) => t::WsMessage::Text(text),
            streams::WsMessage::Binary(bytes) => t::WsMessage::Binary(bytes),
        }))
    }
}

impl t::Host for Imports {
    fn fetch(&self, request: t::HttpRequest) -> Result<t::HttpResponse, t::EgressError> {
        egress::fetch(&request_to(request)).map(response_from).map_err(egress_error_from)
    }

    fn open_events(&self, request: t::HttpRequest) -> Result<t::Opened<t::Events<'_>>, t::EgressError> {
        Ok(match streams::open_events(&request_to(request)).map_err(egress_error_from)? {
            streams::EventsAnswer::Events(stream) => t::Opened::Open(Box::new(stream)),
            streams::EventsAnswer::Response(response) => t::Opened::Response(response_from(response)),
        })
    }

    fn connect_websocket(&self, request: t::HttpRequest) -> Result<t::Opened<t::Socket<'_>>, t::EgressError> {
        Ok(match streams::connect_websocket(&request_to(request)).map_err(egress_error_from)? {
            streams::WebsocketAnswer::Socket(socket) => t::Opened::Open(Box::new(socket)),
            streams::WebsocketAnswer::Response(response) => t::Opened::Response(response_from(response)),
        })
    }

    fn secret_configured(&self, name: &str) -> bool {
        egress::secret_configured(name)
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn progress(&self, fraction: Option<f32>, message: &str) {
        progress::report(fraction, message);
    }

    fn log(&self, level: t::Level, message: &str) {
        let level = match level {
            t::Level::Trace => log::Level::Trace,
            t::Level::Debug => log::Level::Debug,
            t::Level::Info => log::Level::Info,
            t::Level::Warn => log::Level::Warn,
            t::Level::Error => log::Level::Error,
        };
        log::log(level, message);
    }
}

/// Implements the bindings' `Guest` for any [`Provider`] `P`, converting
/// between the WIT types and the plain ones and passing the real imports.
pub struct Adapter<P>(PhantomData<P>);

impl<P: Provider + 'static> Guest for Adapter<P> {
    fn describe() -> Result<w::ProviderInfo, w::ProviderError> {
        P::describe(&Imports).map(provider_info).map_err(error_to)
    }

    fn submit(request: w::GenerationRequest) -> Result<w::Submission, w::ProviderError> {
        match P::submit(&Imports, &request_from(request)).map_err(error_to)? {
            t::Submission::Done(images) => Ok(w::Submission::Done(images.into_iter().map(output_to).collect())),
            t::Submission::Pending(token) => Ok(w::Submission::Pending(token)),
        }
    }

    fn poll(token: String) -> Result<w::JobState, w::ProviderError> {
        Ok(match P::poll(&Imports, &token).map_err(error_to)? {
            t::JobState::Queued(position) => w::JobState::Queued(position),
            t::JobState::Running { fraction, message } => w::JobState::Running(w::RunningState { fraction, message }),
            t::JobState::Done(images) => w::JobState::Done(images.into_iter().map(output_to).collect()),
            t::JobState::Failed(error) => w::JobState::Failed(error_to(error)),
        })
    }

    fn cancel(token: String) -> Result<(), w::ProviderError> {
        P::cancel(&Imports, &token).map_err(error_to)
    }
}

fn request_from(r: w::GenerationRequest) -> t::Request {
    t::Request {
        operation: match r.operation {
            w::Operation::Generate => t::Operation::Generate,
            w::Operation::Edit => t::Operation::Edit,
            w::Operation::Inpaint => t::Operation::Inpaint,
            w::Operation::Upscale => t::Operation::Upscale,
            w::Operation::Variation => t::Operation::Variation,
        },
        model: r.model,
        prompt: r.prompt,
        negative_prompt: r.negative_prompt,
        size: r.size.map(|d| t::Dims { width: d.width, height: d.height }),
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
            .map(|i| t::InputImage {
                role: match i.role {
                    w::ImageRole::Reference => t::Role::Reference,
                    w::ImageRole::Mask => t::Role::Mask,
                    w::ImageRole::Control => t::Role::Control,
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

fn output_to(o: t::Output) -> w::ImageOutput {
    w::ImageOutput {
        data: match o.data {
            t::ImageData::Inline { mime_type, data } => w::ImageData::Inline(w::InlineImage { mime_type, data }),
            t::ImageData::Remote { url, headers } => w::ImageData::Remote(w::RemoteImage { url, headers }),
        },
        width: o.width,
        height: o.height,
        seed: o.seed,
        revised_prompt: o.revised_prompt,
    }
}

fn error_to(e: t::ProviderError) -> w::ProviderError {
    match e {
        t::ProviderError::InvalidRequest { field, message } => {
            w::ProviderError::InvalidRequest(w::InvalidField { field, message })
        }
        t::ProviderError::Unsupported(m) => w::ProviderError::Unsupported(m),
        t::ProviderError::Unauthorized(m) => w::ProviderError::Unauthorized(m),
        t::ProviderError::ContentBlocked(m) => w::ProviderError::ContentBlocked(m),
        t::ProviderError::RateLimited { retry_after_ms, message } => {
            w::ProviderError::RateLimited(w::RateLimit { retry_after_ms, message })
        }
        t::ProviderError::Upstream { status, message } => {
            w::ProviderError::Upstream(w::UpstreamFailure { status, message })
        }
        t::ProviderError::Timeout(m) => w::ProviderError::Timeout(m),
        t::ProviderError::Unavailable(m) => w::ProviderError::Unavailable(m),
        t::ProviderError::Internal(m) => w::ProviderError::Internal(m),
    }
}

fn provider_info(p: t::ProviderInfo) -> w::ProviderInfo {
    w::ProviderInfo {
        id: p.id,
        display_name: p.display_name,
        version: p.version,
        description: p.description,
        models: p.models.into_iter().map(model_info).collect(),
        default_model: p.default_model,
        secrets: p
            .secrets
            .into_iter()
            .map(|s| w::SecretNeed { name: s.name, description: s.description, required: s.required })
            .collect(),
        hosts: p.hosts,
    }
}

fn model_info(m: t::ModelInfo) -> w::ModelInfo {
    let f = m.features;
    let mut features = w::Features::empty();
    for (on, flag) in [
        (f.negative_prompt, w::Features::NEGATIVE_PROMPT),
        (f.seed, w::Features::SEED),
        (f.steps, w::Features::STEPS),
        (f.guidance, w::Features::GUIDANCE),
        (f.strength, w::Features::STRENGTH),
        (f.mask, w::Features::MASK),
        (f.custom_size, w::Features::CUSTOM_SIZE),
    ] {
        if on {
            features = features | flag;
        }
    }
    let dims = |d: t::Dims| w::Dimensions { width: d.width, height: d.height };
    w::ModelInfo {
        id: m.id,
        display_name: m.display_name,
        aliases: m.aliases,
        operations: m
            .operations
            .into_iter()
            .map(|o| match o {
                t::Operation::Generate => w::Operation::Generate,
                t::Operation::Edit => w::Operation::Edit,
                t::Operation::Inpaint => w::Operation::Inpaint,
                t::Operation::Upscale => w::Operation::Upscale,
                t::Operation::Variation => w::Operation::Variation,
            })
            .collect(),
        aspect_ratios: m.aspect_ratios,
        size_tiers: m.size_tiers,
        sizes: m.sizes.into_iter().map(dims).collect(),
        min_side: m.min_side,
        max_side: m.max_side,
        size_multiple: m.size_multiple,
        default_size: dims(m.default_size),
        max_images: m.max_images,
        max_input_images: m.max_input_images,
        features,
        output_formats: m.output_formats,
        lifecycle: match m.lifecycle {
            t::Lifecycle::Current => w::Lifecycle::Current,
            t::Lifecycle::Legacy => w::Lifecycle::Legacy,
            t::Lifecycle::Deprecated => w::Lifecycle::Deprecated,
            t::Lifecycle::Retired => w::Lifecycle::Retired,
        },
        replacement: m.replacement,
        price_per_image_usd: m.price_per_image_usd,
        prompt_notes: m.prompt_notes,
        prompt_style: match m.prompt_style {
            t::PromptStyle::NaturalLanguage => w::PromptStyle::NaturalLanguage,
            t::PromptStyle::WeightedTags => w::PromptStyle::WeightedTags,
            t::PromptStyle::T5Prose => w::PromptStyle::T5Prose,
        },
        parameters: m.parameters.map(|schema| schema.to_string()),
    }
}
