//! Plain Rust mirrors of the WIT types, and the [`Host`] trait over a
//! plugin's imports, so that all provider logic compiles and is unit-tested
//! natively; the wasm32 glue (`component`) converts to and from the bindings.
//!
//! Field meanings and units are those of `wit/v0.3.0/image-provider.wit`.

/// What a request asks the model to do (WIT `operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Generate,
    Edit,
    Inpaint,
    Upscale,
    Variation,
}

/// Where a model stands in its provider's life cycle (WIT `lifecycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Current,
    Legacy,
    Deprecated,
    Retired,
}

/// Optional parameters a model honours (WIT `features` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    pub negative_prompt: bool,
    pub seed: bool,
    pub steps: bool,
    pub guidance: bool,
    pub strength: bool,
    pub mask: bool,
    pub custom_size: bool,
}

/// How a model reads its prompt (WIT 0.3.0 `prompt-style`); the host
/// compiles a caller's structured prompt into this form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PromptStyle {
    /// Full sentences, exact text in quotes (GPT Image, Gemini).
    #[default]
    NaturalLanguage,
    /// Comma-separated tags with `(tag:1.2)` emphasis (SD 1.x/SDXL checkpoints).
    WeightedTags,
    /// Dense descriptive prose without weights (FLUX, SD 3).
    T5Prose,
}

use std::fmt;

/// Width × height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub width: u32,
    pub height: u32,
}

/// One model's capabilities (WIT `model-info`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub operations: Vec<Operation>,
    pub aspect_ratios: Vec<String>,
    pub size_tiers: Vec<String>,
    pub sizes: Vec<Dims>,
    pub min_side: u32,
    pub max_side: u32,
    pub size_multiple: u32,
    pub default_size: Dims,
    pub max_images: u32,
    pub max_input_images: u32,
    pub features: Features,
    /// MIME types, e.g. `image/png`.
    pub output_formats: Vec<String>,
    pub lifecycle: Lifecycle,
    pub replacement: Option<String>,
    /// US dollars per image.
    pub price_per_image_usd: Option<f64>,
    pub prompt_notes: Option<String>,
    /// How the model reads a prompt.
    pub prompt_style: PromptStyle,
    /// JSON Schema (draft 2020-12) of the provider parameters the model
    /// accepts (the caller's `params`, which arrive as [`Request::extra`]);
    /// the host validates `params` against it and names the failing key.
    /// `"additionalProperties": false` refuses undeclared keys; `None`
    /// declares nothing and lets every key through (WIT 0.2.0).
    pub parameters: Option<serde_json::Value>,
}

/// A secret the plugin references as `{{secret:NAME}}` (WIT `secret-need`).
#[derive(Debug, Clone, PartialEq)]
pub struct SecretNeed {
    pub name: String,
    pub description: String,
    pub required: bool,
}

/// What `describe` reports (WIT `provider-info`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    pub id: String,
    pub display_name: String,
    pub version: String,
    pub description: String,
    pub models: Vec<ModelInfo>,
    pub default_model: String,
    pub secrets: Vec<SecretNeed>,
    pub hosts: Vec<String>,
}

/// How an input image is used (WIT `image-role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reference,
    Mask,
    Control,
}

/// An input image as bytes (WIT `input-image`).
#[derive(Debug, Clone, PartialEq)]
pub struct InputImage {
    pub role: Role,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// One validated generation request (WIT `generation-request`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub operation: Operation,
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub size: Option<Dims>,
    /// `W:H`.
    pub aspect_ratio: Option<String>,
    /// e.g. `1K`.
    pub size_tier: Option<String>,
    pub count: u32,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    /// 0.0 ..= 1.0.
    pub strength: Option<f32>,
    pub images: Vec<InputImage>,
    /// Provider-specific input fields as JSON object text, merged into the body.
    pub extra: Option<String>,
}

impl Request {
    /// A text-to-image request with everything else unset (tests, defaults).
    pub fn text(model: &str, prompt: &str) -> Request {
        Request {
            operation: Operation::Generate,
            model: model.into(),
            prompt: prompt.into(),
            negative_prompt: None,
            size: None,
            aspect_ratio: None,
            size_tier: None,
            count: 1,
            seed: None,
            steps: None,
            guidance: None,
            strength: None,
            images: vec![],
            extra: None,
        }
    }
}

/// Where an output image's bytes are (WIT `image-data`).
#[derive(Debug, Clone, PartialEq)]
pub enum ImageData {
    Inline {
        mime_type: String,
        data: Vec<u8>,
    },
    /// The host downloads it through egress; headers may hold `{{secret:…}}`.
    Remote {
        url: String,
        headers: Vec<(String, String)>,
    },
}

/// One produced image (WIT `image-output`).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub data: ImageData,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seed: Option<u64>,
    pub revised_prompt: Option<String>,
}

/// What `submit` did (WIT `submission`).
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    Done(Vec<Output>),
    Pending(String),
}

/// What `poll` found (WIT `job-state`).
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Queued(Option<u32>),
    Running { fraction: Option<f32>, message: Option<String> },
    Done(Vec<Output>),
    Failed(ProviderError),
}

