//! Reading Gemini `:generateContent` answers: the last non-thought
//! `inlineData` image of each candidate (docs/providers/gemini.md#response), HTTP-200 refusals
//! (`promptFeedback.blockReason`, `finishReason` — docs/providers/gemini.md#safety), and Google RPC
//! error bodies (docs/providers/gemini.md#errors) into Easel's provider errors. Parsing is tolerant:
//! camelCase and snake_case are both read, and [M] fields may be missing.

use crate::request::SECRET;
use crate::types::{HttpResponse, ImageData, Output, ProviderError};
use base64::Engine;
use easel_plugin_kit::text::snippet;
use easel_plugin_kit::{http, image, text};
use serde_json::Value;

/// `finishReason` values that mean a safety filter withheld the output.
const BLOCKING_FINISH: &[&str] = &[
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "SPII",
    "BLOCKLIST",
    "RECITATION",
];

/// Images from a 200 response, or the classified failure.
pub fn interpret(resp: &HttpResponse, now_unix_secs: u64) -> Result<Vec<Output>, ProviderError> {
    if resp.status == 200 { parse_success(&resp.body) } else { Err(classify_error(resp, now_unix_secs)) }
}

/// `key` in camelCase or its snake_case twin (`inlineData` / `inline_data`).
fn get<'a>(value: &'a Value, camel: &str) -> Option<&'a Value> {
    value.get(camel).or_else(|| {
        let snake: String = camel
            .chars()
            .flat_map(|c| if c.is_ascii_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
            .collect();
        value.get(snake.as_str())
    })
}

fn get_str<'a>(value: &'a Value, camel: &str) -> Option<&'a str> {
    get(value, camel).and_then(Value::as_str)
}

