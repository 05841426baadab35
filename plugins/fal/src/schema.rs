//! An endpoint's own input schema (docs/providers/fal.md#endpoint-schemas):
//! `GET https://api.fal.ai/v1/models?endpoint_id=ID&expand=openapi-3.0`
//! answers `{"models": [{"endpoint_id", "metadata", "openapi"}], ...}`; the
//! endpoint's OpenAPI document names its input as the JSON request body of
//! its POST (`requestBody.content."application/json".schema`, a `$ref` into
//! `components.schemas`). For an endpoint outside the plugin's table the
//! plugin fetches it (kept an hour by the host, `Easel-Cache`) and checks the
//! input it built against it before submitting ([`easel_plugin_kit::input_schema`]).

use serde_json::{Map, Value};

/// The model search API's base; config `api_url` overrides it (a fake).
pub const DEFAULT_API_URL: &str = "https://api.fal.ai";

/// How long the host keeps a fetched schema (seconds).
pub const SCHEMA_CACHE_SECS: u64 = 3600;

/// The lookup URL for `endpoint` below `api`.
pub fn url_for(api: &str, endpoint: &str) -> String {
    let encoded: String = endpoint
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{}/v1/models?endpoint_id={encoded}&expand=openapi-3.0", api.trim_end_matches('/'))
}

/// What the search answered about `endpoint`: `None` when its list has no
/// such endpoint, `Some(None)` when no input schema can be read (no list,
/// or an entry without one).
pub fn input_schema<'a>(answer: &'a Value, endpoint: &str) -> Option<Option<&'a Map<String, Value>>> {
    let Some(items) = answer.get("models").or_else(|| answer.get("items")).and_then(Value::as_array) else {
        return Some(None);
    };
    let item = items.iter().find(|i| i.get("endpoint_id").and_then(Value::as_str) == Some(endpoint))?;
    Some(item.get("openapi").and_then(request_schema))
}

/// The JSON request body schema of the document's first POST, `$ref`s into
/// `components.schemas` followed once.
fn request_schema(openapi: &Value) -> Option<&Map<String, Value>> {
    let paths = openapi.get("paths")?.as_object()?;
    let body = paths.values().find_map(|p| p.pointer("/post/requestBody/content/application~1json/schema"))?;
    let schema = match body.get("$ref").and_then(Value::as_str) {
        Some(reference) => openapi.pointer(reference.strip_prefix('#')?)?,
        None => body,
    };
    schema.as_object().filter(|s| s.get("properties").is_some_and(Value::is_object))
}

/// Fields the plugin sends in two spellings, from config or by default,
/// trimmed to what the endpoint declares: `image_url` / `image_urls`
/// (references), `output_format` (the operator's, not the caller's) and
/// `num_images` when it is 1 (one image is what an endpoint without it makes).
pub fn fit_alternates(schema: &Map<String, Value>, input: &mut Map<String, Value>) {
    let declared = |key: &str| schema["properties"].get(key).is_some();
    if !declared("image_url") && declared("image_urls") {
        input.remove("image_url");
    }
    if !declared("image_urls") && declared("image_url") {
        input.remove("image_urls");
    }
    if !declared("output_format") {
        input.remove("output_format");
    }
    if !declared("num_images") && input.get("num_images").and_then(Value::as_u64) == Some(1) {
        input.remove("num_images");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Value {
        json!({"models": [{"endpoint_id": "fal-ai/flux-lora", "metadata": {"display_name": "FLUX.1 [dev] with LoRAs"},
            "openapi": {"openapi": "3.0.4", "paths": {"/fal-ai/flux-lora": {"post": {"requestBody": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/FluxLoraInput"}}}}}}},
            "components": {"schemas": {"FluxLoraInput": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"}, "loras": {"type": "array"}, "image_url": {"type": "string"}}}}}}}],
            "has_more": false})
    }

    #[test]
    fn the_input_schema_is_the_post_body_of_the_endpoint_listed() {
        assert_eq!(
            url_for("https://api.fal.ai/", "fal-ai/flux lora"),
            "https://api.fal.ai/v1/models?endpoint_id=fal-ai/flux%20lora&expand=openapi-3.0"
        );
        let answer = answer();
        let schema = input_schema(&answer, "fal-ai/flux-lora").unwrap().unwrap();
        assert!(schema["properties"].get("loras").is_some());
        assert!(input_schema(&answer, "fal-ai/other").is_none(), "not listed");
        let bare = json!({"models": [{"endpoint_id": "a/b"}]});
        assert_eq!(input_schema(&bare, "a/b"), Some(None), "listed without a schema");
        assert_eq!(input_schema(&json!({"detail": "?"}), "a/b"), Some(None), "no list: cannot tell");
    }

    #[test]
    fn alternates_are_trimmed_to_what_the_endpoint_declares() {
        let answer = answer();
        let schema = input_schema(&answer, "fal-ai/flux-lora").unwrap().unwrap();
        let mut input =
            json!({"prompt": "p", "image_url": "u", "image_urls": ["u"], "output_format": "png", "num_images": 1});
        let input = input.as_object_mut().unwrap();
        fit_alternates(schema, input);
        assert_eq!(input.keys().collect::<Vec<_>>(), vec!["image_url", "prompt"]);
    }
}
