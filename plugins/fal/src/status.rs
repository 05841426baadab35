//! Reading fal's queue answers: the status object (`IN_QUEUE` → `IN_PROGRESS`
//! → `COMPLETED`, docs/providers/fal.md#queue) and the model output (`images[]`, docs/providers/fal.md#inputs).
//! Unknown statuses and missing fields are tolerated.

use crate::errors::CONTENT_POLICY;
use crate::types::{ImageData, JobState, Output, ProviderError};
use easel_plugin_kit::codec::decode_data_uri;
use easel_plugin_kit::text::{fraction_in, text_of, truncate};
use serde_json::Value;

/// What one status poll said.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// `IN_QUEUE`; `queue_position` (0 = next) when given.
    Queued(Option<u32>),
    /// `IN_PROGRESS`; the last log line and any progress it shows.
    Running { fraction: Option<f32>, log: Option<String> },
    /// `COMPLETED`; `error` (with `error_type`) when the run failed.
    Completed { error: Option<ProviderError> },
    /// Not in fal's documented set (some schemas add `FAILED`/`CANCELED` [S]).
    Other(String),
}

/// Parse a status body (HTTP 202 while pending, 200 when completed).
pub fn parse_status(body: &Value) -> Status {
    let status = body.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
    match status.as_str() {
        "IN_QUEUE" => Status::Queued(
            body.get("queue_position").and_then(Value::as_u64).map(|p| p.min(u64::from(u32::MAX)) as u32),
        ),
        "IN_PROGRESS" => {
            let messages: Vec<String> = body
                .get("logs")
                .and_then(Value::as_array)
                .map(|logs| {
                    logs.iter().filter_map(|l| l.get("message").map(text_of)).filter(|m| !m.trim().is_empty()).collect()
                })
                .unwrap_or_default();
            let fraction = messages.iter().rev().find_map(|m| fraction_in(m));
            Status::Running { fraction, log: messages.last().map(|m| truncate(m, 200)) }
        }
        "COMPLETED" | "OK" => Status::Completed { error: completed_error(body) },
        "FAILED" | "ERROR" => Status::Completed {
            error: Some(completed_error(body).unwrap_or_else(|| upstream("the request failed at fal"))),
        },
        "CANCELED" | "CANCELLED" | "CANCELLATION_REQUESTED" => {
            Status::Completed { error: Some(upstream("the request was cancelled at fal")) }
        }
        other => Status::Other(if other.is_empty() { "(no status)".into() } else { other.into() }),
    }
}

/// The job state of a status that is not `COMPLETED` (`None` for that),
/// as both the plain poll and the status stream return it: running jobs
/// say "running at fal" (the log line went out as progress).
pub fn pending_state(status: &Status) -> Option<JobState> {
    Some(match status {
        Status::Queued(position) => JobState::Queued(*position),
        Status::Running { fraction, .. } => {
            JobState::Running { fraction: *fraction, message: Some("running at fal".into()) }
        }
        Status::Other(name) => JobState::Running { fraction: None, message: Some(format!("fal status {name}")) },
        Status::Completed { .. } => return None,
    })
}

/// `error`/`error_type` of a COMPLETED status, as an Easel error.
fn completed_error(body: &Value) -> Option<ProviderError> {
    let error = body.get("error").filter(|e| !e.is_null())?;
    let message = truncate(&text_of(error), 400);
    let kind = body.get("error_type").and_then(Value::as_str).unwrap_or("");
    Some(if kind == CONTENT_POLICY {
        ProviderError::ContentBlocked(format!("fal's content checker refused the request: {message}"))
    } else {
        upstream(&format!("{message}{}", if kind.is_empty() { String::new() } else { format!(" ({kind})") }))
    })
}

fn upstream(message: &str) -> ProviderError {
    ProviderError::Upstream { status: 0, message: format!("fal: {message}") }
}

