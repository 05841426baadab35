//! Plain Rust mirrors of the WIT types this plugin uses, and the [`Host`]
//! trait over its imports, so that all provider logic compiles and is
//! unit-tested natively; `component` converts to and from the bindings.
//!
//! Field meanings and units are those of `wit/v0.1.0/image-provider.wit`.

use std::fmt;

/// What a request asks the model to do (WIT `operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Generate,
    Edit,
    Inpaint,
    Upscale,
    Variation,
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

/// Width × height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub width: u32,
    pub height: u32,
}

/// One model's capabilities (WIT `model-info`); lifecycle is always
/// `current` and there is never a replacement for a local checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub operations: Vec<Operation>,
    pub min_side: u32,
    pub max_side: u32,
    pub size_multiple: u32,
    pub default_size: Dims,
    pub max_images: u32,
    pub max_input_images: u32,
    pub features: Features,
    /// MIME types, e.g. `image/png`.
    pub output_formats: Vec<String>,
    /// US dollars per image.
    pub price_per_image_usd: Option<f64>,
    pub prompt_notes: Option<String>,
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

/// One generation request (WIT `generation-request`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub operation: Operation,
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub size: Option<Dims>,
    pub aspect_ratio: Option<String>,
    pub size_tier: Option<String>,
    pub count: u32,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    pub strength: Option<f32>,
    pub images: Vec<InputImage>,
    pub extra: Option<String>,
}

/// One produced image; always inline bytes fetched from `GET /view`.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub mime_type: String,
    pub data: Vec<u8>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seed: Option<u64>,
}

/// What `submit` did (WIT `submission`); ComfyUI always queues.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
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

/// Why a call failed (WIT `provider-error`); messages are user-facing.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    InvalidRequest { field: Option<String>, message: String },
    Unsupported(String),
    Unauthorized(String),
    Upstream { status: u16, message: String },
    Timeout(String),
    Unavailable(String),
    Internal(String),
}

impl ProviderError {
    pub fn invalid(field: Option<&str>, message: impl Into<String>) -> Self {
        ProviderError::InvalidRequest { field: field.map(str::to_string), message: message.into() }
    }

    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        ProviderError::Upstream { status, message: message.into() }
    }

    /// The user-facing text, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::InvalidRequest { message, .. } | ProviderError::Upstream { message, .. } => message,
            ProviderError::Unsupported(m)
            | ProviderError::Unauthorized(m)
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

/// An outgoing HTTP request (WIT `egress.http-request`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: Option<u32>,
}

/// An HTTP response; header names are lower-case (WIT `egress.http-response`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of a (lower-case) header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why egress refused or failed (WIT `egress.egress-error`).
#[derive(Debug, Clone, PartialEq)]
pub enum EgressError {
    Denied(String),
    SecretUnavailable(String),
    InvalidRequest(String),
    Connection(String),
    Timeout(String),
    TooLarge(String),
}

/// Log levels (WIT `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The host's imports, plus a randomness source (WASI random through std in
/// the component, fixed in tests).
pub trait Host {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError>;
    fn secret_configured(&self, name: &str) -> bool;
    fn config(&self, key: &str) -> Option<String>;
    fn progress(&self, fraction: Option<f32>, message: &str);
    fn log(&self, level: Level, message: &str);
    fn random_u64(&self) -> u64;
}
