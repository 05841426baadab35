//! Reading A1111's answers: the generation response (docs/providers/sdwebui.md#response) and
//! its errors (docs/providers/sdwebui.md#errors).
//!
//! Success: `{"images": ["<base64, no data: prefix>"], "parameters": {...},
//! "info": "<JSON text>"}`. `info` is a JSON *string*, not an object — it
//! must be parsed a second time to read `seed`, `all_seeds` and
//! `index_of_first_image` (1 when a grid image was put first).
//!
//! Errors: A1111's handler answers `{"error": "<ExceptionClass>", "detail",
//! "body", "errors": "<str(e)>"}` with the exception's status (500 by
//! default); FastAPI's body validation answers 422 `{"detail": [{"loc":
//! ["body", "steps"], "msg", "type"}]}`; `--api-auth` failures are 401 with
//! `WWW-Authenticate: Basic`.

use crate::api::easel_field;
use crate::types::{HttpResponse, ImageData, Output, ProviderError};
use easel_plugin_kit::codec::decode_b64;
use easel_plugin_kit::image::sniff_mime;
use easel_plugin_kit::text::{text_of, truncate};
use serde_json::Value;

/// The secret holding base64 of `user:pass` for `--api-auth` (docs/providers/sdwebui.md#base-url-and-auth).
pub const SECRET: &str = "SDWEBUI_AUTH";

/// The images of a txt2img/img2img answer, with the seed of each.
/// `count` is how many were asked for: a leading grid (per
/// `index_of_first_image`) and trailing extension outputs (ControlNet
/// detect maps) are dropped.
pub fn images(body: &Value, count: u32) -> Result<Vec<Output>, ProviderError> {
    let list = body.get("images").and_then(Value::as_array).ok_or_else(|| ProviderError::Upstream {
        status: 200,
        message: format!("SD WebUI's answer has no `images` list: {}", truncate(&body.to_string(), 200)),
    })?;
    let info = info(body);
    let first = info.as_ref().and_then(|i| i.get("index_of_first_image")).and_then(Value::as_u64).unwrap_or(0) as usize;
    let first = if first < list.len() { first } else { 0 };
    let seeds = seeds(info.as_ref());
    let mut out = Vec::new();
    for (index, item) in list.iter().skip(first).take(count.max(1) as usize).enumerate() {
        let text = item.as_str().ok_or_else(|| ProviderError::Upstream {
            status: 200,
            message: format!("SD WebUI image {} is not a base64 string", index + 1),
        })?;
        let data = decode_b64(text).ok_or_else(|| ProviderError::Upstream {
            status: 200,
            message: format!("SD WebUI image {} is not valid base64", index + 1),
        })?;
        out.push(Output {
            data: ImageData::Inline { mime_type: sniff_mime(&data).into(), data },
            width: None,
            height: None,
            seed: seeds.get(index).copied().or_else(|| seeds.first().map(|s| s.wrapping_add(index as u64))),
            revised_prompt: None,
        });
    }
    if out.is_empty() {
        let interrupted = info.as_ref().is_some_and(|_| list.is_empty());
        return Err(ProviderError::Upstream {
            status: 200,
            message: if interrupted {
                "SD WebUI returned no images (was the job interrupted?)".into()
            } else {
                "SD WebUI returned no images".into()
            },
        });
    }
    Ok(out)
}

/// `info` parsed: a JSON string in A1111 (docs/providers/sdwebui.md#response); some forks send an object.
pub fn info(body: &Value) -> Option<Value> {
    match body.get("info")? {
        Value::String(text) => serde_json::from_str::<Value>(text).ok().filter(Value::is_object),
        object @ Value::Object(_) => Some(object.clone()),
        _ => None,
    }
}

/// Seeds in image order: `all_seeds`, else `[seed]`. A1111 seeds are
/// non-negative once resolved (-1 means "random" only in requests).
pub fn seeds(info: Option<&Value>) -> Vec<u64> {
    let Some(info) = info else { return vec![] };
    let as_seed = |v: &Value| v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64));
    if let Some(all) = info.get("all_seeds").and_then(Value::as_array) {
        let list: Vec<u64> = all.iter().filter_map(as_seed).collect();
        if !list.is_empty() {
            return list;
        }
    }
    info.get("seed").and_then(as_seed).into_iter().collect()
}

