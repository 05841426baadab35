//! Checks a request against the chosen model's discovered capabilities
//! before any plugin runs; every refusal names the argument at fault.

use super::GenerateSpec;
use crate::field_error::FieldError;
use crate::model::{Dimensions, Lifecycle, ModelInfo, Operation};
use crate::request::{MAX_PARAMS_BYTES, MAX_PARAMS_KEYS, Settings};

fn invalid(field: &str, message: String) -> FieldError {
    FieldError::field(field, message)
}

/// Longest prompt accepted (characters); providers cap lower themselves.
pub const MAX_PROMPT_CHARS: usize = 32_000;

/// Largest seed accepted: 2^53 − 1, JavaScript's `Number.MAX_SAFE_INTEGER`.
/// MCP clients written in JavaScript (Claude Desktop, the Inspector) parse
/// JSON numbers as doubles, so a larger seed would come back rounded and
/// no longer reproduce its image.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Validate `spec` for `operation` on `model`. Returns warnings to show
/// (e.g. a deprecated model) on success.
/// The operation `model` runs for `operation`: an inpaint goes to a model
/// that cannot inpaint as an edit that takes the mask.
pub fn operation_for(operation: Operation, model: &ModelInfo) -> Operation {
    if operation == Operation::Inpaint && !model.operations.contains(&Operation::Inpaint) {
        Operation::Edit
    } else {
        operation
    }
}

/// What a model without declared control types answers to a control image
/// (`Jobs::generate` adds one that takes them).
pub const TAKES_NO_CONTROL: &str = "takes no control images (it declares no `control_type` among its parameters)";

