//! Workflow templates in ComfyUI's "API format" (a map from node id to
//! `{class_type, inputs}`, links written `[node_id, output_index]` —
//! docs/providers/comfyui.md#queueing-a-workflow) with named `{{placeholders}}`, and filling them in.
//!
//! A placeholder is written inside a JSON string so that templates stay
//! valid JSON. A string that is exactly one placeholder (`"{{seed}}"`) is
//! replaced by the typed value (a number for `seed`); a placeholder inside
//! longer text (`"masterpiece, {{prompt}}"`) is replaced textually.
//! Object keys are never templated.

use crate::types::ProviderError;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The built-in text-to-image graph: CheckpointLoaderSimple → CLIPTextEncode
/// ×2 → EmptyLatentImage → KSampler → VAEDecode → SaveImage.
pub const TXT2IMG: &str = include_str!("workflows/txt2img.json");

/// The built-in image-to-image graph: LoadImage → ImageScale → VAEEncode →
/// RepeatLatentBatch → KSampler (`denoise` from strength) → VAEDecode →
/// SaveImage.
pub const IMG2IMG: &str = include_str!("workflows/img2img.json");

/// Every placeholder this plugin fills in.
pub const KNOWN: [&str; 13] = [
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "width",
    "height",
    "batch_size",
    "checkpoint",
    "image",
    "denoise",
    "sampler",
    "scheduler",
];

/// Which of the two templates a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Txt2Img,
    Img2Img,
}

impl Kind {
    /// The config key that overrides this template.
    pub fn config_key(self) -> &'static str {
        match self {
            Kind::Txt2Img => "workflow_txt2img",
            Kind::Img2Img => "workflow_img2img",
        }
    }

    pub fn builtin(self) -> &'static str {
        match self {
            Kind::Txt2Img => TXT2IMG,
            Kind::Img2Img => IMG2IMG,
        }
    }
}

/// A parsed template and the placeholders it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub kind: Kind,
    /// Whether this came from the operator's config rather than the plugin.
    pub custom: bool,
    pub graph: Value,
    pub placeholders: BTreeSet<String>,
}

impl Template {
    /// Parse the operator's template text (`custom` = Some) or the built-in.
    /// Accepts the API format, or that format wrapped as `{"prompt": {...}}`;
    /// refuses the UI format (`nodes`/`links` arrays) with a hint.
    pub fn load(kind: Kind, custom: Option<&str>) -> Result<Template, ProviderError> {
        let text = custom.unwrap_or(kind.builtin());
        let key = kind.config_key();
        let bad = |why: String| ProviderError::invalid(None, format!("config `{key}` {why}"));
        let mut graph: Value = serde_json::from_str(text).map_err(|e| bad(format!("is not valid JSON: {e}")))?;
        if let Some(inner) = graph.get("prompt").filter(|p| p.is_object()).cloned() {
            graph = inner;
        }
        let Some(nodes) = graph.as_object() else {
            return Err(bad("must be a JSON object mapping node ids to {\"class_type\", \"inputs\"}".into()));
        };
        if nodes.contains_key("nodes") && nodes.contains_key("links") {
            return Err(bad(
                "is a UI-format workflow; in ComfyUI use Workflow → Export (API) and paste that JSON instead".into(),
            ));
        }
        if nodes.is_empty() {
            return Err(bad("has no nodes".into()));
        }
        for (id, node) in nodes {
            if node.get("class_type").and_then(Value::as_str).is_none() {
                return Err(bad(format!("node {id} has no \"class_type\" (API format expected)")));
            }
        }
        let mut placeholders = BTreeSet::new();
        collect(&graph, &mut placeholders);
        Ok(Template { kind, custom: custom.is_some(), graph, placeholders })
    }

    pub fn has(&self, name: &str) -> bool {
        self.placeholders.contains(name)
    }