/// Why a call failed (WIT `provider-error`); messages are shown to users.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    InvalidRequest { field: Option<String>, message: String },
    Unsupported(String),
    Unauthorized(String),
    ContentBlocked(String),
    RateLimited { retry_after_ms: Option<u64>, message: String },
    Upstream { status: u16, message: String },
    Timeout(String),
    Unavailable(String),
    Internal(String),
}

impl ProviderError {
    /// `invalid-request`, naming the Easel parameter at fault if known.
    pub fn invalid(field: Option<&str>, message: impl Into<String>) -> Self {
        ProviderError::InvalidRequest { field: field.map(String::from), message: message.into() }
    }

    /// `upstream` with the provider's HTTP status (0 when there was none).
    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        ProviderError::Upstream { status, message: message.into() }
    }

    /// The user-facing text, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::InvalidRequest { message, .. }
            | ProviderError::Upstream { message, .. }
            | ProviderError::RateLimited { message, .. } => message,
            ProviderError::Unsupported(m)
            | ProviderError::Unauthorized(m)
            | ProviderError::ContentBlocked(m)
            | ProviderError::Timeout(m)
            | ProviderError::Unavailable(m)
            | ProviderError::Internal(m) => m,
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// An HTTP request through the host's egress (WIT `http-request`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Per-request timeout, milliseconds (the host caps it).
    pub timeout_ms: Option<u32>,
}

/// An HTTP response (WIT `http-response`); header names are lower-case.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why egress refused or failed (WIT `egress-error`); text is safe to show.
#[derive(Debug, Clone, PartialEq)]
pub enum EgressError {
    Denied(String),
    SecretUnavailable(String),
    InvalidRequest(String),
    Connection(String),
    Timeout(String),
    TooLarge(String),
}

/// One server-sent event (WIT `streams.sse-event`), secrets redacted by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event has none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    /// An event named `event` with `data` and no id (for tests).
    pub fn new(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into(), id: None }
    }
}

/// A websocket message (WIT `streams.ws-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Vec<u8>),
}

/// What opening a stream got (WIT `events-answer` / `websocket-answer`):
/// the stream, or an ordinary response (an error status, JSON) read whole.
pub enum Opened<S> {
    Open(S),
    Response(HttpResponse),
}

/// An open server-sent-event stream (WIT `streams.event-stream`); closed
/// when dropped, and by the host when the call returns.
pub trait EventStream {
    /// The next event, waiting at most `timeout_ms`. `Ok(None)`: the server
    /// ended the stream; `Err(Timeout)`: nothing came in time (still open).
    fn next(&mut self, timeout_ms: u32) -> Result<Option<SseEvent>, EgressError>;
}

/// An open websocket (WIT `streams.websocket`); closed when dropped.
pub trait WebSocket {
    fn send(&mut self, message: WsMessage) -> Result<(), EgressError>;
    /// The next message, waiting at most `timeout_ms`. `Ok(None)`: the
    /// server closed it; `Err(Timeout)`: nothing came in time (still open).
    fn receive(&mut self, timeout_ms: u32) -> Result<Option<WsMessage>, EgressError>;
}

/// A boxed event stream borrowed from its [`Host`].
pub type Events<'h> = Box<dyn EventStream + 'h>;
/// A boxed websocket borrowed from its [`Host`].
pub type Socket<'h> = Box<dyn WebSocket + 'h>;

/// Log levels (WIT `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The plugin's imports (egress, streams, config, progress and log), plus a source
/// of randomness that tests can fix.
pub trait Host {
    /// One HTTP exchange through the host (WIT `egress.fetch`).
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError>;
    /// Open a server-sent-event stream (WIT `streams.open-events`): the
    /// request is checked like `fetch`'s. Hosts without streams refuse.
    fn open_events(&self, request: HttpRequest) -> Result<Opened<Events<'_>>, EgressError> {
        let _ = request;
        Err(EgressError::InvalidRequest("this host has no event streams".into()))
    }
    /// Open a websocket (WIT `streams.connect-websocket`): `ws://` or
    /// `wss://`, checked like `fetch`'s. Hosts without streams refuse.
    fn connect_websocket(&self, request: HttpRequest) -> Result<Opened<Socket<'_>>, EgressError> {
        let _ = request;
        Err(EgressError::InvalidRequest("this host has no websockets".into()))
    }
    /// Whether the operator configured secret `name` (never its value).
    fn secret_configured(&self, name: &str) -> bool;
    /// A `[plugins.NAME.config]` value (strings as is, other TOML as JSON text).
    fn config(&self, key: &str) -> Option<String>;
    /// Progress of the current call (WIT `progress.report`).
    fn progress(&self, fraction: Option<f32>, message: &str);
    /// A log line for the host's `tracing` output (WIT `log.log`).
    fn log(&self, level: Level, message: &str);

    /// 64 random bits. By default from std's `RandomState`, which std seeds
    /// from WASI `random` in a component: each call gets new keys.
    fn random_u64(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        hasher.finish()
    }
}
