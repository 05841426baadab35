//! HTTP answers → Easel errors, per the status semantics of the Banana SDK
//! and Potassium (docs/providers/banana.md#v2, #potassium): 423 "busy" and 503 "transient"
//! are retried (the host retries `rate-limited` submits with backoff), 500
//! is fatal and carries the handler's traceback, 404/405 mean no such
//! route; v4 answers report errors as HTTP 200 with "error" in `message`
//! (docs/providers/banana.md#v4).

use crate::settings::{SECRET, Settings};
use crate::types::{HttpResponse, ProviderError};
use easel_plugin_kit::text::{text_of, truncate};
use serde_json::Value;

/// A non-2xx answer from `what` (a route or v4 endpoint).
pub fn classify(response: &HttpResponse, s: &Settings, what: &str) -> ProviderError {
    let message = message_of(response);
    match response.status {
        423 | 503 | 429 => ProviderError::RateLimited {
            retry_after_ms: Some(retry_after_ms(response).unwrap_or(s.busy_retry_ms)),
            message: format!(
                "the server at {} is busy (HTTP {}{})",
                s.base,
                response.status,
                if message.is_empty() { String::new() } else { format!(": {message}") }
            ),
        },
        401 | 403 => ProviderError::Unauthorized(format!(
            "the server at {} refused the request (HTTP {}{}); {}",
            s.base,
            response.status,
            if message.is_empty() { String::new() } else { format!(": {message}") },
            if s.key_set {
                format!("check the key in {SECRET}")
            } else {
                format!(
                    "if it needs a key, declare [plugins.banana.secrets.{SECRET}] (env = \"{SECRET}\", hosts = [\"{}\"]) and set {SECRET}",
                    s.base
                )
            }
        )),
        404 | 405 => ProviderError::invalid(
            Some("model"),
            format!(
                "the server at {} has no handler for {what} (HTTP {}); check route/routes in [plugins.banana.config]",
                s.base, response.status
            ),
        ),
        400 => ProviderError::invalid(
            None,
            format!(
                "the server at {} rejected the body (HTTP 400{}); check request_template in [plugins.banana.config]",
                s.base,
                if message.is_empty() { String::new() } else { format!(": {message}") }
            ),
        ),
        422 => ProviderError::invalid(
            None,
            format!(
                "the handler at {} rejected the input (HTTP 422{}); check request_template in [plugins.banana.config]",
                s.base,
                if message.is_empty() { String::new() } else { format!(": {message}") }
            ),
        ),
        413 => ProviderError::invalid(
            Some("images"),
            format!("the request body is too large for the server at {} (HTTP 413)", s.base),
        ),
        504 => ProviderError::Timeout(format!(
            "the server at {} timed out (HTTP 504){}",
            s.base,
            if message.is_empty() { String::new() } else { format!(": {message}") }
        )),
        status => ProviderError::Upstream {
            status,
            message: format!(
                "the server at {} failed on {what}: {}",
                s.base,
                if message.is_empty() { format!("HTTP {status} with an empty body") } else { message }
            ),
        },
    }
}

/// The readable part of an error body: a JSON `error`/`message`/`detail`,
/// or the last line of a text/plain traceback (Potassium's 500, docs/providers/banana.md#potassium),
/// which names the exception.
pub fn message_of(response: &HttpResponse) -> String {
    if let Some(body) = response.json() {
        if let Some(text) =
            ["error", "message", "detail"].iter().find_map(|k| body.get(*k).filter(|v| !v.is_null()).map(text_of))
        {
            return truncate(&text, 400);
        }
        return truncate(&body.to_string(), 300);
    }
    if let Some(page) = easel_plugin_kit::html::summary(&response.body) {
        return page;
    }
    let text = String::from_utf8_lossy(&response.body);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => truncate(only, 400),
        [.., last] if text.contains("Traceback") => truncate(last, 400),
        _ => truncate(&text, 400),
    }
}

/// `Retry-After` in milliseconds (delta-seconds only).
pub fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let seconds: f64 = response.header("retry-after")?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// A v4 answer whose `message` says "error" (the SDK raises on that, docs/providers/banana.md#v4).
pub fn v4_message_error(body: &Value) -> Option<ProviderError> {
    let message = body.get("message").and_then(Value::as_str)?;
    let lower = message.to_ascii_lowercase();
    if !lower.contains("error") {
        return None;
    }
    Some(if lower.contains("auth") || lower.contains("api key") || lower.contains("apikey") {
        ProviderError::Unauthorized(format!(
            "Banana v4: {}; set {SECRET} to the key the server expects",
            truncate(message, 300)
        ))
    } else {
        ProviderError::Upstream { status: 200, message: format!("Banana v4: {}", truncate(message, 400)) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EgressError, Host, HttpRequest, Level};

    struct NoHost;
    impl Host for NoHost {
        fn fetch(&self, _: HttpRequest) -> Result<HttpResponse, EgressError> {
            unreachable!()
        }
        fn secret_configured(&self, _: &str) -> bool {
            false
        }
        fn config(&self, key: &str) -> Option<String> {
            (key == "base_url").then(|| "http://127.0.0.1:8000".into())
        }
        fn progress(&self, _: Option<f32>, _: &str) {}
        fn log(&self, _: Level, _: &str) {}
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn statuses_map_like_the_sdk() {
        let s = Settings::read(&NoHost).unwrap();
        assert!(
            matches!(classify(&resp(423, ""), &s, "/"), ProviderError::RateLimited { retry_after_ms: Some(1000), message } if message.contains("busy (HTTP 423)"))
        );
        let mut r = resp(503, "overloaded");
        r.headers.push(("retry-after".into(), "2".into()));
        assert!(matches!(classify(&r, &s, "/"), ProviderError::RateLimited { retry_after_ms: Some(2000), .. }));
        let tb = "Traceback (most recent call last):\n  File \"app.py\", line 40, in handler\n    raise RuntimeError('CUDA out of memory')\nRuntimeError: CUDA out of memory\n";
        assert!(
            matches!(classify(&resp(500, tb), &s, "/"), ProviderError::Upstream { status: 500, message } if message.ends_with("failed on /: RuntimeError: CUDA out of memory"))
        );
        assert!(
            matches!(classify(&resp(404, ""), &s, "route /x"), ProviderError::InvalidRequest { field: Some(f), message } if f == "model" && message.contains("route /x"))
        );
        assert!(
            matches!(classify(&resp(401, r#"{"error":"bad key"}"#), &s, "/"), ProviderError::Unauthorized(m) if m.contains("bad key") && m.contains("BANANA_API_KEY"))
        );
        assert!(
            matches!(classify(&resp(400, ""), &s, "/"), ProviderError::InvalidRequest { message, .. } if message.contains("request_template"))
        );
        assert!(
            matches!(classify(&resp(422, r#"{"detail":"width must be a multiple of 64"}"#), &s, "/"), ProviderError::InvalidRequest { message, .. } if message.contains("multiple of 64"))
        );
    }

    #[test]
    fn v4_errors_live_in_message() {
        assert!(v4_message_error(&serde_json::json!({"message": "success"})).is_none());
        assert!(v4_message_error(&serde_json::json!({"message": ""})).is_none());
        assert!(matches!(
            v4_message_error(&serde_json::json!({"message": "error: invalid apiKey"})),
            Some(ProviderError::Unauthorized(_))
        ));
        assert!(
            matches!(v4_message_error(&serde_json::json!({"message": "Error: model crashed"})), Some(ProviderError::Upstream { status: 200, message }) if message.contains("model crashed"))
        );
    }
}
