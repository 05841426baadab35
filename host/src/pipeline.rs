//! Pipelines: steps (`generate`, `edit`, `vary`, `upscale`, `view`) run in
//! order as one job, each step's arguments those of the matching tool and
//! able to name an earlier step's results: `"$<step id>.images[N]"` (a
//! store id) and `"$<step id>.seed"` (the seed of its first image). This
//! module owns the definition, its checks before anything runs, and the
//! references; `jobs::pipeline` runs it.

use crate::field_error::FieldError;
use crate::jobs::JobStatus;
use crate::mcp::tools::{EditArgs, GenerateArgs, UpscaleArgs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most steps in one pipeline.
pub const MAX_STEPS: usize = 16;

/// Longest step id, characters.
const MAX_ID_CHARS: usize = 40;

/// A pipeline as `run_pipeline` and `easel run PIPELINE.json` take it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub steps: Vec<Step>,
}

/// One step of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Named by later steps' references.
    pub id: String,
    pub op: StepOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub model: Option<String>,
    /// The op's tool arguments.
    #[serde(default)]
    pub args: Map<String, Value>,
}

// What a step does. (A doc comment would become a schema description.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOp {
    Generate,
    Edit,
    Vary,
    Upscale,
    View,
}

impl StepOp {
    pub fn name(self) -> &'static str {
        match self {
            StepOp::Generate => "generate",
            StepOp::Edit => "edit",
            StepOp::Vary => "vary",
            StepOp::Upscale => "upscale",
            StepOp::View => "view",
        }
    }
}

/// A `view` step's arguments: the image to show in the pipeline's result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewArgs {
    pub image: String,
}

/// A `vary` step's arguments (`vary_image`'s, without the wait).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaryStepArgs {
    pub image: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(flatten)]
    pub settings: crate::request::Settings,
}

/// What one step did, as the job record keeps it and results show it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct StepOutcome {
    pub id: String,
    pub op: StepOp,
    pub status: JobStatus,
    /// The step's own generation job (none for `view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Store ids of its images.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A reference to an earlier step's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `$<step>.images[<index>]`: a store id.
    Image { step: String, index: usize },
    /// `$<step>.seed`: the seed of the step's first image.
    Seed { step: String },
}