pub fn check(spec: &GenerateSpec, operation: Operation, model: &ModelInfo) -> Result<Vec<String>, FieldError> {
    let s = &spec.settings;
    let mut warnings = Vec::new();
    match model.lifecycle {
        Lifecycle::Retired => {
            let instead = model.replacement.as_deref().map(|r| format!("; use `{r}` instead")).unwrap_or_default();
            return Err(invalid("model", format!("model `{}` has been retired by its provider{instead}", model.id)));
        }
        Lifecycle::Deprecated => warnings.push(format!(
            "model `{}` is deprecated{}",
            model.id,
            model.replacement.as_deref().map(|r| format!("; switch to `{r}`")).unwrap_or_default()
        )),
        Lifecycle::Current | Lifecycle::Legacy => {}
    }
    if !model.operations.contains(&operation) {
        return Err(invalid(
            "model",
            format!("model `{}` cannot {operation:?} (it supports {:?})", model.id, model.operations).to_lowercase(),
        ));
    }
    let structured = s.structured_prompt.as_ref().map(crate::prompting::parse).transpose()?;
    let prompt = spec.prompt.trim();
    // An upscaler needs no prompt (a creative one takes it as a hint).
    if prompt.is_empty()
        && operation != Operation::Upscale
        && !structured.as_ref().is_some_and(|p| p.describes_content())
    {
        let message = match structured {
            Some(_) => {
                "must not be empty when structured_prompt has no subject, subjects or scene: say what the image shows"
            }
            None => "must not be empty: describe the image you want (or give structured_prompt)",
        };
        return Err(invalid("prompt", message.into()));
    }
    let compiled = spec.compile_prompt(model)?;
    if compiled.prompt.chars().count() > MAX_PROMPT_CHARS {
        let field = if structured.is_some() { "structured_prompt" } else { "prompt" };
        return Err(invalid(field, format!("makes a prompt longer than {MAX_PROMPT_CHARS} characters")));
    }
    warnings.extend(compiled.notes);
    let count = s.count.unwrap_or(1);
    if count == 0 || count > model.max_images {
        return Err(invalid(
            "count",
            format!("must be between 1 and {} for model `{}` (got {count})", model.max_images, model.id),
        ));
    }
    check_size(s, model)?;
    check_params(s)?;
    check_declared_params(s, model)?;
    let features = model.features;
    let unsupported =
        |field: &str| invalid(field, format!("model `{}` does not support `{field}`; leave it out", model.id));
    if s.negative_prompt.as_deref().is_some_and(|n| !n.trim().is_empty()) && !features.negative_prompt {
        return Err(unsupported("negative_prompt"));
    }
    if s.seed.is_some() && !features.seed {
        return Err(unsupported("seed"));
    }
    if let Some(seed) = s.seed.filter(|seed| *seed > MAX_SEED) {
        return Err(invalid(
            "seed",
            format!(
                "must be at most {MAX_SEED} (2^53 - 1), got {seed}: larger integers lose digits in JavaScript clients, so the seed would not reproduce the image"
            ),
        ));
    }
    if let Some(steps) = s.steps {
        if !features.steps {
            return Err(unsupported("steps"));
        }
        if !(1..=200).contains(&steps) {
            return Err(invalid("steps", format!("must be between 1 and 200 (got {steps})")));
        }
    }
    if let Some(guidance) = s.guidance {
        if !features.guidance {
            return Err(unsupported("guidance"));
        }
        if !(0.0..=50.0).contains(&guidance) || !guidance.is_finite() {
            return Err(invalid("guidance", format!("must be between 0 and 50 (got {guidance})")));
        }
    }
    if let Some(strength) = s.strength {
        if !(0.0..=1.0).contains(&strength) || !strength.is_finite() {
            return Err(invalid("strength", format!("must be between 0.0 and 1.0 (got {strength})")));
        }
        if operation == Operation::Generate {
            return Err(invalid("strength", "only applies to edits (edit_image)".into()));
        }
    }
    let masks = spec.inputs.iter().filter(|i| i.role == crate::model::ImageRole::Mask).count();
    let controls = spec.inputs.iter().filter(|i| i.role == crate::model::ImageRole::Control).count();
    let references = spec.inputs.len() - masks - controls;
    if controls > 0 && model.control_types().is_empty() {
        return Err(invalid("images", format!("model `{}` {TAKES_NO_CONTROL}", model.id)));
    }
    if masks > 1 {
        return Err(invalid("images", "give at most one image with role `mask`".into()));
    }
    if masks == 1 && !features.mask {
        return Err(invalid("images", format!("model `{}` does not take a mask", model.id)));
    }
    if references as u32 > model.max_input_images {
        return Err(invalid(
            "images",
            format!("model `{}` takes at most {} input images (got {references})", model.id, model.max_input_images),
        ));
    }
    if operation == Operation::Upscale && references != 1 {
        return Err(invalid("image", "give exactly one image to upscale".into()));
    }
    if operation != Operation::Generate && references + controls == 0 {
        return Err(invalid("images", "an edit needs at least one image with role `reference` (or `control`)".into()));
    }
    Ok(warnings)
}

