//! fal HTTP errors → Easel `provider-error`s (docs/providers/fal.md):
//! `{"detail": [...]}` validation lists, `content_policy_violation`,
//! 401/403, 429, 5xx, and the ingress's 502/503/504 pages that never
//! reached fal. Bodies that are not as documented (HTML pages included)
//! still give a short readable message.

use crate::types::{HttpResponse, ProviderError};
use easel_plugin_kit::http::retry_after_ms;
use easel_plugin_kit::text::{snippet, text_of, truncate};
use serde_json::Value;

/// Which call got the error (for wording and 404 meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Submit,
    Status,
    Result,
    Cancel,
}

/// The fal error type of a safety block (docs/providers/fal.md#errors-and-retries [S]).
pub const CONTENT_POLICY: &str = "content_policy_violation";

/// The header fal's own servers put on every answer; an answer without it
/// came from the ingress in front of fal (fal-client retries such 502/503/504s).
pub const REQUEST_ID_HEADER: &str = "x-fal-request-id";

/// Classify a non-2xx fal response. `endpoint` is named in 404 messages.
///
/// A submit answered 502, 503 or 504 without `x-fal-request-id` never
/// reached fal, so nothing was created or billed: that is `rate-limited`,
/// which the host retries. With a request id it is `upstream` and is not
/// retried, since fal may have started (and billed) the run.
pub fn classify(response: &HttpResponse, call: Call, endpoint: &str) -> ProviderError {
    if call == Call::Submit && matches!(response.status, 502..=504) && response.header(REQUEST_ID_HEADER).is_none() {
        return ProviderError::RateLimited {
            retry_after_ms: retry_after_ms(response),
            message: format!(
                "fal's gateway answered HTTP {} ({}) without an {REQUEST_ID_HEADER}: the request never reached fal, so nothing was created",
                response.status,
                snippet(&response.body, 200)
            ),
        };
    }
    let body = response.json();
    let detail = body.as_ref().and_then(|b| b.get("detail")).cloned();
    let message = detail_text(detail.as_ref()).unwrap_or_else(|| fallback_text(response));
    if is_content_policy(response, body.as_ref()) {
        return ProviderError::ContentBlocked(format!("fal's content checker refused the request: {message}"));
    }
    match response.status {
        401 | 403 => ProviderError::Unauthorized(format!(
            "fal rejected the API key (HTTP {}: {message}); set FAL_KEY to a valid key from https://fal.ai/dashboard/keys",
            response.status
        )),
        422 | 400 if call == Call::Submit => validation(detail.as_ref(), &message),
        404 if call == Call::Submit => {
            ProviderError::invalid(Some("model"), format!("fal has no endpoint `{endpoint}` (HTTP 404: {message})"))
        }
        429 => ProviderError::RateLimited {
            retry_after_ms: retry_after_ms(response),
            message: format!("fal is throttling this key (concurrency or rate limit): {message}"),
        },
        422 => validation(detail.as_ref(), &message),
        status => ProviderError::Upstream { status, message: format!("fal: {message}") },
    }
}

/// Whether the response is fal's safety block: `error_type` in the body or
/// `x-fal-error-type`, or a `detail[]` item of that type.
pub fn is_content_policy(response: &HttpResponse, body: Option<&Value>) -> bool {
    let header = response.header("x-fal-error-type").is_some_and(|t| t == CONTENT_POLICY);
    let top = body.and_then(|b| b.get("error_type")).and_then(Value::as_str).is_some_and(|t| t == CONTENT_POLICY);
    let item = body
        .and_then(|b| b.get("detail"))
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|i| i.get("type").and_then(Value::as_str) == Some(CONTENT_POLICY)));
    header || top || item
}

/// A 422 `detail` list → invalid-request naming the first field at fault.
fn validation(detail: Option<&Value>, message: &str) -> ProviderError {
    let first = detail.and_then(Value::as_array).and_then(|items| items.first());
    let Some(item) = first else {
        return ProviderError::invalid(None, format!("fal rejected the request: {message}"));
    };
    let loc: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(text_of).filter(|p| p != "body").collect())
        .unwrap_or_default();
    let fal_field = loc.first().cloned();
    let field = fal_field.as_deref().and_then(easel_field);
    let where_ = if loc.is_empty() { String::new() } else { format!(" `{}`", loc.join(".")) };
    ProviderError::invalid(field, format!("fal rejected{where_}: {message}"))
}