/// Turn a model output into images. Images flagged in `has_nsfw_concepts`
/// (fal blacks them out) are dropped; if that leaves none, the result is a
/// content block.
pub fn parse_result(body: &Value) -> Result<Vec<Output>, ProviderError> {
    let items: Vec<&Value> = match (body.get("images"), body.get("image")) {
        (Some(Value::Array(images)), _) => images.iter().collect(),
        (_, Some(image @ Value::Object(_))) => vec![image],
        _ => vec![],
    };
    let seed = body.get("seed").and_then(Value::as_u64);
    let flags: Vec<bool> = body
        .get("has_nsfw_concepts")
        .and_then(Value::as_array)
        .map(|f| f.iter().map(|v| v.as_bool() == Some(true)).collect())
        .unwrap_or_default();
    let mut outputs = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if flags.get(index) == Some(&true) {
            continue;
        }
        let url = match item {
            Value::String(url) => url.as_str(),
            _ => match item.get("url").and_then(Value::as_str) {
                Some(url) => url,
                None => continue,
            },
        };
        let dim = |key: &str| item.get(key).and_then(Value::as_u64).map(|v| v as u32);
        let data = match decode_data_uri(url) {
            Some((mime_type, data)) => ImageData::Inline { mime_type, data },
            None => ImageData::Remote { url: url.to_string(), headers: vec![] },
        };
        outputs.push(Output { data, width: dim("width"), height: dim("height"), seed, revised_prompt: None });
    }
    if outputs.is_empty() {
        if !items.is_empty() && flags.iter().take(items.len()).all(|f| *f) {
            return Err(ProviderError::ContentBlocked(
                "fal's safety checker flagged every image (has_nsfw_concepts); try a different prompt".into(),
            ));
        }
        return Err(ProviderError::Upstream { status: 200, message: "fal returned no images in the result".into() });
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses() {
        assert_eq!(parse_status(&json!({"status":"IN_QUEUE","queue_position":2})), Status::Queued(Some(2)));
        assert_eq!(
            parse_status(&json!({"status":"IN_PROGRESS","logs":[{"message":"loading"},{"message":"step 3/4"}]})),
            Status::Running { fraction: Some(0.75), log: Some("step 3/4".into()) }
        );
        assert_eq!(
            parse_status(&json!({"status":"IN_PROGRESS","logs":null})),
            Status::Running { fraction: None, log: None }
        );
        assert_eq!(parse_status(&json!({"status":"COMPLETED","logs":[]})), Status::Completed { error: None });
        assert!(matches!(
            parse_status(&json!({"status":"COMPLETED","error":"bad","error_type":"content_policy_violation"})),
            Status::Completed { error: Some(ProviderError::ContentBlocked(_)) }
        ));
        assert!(matches!(
            parse_status(&json!({"status":"FAILED"})),
            Status::Completed { error: Some(ProviderError::Upstream { .. }) }
        ));
        assert_eq!(parse_status(&json!({"status":"WARMING"})), Status::Other("WARMING".into()));
    }

    #[test]
    fn results() {
        let body = json!({"images":[
            {"url":"https://v3.fal.media/files/a.png","width":512,"height":384,"content_type":"image/png"},
            {"url":"data:image/png;base64,iVBORw==","width":512,"height":384}],
            "seed":42,"has_nsfw_concepts":[false,false]});
        let out = parse_result(&body).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, ImageData::Remote { url: "https://v3.fal.media/files/a.png".into(), headers: vec![] });
        assert_eq!((out[0].width, out[0].seed), (Some(512), Some(42)));
        assert!(matches!(&out[1].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
        let flagged = json!({"images":[{"url":"https://x/a.png"}],"has_nsfw_concepts":[true]});
        assert!(matches!(parse_result(&flagged), Err(ProviderError::ContentBlocked(_))));
        let partial =
            json!({"images":[{"url":"https://x/a.png"},{"url":"https://x/b.png"}],"has_nsfw_concepts":[true,false]});
        assert_eq!(parse_result(&partial).unwrap().len(), 1);
        assert!(matches!(parse_result(&json!({"image":{"url":"https://x/u.png"}})), Ok(v) if v.len() == 1));
        assert!(matches!(parse_result(&json!({})), Err(ProviderError::Upstream { .. })));
    }
}
