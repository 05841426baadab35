//! Finding the image(s) in a handler's JSON answer. Potassium handlers
//! return whatever they like (docs/providers/banana.md#potassium: typically `{"image_base64":
//! "..."}` or `{"outputs": ...}`), so the place is a configurable RFC 6901
//! JSON pointer (`image_pointer`), with a list of common places tried when
//! none is configured.
//!
//! The value found may be a string — base64, a `data:` URI, or an
//! http(s) URL (relative URLs resolve against `base_url`) that the host
//! downloads under the same egress policy — a list of such strings, or an
//! object with one of the keys `url`, `image_base64`, `b64_json`, `image`,
//! `base64`, `data`.

use crate::types::{ImageData, Output, ProviderError};
use easel_plugin_kit::codec::decode_b64;
use easel_plugin_kit::image::sniff_mime;
use easel_plugin_kit::text::truncate;
use serde_json::Value;

/// Tried in order when `image_pointer` is not configured.
pub const COMMON_POINTERS: [&str; 10] = [
    "/image_base64",
    "/images",
    "/image",
    "/output/url",
    "/output/image_base64",
    "/output",
    "/outputs",
    "/url",
    "/data",
    "/result",
];

const OBJECT_KEYS: [&str; 6] = ["url", "image_base64", "b64_json", "image", "base64", "data"];

/// RFC 6901: `""` is the whole document, `/a/0/b` walks objects and arrays,
/// `~1` is `/` and `~0` is `~` inside a segment.
pub fn pointer<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let pointer = if pointer.starts_with('/') { pointer.to_string() } else { format!("/{pointer}") };
    doc.pointer(&pointer)
}

/// The images at `configured` (or at the first common place that holds
/// something), each with the seed at `seed_pointer` if given.
pub fn images(
    doc: &Value,
    configured: Option<&str>,
    seed_pointer: Option<&str>,
    base_url: &str,
) -> Result<Vec<Output>, ProviderError> {
    let (place, value) = match configured {
        Some(p) => (p.to_string(), pointer(doc, p).filter(|v| !v.is_null()).ok_or_else(|| missing(doc, Some(p)))?),
        None => COMMON_POINTERS
            .iter()
            .find_map(|p| {
                pointer(doc, p)
                    .filter(|v| !v.is_null() && !matches!(v, Value::Bool(_) | Value::Number(_)))
                    .map(|v| (p.to_string(), v))
            })
            .ok_or_else(|| missing(doc, None))?,
    };
    let seeds: Vec<u64> = match seed_pointer.and_then(|p| pointer(doc, p)) {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_u64).collect(),
        Some(v) => v.as_u64().into_iter().collect(),
        None => vec![],
    };
    let items: Vec<&Value> = match value {
        Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let data = image_data(item, base_url).ok_or_else(|| ProviderError::Upstream {
            status: 200,
            message: format!(
                "the value at `{place}` is not an image (base64, data URI or URL): {}",
                truncate(&item.to_string(), 120)
            ),
        })?;
        out.push(Output { data, width: None, height: None, seed: seeds.get(index).copied(), revised_prompt: None });
    }
    if out.is_empty() {
        return Err(ProviderError::Upstream {
            status: 200,
            message: format!("the list at `{place}` is empty: the server returned no images"),
        });
    }
    Ok(out)
}

/// One image from a string or a small object.
fn image_data(item: &Value, base_url: &str) -> Option<ImageData> {
    match item {
        Value::String(text) => from_text(text.trim(), base_url),
        Value::Object(map) => OBJECT_KEYS
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .and_then(|t| from_text(t.trim(), base_url)),
        _ => None,
    }
}

fn from_text(text: &str, base_url: &str) -> Option<ImageData> {
    if text.starts_with("http://") || text.starts_with("https://") {
        return Some(ImageData::Remote { url: text.to_string(), headers: vec![] });
    }
    if text.starts_with('/')
        && !text.starts_with("//")
        && text.len() < 2048
        && !text.contains(char::is_whitespace)
        && text.contains('.')
    {
        return Some(ImageData::Remote { url: format!("{}{text}", base_url.trim_end_matches('/')), headers: vec![] });
    }
    let data = decode_b64(text)?;
    let mime = sniff_mime(&data);
    (mime != "application/octet-stream").then(|| ImageData::Inline { mime_type: mime.into(), data })
}

/// "No image here": names the keys the answer had and any error text in it.
fn missing(doc: &Value, configured: Option<&str>) -> ProviderError {
    let keys = match doc {
        Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
        other => format!("a JSON {}", kind(other)),
    };
    let said = ["error", "message", "detail"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_str))
        .map(|m| format!("; it says: {}", truncate(m, 300)))
        .unwrap_or_default();
    let message = match configured {
        Some(p) => format!("the answer has no image at image_pointer `{p}` (its keys: {keys}){said}"),
        None => format!(
            "the answer has no image at any usual place ({}); its keys: {keys}{said}. Set image_pointer in [plugins.banana.config]",
            COMMON_POINTERS.join(", ")
        ),
    };
    ProviderError::Upstream { status: 200, message }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PNG: &str = "iVBORw0KGgo=";

    #[test]
    fn pointers_follow_rfc_6901() {
        let doc = json!({"a/b": {"~x": [10, 20]}, "o": {"url": "u"}});
        assert_eq!(pointer(&doc, "/a~1b/~0x/1"), Some(&json!(20)));
        assert_eq!(pointer(&doc, "o/url"), Some(&json!("u")), "a missing leading slash is forgiven");
        assert_eq!(pointer(&doc, ""), Some(&doc));
        assert_eq!(pointer(&doc, "/nope"), None);
    }

    #[test]
    fn common_shapes_are_found_without_config() {
        let out = images(&json!({"image_base64": PNG}), None, None, "http://h").unwrap();
        assert!(matches!(&out[0].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
        let out = images(&json!({"output": {"url": "http://h:1/f/a.png"}}), None, None, "http://h").unwrap();
        assert!(matches!(&out[0].data, ImageData::Remote { url, .. } if url == "http://h:1/f/a.png"));
        let out = images(
            &json!({"outputs": [format!("data:image/png;base64,{PNG}"), {"url": "/files/b.png"}]}),
            None,
            None,
            "http://h:8000/",
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[1].data, ImageData::Remote { url, .. } if url == "http://h:8000/files/b.png"));
    }

    #[test]
    fn configured_pointer_and_seeds() {
        let doc = json!({"result": {"pics": [PNG, PNG], "seeds": [5, 6]}});
        let out = images(&doc, Some("/result/pics"), Some("/result/seeds"), "http://h").unwrap();
        assert_eq!(out.iter().map(|o| o.seed).collect::<Vec<_>>(), [Some(5), Some(6)]);
    }

    #[test]
    fn missing_images_explain_themselves() {
        let e = images(&json!({"error": "model not loaded", "status": 1}), None, None, "h").unwrap_err();
        assert!(
            matches!(&e, ProviderError::Upstream { message, .. } if message.contains("model not loaded") && message.contains("image_pointer") && message.contains("status")),
            "{e:?}"
        );
        let e = images(&json!({"x": 1}), Some("/img"), None, "h").unwrap_err();
        assert!(matches!(&e, ProviderError::Upstream { message, .. } if message.contains("`/img`")));
        assert!(images(&json!({"image": "not an image"}), None, None, "h").is_err());
        assert!(images(&json!({"images": []}), None, None, "h").is_err());
    }
}
