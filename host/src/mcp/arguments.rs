//! Tool arguments checked against each tool's argument type before the
//! tool runs, so that a value of the wrong type, a missing or an unknown
//! field is a tool error naming the field (`width: invalid value: integer
//! -64, expected u32`, `structuredContent.error.field = "width"`), like the
//! range errors the jobs layer reports, instead of rmcp's bare protocol
//! error. The schemas `tools/list` shows are untouched.

use super::assets::{DeleteArgs, ListImagesArgs, ShowArgs, VaryArgs};
use super::tools::{EditArgs, GenerateArgs, JobArgs, ListModelsArgs, UpscaleArgs};
use crate::jobs::FieldError;
use crate::request::Settings;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Most characters of a field path kept in an error (a client may send a
/// megabyte-long unknown key).
const MAX_FIELD_CHARS: usize = 100;

/// Tools that take no arguments (whatever is sent is ignored).
const NO_ARGUMENTS: [&str; 1] = ["list_providers"];

/// Check `arguments` (absent = `{}`) against the argument type of `tool`.
///
/// `Ok(true)`: they fit; `Ok(false)`: `tool` is not one this module knows
/// (rmcp answers it as before). Errors: the first field at fault, with
/// serde's reason (type, range of the type, missing, unknown).
pub(super) fn check(tool: &str, arguments: &Value) -> Result<bool, FieldError> {
    match tool {
        "generate_image" => fits::<GenerateArgs>(arguments),
        "edit_image" => fits::<EditArgs>(arguments),
        "upscale_image" => fits::<UpscaleArgs>(arguments),
        "get_generation_status" | "cancel_generation" => fits::<JobArgs>(arguments),
        "list_models" => fits::<ListModelsArgs>(arguments),
        "show_image" => fits::<ShowArgs>(arguments),
        "list_images" => fits::<ListImagesArgs>(arguments),
        "vary_image" => fits::<VaryArgs>(arguments),
        "delete_image" => fits::<DeleteArgs>(arguments),
        "save_style" => fits::<crate::styles::Style>(arguments),
        "delete_style" => fits::<super::styles::DeleteStyleArgs>(arguments),
        "run_pipeline" => fits::<super::pipelines::PipelineArgs>(arguments),
        other => Ok(NO_ARGUMENTS.contains(&other)),
    }
}

/// Whether `arguments` deserialize as `T`; errors name the field at fault
/// (see [`check`]).
pub(crate) fn fits<T: DeserializeOwned>(arguments: &Value) -> Result<bool, FieldError> {
    match serde_path_to_error::deserialize::<_, T>(arguments) {
        Ok(_) => Ok(true),
        Err(error) => {
            let (mut path, mut message) = (error.path().to_string(), error.inner().to_string());
            // The flattened `Settings` fields are read from a buffer that
            // serde_path_to_error cannot see into, so such an error comes
            // back at the root: find its field by reading the settings alone.
            if path == "."
                && !message.starts_with("missing field")
                && !message.starts_with("unknown field")
                && let Err(inner) = serde_path_to_error::deserialize::<_, Settings>(arguments)
            {
                (path, message) = (inner.path().to_string(), inner.inner().to_string());
            }
            Err(FieldError::field(&field_of(&path, &message), message))
        }
    }
}

/// The field an error is about: serde_path_to_error's path (`images[0].role`;
/// for an unknown field of a plain struct it already ends in that field),
/// plus the name a `missing field` message quotes, which belongs to the
/// object at the path, or that an `unknown field` message quotes at the
/// root (a struct with flattened fields reports unknown ones there).
fn field_of(path: &str, message: &str) -> String {
    let quoted = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next());
    let named = quoted("missing field `").or_else(|| quoted("unknown field `").filter(|_| path == "."));
    let field = match (path, named) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "arguments".to_string(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_string(),
    };
    if field.chars().count() > MAX_FIELD_CHARS {
        format!("{}…", field.chars().take(MAX_FIELD_CHARS).collect::<String>())
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_type_error_names_its_field_for_every_tool() {
        let cases = [
            (
                "generate_image",
                json!({"prompt": "x", "width": -64}),
                "width",
                "invalid value: integer `-64`, expected u32",
            ),
            ("generate_image", json!({"prompt": "x", "seed": "one"}), "seed", "invalid type: string \"one\""),
            ("generate_image", json!({"prompt": 7}), "prompt", "invalid type: integer `7`"),
            (
                "generate_image",
                json!({"structured_prompt": "a fox"}),
                "structured_prompt",
                "invalid type: string \"a fox\", expected a map",
            ),
            ("generate_image", json!({"prompt": "x", "colour": "red"}), "colour", "unknown field `colour`"),
            (
                "generate_image",
                json!({"prompt": "x", "params": ["IMAGE"]}),
                "params",
                "invalid type: sequence, expected a map",
            ),
            ("edit_image", json!({"prompt": "x", "images": [], "params": "{}"}), "params", "invalid type: string"),
            ("vary_image", json!({"image": "a", "guidance": "high"}), "guidance", "invalid type: string \"high\""),
            ("vary_image", json!({"image": "a", "hue": 3}), "hue", "unknown field `hue`"),
            (
                "edit_image",
                json!({"prompt": "x", "images": [{"image": "a", "role": "top"}]}),
                "images[0].role",
                "unknown variant `top`",
            ),
            ("edit_image", json!({"prompt": "x", "images": [{}]}), "images[0].image", "missing field `image`"),
            (
                "edit_image",
                json!({"prompt": "x", "images": [], "strength": "half"}),
                "strength",
                "invalid type: string \"half\"",
            ),
            ("get_generation_status", json!({"job_id": 7}), "job_id", "invalid type: integer `7`"),
            ("cancel_generation", json!({}), "job_id", "missing field `job_id`"),
            ("list_models", json!({"provider": false}), "provider", "invalid type: boolean `false`"),
            (
                "show_image",
                json!({"image": "a", "crop": [1, 2, -3, 4]}),
                "crop[2]",
                "invalid value: integer `-3`, expected u32",
            ),
            ("list_images", json!({"limit": 1.5}), "limit", "invalid type: floating point `1.5`"),
            ("vary_image", json!({"image": "a", "count": "2"}), "count", "invalid type: string \"2\""),
            ("delete_image", json!({"image": ["a"]}), "image", "invalid type: sequence"),
        ];
        for (tool, arguments, field, words) in cases {
            let error = check(tool, &arguments).expect_err(tool);
            assert_eq!(error.field.as_deref(), Some(field), "{tool} {arguments}: {}", error.message);
            assert!(error.message.contains(words), "{tool} {arguments}: {}", error.message);
        }
    }

    #[test]
    fn arguments_that_fit_pass_and_unknown_tools_are_left_to_rmcp() {
        assert!(check("generate_image", &json!({"prompt": "x", "width": 64, "height": 64})).unwrap());
        assert!(check("list_providers", &json!({})).unwrap());
        assert!(!check("no_such_tool", &json!({"x": 1})).unwrap());
        let long = "k".repeat(1 << 20);
        let error = check("delete_image", &json!({"image": "a", long.clone(): 1})).unwrap_err();
        assert!(error.field.unwrap().chars().count() <= MAX_FIELD_CHARS + 1);
    }

    #[test]
    fn every_listed_tool_with_arguments_is_checked() {
        let router = super::super::EaselServer::tool_router() + super::super::EaselServer::asset_router();
        for tool in router.list_all() {
            let takes_arguments =
                tool.input_schema.get("properties").and_then(|p| p.as_object()).is_some_and(|p| !p.is_empty());
            let known = !matches!(check(&tool.name, &json!({})), Ok(false));
            assert!(
                known || !takes_arguments,
                "tool `{}` takes arguments but arguments::check does not know it",
                tool.name
            );
        }
    }
}
