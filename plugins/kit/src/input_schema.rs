//! Checking a request's input object against a provider's own JSON Schema
//! for it (Replicate's `components.schemas.Input`, fal's endpoint input
//! schema): the keywords model servers write (`type`, `enum`, `minimum`,
//! `maximum`, `required`), with errors naming the Easel argument or the
//! `params` key at fault, so a mistake is refused before anything is spent.

use crate::types::ProviderError;
use serde_json::{Map, Value};

/// Check (and trim) `input` against the model's `schema`. `from_params`
/// are the keys the caller's `params` set; every other key was mapped from
/// an Easel argument, named by `easel_name` (e.g. `num_inference_steps` →
/// `steps`). An empty `prompt` the model has no input for is dropped.
///
/// Errors: [`ProviderError::InvalidRequest`] naming `params.<key>` or the
/// Easel argument, and the model's inputs.
pub fn check(
    model: &str,
    schema: &Map<String, Value>,
    input: &mut Map<String, Value>,
    from_params: &[String],
    easel_name: impl Fn(&str) -> Option<&'static str>,
) -> Result<(), ProviderError> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    let field_of = |key: &str| match from_params.iter().any(|p| p == key) {
        true => format!("params.{key}"),
        false => easel_name(key).unwrap_or(key).to_string(),
    };
    let accepted = || {
        let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys.join(", ")
    };
    if input.get("prompt").and_then(Value::as_str) == Some("") && !properties.contains_key("prompt") {
        input.remove("prompt");
    }
    for (key, value) in input.iter() {
        let Some(declared) = properties.get(key) else {
            return Err(ProviderError::invalid(
                Some(&field_of(key)),
                format!("model `{model}` takes no `{key}` input; its inputs: {}", accepted()),
            ));
        };
        if let Err(why) = value_fits(value, declared) {
            return Err(ProviderError::invalid(Some(&field_of(key)), format!("model `{model}` input `{key}`: {why}")));
        }
    }
    let required = schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    for key in required {
        if !input.contains_key(key) {
            let how = match easel_name(key) {
                Some(easel) => format!("give `{easel}`"),
                None => format!("give it in params (`params.{key}`)"),
            };
            return Err(ProviderError::invalid(
                Some(&field_of(key)),
                format!("model `{model}` requires input `{key}`; {how}"),
            ));
        }
    }
    Ok(())
}

/// [`check`] for a request whose `params` are `extra` (the WIT text) and
/// whose mapped fields are the plugin's `reserved` table (input key →
/// Easel argument, e.g. `("num_inference_steps", "steps")`; the first word
/// of a longer name such as "aspect_ratio or size" is the argument named).
///
/// Errors: as [`check`], and `params` that do not parse.
pub fn check_request(
    model: &str,
    schema: &Map<String, Value>,
    input: &mut Map<String, Value>,
    extra: Option<&str>,
    reserved: &[crate::params::Reserved<'static>],
) -> Result<(), ProviderError> {
    let from_params: Vec<String> = crate::params::parse(extra)?.keys().cloned().collect();
    let easel_name =
        |key: &str| reserved.iter().find(|(k, _)| *k == key).map(|(_, easel)| easel.split(' ').next().unwrap_or(easel));
    check(model, schema, input, &from_params, easel_name)
}

/// Whether `value` fits a property schema's `type`, `enum`, `minimum` and
/// `maximum` (the keywords cog writes; others are Replicate's to check).
pub fn value_fits(value: &Value, declared: &Value) -> Result<(), String> {
    if let Some(options) = declared.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let listed: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!("{value} is not one of {}", listed.join(", ")));
    }
    // cog puts enums of string choices behind `allOf: [{"$ref": …}]`; those are left to Replicate.
    let kind = declared.get("type").and_then(Value::as_str);
    let fits = match kind {
        Some("integer") => value.as_i64().is_some() || value.as_u64().is_some(),
        Some("number") => value.is_number(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        _ => true,
    };
    if !fits {
        return Err(format!("{value} is not {}", kind.unwrap_or("of the declared type")));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = declared.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            return Err(format!("{value} is below its minimum {min}"));
        }
        if let Some(max) = declared.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            return Err(format!("{value} is above its maximum {max}"));
        }
    }
    Ok(())
}
