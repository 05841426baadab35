//! Reading OpenAI Images responses: `data[].b64_json` (or legacy `url`)
//! into images (docs/providers/openai.md#response), and the `{"error": {...}}` envelope into
//! Easel's provider errors (docs/providers/openai.md#errors). Parsing is tolerant: fields
//! marked unconfirmed in docs/providers/openai.md may be missing or shaped differently.

use crate::request::SECRET;
use crate::types::{HttpResponse, ImageData, Output, ProviderError};
use base64::Engine;
use easel_plugin_kit::text::snippet;
use easel_plugin_kit::{http, image, text};
use serde_json::Value;

/// Images from a 200 response, or the classified failure for any other.
/// `output_format` is what the request asked for; `now_unix_secs` is used
/// for `retry-after` HTTP dates.
pub fn interpret(
    resp: &HttpResponse,
    output_format: Option<&str>,
    now_unix_secs: u64,
) -> Result<Vec<Output>, ProviderError> {
    if resp.status == 200 { parse_success(&resp.body, output_format) } else { Err(classify_error(resp, now_unix_secs)) }
}

/// Images in a success body.
pub fn parse_success(body: &[u8], output_format: Option<&str>) -> Result<Vec<Output>, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ProviderError::Upstream {
        status: 200,
        message: format!("OpenAI answered with something that is not JSON ({e}): {}", snippet(body, 200)),
    })?;
    let format = value.get("output_format").and_then(Value::as_str).or(output_format);
    let (width, height) = match value.get("size").and_then(Value::as_str).and_then(|s| s.split_once('x')) {
        Some((w, h)) => (w.parse().ok(), h.parse().ok()),
        None => (None, None),
    };
    // Borrowed, not cloned: each item holds megabytes of base64.
    let items: &[Value] = value.get("data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut images = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let revised_prompt = item.get("revised_prompt").and_then(Value::as_str).map(str::to_string);
        if let Some(b64) = item.get("b64_json").and_then(Value::as_str) {
            let data =
                base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| ProviderError::Upstream {
                    status: 200,
                    message: format!("OpenAI image {} is not valid base64: {e}", index + 1),
                })?;
            let mime_type = image::sniff_image_mime(&data).map(str::to_string).unwrap_or_else(|| format_mime(format));
            images.push(Output {
                data: ImageData::Inline { mime_type, data },
                width,
                height,
                seed: None,
                revised_prompt,
            });
        } else if let Some(url) = item.get("url").and_then(Value::as_str) {
            // The host downloads it (legacy dall-e `url` answers).
            images.push(Output {
                data: ImageData::Remote { url: url.into(), headers: vec![] },
                width,
                height,
                seed: None,
                revised_prompt,
            });
        }
    }
    if images.is_empty() {
        return Err(ProviderError::Upstream {
            status: 200,
            message: format!("OpenAI answered without any image: {}", snippet(body, 200)),
        });
    }
    Ok(images)
}

