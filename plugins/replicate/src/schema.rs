//! A community or unlisted model's own input schema
//! (docs/providers/replicate.md#model-schemas): `GET /v1/models/{owner}/{name}`
//! answers the model with `latest_version.openapi_schema`, and
//! `GET /v1/models/{owner}/{name}/versions/{id}` a version with its
//! `openapi_schema`; either's `components.schemas.Input` is the JSON Schema
//! of the prediction `input`. The plugin fetches it before creating a
//! prediction for a model it has no table entry for, asks the host to keep
//! it an hour (`Easel-Cache`), and checks the input it built against it: an
//! Easel argument the model has no input for, a `params` key it does not
//! take, a value outside its `enum`/`minimum`/`maximum`/type, or a missing
//! required input is refused naming the field, before anything is spent.

pub use easel_plugin_kit::input_schema::check;
use serde_json::{Map, Value};

/// How long the host keeps a fetched schema (seconds).
pub const SCHEMA_CACHE_SECS: u64 = 3600;

/// The schema URL below the API base for `id` (`owner/name` or
/// `owner/name:version`), or `None` for a bare version id (nothing names
/// its model).
pub fn path_for(id: &str) -> Option<String> {
    let (name, version) = match id.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None => (id, None),
    };
    let (owner, model) = name.split_once('/').filter(|(o, m)| !o.is_empty() && !m.is_empty())?;
    Some(match version {
        Some(version) => format!("/models/{owner}/{model}/versions/{version}"),
        None => format!("/models/{owner}/{model}"),
    })
}

/// `components.schemas.Input` of a model answer (`latest_version.openapi_schema`)
/// or a version answer (`openapi_schema`); `None` when it has none (a model
/// without a public version).
pub fn input_schema(answer: &Value) -> Option<&Map<String, Value>> {
    let openapi = answer
        .get("openapi_schema")
        .filter(|v| v.is_object())
        .or_else(|| answer.pointer("/latest_version/openapi_schema"))?;
    openapi
        .pointer("/components/schemas/Input")?
        .as_object()
        .filter(|s| s.get("properties").is_some_and(Value::is_object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ProviderError;
    use serde_json::json;

    fn sdxl() -> Value {
        json!({"latest_version": {"id": "abc", "openapi_schema": {"components": {"schemas": {"Input": {
            "type": "object", "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string"}, "width": {"type": "integer", "minimum": 128, "maximum": 1024},
                "height": {"type": "integer"}, "num_outputs": {"type": "integer", "minimum": 1, "maximum": 4},
                "scheduler": {"enum": ["DDIM", "K_EULER"]}, "refine": {"type": "string"},
                "num_inference_steps": {"type": "integer", "maximum": 500}}}}}}}})
    }

    fn easel(key: &str) -> Option<&'static str> {
        match key {
            "num_inference_steps" => Some("steps"),
            "width" | "height" => Some("size"),
            "image" => Some("images"),
            "prompt" => Some("prompt"),
            _ => None,
        }
    }

    fn checked(input: Value, params: &[&str]) -> Result<Map<String, Value>, ProviderError> {
        let answer = sdxl();
        let schema = input_schema(&answer).unwrap();
        let mut input = input.as_object().unwrap().clone();
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        check("stability-ai/sdxl", schema, &mut input, &params, easel).map(|()| input)
    }

    fn field(error: ProviderError) -> String {
        match error {
            ProviderError::InvalidRequest { field, message } => format!("{}: {message}", field.unwrap_or_default()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_urls_and_where_the_input_schema_sits() {
        assert_eq!(path_for("stability-ai/sdxl").as_deref(), Some("/models/stability-ai/sdxl"));
        assert_eq!(path_for("a/b:0123").as_deref(), Some("/models/a/b/versions/0123"));
        assert_eq!(path_for("0123abcd"), None);
        assert!(input_schema(&sdxl()).is_some());
        let version = json!({"openapi_schema": sdxl()["latest_version"]["openapi_schema"]});
        assert!(input_schema(&version).is_some());
        assert!(input_schema(&json!({"latest_version": null})).is_none());
    }

    #[test]
    fn an_input_the_model_takes_passes() {
        let ok = checked(
            json!({"prompt": "a fox", "width": 768, "scheduler": "DDIM", "refine": "x"}),
            &["scheduler", "refine"],
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn each_misfit_is_refused_naming_the_easel_argument_or_the_param() {
        let unknown = field(checked(json!({"prompt": "a", "guidance_scale": 7}), &[]).unwrap_err());
        assert!(
            unknown.starts_with("guidance_scale: model `stability-ai/sdxl` takes no `guidance_scale`"),
            "{unknown}"
        );
        assert!(unknown.contains("num_outputs, prompt, refine, scheduler, width"), "{unknown}");
        let param = field(checked(json!({"prompt": "a", "lora": "x"}), &["lora"]).unwrap_err());
        assert!(param.starts_with("params.lora:"), "{param}");
        let wide = field(checked(json!({"prompt": "a", "width": 2048}), &[]).unwrap_err());
        assert!(wide.starts_with("size:") && wide.contains("above its maximum 1024"), "{wide}");
        let choice = field(checked(json!({"prompt": "a", "scheduler": "PLMS"}), &["scheduler"]).unwrap_err());
        assert!(choice.starts_with("params.scheduler:") && choice.contains("\"DDIM\""), "{choice}");
        let typed = field(checked(json!({"prompt": "a", "num_inference_steps": "many"}), &[]).unwrap_err());
        assert!(typed.starts_with("steps:") && typed.contains("not integer"), "{typed}");
        let missing = field(checked(json!({"width": 512}), &[]).unwrap_err());
        assert!(missing.starts_with("prompt:") && missing.contains("requires input `prompt`"), "{missing}");
    }

    #[test]
    fn an_empty_prompt_goes_unsent_to_a_model_without_one() {
        let schema = json!({"properties": {"image": {"type": "string"}}});
        let mut input = json!({"prompt": "", "image": "data:"}).as_object().unwrap().clone();
        check("m/upscaler", schema.as_object().unwrap(), &mut input, &[], easel).unwrap();
        assert!(!input.contains_key("prompt"));
    }
}