    /// Refuse a template that lacks a placeholder the request needs or
    /// contains one this plugin does not know. `needed` pairs a placeholder
    /// with the Easel parameter that needs it.
    pub fn check(&self, needed: &[(&str, &str)]) -> Result<(), ProviderError> {
        let key = self.kind.config_key();
        let origin = if self.custom {
            format!("the workflow in config `{key}`")
        } else {
            format!("the built-in {key} workflow")
        };
        let unknown: Vec<&String> = self.placeholders.iter().filter(|p| !KNOWN.contains(&p.as_str())).collect();
        if !unknown.is_empty() {
            let list = unknown.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ");
            return Err(ProviderError::invalid(
                None,
                format!("{origin} uses unknown placeholder(s) {list}; known: {}", known_list()),
            ));
        }
        for (placeholder, field) in needed {
            if !self.has(placeholder) {
                return Err(ProviderError::invalid(
                    Some(field),
                    format!(
                        "{origin} has no {{{{{placeholder}}}}} placeholder, so it cannot take `{field}`; add \"{{{{{placeholder}}}}}\" to the node input that should receive it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The graph with every placeholder replaced from `values`.
    pub fn fill(&self, values: &BTreeMap<&str, Value>) -> Result<Value, ProviderError> {
        let mut missing = BTreeSet::new();
        let graph = substitute(&self.graph, values, &mut missing);
        if let Some(name) = missing.into_iter().next() {
            return Err(ProviderError::Internal(format!("no value for placeholder {{{{{name}}}}}")));
        }
        Ok(graph)
    }
}

fn known_list() -> String {
    KNOWN.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ")
}

/// Names of the `{{name}}` placeholders inside one string, in order.
pub fn names_in(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

fn collect(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => into.extend(names_in(s).into_iter().map(str::to_string)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
        Value::Object(map) => map.values().for_each(|v| collect(v, into)),
        _ => {}
    }
}

/// `"{{name}}"` alone → the typed value; embedded → its text.
fn substitute(value: &Value, values: &BTreeMap<&str, Value>, missing: &mut BTreeSet<String>) -> Value {
    match value {
        Value::String(s) => {
            let names = names_in(s);
            if names.is_empty() {
                return value.clone();
            }
            let trimmed = s.trim();
            let whole = trimmed.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")).map(str::trim);
            if names.len() == 1 && whole == Some(names[0]) {
                return match values.get(names[0]) {
                    Some(v) => v.clone(),
                    None => {
                        missing.insert(names[0].to_string());
                        value.clone()
                    }
                };
            }
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else {
                    rest = &rest[start..];
                    break;
                };
                let name = after[..end].trim();
                match values.get(name) {
                    Some(Value::String(text)) => out.push_str(text),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {
                        if KNOWN.contains(&name) {
                            missing.insert(name.to_string());
                        }
                        out.push_str(&rest[start..start + 2 + end + 2]);
                    }
                }
                rest = &after[end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, values, missing)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, values, missing))).collect::<Map<_, _>>())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> BTreeMap<&'static str, Value> {
        let mut v = BTreeMap::new();
        for (k, val) in [
            ("prompt", json!("a red fox")),
            ("negative_prompt", json!("")),
            ("seed", json!(42u64)),
            ("steps", json!(20)),
            ("cfg", json!(7.5)),
            ("width", json!(512)),
            ("height", json!(768)),
            ("batch_size", json!(2)),
            ("checkpoint", json!("sd15.safetensors")),
            ("sampler", json!("euler")),
            ("scheduler", json!("normal")),
            ("denoise", json!(1.0)),
        ] {
            v.insert(k, val);
        }
        v
    }

    #[test]
    fn builtins_parse_and_carry_the_placeholders_they_need() {
        let t = Template::load(Kind::Txt2Img, None).unwrap();
        for p in ["prompt", "negative_prompt", "seed", "steps", "cfg", "width", "height", "batch_size", "checkpoint"] {
            assert!(t.has(p), "txt2img lacks {p}");
        }
        assert!(!t.has("image"));
        let i = Template::load(Kind::Img2Img, None).unwrap();
        for p in ["image", "denoise", "batch_size", "width", "height"] {
            assert!(i.has(p), "img2img lacks {p}");
        }
    }

    #[test]
    fn fill_puts_typed_values_in_whole_strings_and_text_in_embedded_ones() {
        let text = r#"{"1": {"class_type": "X", "inputs": {"seed": "{{seed}}", "cfg": "{{ cfg }}",
            "text": "masterpiece, {{prompt}} ({{width}}x{{height}})", "link": ["2", 0]}}}"#;
        let t = Template::load(Kind::Txt2Img, Some(text)).unwrap();
        let g = t.fill(&values()).unwrap();
        assert_eq!(g["1"]["inputs"]["seed"], json!(42));
        assert_eq!(g["1"]["inputs"]["cfg"], json!(7.5));
        assert_eq!(g["1"]["inputs"]["text"], json!("masterpiece, a red fox (512x768)"));
        assert_eq!(g["1"]["inputs"]["link"], json!(["2", 0]));
    }

    #[test]
    fn builtin_txt2img_fills_completely() {
        let t = Template::load(Kind::Txt2Img, None).unwrap();
        let g = t.fill(&values()).unwrap();
        assert_eq!(g["5"]["inputs"], json!({"width": 512, "height": 768, "batch_size": 2}));
        assert_eq!(g["4"]["inputs"]["ckpt_name"], json!("sd15.safetensors"));
        assert!(!g.to_string().contains("{{"));
    }

    #[test]
    fn missing_needed_placeholder_is_an_invalid_request_naming_it() {
        let text = r#"{"1": {"class_type": "LoadImage", "inputs": {"image": "fox.png"}},
                       "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}}}"#;
        let t = Template::load(Kind::Img2Img, Some(text)).unwrap();
        let err = t.check(&[("prompt", "prompt"), ("image", "images")]).unwrap_err();
        match err {
            ProviderError::InvalidRequest { field, message } => {
                assert_eq!(field.as_deref(), Some("images"));
                assert!(message.contains("{{image}}") && message.contains("workflow_img2img"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let text = r#"{"1": {"class_type": "X", "inputs": {"a": "{{prompt}}", "b": "{{lora}}"}}}"#;
        let t = Template::load(Kind::Txt2Img, Some(text)).unwrap();
        let err = t.check(&[("prompt", "prompt")]).unwrap_err();
        assert!(err.message().contains("{{lora}}"), "{err:?}");
    }

    #[test]
    fn ui_format_and_garbage_are_refused_with_hints() {
        let ui = r#"{"last_node_id": 9, "nodes": [], "links": []}"#;
        assert!(Template::load(Kind::Txt2Img, Some(ui)).unwrap_err().message().contains("Export (API)"));
        assert!(Template::load(Kind::Txt2Img, Some("{not json")).unwrap_err().message().contains("not valid JSON"));
        assert!(
            Template::load(Kind::Txt2Img, Some(r#"{"1": {"inputs": {}}}"#))
                .unwrap_err()
                .message()
                .contains("class_type")
        );
    }

    #[test]
    fn a_wrapped_prompt_object_is_unwrapped() {
        let text = r#"{"prompt": {"1": {"class_type": "X", "inputs": {"t": "{{prompt}}"}}}}"#;
        let t = Template::load(Kind::Txt2Img, Some(text)).unwrap();
        assert!(t.has("prompt"));
        assert!(t.graph.get("1").is_some());
    }
}
