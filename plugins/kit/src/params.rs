//! Provider parameters: the caller's `params` (provider-native names, e.g.
//! OpenAI `background`, fal `enable_safety_checker`), which the host hands
//! a plugin as the JSON object text of WIT `generation-request.extra`
//! ([`Request::extra`](crate::types::Request::extra)). A plugin parses it
//! once, refuses the keys it sets itself from Easel's common arguments, and
//! merges the rest where its API documents them (each plugin's place is in
//! `docs/providers/<name>.md#params`).
//!
//! Errors are `invalid-request` with `field` `params` (not a JSON object)
//! or `params.<key>` (a reserved key, with the argument to use instead).

use crate::types::ProviderError;
use serde_json::{Map, Value};

/// One key a plugin sets from an Easel argument: `(key, argument)`, e.g.
/// `("prompt", "prompt")` or `("num_images", "count")`. A dotted key
/// (`imageConfig.aspectRatio`) names a member of a nested object.
pub type Reserved<'a> = (&'a str, &'a str);

/// Parse `params` text: it must be a JSON object; absent, empty or blank
/// text is an empty one.
pub fn parse(extra: Option<&str>) -> Result<Map<String, Value>, ProviderError> {
    match extra.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(ProviderError::invalid(
                Some("params"),
                format!("must be a JSON object of provider parameters, e.g. {{\"seed\": 7}}; got {}", kind_of(&other)),
            )),
            Err(e) => Err(ProviderError::invalid(Some("params"), format!("is not valid JSON: {e}"))),
        },
    }
}

/// Refuse the first key of `params` that `reserved` lists: `invalid-request`
/// with field `params.<key>` and a message naming the Easel argument that
/// sets it. Dotted reserved keys look inside nested objects.
pub fn refuse_reserved(params: &Map<String, Value>, reserved: &[Reserved<'_>]) -> Result<(), ProviderError> {
    for (key, argument) in reserved {
        let mut path = key.split('.');
        let first = path.next().unwrap_or(key);
        let mut at = params.get(first);
        for part in path {
            at = at.and_then(|v| v.get(part));
        }
        if at.is_some() {
            return Err(ProviderError::invalid(
                Some(&format!("params.{key}")),
                format!("use the {argument} argument instead: the plugin sets `{key}` from it"),
            ));
        }
    }
    Ok(())
}

/// Deep-merge `patch` into `target`: objects merge key by key, anything
/// else (arrays too) replaces what was there.
pub fn deep_merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => deep_merge(existing, more),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

/// [`parse`], [`refuse_reserved`] and [`deep_merge`] in one: the common
/// case of a provider whose parameters all sit in one JSON object.
pub fn merge(
    target: &mut Map<String, Value>,
    extra: Option<&str>,
    reserved: &[Reserved<'_>],
) -> Result<(), ProviderError> {
    let params = parse(extra)?;
    refuse_reserved(&params, reserved)?;
    deep_merge(target, params);
    Ok(())
}

/// Move the members of `params` named in `keys` into a map of their own
/// (e.g. Gemini's top-level `safetySettings`, apart from the rest that goes
/// into `generationConfig`).
pub fn take(params: &mut Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|key| params.remove(*key).map(|value| (key.to_string(), value))).collect()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(error: ProviderError) -> (Option<String>, String) {
        match error {
            ProviderError::InvalidRequest { field, message } => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merges_deeply_and_refuses_reserved_keys() {
        let mut target = json!({"a": 1, "cfg": {"x": 1}}).as_object().unwrap().clone();
        merge(&mut target, Some(r#"{"cfg": {"y": 2}, "b": [1]}"#), &[("prompt", "prompt")]).unwrap();
        assert_eq!(Value::Object(target.clone()), json!({"a": 1, "b": [1], "cfg": {"x": 1, "y": 2}}));
        let (field, message) =
            field_of(merge(&mut target, Some(r#"{"prompt": "x"}"#), &[("prompt", "prompt")]).unwrap_err());
        assert_eq!(field.as_deref(), Some("params.prompt"));
        assert_eq!(message, "use the prompt argument instead: the plugin sets `prompt` from it");
        let (field, _) =
            field_of(merge(&mut target, Some(r#"{"cfg": {"seed": 1}}"#), &[("cfg.seed", "seed")]).unwrap_err());
        assert_eq!(field.as_deref(), Some("params.cfg.seed"));
        merge(&mut target, Some(r#"{"cfg": {"z": 1}}"#), &[("cfg.seed", "seed")]).unwrap();
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        let (field, message) = field_of(parse(Some("[1]")).unwrap_err());
        assert_eq!(
            (field.as_deref(), message.as_str()),
            (Some("params"), "must be a JSON object of provider parameters, e.g. {\"seed\": 7}; got an array")
        );
        let (field, message) = field_of(parse(Some("{")).unwrap_err());
        assert!(field.as_deref() == Some("params") && message.starts_with("is not valid JSON: "), "{message}");
        assert!(parse(Some("  ")).unwrap().is_empty());
        assert!(parse(None).unwrap().is_empty());
    }

    #[test]
    fn takes_named_members() {
        let mut params = json!({"safetySettings": [], "temperature": 1}).as_object().unwrap().clone();
        let top = take(&mut params, &["safetySettings", "tools"]);
        assert_eq!(
            (Value::Object(top), Value::Object(params)),
            (json!({"safetySettings": []}), json!({"temperature": 1}))
        );
    }
}
