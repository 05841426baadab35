//! Plain Rust mirrors of the WIT types the pure logic works on (requests,
//! outputs, errors, HTTP exchanges), so that request building and response
//! parsing compile and unit-test natively without the generated bindings.
//! `plugin.rs` converts between these and the WIT types.

/// What a request asks for (WIT `operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Generate,
    Edit,
    Inpaint,
    Upscale,
    Variation,
}

/// How an input image is used (WIT `image-role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reference,
    Mask,
    Control,
}

/// An input image the host resolved to bytes (WIT `input-image`).
#[derive(Debug, Clone)]
pub struct Input {
    pub role: Role,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`.
    pub mime_type: String,
    /// Pixels.
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// One validated generation request (WIT `generation-request`).
#[derive(Debug, Clone)]
pub struct Request {
    pub op: Op,
    /// Resolved model id, never an alias.
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    /// `(width, height)` in pixels, when the caller set them.
    pub size: Option<(u32, u32)>,
    /// `W:H`.
    pub aspect_ratio: Option<String>,
    /// Such as `1K`.
    pub size_tier: Option<String>,
    /// Images wanted, ≥ 1.
    pub count: u32,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    /// 0.0 ..= 1.0: how far an edit may move from the input.
    pub strength: Option<f32>,
    pub images: Vec<Input>,
    /// A JSON object text merged into the provider's request body.
    pub extra: Option<String>,
}

impl Request {
    /// A plain text-to-image request for `model` (handy in tests).
    pub fn generate(model: &str, prompt: &str) -> Request {
        Request {
            op: Op::Generate,
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

/// Where an output image's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Bytes {
    /// Decoded bytes.
    Inline(Vec<u8>),
    /// A URL the host downloads (legacy dall-e `url` responses).
    Url(String),
}

/// One produced image (WIT `image-output`).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub mime_type: String,
    pub data: Bytes,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seed: Option<u64>,
    pub revised_prompt: Option<String>,
}

/// Why a call failed (WIT `provider-error`); messages are shown to users.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// `field` is the Easel parameter name at fault (`width`, `images`, …).
    InvalidRequest {
        field: Option<String>,
        message: String,
    },
    Unsupported(String),
    Unauthorized(String),
    ContentBlocked(String),
    /// `retry_after_ms` in milliseconds, when the provider said.
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    /// `status` is the HTTP status (0 when there was none).
    Upstream {
        status: u16,
        message: String,
    },
    Timeout(String),
    Unavailable(String),
    Internal(String),
}

impl Failure {
    /// `invalid-request` naming `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Failure {
        Failure::InvalidRequest { field: Some(field.into()), message: message.into() }
    }
}

/// An HTTP request for the `egress.fetch` import.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Values may contain `{{secret:NAME}}`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Milliseconds.
    pub timeout_ms: Option<u32>,
}

/// An HTTP response from `egress.fetch` (header names lower-case).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