/// A non-2xx answer as an Easel error. `url` is the base URL for messages,
/// `auth_set` whether `SDWEBUI_AUTH` is configured.
pub fn classify(response: &HttpResponse, url: &str, auth_set: bool) -> ProviderError {
    let body = response.json();
    let message = message_of(body.as_ref(), response);
    match response.status {
        401 | 403 => ProviderError::Unauthorized(if auth_set {
            format!(
                "SD WebUI at {url} refused the credentials (HTTP {}: {message}); the secret {SECRET} must hold base64 of the `user:pass` given to `--api-auth` (e.g. `printf %s 'user:pass' | base64`), not the pair itself",
                response.status
            )
        } else {
            format!(
                "SD WebUI at {url} requires credentials (HTTP {}: {message}); it was started with `--api-auth user:pass`: declare [plugins.sdwebui.secrets.{SECRET}] with env = \"{SECRET}\" and hosts = [\"{url}\"], and set {SECRET} to base64 of `user:pass` (e.g. `printf %s 'user:pass' | base64`)",
                response.status
            )
        }),
        404 if message.to_ascii_lowercase().contains("init image") => {
            ProviderError::invalid(Some("images"), format!("SD WebUI: {message}"))
        }
        404 => ProviderError::Unavailable(format!(
            "SD WebUI at {url} does not serve the API (HTTP 404: {message}) — start it with `--api`"
        )),
        422 => validation(body.as_ref(), &message),
        400 => {
            let lower = message.to_ascii_lowercase();
            let hint = if lower.contains("sampler") || lower.contains("scheduler") {
                "; check sampler_name/scheduler in [plugins.sdwebui.config] params or the request's params"
            } else {
                ""
            };
            ProviderError::invalid(None, format!("SD WebUI rejected the request (HTTP 400): {message}{hint}"))
        }
        status => ProviderError::Upstream { status, message: format!("SD WebUI: {message}") },
    }
}

/// 422: FastAPI's `detail` list names the field (`loc: ["body", "steps"]`);
/// A1111's own 422s (bad script name) carry `{error, detail, errors}`.
fn validation(body: Option<&Value>, message: &str) -> ProviderError {
    let first = body.and_then(|b| b.get("detail")).and_then(Value::as_array).and_then(|d| d.first());
    let Some(item) = first else {
        return ProviderError::invalid(None, format!("SD WebUI rejected the request: {message}"));
    };
    let loc: Vec<String> =
        item.get("loc").and_then(Value::as_array).map(|l| l.iter().map(text_of).collect()).unwrap_or_default();
    let name = loc.iter().map(String::as_str).find(|p| *p != "body").unwrap_or("");
    let msg = item.get("msg").map(text_of).unwrap_or_else(|| message.to_string());
    let shown = if name.is_empty() {
        String::new()
    } else {
        format!(" `{}`", loc.iter().filter(|p| *p != "body").cloned().collect::<Vec<_>>().join("."))
    };
    let field = easel_field(name).map(String::from).or_else(|| (!name.is_empty()).then(|| name.to_string()));
    ProviderError::InvalidRequest { field, message: format!("SD WebUI rejected{shown}: {}", truncate(&msg, 300)) }
}