/// Images in a 200 body: per candidate, the last part with image data that
/// is not marked `thought: true` (Gemini 3 may send interim thought images
/// first — docs/providers/gemini.md#response). No image at all is a failure classified by
/// `promptFeedback.blockReason` or the candidate's `finishReason` (docs/providers/gemini.md#safety).
pub fn parse_success(body: &[u8]) -> Result<Vec<Output>, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ProviderError::Upstream {
        status: 200,
        message: format!("Gemini answered with something that is not JSON ({e}): {}", snippet(body, 200)),
    })?;
    // Borrowed, not cloned: parts hold megabytes of base64.
    let candidates: &[Value] = get(&value, "candidates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut images = Vec::new();
    let mut said = Vec::new();
    for candidate in candidates {
        let parts: &[Value] = get(candidate, "content")
            .and_then(|c| get(c, "parts"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut last = None;
        for part in parts.iter().filter(|p| !get(p, "thought").and_then(Value::as_bool).unwrap_or(false)) {
            if let Some(text) = get_str(part, "text").map(str::trim).filter(|t| !t.is_empty()) {
                said.push(text.to_string());
            }
            if let Some(inline) = get(part, "inlineData")
                && let Some(data) = get_str(inline, "data")
            {
                last = Some((get_str(inline, "mimeType").map(str::to_string), data.to_string()));
            }
        }
        if let Some((declared, b64)) = last {
            let data =
                base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| ProviderError::Upstream {
                    status: 200,
                    message: format!("Gemini sent an image that is not valid base64: {e}"),
                })?;
            let mime_type =
                image::sniff_image_mime(&data).map(str::to_string).or(declared).unwrap_or_else(|| "image/png".into());
            images.push(Output {
                data: ImageData::Inline { mime_type, data },
                width: None,
                height: None,
                seed: None,
                revised_prompt: None,
            });
        }
    }
    if !images.is_empty() {
        return Ok(images);
    }
    let model_said = if said.is_empty() {
        String::new()
    } else {
        format!(" The model said: \"{}\"", snippet(said.join(" ").as_bytes(), 300))
    };
    if let Some(feedback) = get(&value, "promptFeedback")
        && let Some(reason) = get_str(feedback, "blockReason")
    {
        let detail = get_str(feedback, "blockReasonMessage").map(|m| format!(": {m}")).unwrap_or_default();
        return Err(ProviderError::ContentBlocked(format!(
            "{}{model_said}",
            text::sentence(&format!("Gemini blocked the prompt (blockReason {reason}){detail}"))
        )));
    }
    let Some(first) = candidates.first() else {
        return Err(ProviderError::Upstream {
            status: 200,
            message: format!("Gemini answered without candidates: {}", snippet(body, 200)),
        });
    };
    let reason = get_str(first, "finishReason").unwrap_or("unknown");
    let message =
        get_str(first, "finishMessage").map(|m| format!(": {}", m.trim().trim_end_matches('.'))).unwrap_or_default();
    if BLOCKING_FINISH.contains(&reason) {
        return Err(ProviderError::ContentBlocked(format!(
            "Gemini's safety filters withheld the image (finishReason {reason}){message}.{model_said}"
        )));
    }
    Err(ProviderError::Upstream {
        status: 200,
        message: format!(
            "Gemini returned no image (finishReason {reason}){message}.{model_said} Try rephrasing the prompt so that it clearly asks for a picture."
        ),
    })
}

/// Seconds in a proto-JSON duration such as `"12s"` or `"0.5s"`, as ms.
pub fn duration_ms(value: &Value) -> Option<u64> {
    let text = value.as_str()?.trim();
    let secs: f64 = text.strip_suffix('s').unwrap_or(text).trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// Easel parameter for a Gemini request-field path or message.
pub fn easel_field(text: &str) -> Option<&'static str> {
    let t: String = text.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
    [
        ("aspectratio", "aspect_ratio"),
        ("imagesize", "size_tier"),
        ("seed", "seed"),
        ("candidatecount", "count"),
        ("inlinedata", "images"),
        ("mimetype", "images"),
        ("contents", "prompt"),
    ]
    .iter()
    .find(|(needle, _)| t.contains(needle))
    .map(|(_, field)| *field)
}

/// Classify a non-200 answer with a Google RPC body
/// `{"error": {code, message, status, details[]}}` (docs/providers/gemini.md#errors).
pub fn classify_error(resp: &HttpResponse, now_unix_secs: u64) -> ProviderError {
    let status = resp.status;
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    // Some proxies wrap the error in a one-element array.
    let body = body.as_array().and_then(|a| a.first().cloned()).unwrap_or(body);
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    let message =
        text::sentence(&get_str(&error, "message").map(str::to_string).unwrap_or_else(|| snippet(&resp.body, 300)));
    let rpc = get_str(&error, "status").unwrap_or("").to_string();
    let details = get(&error, "details").and_then(Value::as_array).cloned().unwrap_or_default();
    let of_type =
        |suffix: &'static str| details.iter().filter(move |d| get_str(d, "@type").is_some_and(|t| t.ends_with(suffix)));
    let reason =
        of_type("google.rpc.ErrorInfo").find_map(|d| get_str(d, "reason").map(str::to_string)).unwrap_or_default();
    let retry = of_type("google.rpc.RetryInfo")
        .find_map(|d| get(d, "retryDelay").and_then(duration_ms))
        .or_else(|| http::retry_delay_ms(resp, now_unix_secs));
    let violation = of_type("google.rpc.BadRequest")
        .flat_map(|d| get(d, "fieldViolations").and_then(Value::as_array).cloned().unwrap_or_default())
        .find_map(|v| get_str(&v, "field").map(str::to_string));
    let label = [rpc.as_str(), reason.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let label = if label.is_empty() { format!("HTTP {status}") } else { label };

    let key_problem =
        reason.starts_with("API_KEY") || message.contains("API key not valid") || message.contains("API Key not found");
    if key_problem || status == 401 {
        return ProviderError::Unauthorized(format!(
            "Gemini rejected the API key ({label}): {message} Set {SECRET} (or GOOGLE_API_KEY) to a valid key from https://aistudio.google.com/apikey."
        ));
    }
    match status {
        403 => ProviderError::Unauthorized(format!(
            "Gemini refused access ({label}): {message} Check that the {SECRET} key's project may use the Gemini API."
        )),
        429 => ProviderError::RateLimited {
            retry_after_ms: retry,
            message: format!("Gemini quota or rate limit ({label}): {message}"),
        },
        404 => ProviderError::invalid(
            Some("model"),
            format!("Gemini does not serve this model for generateContent ({label}): {message}"),
        ),
        400 if rpc == "FAILED_PRECONDITION" => {
            ProviderError::Unsupported(format!("Gemini cannot serve this request ({label}): {message}"))
        }
        400 | 422 => {
            let field = violation.as_deref().and_then(easel_field).or_else(|| easel_field(&message));
            let at = violation.map(|v| format!(" at `{v}`")).unwrap_or_default();
            ProviderError::InvalidRequest {
                field: field.map(str::to_string),
                message: format!("Gemini rejected the request{at} ({label}): {message}"),
            }
        }
        _ if status >= 500 => {
            ProviderError::Upstream { status, message: format!("Gemini server error ({label}): {message}") }
        }
        _ => ProviderError::Upstream { status, message: format!("Gemini answered HTTP {status} ({label}): {message}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_plugin_kit::codec;
    use serde_json::json;

    fn resp(status: u16, body: Value) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: serde_json::to_vec(&body).unwrap() }
    }

    #[test]
    fn takes_the_last_non_thought_image() {
        let thought = b"\x89PNG\r\n\x1a\nthought";
        let final_image = b"\x89PNG\r\n\x1a\nfinal";
        let body = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "planning", "thought": true},
            {"inlineData": {"mimeType": "image/png", "data": codec::b64(thought)}, "thought": true},
            {"text": "Here it is."},
            {"inline_data": {"mime_type": "image/png", "data": codec::b64(final_image)}, "thoughtSignature": "abc"}
        ]}, "finishReason": "STOP"}]});
        let images = interpret(&resp(200, body), 0).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].data, ImageData::Inline { mime_type: "image/png".into(), data: final_image.to_vec() });
    }

    #[test]
    fn refusals_in_200_bodies() {
        let blocked =
            json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "modelVersion": "gemini-3-pro-image"});
        assert!(
            matches!(interpret(&resp(200, blocked), 0), Err(ProviderError::ContentBlocked(m)) if m.contains("PROHIBITED_CONTENT"))
        );
        let safety = json!({"candidates": [{"finishReason": "IMAGE_SAFETY", "finishMessage": "Unable to show the generated image."}]});
        assert!(
            matches!(interpret(&resp(200, safety), 0), Err(ProviderError::ContentBlocked(m)) if m.contains("IMAGE_SAFETY") && m.contains("Unable"))
        );
        let none = json!({"candidates": [{"content": {"parts": [{"text": "Which fox do you mean?"}]}, "finishReason": "NO_IMAGE"}]});
        assert!(
            matches!(interpret(&resp(200, none), 0), Err(ProviderError::Upstream { status: 200, message }) if message.contains("NO_IMAGE") && message.contains("Which fox"))
        );
        assert!(matches!(interpret(&resp(200, json!({})), 0), Err(ProviderError::Upstream { .. })));
    }

    #[test]
    fn bad_key_is_400_api_key_invalid() {
        let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}});
        assert!(
            matches!(classify_error(&resp(400, body), 0), ProviderError::Unauthorized(m) if m.contains("API_KEY_INVALID") && m.contains("GEMINI_API_KEY"))
        );
    }

    #[test]
    fn rate_limits_read_retry_info() {
        let body = json!({"error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}});
        assert!(matches!(
            classify_error(&resp(429, body), 0),
            ProviderError::RateLimited { retry_after_ms: Some(12000), .. }
        ));
        assert_eq!(duration_ms(&json!("0.5s")), Some(500));
    }

    #[test]
    fn validation_names_the_field() {
        let body = json!({"error": {"code": 400, "message": "Invalid value at 'generation_config.image_config.aspect_ratio'", "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "generation_config.image_config.aspect_ratio", "description": "bad"}]}]}});
        assert!(
            matches!(classify_error(&resp(400, body), 0), ProviderError::InvalidRequest { field: Some(f), .. } if f == "aspect_ratio")
        );
        let plain =
            json!({"error": {"code": 400, "message": "Unsupported image size 8K", "status": "INVALID_ARGUMENT"}});
        assert!(
            matches!(classify_error(&resp(400, plain), 0), ProviderError::InvalidRequest { field: Some(f), .. } if f == "size_tier")
        );
    }

    #[test]
    fn other_statuses() {
        let missing = json!({"error": {"code": 404, "message": "models/x is not found for API version v1beta", "status": "NOT_FOUND"}});
        assert!(
            matches!(classify_error(&resp(404, missing), 0), ProviderError::InvalidRequest { field: Some(f), .. } if f == "model")
        );
        let overloaded =
            json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
        assert!(
            matches!(classify_error(&resp(503, overloaded), 0), ProviderError::Upstream { status: 503, message } if message.contains("overloaded"))
        );
        let denied = json!({"error": {"code": 403, "message": "Method doesn't allow unregistered callers", "status": "PERMISSION_DENIED"}});
        assert!(matches!(classify_error(&resp(403, denied), 0), ProviderError::Unauthorized(_)));
        let html = HttpResponse { status: 502, headers: vec![], body: b"<html>bad gateway</html>".to_vec() };
        assert!(
            matches!(classify_error(&html, 0), ProviderError::Upstream { status: 502, message } if message.contains("bad gateway"))
        );
    }
}
