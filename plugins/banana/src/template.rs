//! The request template: Potassium defines no schema for image generation
//! (docs/providers/banana.md#potassium), so the operator writes the JSON body their handler
//! expects, with `{{name}}` placeholders.
//!
//! Rules:
//! - a JSON string that is exactly `"{{name}}"` becomes the typed value
//!   (a number for `steps`, `seed`, …), and is left out (object key or array
//!   item) when the request did not set it;
//! - `{{name}}` inside longer text is replaced by the value's text, or by
//!   nothing when unset;
//! - an unknown name is a config error, so typos show up at once.
//!
//! Names: `prompt`, `negative_prompt`, `width`, `height`, `seed`, `steps`,
//! `guidance`, `strength`, `count`, `model`, `image` (base64 of the first
//! reference image), `image_data_uri`, `mask` (base64), `mask_data_uri`,
//! `request_id`.

use crate::types::{Features, ProviderError};
use easel_plugin_kit::params;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const NAMES: [&str; 15] = [
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "seed",
    "steps",
    "guidance",
    "strength",
    "count",
    "model",
    "image",
    "image_data_uri",
    "mask",
    "mask_data_uri",
    "request_id",
];

/// The community template's fields (diffusers-style handlers, docs/providers/banana.md#potassium), plus
/// img2img/inpaint inputs that handlers without them ignore.
pub const DEFAULT_TEMPLATE: &str = r#"{"prompt": "{{prompt}}", "negative_prompt": "{{negative_prompt}}",
 "num_inference_steps": "{{steps}}", "guidance_scale": "{{guidance}}", "height": "{{height}}", "width": "{{width}}",
 "seed": "{{seed}}", "image": "{{image}}", "mask_image": "{{mask}}", "strength": "{{strength}}"}"#;

/// Placeholder values for one call; a missing key means "unset".
pub type Vars = BTreeMap<&'static str, Value>;

/// Parse and check a template: JSON whose placeholders all have known names.
pub fn parse(text: &str) -> Result<Value, ProviderError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProviderError::invalid(
            None,
            format!("config key `request_template` is not JSON ({e}); write the body your Potassium handler expects"),
        )
    })?;
    // A TOML string holding JSON arrives double-encoded.
    let value = match value {
        Value::String(inner) if inner.trim_start().starts_with(['{', '[']) => parse(&inner)?,
        other => other,
    };
    let mut unknown = Vec::new();
    for name in placeholders(&value) {
        if !NAMES.contains(&name.as_str()) {
            unknown.push(name);
        }
    }
    if !unknown.is_empty() {
        return Err(ProviderError::invalid(
            None,
            format!(
                "config key `request_template` uses unknown placeholder(s) {}; known: {}",
                unknown.join(", "),
                NAMES.join(", ")
            ),
        ));
    }
    Ok(value)
}

/// Every `{{name}}` used anywhere in the template.
pub fn placeholders(template: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_strings(template, &mut |s| {
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim().to_string();
            if !name.starts_with("secret:") && !out.contains(&name) {
                out.push(name);
            }
            rest = &after[end + 2..];
        }
    });
    out
}

fn walk_strings(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| walk_strings(i, f)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// The features a template can honour: a parameter is supported when its
/// placeholder appears.
pub fn features(template: &Value) -> Features {
    let used = placeholders(template);
    let has = |n: &str| used.iter().any(|u| u == n);
    Features {
        negative_prompt: has("negative_prompt"),
        seed: has("seed"),
        steps: has("steps"),
        guidance: has("guidance"),
        strength: has("strength"),
        mask: has("mask") || has("mask_data_uri"),
        custom_size: has("width") && has("height"),
    }
}

/// Whether the template passes an input image.
pub fn takes_image(template: &Value) -> bool {
    placeholders(template).iter().any(|n| n == "image" || n == "image_data_uri")
}

/// Whether one call can return several images (`{{count}}` is used).
pub fn takes_count(template: &Value) -> bool {
    placeholders(template).iter().any(|n| n == "count")
}

/// The Easel argument behind a placeholder, for refusals.
fn argument_of(placeholder: &str) -> &'static str {
    match placeholder {
        "prompt" => "prompt",
        "negative_prompt" => "negative_prompt",
        "width" | "height" => "size",
        "seed" => "seed",
        "steps" => "steps",
        "guidance" => "guidance",
        "strength" => "strength",
        "count" => "count",
        "model" => "model",
        "image" | "image_data_uri" | "mask" | "mask_data_uri" => "images",
        _ => "request_id (the plugin's own)",
    }
}

