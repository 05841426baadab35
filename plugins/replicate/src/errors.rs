//! Replicate HTTP errors → Easel `provider-error`s (docs/providers/replicate.md#errors-and-retries): RFC 7807
//! bodies `{title, detail, status}`, 422 `invalid_fields`, 401, 402, 404,
//! 429 with `Retry-After`, 5xx; and a failed prediction's `error` string
//! (NSFW refusals are content blocks).

use crate::types::{HttpResponse, ProviderError};
use easel_plugin_kit::http::retry_after_ms;
use easel_plugin_kit::text::{text_of, truncate};
use serde_json::Value;

/// Which call got the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Create,
    Get,
    Cancel,
}

/// Classify a non-2xx response; `model` is named in messages.
pub fn classify(response: &HttpResponse, call: Call, model: &str) -> ProviderError {
    let body = response.json();
    let field = |key: &str| body.as_ref().and_then(|b| b.get(key)).filter(|v| !v.is_null()).map(text_of);
    let detail = field("detail").map(|d| truncate(&d, 400));
    let title = field("title");
    let message = match (&title, &detail) {
        (Some(t), Some(d)) => format!("{t}: {}", d.trim_end()),
        (None, Some(d)) => d.trim_end().to_string(),
        (Some(t), None) => t.clone(),
        (None, None) => fallback_text(response),
    };
    match response.status {
        401 | 403 => ProviderError::Unauthorized(format!(
            "Replicate rejected the API token (HTTP {}: {message}); set REPLICATE_API_TOKEN to a token from https://replicate.com/account/api-tokens",
            response.status
        )),
        402 => ProviderError::Upstream {
            status: 402,
            message: format!("Replicate: {message} (add credit at https://replicate.com/account/billing)"),
        },
        404 if call == Call::Create => ProviderError::invalid(
            Some("model"),
            format!("Replicate has no model `{model}` you can use (HTTP 404: {message})"),
        ),
        422 => validation(body.as_ref(), &message, title.as_deref()),
        429 => ProviderError::RateLimited {
            retry_after_ms: retry_after_ms(response),
            message: format!("Replicate is throttling requests: {message}"),
        },
        status => ProviderError::Upstream { status, message: format!("Replicate: {message}") },
    }
}

/// 422: name the first of `invalid_fields` in Easel's terms; a 422 without
/// them is a bad version or model.
fn validation(body: Option<&Value>, message: &str, title: Option<&str>) -> ProviderError {
    let first = body.and_then(|b| b.get("invalid_fields")).and_then(Value::as_array).and_then(|f| f.first());
    let Some(item) = first else {
        let about_version = title.is_some_and(|t| t.to_ascii_lowercase().contains("version"));
        return ProviderError::invalid(
            about_version.then_some("model"),
            format!("Replicate rejected the request: {message}"),
        );
    };
    let raw = item.get("field").map(text_of).unwrap_or_default();
    let description = item.get("description").map(text_of).unwrap_or_else(|| message.to_string());
    let name = raw.strip_prefix("input.").unwrap_or(&raw);
    // `{"field":"input","description":"prompt is required"}` names the input in the text.
    let name =
        if name == "input" || name.is_empty() { description.split_whitespace().next().unwrap_or("") } else { name };
    let shown = if raw.is_empty() { String::new() } else { format!(" `{raw}`") };
    ProviderError::invalid(easel_field(name), format!("Replicate rejected{shown}: {}", truncate(&description, 300)))
}

/// Easel's parameter name for a Replicate input field.
pub fn easel_field(name: &str) -> Option<&'static str> {
    Some(match name {
        "prompt" => "prompt",
        "negative_prompt" => "negative_prompt",
        "aspect_ratio" => "aspect_ratio",
        "width" => "width",
        "height" => "height",
        "resolution" => "size_tier",
        "num_outputs" => "count",
        "seed" => "seed",
        "num_inference_steps" => "steps",
        "guidance" | "guidance_scale" => "guidance",
        "prompt_strength" => "strength",
        "scale" => "scale",
        "image" | "input_image" | "image_input" | "input_images" | "mask" => "images",
        "version" | "model" => "model",
        _ => return None,
    })
}

/// A failed prediction's `error`: safety refusals (cog-flux: "All generated
/// images contained NSFW content…", docs/providers/replicate.md#errors-and-retries) are content blocks.
pub fn prediction_failure(error: Option<&str>) -> ProviderError {
    let text =
        error.map(str::trim).filter(|e| !e.is_empty()).unwrap_or("the prediction failed without an error message");
    let lower = text.to_ascii_lowercase();
    let blocked = ["nsfw", "safety", "sensitive", "content policy", "flagged"].iter().any(|w| lower.contains(w));
    if blocked {
        ProviderError::ContentBlocked(format!("Replicate: {}", truncate(text, 400)))
    } else {
        ProviderError::Upstream { status: 0, message: format!("Replicate prediction failed: {}", truncate(text, 400)) }
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
    fn invalid_fields_name_easel_fields() {
        let r = resp(
            422,
            r#"{"title":"Input validation failed","detail":"- input: prompt is required\n","status":422,
            "invalid_fields":[{"type":"required","field":"input","description":"prompt is required"}]}"#,
        );
        assert!(
            matches!(classify(&r, Call::Create, "m"), ProviderError::InvalidRequest { field: Some(f), message } if f == "prompt" && message.contains("prompt is required"))
        );
        let r = resp(
            422,
            r#"{"title":"Input validation failed","status":422,
            "invalid_fields":[{"type":"enum","field":"input.aspect_ratio","description":"aspect_ratio must be one of 1:1, 16:9"}]}"#,
        );
        assert!(
            matches!(classify(&r, Call::Create, "m"), ProviderError::InvalidRequest { field: Some(f), message } if f == "aspect_ratio" && message.contains("`input.aspect_ratio`"))
        );
        let r = resp(
            422,
            r#"{"title":"Invalid version or not permitted","detail":"The specified version does not exist","status":422}"#,
        );
        assert!(
            matches!(classify(&r, Call::Create, "m"), ProviderError::InvalidRequest { field: Some(f), .. } if f == "model")
        );
    }

    #[test]
    fn auth_rate_limit_and_server_errors() {
        let r = resp(
            401,
            r#"{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}"#,
        );
        assert!(
            matches!(classify(&r, Call::Create, "m"), ProviderError::Unauthorized(m) if m.contains("REPLICATE_API_TOKEN") && m.contains("valid authentication token"))
        );
        let mut r = resp(429, r#"{"detail":"Request was throttled. Expected available in 1 second."}"#);
        r.headers.push(("retry-after".into(), "1".into()));
        assert!(
            matches!(classify(&r, Call::Create, "m"), ProviderError::RateLimited { retry_after_ms: Some(1000), message } if message.contains("throttled"))
        );
        assert!(
            matches!(classify(&resp(503, ""), Call::Get, "m"), ProviderError::Upstream { status: 503, message } if message.contains("empty body"))
        );
        assert!(
            matches!(classify(&resp(404, "{}"), Call::Create, "a/b"), ProviderError::InvalidRequest { field: Some(f), .. } if f == "model")
        );
    }

    #[test]
    fn nsfw_failures_are_content_blocks() {
        let e = prediction_failure(Some(
            "All generated images contained NSFW content. Try running it again with a different prompt.",
        ));
        assert!(matches!(e, ProviderError::ContentBlocked(m) if m.contains("NSFW")));
        assert!(matches!(prediction_failure(Some("CUDA out of memory")), ProviderError::Upstream { status: 0, .. }));
        assert!(matches!(prediction_failure(None), ProviderError::Upstream { .. }));
    }
}