fn check_size(s: &Settings, model: &ModelInfo) -> Result<(), FieldError> {
    match (s.width, s.height) {
        (None, None) => {}
        (Some(_), None) => return Err(invalid("height", "give height together with width".into())),
        (None, Some(_)) => return Err(invalid("width", "give width together with height".into())),
        (Some(width), Some(height)) => {
            if s.aspect_ratio.is_some() {
                return Err(invalid("aspect_ratio", "give either width/height or aspect_ratio, not both".into()));
            }
            for (field, value) in [("width", width), ("height", height)] {
                if value == 0 {
                    return Err(invalid(field, "must be a positive number of pixels".into()));
                }
                if value < model.min_side || value > model.max_side {
                    return Err(invalid(
                        field,
                        format!(
                            "must be between {} and {} pixels for model `{}` (got {value})",
                            model.min_side, model.max_side, model.id
                        ),
                    ));
                }
                if value % model.size_multiple != 0 {
                    return Err(invalid(
                        field,
                        format!("must be a multiple of {} for model `{}` (got {value})", model.size_multiple, model.id),
                    ));
                }
            }
            let requested = Dimensions { width, height };
            if !model.features.custom_size && !model.sizes.is_empty() && !model.sizes.contains(&requested) {
                let sizes: Vec<String> = model.sizes.iter().map(|d| format!("{}x{}", d.width, d.height)).collect();
                return Err(invalid(
                    "width",
                    format!(
                        "{width}x{height} is not offered by model `{}`; choose one of {}",
                        model.id,
                        sizes.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(ratio) = &s.aspect_ratio {
        let valid_shape = ratio.split_once(':').is_some_and(|(w, h)| {
            w.trim().parse::<u32>().is_ok_and(|w| w > 0) && h.trim().parse::<u32>().is_ok_and(|h| h > 0)
        });
        if !valid_shape {
            return Err(invalid("aspect_ratio", format!("`{ratio}` is not of the form W:H, e.g. 16:9")));
        }
        if !model.aspect_ratios.is_empty() && !model.aspect_ratios.iter().any(|r| r == ratio) {
            return Err(invalid(
                "aspect_ratio",
                format!(
                    "`{ratio}` is not offered by model `{}`; choose one of {}",
                    model.id,
                    model.aspect_ratios.join(", ")
                ),
            ));
        }
    }
    if let Some(tier) = &s.size_tier
        && !model.size_tiers.iter().any(|t| t.eq_ignore_ascii_case(tier))
    {
        let offered = if model.size_tiers.is_empty() { "none".to_string() } else { model.size_tiers.join(", ") };
        return Err(invalid(
            "size_tier",
            format!("`{tier}` is not offered by model `{}` (offered: {offered})", model.id),
        ));
    }
    Ok(())
}

/// `params`: at most [`MAX_PARAMS_KEYS`] keys of 1 to 100 characters
/// without control characters, at most [`MAX_PARAMS_BYTES`] as JSON.
/// What each key means is the plugin's to check (it names `params.<key>`).
/// `params` against the parameters the model declares (WIT 0.2.0
/// `model-info.parameters`), if it declares any: the first violation is
/// refused, naming the key (`params.background`) and the schema's reason.
/// Without a declaration every key passes through to the plugin.
fn check_declared_params(s: &Settings, model: &ModelInfo) -> Result<(), FieldError> {
    let Some(schema) = &model.parameters else { return Ok(()) };
    let validator = crate::model::parameters_validator(schema).map_err(|why| {
        invalid(
            "params",
            format!("model `{}` declares parameters the host cannot check ({why}); leave params out", model.id),
        )
    })?;
    let params = serde_json::Value::Object(s.params.clone().unwrap_or_default());
    let Some(error) = validator.iter_errors(&params).next() else { return Ok(()) };
    let field = params_field(error.instance_path().as_str());
    let accepted =
        schema["properties"].as_object().map(|p| p.keys().map(String::as_str).collect::<Vec<_>>().join(", "));
    let hint = match accepted {
        Some(keys) if !keys.is_empty() => format!(" (model `{}` declares: {keys})", model.id),
        _ => format!(" (model `{}` declares no params)", model.id),
    };
    Err(invalid(&field, format!("{error}{hint}")))
}

/// The argument a JSON pointer into `params` names: `/background` →
/// `params.background`, `/sizes/0` → `params.sizes[0]`, `` → `params`.
fn params_field(pointer: &str) -> String {
    let mut field = String::from("params");
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            field.push_str(&format!("[{segment}]"));
        } else {
            field.push('.');
            field.push_str(&segment);
        }
    }
    field
}

fn check_params(s: &Settings) -> Result<(), FieldError> {
    let Some(params) = &s.params else { return Ok(()) };
    if params.len() > MAX_PARAMS_KEYS {
        return Err(invalid("params", format!("has {} keys, over the limit of {MAX_PARAMS_KEYS}", params.len())));
    }
    for key in params.keys() {
        if key.is_empty() || key.chars().count() > 100 || key.chars().any(char::is_control) {
            let shown: String = key.chars().take(40).flat_map(char::escape_debug).collect();
            return Err(invalid(
                "params",
                format!("key \"{shown}\" must be 1 to 100 characters without control characters"),
            ));
        }
    }
    let bytes = serde_json::to_vec(params).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > MAX_PARAMS_BYTES {
        return Err(invalid(
            "params",
            format!("is {} KiB as JSON, over the limit of {} KiB", bytes.div_ceil(1024), MAX_PARAMS_BYTES / 1024),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Features;

    fn model() -> ModelInfo {
        ModelInfo {
            id: "m".into(),
            display_name: "M".into(),
            aliases: vec![],
            operations: vec![Operation::Generate, Operation::Edit],
            aspect_ratios: vec!["1:1".into(), "16:9".into()],
            size_tiers: vec!["1K".into()],
            sizes: vec![],
            min_side: 16,
            max_side: 2048,
            size_multiple: 8,
            default_size: Dimensions { width: 1024, height: 1024 },
            max_images: 4,
            max_input_images: 2,
            features: Features { seed: true, custom_size: true, ..Features::default() },
            output_formats: vec!["image/png".into()],
            lifecycle: Lifecycle::Current,
            replacement: None,
            price_per_image_usd: None,
            prompt_notes: None,
            prompt_style: Default::default(),
            parameters: None,
        }
    }

    fn spec() -> GenerateSpec {
        GenerateSpec { prompt: "a fox".into(), ..GenerateSpec::default() }
    }

    fn with(change: impl FnOnce(&mut Settings)) -> GenerateSpec {
        let mut spec = spec();
        change(&mut spec.settings);
        spec
    }

    fn field_of(spec: GenerateSpec) -> String {
        check(&spec, Operation::Generate, &model()).unwrap_err().field.unwrap()
    }

    #[test]
    fn accepts_a_plain_request() {
        assert!(check(&spec(), Operation::Generate, &model()).unwrap().is_empty());
    }

    #[test]
    fn each_bad_argument_names_its_field() {
        assert_eq!(
            field_of(with(|s| {
                s.width = Some(0);
                s.height = Some(64);
            })),
            "width"
        );
        assert_eq!(
            field_of(with(|s| {
                s.width = Some(64);
                s.height = Some(4096);
            })),
            "height"
        );
        assert_eq!(
            field_of(with(|s| {
                s.width = Some(65);
                s.height = Some(64);
            })),
            "width"
        );
        assert_eq!(
            field_of(with(|s| {
                s.count = Some(9);
            })),
            "count"
        );
        assert_eq!(
            field_of(with(|s| {
                s.count = Some(0);
            })),
            "count"
        );
        assert_eq!(field_of(GenerateSpec { prompt: "  ".into(), ..spec() }), "prompt");
        assert_eq!(
            field_of(with(|s| {
                s.negative_prompt = Some("blur".into());
            })),
            "negative_prompt"
        );
        assert_eq!(
            field_of(with(|s| {
                s.steps = Some(20);
            })),
            "steps"
        );
        assert_eq!(
            field_of(with(|s| {
                s.aspect_ratio = Some("5:4".into());
            })),
            "aspect_ratio"
        );
        assert_eq!(
            field_of(with(|s| {
                s.aspect_ratio = Some("wide".into());
            })),
            "aspect_ratio"
        );
        assert_eq!(
            field_of(with(|s| {
                s.size_tier = Some("4K".into());
            })),
            "size_tier"
        );
        assert_eq!(
            field_of(with(|s| {
                s.strength = Some(0.5);
            })),
            "strength"
        );
        assert_eq!(
            field_of(with(|s| {
                s.seed = Some(MAX_SEED + 1);
            })),
            "seed"
        );
        let params = |value: serde_json::Value| value.as_object().cloned();
        let many: serde_json::Map<String, serde_json::Value> =
            (0..=MAX_PARAMS_KEYS).map(|i| (format!("k{i}"), true.into())).collect();
        assert_eq!(field_of(with(|s| s.params = Some(many))), "params");
        assert_eq!(field_of(with(|s| s.params = params(serde_json::json!({"bad\u{7}key": 1})))), "params");
        assert_eq!(
            field_of(with(|s| s.params = params(serde_json::json!({"big": "x".repeat(MAX_PARAMS_BYTES)})))),
            "params"
        );
        assert!(
            check(
                &with(|s| s.params = params(serde_json::json!({"background": "transparent"}))),
                Operation::Generate,
                &model()
            )
            .is_ok()
        );
        assert!(
            check(
                &with(|s| {
                    s.seed = Some(MAX_SEED);
                }),
                Operation::Generate,
                &model()
            )
            .is_ok(),
            "2^53 - 1 itself is a valid seed"
        );
    }

    #[test]
    fn declared_params_are_checked_naming_the_key_and_undeclared_ones_pass_unless_refused() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "background": {"enum": ["transparent", "opaque", "auto"]},
            "sizes": {"type": "array", "items": {"type": "integer"}}}});
        let open = ModelInfo { parameters: Some(schema.clone()), ..model() };
        let params = |value: serde_json::Value| with(|s| s.params = value.as_object().cloned());
        let field = |spec: GenerateSpec, model: &ModelInfo| check(&spec, Operation::Generate, model).unwrap_err();
        let wrong = field(params(serde_json::json!({"background": "sideways"})), &open);
        assert_eq!(wrong.field.as_deref(), Some("params.background"));
        assert!(
            wrong.message.contains("sideways") && wrong.message.contains("declares: background, sizes"),
            "{}",
            wrong.message
        );
        assert_eq!(
            field(params(serde_json::json!({"sizes": [1, "x"]})), &open).field.as_deref(),
            Some("params.sizes[1]")
        );
        assert!(
            check(&params(serde_json::json!({"background": "opaque", "other": 1})), Operation::Generate, &open).is_ok(),
            "undeclared keys pass through"
        );
        let mut closed_schema = schema;
        closed_schema["additionalProperties"] = false.into();
        let closed = ModelInfo { parameters: Some(closed_schema), ..model() };
        let refused = field(params(serde_json::json!({"other": 1})), &closed);
        assert_eq!(refused.field.as_deref(), Some("params"));
        assert!(refused.message.contains("other"), "{}", refused.message);
        assert!(check(&spec(), Operation::Generate, &closed).is_ok(), "no params at all is fine");
    }

    #[test]
    fn retired_models_name_their_replacement() {
        let retired = ModelInfo { lifecycle: Lifecycle::Retired, replacement: Some("m2".into()), ..model() };
        let err = check(&spec(), Operation::Generate, &retired).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("model"));
        assert!(err.message.contains("`m2`"), "{}", err.message);
    }

    #[test]
    fn a_control_image_needs_a_model_that_declares_control_types_and_counts_apart_from_references() {
        use crate::jobs::InputSpec;
        use crate::model::ImageRole;
        let controlled = GenerateSpec {
            inputs: vec![
                InputSpec { id: "a".into(), role: ImageRole::Reference },
                InputSpec { id: "b".into(), role: ImageRole::Reference },
                InputSpec { id: "c".into(), role: ImageRole::Control },
            ],
            ..spec()
        };
        let refused = check(&controlled, Operation::Edit, &model()).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("images"));
        assert!(refused.message.ends_with(TAKES_NO_CONTROL), "{}", refused.message);
        let declaring = ModelInfo {
            parameters: Some(
                serde_json::json!({"type": "object", "properties": {"control_type": {"enum": ["canny", "depth"]}}}),
            ),
            ..model()
        };
        assert_eq!(declaring.control_types(), vec!["canny", "depth"]);
        // Two references (the model's max_input_images) plus a control image.
        assert!(check(&controlled, Operation::Edit, &declaring).is_ok());
        let only_control =
            GenerateSpec { inputs: vec![InputSpec { id: "c".into(), role: ImageRole::Control }], ..spec() };
        assert!(check(&only_control, Operation::Edit, &declaring).is_ok(), "a control image alone guides a generation");
    }
}