/// The caller's `params` (WIT `extra`) for this template: refused when not
/// a JSON object (field `params`), when a key is a top-level member the
/// template fills from a placeholder (field `params.<key>`, naming the
/// argument), or when the template is not a JSON object at all. The rest is
/// merged over every rendered body (docs/providers/banana.md#params).
pub fn params_for(template: &Value, extra: Option<&str>) -> Result<Map<String, Value>, ProviderError> {
    let given = params::parse(extra)?;
    if given.is_empty() {
        return Ok(given);
    }
    let Value::Object(members) = template else {
        return Err(ProviderError::invalid(
            Some("params"),
            "this server's request_template is not a JSON object, so params have nowhere to go",
        ));
    };
    let reserved: Vec<(String, &'static str)> = members
        .iter()
        .filter_map(|(key, value)| placeholders(value).first().map(|name| (key.clone(), argument_of(name))))
        .collect();
    let reserved: Vec<params::Reserved<'_>> =
        reserved.iter().map(|(key, argument)| (key.as_str(), *argument)).collect();
    params::refuse_reserved(&given, &reserved)?;
    Ok(given)
}

/// A rendered body with `params` (from [`params_for`]) merged over it.
pub fn with_params(body: Value, given: &Map<String, Value>) -> Value {
    match body {
        Value::Object(mut members) if !given.is_empty() => {
            params::deep_merge(&mut members, given.clone());
            Value::Object(members)
        }
        other => other,
    }
}

/// Fill the template.
pub fn render(template: &Value, vars: &Vars) -> Value {
    fill(template, vars).unwrap_or(Value::Null)
}

/// `None` means "leave this out".
fn fill(value: &Value, vars: &Vars) -> Option<Value> {
    match value {
        Value::String(s) => {
            if let Some(name) = whole_placeholder(s) {
                return vars.get(name).cloned();
            }
            if !s.contains("{{") {
                return Some(value.clone());
            }
            Some(Value::String(substitute(s, vars)))
        }
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(|i| fill(i, vars)).collect())),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(v) = fill(v, vars) {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

/// `"{{ name }}"` → `name` (not secret references, which the host fills).
fn whole_placeholder(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.contains("{{") && !inner.contains("}}") && !inner.starts_with("secret:")).then_some(inner)
}

fn substitute(s: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        if name.starts_with("secret:") {
            out.push_str(&rest[start..start + 2 + end + 2]);
        } else if let Some(value) = vars.get(name) {
            out.push_str(&match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// f32 → a short decimal (0.6f32 prints as 0.6000000238…).
pub fn number(value: f32) -> Value {
    json!((f64::from(value) * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("prompt", json!("a red fox"));
        v.insert("steps", json!(20));
        v.insert("width", json!(512));
        v.insert("guidance", number(7.5));
        v
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_unset_ones_vanish() {
        let t = parse(DEFAULT_TEMPLATE).unwrap();
        let body = render(&t, &vars());
        assert_eq!(
            body,
            json!({"prompt": "a red fox", "num_inference_steps": 20, "guidance_scale": 7.5, "width": 512})
        );
    }

    #[test]
    fn text_placeholders_and_nesting() {
        let t = parse(r#"{"input": {"text": "photo of {{prompt}}, {{steps}} steps, {{seed}}", "list": ["{{prompt}}", "{{seed}}", 3]},
                          "key": "{{secret:BANANA_API_KEY}}"}"#)
        .unwrap();
        let body = render(&t, &vars());
        assert_eq!(body["input"]["text"], "photo of a red fox, 20 steps, ");
        assert_eq!(body["input"]["list"], json!(["a red fox", 3]));
        assert_eq!(body["key"], "{{secret:BANANA_API_KEY}}", "secret references are the host's");
    }

    #[test]
    fn toml_strings_of_json_and_bad_templates() {
        let double = serde_json::to_string(&Value::String(r#"{"p": "{{prompt}}"}"#.into())).unwrap();
        assert_eq!(render(&parse(&double).unwrap(), &vars()), json!({"p": "a red fox"}));
        assert!(
            matches!(parse(r#"{"p": "{{promt}}"}"#), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("promt"))
        );
        assert!(parse("{not json").is_err());
    }

    #[test]
    fn features_follow_the_placeholders() {
        let f = features(&parse(DEFAULT_TEMPLATE).unwrap());
        assert!(f.negative_prompt && f.seed && f.steps && f.guidance && f.strength && f.mask && f.custom_size);
        let t = parse(r#"{"prompt": "{{prompt}}", "n": "{{count}}"}"#).unwrap();
        let f = features(&t);
        assert!(!f.seed && !f.custom_size && !f.mask);
        assert!(takes_count(&t) && !takes_image(&t));
        assert!(takes_image(&parse(DEFAULT_TEMPLATE).unwrap()));
    }
}