/// The readable part of an error body: `errors` (str(e)) or `detail`,
/// prefixed with the exception class; plain text bodies as is.
pub fn message_of(body: Option<&Value>, response: &HttpResponse) -> String {
    if let Some(b) = body {
        let field = |k: &str| b.get(k).filter(|v| !v.is_null()).map(text_of).filter(|s| !s.trim().is_empty());
        if let Some(Value::Array(items)) = b.get("detail") {
            let parts: Vec<String> = items
                .iter()
                .map(|i| {
                    let loc: Vec<String> = i
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().map(text_of).collect())
                        .unwrap_or_default();
                    format!("{}: {}", loc.join("."), i.get("msg").map(text_of).unwrap_or_default())
                })
                .collect();
            return truncate(&parts.join("; "), 400);
        }
        let text = field("errors").or_else(|| field("detail")).or_else(|| field("message"));
        return match (field("error"), text) {
            (Some(class), Some(text)) if !text.starts_with(&class) => truncate(&format!("{class}: {text}"), 400),
            (_, Some(text)) => truncate(&text, 400),
            (Some(class), None) => class,
            (None, None) => truncate(&b.to_string(), 300),
        };
    }
    easel_plugin_kit::html::response_summary(response, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    const PNG_B64: &str = "iVBORw0KGgo=";

    #[test]
    fn seeds_come_from_the_info_string() {
        let info = r#"{"prompt":"a red fox","seed":1234,"all_seeds":[1234,1235],"width":512,"height":512,"index_of_first_image":0}"#;
        let body = serde_json::json!({"images": [PNG_B64, PNG_B64], "parameters": {}, "info": info});
        let out = images(&body, 2).unwrap();
        assert_eq!(out.iter().map(|o| o.seed).collect::<Vec<_>>(), vec![Some(1234), Some(1235)]);
        assert!(
            matches!(&out[0].data, ImageData::Inline { mime_type, data } if mime_type == "image/png" && data.starts_with(b"\x89PNG"))
        );
    }

    #[test]
    fn a_leading_grid_and_extension_extras_are_dropped() {
        let info = r#"{"seed":7,"all_seeds":[7,8],"index_of_first_image":1}"#;
        let body = serde_json::json!({"images": ["R1JJRA==", PNG_B64, PNG_B64, "REVURUNU"], "info": info});
        let out = images(&body, 2).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].seed, out[1].seed), (Some(7), Some(8)));
    }

    #[test]
    fn info_as_object_or_missing_still_works() {
        let body = serde_json::json!({"images": [PNG_B64], "info": {"seed": 99}});
        assert_eq!(images(&body, 1).unwrap()[0].seed, Some(99));
        let body = serde_json::json!({"images": [PNG_B64]});
        assert_eq!(images(&body, 1).unwrap()[0].seed, None);
        assert!(images(&serde_json::json!({"images": []}), 1).is_err());
        assert!(images(&serde_json::json!({"detail": "x"}), 1).is_err());
    }

    #[test]
    fn errors_map_to_easel_kinds() {
        let e = classify(
            &resp(
                422,
                r#"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}"#,
            ),
            "u",
            false,
        );
        assert!(
            matches!(&e, ProviderError::InvalidRequest { field: Some(f), message } if f == "steps" && message.contains("not a valid integer")),
            "{e:?}"
        );
        let e = classify(&resp(422, r#"{"detail":[{"loc":["body","cfg_scale"],"msg":"bad"}]}"#), "u", false);
        assert!(matches!(&e, ProviderError::InvalidRequest { field: Some(f), .. } if f == "guidance"));
        let e = classify(
            &resp(
                500,
                r#"{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 2.00 GiB"}"#,
            ),
            "u",
            false,
        );
        assert!(
            matches!(&e, ProviderError::Upstream { status: 500, message } if message.contains("OutOfMemoryError: CUDA out of memory")),
            "{e:?}"
        );
        let e = classify(&resp(401, r#"{"detail":"Incorrect username or password"}"#), "http://h:1", false);
        assert!(
            matches!(&e, ProviderError::Unauthorized(m) if m.contains("SDWEBUI_AUTH") && m.contains("--api-auth") && m.contains("Incorrect username"))
        );
        let e = classify(&resp(401, r#"{"detail":"Incorrect username or password"}"#), "http://h:1", true);
        assert!(matches!(&e, ProviderError::Unauthorized(m) if m.contains("base64")));
        let e = classify(&resp(404, r#"{"detail":"Not Found"}"#), "http://h:1", false);
        assert!(matches!(&e, ProviderError::Unavailable(m) if m.contains("--api")));
        let e = classify(
            &resp(404, r#"{"error":"HTTPException","detail":"Init image not found","body":"","errors":""}"#),
            "u",
            false,
        );
        assert!(matches!(&e, ProviderError::InvalidRequest { field: Some(f), .. } if f == "images"));
        let e = classify(
            &resp(400, r#"{"error":"HTTPException","detail":"Sampler not found","body":"","errors":""}"#),
            "u",
            false,
        );
        assert!(
            matches!(&e, ProviderError::InvalidRequest { field: None, message } if message.contains("sampler_name"))
        );
        let e = classify(&resp(502, "bad gateway"), "u", false);
        assert!(matches!(&e, ProviderError::Upstream { status: 502, message } if message.contains("bad gateway")));
    }
}