fn format_mime(format: Option<&str>) -> String {
    match format {
        Some("jpeg" | "jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "image/png",
    }
    .to_string()
}

/// Easel parameter name for an OpenAI `param`.
pub fn easel_field(param: &str) -> String {
    match param {
        "size" => "width",
        "n" => "count",
        "image" | "image[]" | "mask" => "images",
        "input_fidelity" => "strength",
        other => other,
    }
    .to_string()
}

/// Classify a non-200 response (docs/providers/openai.md#errors).
pub fn classify_error(resp: &HttpResponse, now_unix_secs: u64) -> ProviderError {
    let status = resp.status;
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    let text = |key: &str| {
        error.get(key).and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())))
    };
    let message = text::sentence(
        &text("message").or_else(|| error.as_str().map(str::to_string)).unwrap_or_else(|| snippet(&resp.body, 300)),
    );
    let code = text("code").unwrap_or_default();
    let kind = text("type").unwrap_or_default();
    let param = text("param");
    let request_id = resp.header("x-request-id").map(|id| format!(" (request id {id})")).unwrap_or_default();

    if matches!(code.as_str(), "moderation_blocked" | "content_policy_violation")
        || (kind == "image_generation_user_error" && message.to_lowercase().contains("safety"))
    {
        let mut out = format!(
            "OpenAI's safety system rejected the request ({}): {message}",
            if code.is_empty() { &kind } else { &code }
        );
        if let Some(details) = error.get("moderation_details") {
            let stage = details.get("moderation_stage").and_then(Value::as_str);
            let categories: Vec<&str> = details
                .get("categories")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(stage) = stage {
                out.push_str(&format!(" [stage: {stage}]"));
            }
            if !categories.is_empty() {
                out.push_str(&format!(" [categories: {}]", categories.join(", ")));
            }
        }
        return ProviderError::ContentBlocked(out);
    }
    match status {
        401 => ProviderError::Unauthorized(format!(
            "OpenAI rejected the API key ({}): {message} Set {SECRET} to a valid key from https://platform.openai.com/api-keys.",
            if code.is_empty() { "HTTP 401" } else { &code }
        )),
        403 => ProviderError::Unauthorized(format!(
            "OpenAI refused access (HTTP 403{}): {message} Check that the {SECRET} key's project and organization may use this model.",
            if code.is_empty() { String::new() } else { format!(", {code}") }
        )),
        429 if code == "insufficient_quota" || kind == "insufficient_quota" => ProviderError::Upstream {
            status,
            message: format!("OpenAI says the account is out of credit (insufficient_quota): {message}{request_id}"),
        },
        429 => ProviderError::RateLimited {
            retry_after_ms: http::retry_delay_ms(resp, now_unix_secs),
            message: format!(
                "OpenAI rate limit{}: {message}",
                if code.is_empty() { String::new() } else { format!(" ({code})") }
            ),
        },
        404 if code == "model_not_found" || param.as_deref() == Some("model") => {
            ProviderError::invalid(Some("model"), format!("OpenAI does not offer this model to this key: {message}"))
        }
        400 | 404 | 422 => match param.filter(|p| !p.is_empty()) {
            Some(param) => {
                ProviderError::invalid(Some(&easel_field(&param)), format!("OpenAI rejected `{param}`: {message}"))
            }
            None => ProviderError::InvalidRequest {
                field: None,
                message: format!("OpenAI rejected the request (HTTP {status}): {message}"),
            },
        },
        _ if status >= 500 => {
            ProviderError::Upstream { status, message: format!("OpenAI server error: {message}{request_id}") }
        }
        _ => {
            ProviderError::Upstream { status, message: format!("OpenAI answered HTTP {status}: {message}{request_id}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_plugin_kit::codec;
    use serde_json::json;

    fn resp(status: u16, body: Value, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    fn error(status: u16, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> HttpResponse {
        resp(status, json!({"error": {"message": message, "type": kind, "param": param, "code": code}}), &[])
    }

    #[test]
    fn decodes_b64_images_and_revised_prompts() {
        let png = b"\x89PNG\r\n\x1a\nxxxx";
        let b64 = codec::b64(png);
        let body = json!({"created": 1, "output_format": "png", "size": "1536x1024", "data": [{"b64_json": b64, "revised_prompt": "A fox."}]});
        let images = interpret(&resp(200, body, &[]), None, 0).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].data, ImageData::Inline { mime_type: "image/png".into(), data: png.to_vec() });
        assert_eq!((images[0].width, images[0].height), (Some(1536), Some(1024)));
        assert_eq!(images[0].revised_prompt.as_deref(), Some("A fox."));
    }

    #[test]
    fn legacy_urls_become_remote_images() {
        let body = json!({"created": 1, "data": [{"url": "http://x/img.png"}]});
        assert_eq!(
            interpret(&resp(200, body, &[]), None, 0).unwrap()[0].data,
            ImageData::Remote { url: "http://x/img.png".into(), headers: vec![] }
        );
        assert!(matches!(
            interpret(&resp(200, json!({"data": []}), &[]), None, 0),
            Err(ProviderError::Upstream { status: 200, .. })
        ));
    }

    #[test]
    fn classifies_errors() {
        let bad_key = error(
            401,
            "Incorrect API key provided: sk-te****.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        );
        assert!(
            matches!(classify_error(&bad_key, 0), ProviderError::Unauthorized(m) if m.contains("OPENAI_API_KEY") && m.contains("invalid_api_key"))
        );

        let blocked = resp(
            400,
            json!({"error": {"message": "Your request was rejected by the safety system.", "type": "image_generation_user_error", "param": null, "code": "moderation_blocked", "moderation_details": {"moderation_stage": "input", "categories": ["violence"]}}}),
            &[],
        );
        assert!(
            matches!(classify_error(&blocked, 0), ProviderError::ContentBlocked(m) if m.contains("violence") && m.contains("input"))
        );

        let size =
            error(400, "Invalid value: '512x512'.", "invalid_request_error", Some("size"), Some("invalid_value"));
        assert!(
            matches!(classify_error(&size, 0), ProviderError::InvalidRequest { field: Some(f), message } if f == "width" && message.contains("`size`"))
        );

        let limited = HttpResponse {
            headers: vec![("retry-after".into(), "7".into())],
            ..error(429, "Rate limit exceeded", "requests", None, Some("rate_limit_exceeded"))
        };
        assert!(matches!(classify_error(&limited, 0), ProviderError::RateLimited { retry_after_ms: Some(7000), .. }));

        let quota =
            error(429, "You exceeded your current quota", "insufficient_quota", None, Some("insufficient_quota"));
        assert!(matches!(classify_error(&quota, 0), ProviderError::Upstream { status: 429, .. }));

        let server = HttpResponse {
            headers: vec![("x-request-id".into(), "req_1".into())],
            ..error(500, "The server had an error", "server_error", None, None)
        };
        assert!(
            matches!(classify_error(&server, 0), ProviderError::Upstream { status: 500, message } if message.contains("req_1"))
        );

        let missing =
            error(404, "The model `x` does not exist", "invalid_request_error", None, Some("model_not_found"));
        assert!(
            matches!(classify_error(&missing, 0), ProviderError::InvalidRequest { field: Some(f), .. } if f == "model")
        );

        let html = HttpResponse { status: 502, headers: vec![], body: b"<html>Bad gateway</html>".to_vec() };
        assert!(
            matches!(classify_error(&html, 0), ProviderError::Upstream { status: 502, message } if message.contains("Bad gateway"))
        );
    }
}