/// Easel's parameter name for a fal input field.
pub fn easel_field(fal: &str) -> Option<&'static str> {
    Some(match fal {
        "prompt" => "prompt",
        "negative_prompt" => "negative_prompt",
        "image_size" => "width",
        "aspect_ratio" => "aspect_ratio",
        "resolution" => "size_tier",
        "num_images" => "count",
        "seed" => "seed",
        "num_inference_steps" => "steps",
        "guidance_scale" => "guidance",
        "strength" => "strength",
        "upscale_factor" => "scale",
        "image_url" | "image_urls" | "mask_url" => "images",
        "model" | "endpoint_id" => "model",
        _ => return None,
    })
}

/// Readable text of a `detail`: a string, or the list items' `msg`s joined.
pub fn detail_text(detail: Option<&Value>) -> Option<String> {
    match detail? {
        Value::String(s) if !s.trim().is_empty() => Some(truncate(s, 400)),
        Value::Array(items) if !items.is_empty() => {
            let parts: Vec<String> =
                items.iter().map(|i| i.get("msg").map(text_of).unwrap_or_else(|| text_of(i))).collect();
            Some(truncate(&parts.join("; "), 400))
        }
        Value::Null => None,
        other => Some(truncate(&other.to_string(), 400)),
    }
}

fn fallback_text(response: &HttpResponse) -> String {
    easel_plugin_kit::html::response_summary(response, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn validation_names_the_field() {
        let r = resp(
            422,
            r#"{"detail":[{"loc":["body","num_images"],"msg":"Input should be less than or equal to 4","type":"less_than_equal"}]}"#,
        );
        match classify(&r, Call::Submit, "fal-ai/flux/dev") {
            ProviderError::InvalidRequest { field, message } => {
                assert_eq!(field.as_deref(), Some("count"));
                assert!(message.contains("`num_images`") && message.contains("less than or equal to 4"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn safety_auth_rate_and_server_errors() {
        let r = resp(
            422,
            r#"{"detail":[{"loc":["body","prompt"],"msg":"The content could not be processed","type":"content_policy_violation"}]}"#,
        );
        assert!(
            matches!(classify(&r, Call::Result, "e"), ProviderError::ContentBlocked(m) if m.contains("could not be processed"))
        );
        let r = resp(401, r#"{"detail":"Invalid API key"}"#);
        assert!(
            matches!(classify(&r, Call::Submit, "e"), ProviderError::Unauthorized(m) if m.contains("FAL_KEY") && m.contains("Invalid API key"))
        );
        let mut r = resp(429, r#"{"detail":"Too many requests"}"#);
        r.headers.push(("retry-after".into(), "3".into()));
        assert!(matches!(
            classify(&r, Call::Submit, "e"),
            ProviderError::RateLimited { retry_after_ms: Some(3000), .. }
        ));
        let r = resp(502, "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>");
        assert!(
            matches!(classify(&r, Call::Status, "e"), ProviderError::Upstream { status: 502, message } if message == "fal: HTTP 502: an HTML page titled \"502 Bad Gateway\"")
        );
        let r = resp(404, r#"{"detail":"Application not found"}"#);
        assert!(
            matches!(classify(&r, Call::Submit, "x/y"), ProviderError::InvalidRequest { field: Some(f), .. } if f == "model")
        );
    }

    const NGINX_503: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

    #[test]
    fn a_gateway_503_without_a_request_id_is_a_retryable_rate_limit_summarised() {
        let page = resp(503, NGINX_503);
        match classify(&page, Call::Submit, "fal-ai/flux/dev") {
            ProviderError::RateLimited { message, .. } => {
                assert!(message.contains("never reached fal") && message.contains("HTTP 503"), "{message}");
                assert!(
                    message.contains("\"503 Service Temporarily Unavailable\"") && !message.contains("<center>"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_5xx_with_a_request_id_reached_fal_and_is_not_retried() {
        let mut answer = resp(503, r#"{"detail":"Service unavailable"}"#);
        answer.headers.push((REQUEST_ID_HEADER.into(), "764cabcf".into()));
        assert!(matches!(classify(&answer, Call::Submit, "e"), ProviderError::Upstream { status: 503, .. }));
        // A 500 is fal's own failure, with or without the header; polls keep their own retry rule.
        assert!(matches!(classify(&resp(500, "{}"), Call::Submit, "e"), ProviderError::Upstream { status: 500, .. }));
        assert!(matches!(
            classify(&resp(503, NGINX_503), Call::Status, "e"),
            ProviderError::Upstream { status: 503, .. }
        ));
    }
}
