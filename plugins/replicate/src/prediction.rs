//! Reading a Replicate prediction object (docs/providers/replicate.md#predictions): `starting` →
//! `processing` (tqdm-style `logs`) → `succeeded` | `failed` | `canceled`,
//! and its `output` (one URL, a list of URLs, or `data:` URIs). Unknown
//! statuses and odd output shapes are tolerated.

use crate::errors::prediction_failure;
use crate::types::{ImageData, Output, ProviderError};
use easel_plugin_kit::codec::decode_data_uri;
use easel_plugin_kit::text::{fraction_in, last_line, truncate};
use serde_json::Value;

/// Where a prediction stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// `starting`: waiting for (or booting) a worker.
    Starting,
    /// `processing`: the last log line and the progress it shows.
    Processing { fraction: Option<f32>, log: Option<String> },
    /// `succeeded`: the output file URLs, in order.
    Succeeded(Vec<String>),
    /// `failed` (or `canceled`, or outputs already deleted) as an error.
    Failed(ProviderError),
    /// Any status not documented.
    Other(String),
}

/// The prediction's id and `urls.get` / `urls.cancel`, when present.
pub fn identity(p: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
    let urls = p.get("urls");
    (text(p.get("id")), text(urls.and_then(|u| u.get("get"))), text(urls.and_then(|u| u.get("cancel"))))
}

/// The prediction's `urls.stream`, when Replicate gave one (models that
/// support streaming, docs/providers/replicate.md#live-progress-the-prediction-stream)
/// and it is an absolute http(s) URL.
pub fn stream_url(p: &Value) -> Option<String> {
    let url = p.get("urls")?.get("stream")?.as_str()?.trim();
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_string())
}

/// The progress log text shows: the fraction of its last line that has
/// one (tqdm's `NN%|`, `3/8`) and its last line, cut to 200 characters.
/// For a prediction's whole `logs` and for one stream `logs` event alike.
pub fn log_progress(logs: &str) -> (Option<f32>, Option<String>) {
    let fraction = logs.split(['\n', '\r']).rev().find_map(fraction_in);
    (fraction, last_line(logs).map(|l| truncate(&l, 200)))
}

pub fn phase(p: &Value) -> Phase {
    let status = p.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    match status.as_str() {
        "starting" | "queued" => Phase::Starting,
        "processing" => {
            let (fraction, log) = log_progress(p.get("logs").and_then(Value::as_str).unwrap_or(""));
            Phase::Processing { fraction, log }
        }
        "succeeded" => {
            let urls = output_urls(p.get("output"));
            if urls.is_empty() {
                let removed = p.get("data_removed").and_then(Value::as_bool) == Some(true);
                Phase::Failed(ProviderError::Upstream {
                    status: 0,
                    message: if removed {
                        "Replicate already deleted this prediction's output (API outputs are kept about an hour)".into()
                    } else {
                        "Replicate's prediction succeeded but returned no images".into()
                    },
                })
            } else {
                Phase::Succeeded(urls)
            }
        }
        "failed" => Phase::Failed(prediction_failure(p.get("error").and_then(Value::as_str))),
        "canceled" | "cancelled" => Phase::Failed(ProviderError::Upstream {
            status: 0,
            message: "the prediction was canceled at Replicate".into(),
        }),
        other => Phase::Other(if other.is_empty() { "(no status)".into() } else { other.into() }),
    }
}

/// Every URL string in `output`: a string, or (nested) arrays of strings,
/// or objects with a `url` (model-specific, docs/providers/replicate.md#predictions).
pub fn output_urls(output: Option<&Value>) -> Vec<String> {
    let mut urls = Vec::new();
    fn walk(v: &Value, urls: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("data:") => {
                urls.push(s.clone())
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, urls)),
            Value::Object(o) => {
                if let Some(u) = o.get("url") {
                    walk(u, urls);
                }
            }
            _ => {}
        }
    }
    if let Some(v) = output {
        walk(v, &mut urls);
    }
    urls
}

/// Output URLs → images. `headers` go with each download (the host fills in
/// `{{secret:…}}`); the seed is the prediction input's, when it set one.
pub fn outputs(p: &Value, urls: Vec<String>, headers: &[(String, String)]) -> Vec<Output> {
    let seed = p.get("input").and_then(|i| i.get("seed")).and_then(Value::as_u64);
    urls.into_iter()
        .map(|url| {
            let data = match decode_data_uri(&url) {
                Some((mime_type, data)) => ImageData::Inline { mime_type, data },
                None => ImageData::Remote { url, headers: headers.to_vec() },
            };
            Output { data, width: None, height: None, seed, revised_prompt: None }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phases() {
        assert_eq!(phase(&json!({"status":"starting","logs":""})), Phase::Starting);
        let p = json!({"status":"processing","logs":"Using seed: 1\n  0%|          | 0/4 [00:00<?, ?it/s]\r 50%|█████     | 2/4 [00:01<00:01]\n"});
        assert!(
            matches!(phase(&p), Phase::Processing { fraction: Some(f), log: Some(l) } if f == 0.5 && l.starts_with("50%"))
        );
        assert_eq!(phase(&json!({"status":"processing","logs":null})), Phase::Processing { fraction: None, log: None });
        assert_eq!(
            phase(&json!({"status":"succeeded","output":"https://replicate.delivery/a.png"})),
            Phase::Succeeded(vec!["https://replicate.delivery/a.png".into()])
        );
        assert!(
            matches!(phase(&json!({"status":"succeeded","output":null,"data_removed":true})), Phase::Failed(ProviderError::Upstream { message, .. }) if message.contains("deleted"))
        );
        assert!(matches!(
            phase(&json!({"status":"failed","error":"NSFW content detected"})),
            Phase::Failed(ProviderError::ContentBlocked(_))
        ));
        assert!(matches!(phase(&json!({"status":"canceled"})), Phase::Failed(ProviderError::Upstream { .. })));
        assert_eq!(phase(&json!({"status":"booting"})), Phase::Other("booting".into()));
    }

    #[test]
    fn outputs_in_every_shape() {
        let p = json!({"input":{"seed":7},"output":[["https://x/0.png"],{"url":"https://x/1.png"},"not a url",3]});
        let urls = output_urls(p.get("output"));
        assert_eq!(urls, vec!["https://x/0.png", "https://x/1.png"]);
        let auth = vec![("Authorization".to_string(), "Bearer {{secret:REPLICATE_API_TOKEN}}".to_string())];
        let out = outputs(&p, urls, &auth);
        assert_eq!(out[0].data, ImageData::Remote { url: "https://x/0.png".into(), headers: auth.clone() });
        assert_eq!(out[1].seed, Some(7));
        let inline = outputs(&json!({}), vec!["data:image/png;base64,iVBORw==".into()], &[]);
        assert!(matches!(&inline[0].data, ImageData::Inline { data, .. } if data == b"\x89PNG"));
        assert_eq!(
            identity(&json!({"id":"a","urls":{"get":"g","cancel":"c"}})),
            (Some("a".into()), Some("g".into()), Some("c".into()))
        );
        let streamed = json!({"urls":{"stream":"https://stream.replicate.com/v1/files/bcwr-x"}});
        assert_eq!(stream_url(&streamed).as_deref(), Some("https://stream.replicate.com/v1/files/bcwr-x"));
        assert_eq!(stream_url(&json!({"urls":{"stream":"not a url"}})), None);
        assert_eq!(stream_url(&json!({"urls":{}})), None);
    }
}
