//! What `tools/list` shows beyond the derived schemas: every input schema
//! compacted, doc-comment line breaks taken out, MCP-default annotation
//! hints dropped, and a field that several tools share described once, in
//! `generate_image`. A model reads the whole list on every turn, so each
//! byte here costs every conversation (budget: 5,000 tokens, about 20,000
//! bytes; `mcp_in_process` checks it).

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;
use std::sync::Arc;

/// The tool whose property descriptions the others refer to.
pub const HOME_TOOL: &str = "generate_image";

/// Appended to a tool's description when some of its fields were left for
/// [`HOME_TOOL`] to describe.
const SHARED_FIELDS_NOTE: &str = " Fields without a description mean what they do in generate_image.";

/// Every tool as `tools/list` should show it: see the module doc.
pub fn compact_tools<'a>(tools: impl IntoIterator<Item = &'a mut Tool>) {
    let mut tools: Vec<&mut Tool> = tools.into_iter().collect();
    for tool in tools.iter_mut() {
        tool.input_schema = compact_input_schema(&tool.input_schema);
        if let Some(description) = tool.description.as_mut() {
            *description = unwrap_lines(description).into();
        }
        // A hint equal to MCP's default (readOnly false, destructive
        // true, idempotent false, openWorld true) says nothing: drop it.
        if let Some(a) = tool.annotations.as_mut() {
            a.read_only_hint = a.read_only_hint.filter(|&hint| hint);
            a.destructive_hint = a.destructive_hint.filter(|&hint| !hint);
            a.idempotent_hint = a.idempotent_hint.filter(|&hint| hint);
            a.open_world_hint = a.open_world_hint.filter(|&hint| !hint);
        }
    }
    let home = tools.iter().find(|tool| tool.name == HOME_TOOL).map(|tool| properties(&tool.input_schema).clone());
    if let Some(home) = home {
        for tool in tools.into_iter().filter(|tool| tool.name != HOME_TOOL) {
            describe_shared_fields_once(tool, &home);
        }
    }
}

/// `schema["properties"]`, or an empty map.
fn properties(schema: &JsonObject) -> &serde_json::Map<String, Value> {
    static NONE: std::sync::LazyLock<serde_json::Map<String, Value>> = std::sync::LazyLock::new(Default::default);
    schema.get("properties").and_then(Value::as_object).unwrap_or(&NONE)
}

/// Takes from `tool` each property description that is word for word the
/// one [`HOME_TOOL`] gives the same property (`home`: its properties), and
/// `provider`'s always, and then says so in the tool's description.
fn describe_shared_fields_once(tool: &mut Tool, home: &serde_json::Map<String, Value>) {
    let mut schema = (*tool.input_schema).clone();
    let Some(Value::Object(own)) = schema.get_mut("properties") else { return };
    let mut dropped = 0;
    for (name, property) in own.iter_mut() {
        let shared = home.get(name).and_then(|p| p.get("description"));
        // `provider` is described at list time with the providers enabled
        // now (`surface`), the same words for every tool.
        if let Value::Object(property) = property
            && shared.is_some()
            && (property.get("description") == shared || name == "provider")
        {
            property.remove("description");
            dropped += 1;
        }
    }
    if dropped > 0 {
        tool.input_schema = Arc::new(schema);
        let description = tool.description.as_deref().unwrap_or_default();
        tool.description = Some(format!("{description}{SHARED_FIELDS_NOTE}").into());
    }
}

/// `schema` without what costs tokens and tells a model nothing: the
/// `$schema` dialect (MCP's default, JSON Schema 2020-12, is what rmcp
/// writes), number `format`s (`uint32`, `float`), the `minimum: 0` of
/// unsigned integers, `additionalProperties: true` (the default) and
/// `default: null`; descriptions, other ranges and required fields stay.
/// Applied to every tool's input schema.
fn compact_input_schema(schema: &JsonObject) -> Arc<JsonObject> {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(object) => {
                object.remove("$schema");
                if object.get("type").and_then(Value::as_str) == Some("integer")
                    && object.get("minimum").and_then(Value::as_u64) == Some(0)
                {
                    object.remove("minimum");
                }
                if object.get("additionalProperties") == Some(&Value::Bool(true)) {
                    object.remove("additionalProperties");
                }
                // An empty or false default says no more than `required` does.
                if object.get("default").is_some_and(|d| {
                    d.is_null()
                        || d == &Value::Bool(false)
                        || d.as_str() == Some("")
                        || d.as_object().is_some_and(|o| o.is_empty())
                        || d.as_array().is_some_and(|a| a.is_empty())
                }) {
                    object.remove("default");
                }
                if let Some(Value::String(text)) = object.get_mut("description") {
                    *text = unwrap_lines(text);
                }
                // A struct's own doc comment, on a `$defs` entry, repeats what
                // the property that uses it says.
                if let Some(Value::Object(defs)) = object.get_mut("$defs") {
                    defs.values_mut().filter_map(Value::as_object_mut).for_each(|def| {
                        def.remove("description");
                    });
                }
                if object
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.starts_with("uint") || f.starts_with("int") || f == "float" || f == "double")
                {
                    object.remove("format");
                }
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = Value::Object(schema.clone());
    strip(&mut value);
    match value {
        Value::Object(object) => Arc::new(object),
        _ => unreachable!("a schema object stays an object"),
    }
}

/// `text` with the line breaks of a wrapped doc comment taken out: lines
/// within a paragraph are joined with a space, paragraphs keep one `\n`.
/// Each break so saved is a byte of `tools/list` every model reads.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}