/// Whether `text` is meant as a reference: `$`, an id character, no
/// whitespace (so a prompt such as "$5 bill" is left alone). `Some(Err)`
/// names what is wrong with one that does not parse.
pub fn parse_reference(text: &str) -> Option<Result<Reference, String>> {
    let rest = text.strip_prefix('$')?;
    if !rest.starts_with(is_id_char) || text.chars().any(char::is_whitespace) {
        return None;
    }
    let bad = || Err(format!("`{text}` is not a reference: write \"$<step id>.images[N]\" or \"$<step id>.seed\""));
    let Some((step, what)) = rest.split_once('.') else { return Some(bad()) };
    let step = step.to_string();
    if what == "seed" {
        return Some(Ok(Reference::Seed { step }));
    }
    match what.strip_prefix("images[").and_then(|i| i.strip_suffix(']')).map(str::parse::<usize>) {
        Some(Ok(index)) => Some(Ok(Reference::Image { step, index })),
        _ => Some(bad()),
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Visit every string in `value` (with its path below `path`), replacing it
/// with what `f` returns when that is `Some`.
pub fn rewrite_strings(
    value: &mut Value,
    path: &str,
    f: &mut impl FnMut(&str, &str) -> Result<Option<Value>, FieldError>,
) -> Result<(), FieldError> {
    match value {
        Value::String(text) => {
            if let Some(new) = f(path, text)? {
                *value = new;
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                rewrite_strings(item, &format!("{path}[{index}]"), f)?;
            }
        }
        Value::Object(object) => {
            for (key, item) in object.iter_mut() {
                rewrite_strings(item, &format!("{path}.{key}"), f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

impl Pipeline {
    /// Check the whole pipeline before any step runs: 1 to [`MAX_STEPS`]
    /// steps; ids unique, 1–40 of `A-Z a-z 0-9 _ -`; every reference well
    /// formed and naming an earlier step; `provider`/`model` given once;
    /// each step's arguments of the right names and types for its op (as the
    /// tool checks them; references stand in as strings, seeds as 0).
    ///
    /// Errors name the field: `steps[1].args.strength`, `steps[2].id`, …
    pub fn check(&self) -> Result<(), FieldError> {
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(FieldError::field("steps", format!("give 1 to {MAX_STEPS} steps (got {})", self.steps.len())));
        }
        for (index, step) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("steps[{index}].{field}");
            if step.id.is_empty() || step.id.chars().count() > MAX_ID_CHARS || !step.id.chars().all(is_id_char) {
                return Err(FieldError::field(
                    &at("id"),
                    format!("`{}`: use 1 to {MAX_ID_CHARS} letters, digits, `_` or `-`", step.id),
                ));
            }
            if self.steps[..index].iter().any(|s| s.id == step.id) {
                return Err(FieldError::field(&at("id"), format!("`{}` is the id of an earlier step too", step.id)));
            }
            if step.args.contains_key("wait_seconds") {
                return Err(FieldError::field(
                    &at("args.wait_seconds"),
                    "set wait_seconds on the whole pipeline, not on a step",
                ));
            }
            let mut args = Value::Object(step.merged_args(index)?);
            let earlier = &self.steps[..index];
            rewrite_strings(
                &mut args,
                &format!("steps[{index}].args"),
                &mut |path, text| match parse_reference(text) {
                    None => Ok(None),
                    Some(Err(message)) => Err(FieldError::field(path, message)),
                    Some(Ok(reference)) => {
                        let (name, stand_in) = match &reference {
                            Reference::Image { step, .. } => (step, Value::String(text.to_string())),
                            Reference::Seed { step } => (step, Value::from(0)),
                        };
                        if !earlier.iter().any(|s| &s.id == name) {
                            return Err(FieldError::field(
                                path,
                                format!("`{text}` names no earlier step (a step can use the steps before it)"),
                            ));
                        }
                        Ok(Some(stand_in))
                    }
                },
            )?;
            step.parse_check(&args).map_err(|e| FieldError {
                field: Some(match e.field.as_deref() {
                    None | Some("arguments") => at("args"),
                    Some(field) => at(&format!("args.{field}")),
                }),
                message: e.message,
            })?;
        }
        Ok(())
    }
}

impl Step {
    /// The step's arguments with its `provider` and `model` put in.
    ///
    /// Errors: a `view` step with either, or one given both here and in
    /// `args` with different values.
    pub fn merged_args(&self, index: usize) -> Result<Map<String, Value>, FieldError> {
        let mut args = self.args.clone();
        for (key, value) in [("provider", &self.provider), ("model", &self.model)] {
            let Some(value) = value else { continue };
            let field = format!("steps[{index}].{key}");
            if self.op == StepOp::View {
                return Err(FieldError::field(&field, "a view step shows an image; it takes no provider or model"));
            }
            match args.get(key) {
                Some(Value::String(given)) if given != value => {
                    return Err(FieldError::field(
                        &field,
                        format!("`{value}` here but `{given}` in args; give it once"),
                    ));
                }
                _ => {
                    args.insert(key.to_string(), Value::String(value.clone()));
                }
            }
        }
        Ok(args)
    }

    /// Whether `args` fit this step's op (names and types).
    fn parse_check(&self, args: &Value) -> Result<(), FieldError> {
        match self.op {
            StepOp::Generate => crate::mcp::fits::<GenerateArgs>(args),
            StepOp::Edit => crate::mcp::fits::<EditArgs>(args),
            StepOp::Upscale => crate::mcp::fits::<UpscaleArgs>(args),
            StepOp::Vary => crate::mcp::fits::<VaryStepArgs>(args),
            StepOp::View => crate::mcp::fits::<ViewArgs>(args),
        }
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pipeline(steps: Value) -> Pipeline {
        serde_json::from_value(json!({ "steps": steps })).unwrap()
    }

    #[test]
    fn references_parse_and_prose_with_a_dollar_is_left_alone() {
        assert_eq!(parse_reference("$base.images[2]"), Some(Ok(Reference::Image { step: "base".into(), index: 2 })));
        assert_eq!(parse_reference("$base.seed"), Some(Ok(Reference::Seed { step: "base".into() })));
        assert_eq!(parse_reference("$5 bill on a table"), None);
        assert_eq!(parse_reference("costs $5"), None);
        let error = parse_reference("$base.image[0]").unwrap().unwrap_err();
        assert!(error.contains("$<step id>.images[N]"), "{error}");
    }

    #[test]
    fn a_good_pipeline_passes_its_checks() {
        let good = pipeline(json!([
            {"id": "base", "op": "generate", "args": {"prompt": "a lighthouse", "seed": 7}},
            {"id": "storm", "op": "edit", "provider": "placeholder", "args": {
                "prompt": "add dramatic clouds", "strength": 0.4, "seed": "$base.seed",
                "images": [{"image": "$base.images[0]"}]}},
            {"id": "big", "op": "upscale", "args": {"image": "$storm.images[0]", "scale": 4}},
            {"id": "again", "op": "vary", "args": {"image": "$base.images[0]"}},
            {"id": "look", "op": "view", "args": {"image": "$big.images[0]"}},
        ]));
        good.check().unwrap();
    }

    #[test]
    fn each_mistake_is_refused_naming_its_field() {
        let cases = [
            (json!([]), "steps"),
            (json!([{"id": "a b", "op": "generate", "args": {"prompt": "x"}}]), "steps[0].id"),
            (
                json!([{"id": "a", "op": "generate", "args": {"prompt": "x"}}, {"id": "a", "op": "generate", "args": {"prompt": "y"}}]),
                "steps[1].id",
            ),
            (json!([{"id": "a", "op": "generate", "args": {"prompt": "x", "hue": 3}}]), "steps[0].args.hue"),
            (json!([{"id": "a", "op": "generate", "args": {"prompt": "x", "width": "wide"}}]), "steps[0].args.width"),
            (
                json!([{"id": "a", "op": "upscale", "args": {"image": "$later.images[0]"}}, {"id": "later", "op": "generate", "args": {"prompt": "x"}}]),
                "steps[0].args.image",
            ),
            (
                json!([{"id": "a", "op": "generate", "args": {"prompt": "x"}}, {"id": "b", "op": "edit", "args": {"prompt": "y", "images": [{"image": "$a.image[0]"}]}}]),
                "steps[1].args.images[0].image",
            ),
            (json!([{"id": "a", "op": "edit", "args": {"prompt": "y"}}]), "steps[0].args.images"),
            (
                json!([{"id": "a", "op": "generate", "provider": "openai", "args": {"prompt": "x", "provider": "fal"}}]),
                "steps[0].provider",
            ),
            (json!([{"id": "a", "op": "view", "args": {"image": "x", "width": 5}}]), "steps[0].args.width"),
            (
                json!([{"id": "a", "op": "generate", "args": {"prompt": "x", "wait_seconds": 5}}]),
                "steps[0].args.wait_seconds",
            ),
        ];
        for (steps, field) in cases {
            let error = pipeline(steps.clone()).check().expect_err(&steps.to_string());
            assert_eq!(error.field.as_deref(), Some(field), "{steps}: {}", error.message);
        }
    }
}
