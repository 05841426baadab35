//! Failures → Easel `provider-error`s: HTTP error answers from __TITLE__
//! (`{"error": "…", "field": "…"}`) and egress failures from the host. The
//! messages reach users and models, so each says what happened and what to do.

use crate::egress::{EgressError, HttpResponse};
use crate::provider::{SECRET, TITLE};
use crate::types::{InvalidField, ProviderError, RateLimit, UpstreamFailure};
use serde_json::Value;

/// A non-2xx answer. The kind decides what the host does next: it retries
/// `rate-limited` (after `retry-after-ms`) and reports the others.
pub fn from_status(response: &HttpResponse) -> ProviderError {
    let (message, field) = error_of(response);
    match response.status {
        401 | 403 => ProviderError::Unauthorized(format!(
            "{TITLE} rejected the API key (HTTP {}: {message}); set {SECRET} to a valid key",
            response.status
        )),
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_ms: retry_after_ms(response),
            message: format!("{TITLE} is rate-limiting this key: {message}"),
        }),
        400 | 422 => ProviderError::InvalidRequest(InvalidField {
            field: field.as_deref().map(easel_field),
            message: format!("{TITLE} refused the request: {message}"),
        }),
        status => ProviderError::Upstream(UpstreamFailure {
            status,
            message: format!("{TITLE} answered HTTP {status}: {message}"),
        }),
    }
}

/// A request the host could not complete; the host's message names the URL.
pub fn from_egress(error: EgressError) -> ProviderError {
    match error {
        EgressError::Timeout(m) => ProviderError::Timeout(format!("{TITLE} did not answer in time: {m}")),
        EgressError::Connection(m) => ProviderError::Unavailable(format!("cannot reach {TITLE}: {m}")),
        // Not on `allowed_hosts`; the host's message names the entry to add.
        EgressError::Denied(m) => ProviderError::Unavailable(m),
        EgressError::SecretUnavailable(m) => {
            ProviderError::Unauthorized(format!("{m} (set {SECRET}, and bind it to this host in plugins.toml)"))
        }
        EgressError::TooLarge(m) => ProviderError::Upstream(UpstreamFailure { status: 0, message: m }),
        EgressError::InvalidRequest(m) => ProviderError::Internal(format!("the host refused the request: {m}")),
    }
}

/// A 2xx answer that is not what the protocol says.
pub fn bad_answer(response: &HttpResponse, what: &str) -> ProviderError {
    ProviderError::Upstream(UpstreamFailure {
        status: response.status,
        message: format!("{TITLE} sent an unexpected answer: {what} ({})", snippet(&response.body)),
    })
}

/// `error` and `field` of an error body; else the start of the body as text.
fn error_of(response: &HttpResponse) -> (String, Option<String>) {
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let text = |key: &str| body.as_ref()?.get(key)?.as_str().map(str::to_string);
    (text("error").unwrap_or_else(|| snippet(&response.body)), text("field"))
}

/// Easel's parameter name for an API field, so the caller knows what to fix.
fn easel_field(api_field: &str) -> String {
    match api_field {
        "num_images" => "count".into(),
        other => other.into(), // prompt, width, height and seed are the same
    }
}

/// `retry-after` in delta-seconds, as milliseconds.
fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let (_, value) = response.headers.iter().find(|(name, _)| name == "retry-after")?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some((seconds * 1000.0) as u64)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        None if text.is_empty() => "empty body".into(),
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}
