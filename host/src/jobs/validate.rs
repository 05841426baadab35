//! Checks a request against the chosen model's discovered capabilities
//! before any plugin runs; every refusal names the argument at fault.

use super::GenerateSpec;
use crate::model::{Dimensions, Lifecycle, ModelInfo, Operation};

/// A refused argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: String) -> Invalid {
    Invalid { field: field.into(), message }
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
pub fn check(spec: &GenerateSpec, operation: Operation, model: &ModelInfo) -> Result<Vec<String>, Invalid> {
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
        return Err(invalid("model", format!("model `{}` cannot {operation:?} (it supports {:?})", model.id, model.operations).to_lowercase()));
    }
    let prompt = spec.prompt.trim();
    if prompt.is_empty() {
        return Err(invalid("prompt", "must not be empty: describe the image you want".into()));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(invalid("prompt", format!("is longer than {MAX_PROMPT_CHARS} characters")));
    }
    let count = spec.count.unwrap_or(1);
    if count == 0 || count > model.max_images {
        return Err(invalid("count", format!("must be between 1 and {} for model `{}` (got {count})", model.max_images, model.id)));
    }
    check_size(spec, model)?;
    let features = model.features;
    let unsupported = |field: &str| invalid(field, format!("model `{}` does not support `{field}`; leave it out", model.id));
    if spec.negative_prompt.as_deref().is_some_and(|n| !n.trim().is_empty()) && !features.negative_prompt {
        return Err(unsupported("negative_prompt"));
    }
    if spec.seed.is_some() && !features.seed {
        return Err(unsupported("seed"));
    }
    if let Some(seed) = spec.seed.filter(|seed| *seed > MAX_SEED) {
        return Err(invalid(
            "seed",
            format!("must be at most {MAX_SEED} (2^53 - 1), got {seed}: larger integers lose digits in JavaScript clients, so the seed would not reproduce the image"),
        ));
    }
    if let Some(steps) = spec.steps {
        if !features.steps {
            return Err(unsupported("steps"));
        }
        if !(1..=200).contains(&steps) {
            return Err(invalid("steps", format!("must be between 1 and 200 (got {steps})")));
        }
    }
    if let Some(guidance) = spec.guidance {
        if !features.guidance {
            return Err(unsupported("guidance"));
        }
        if !(0.0..=50.0).contains(&guidance) || !guidance.is_finite() {
            return Err(invalid("guidance", format!("must be between 0 and 50 (got {guidance})")));
        }
    }
    if let Some(strength) = spec.strength {
        if !(0.0..=1.0).contains(&strength) || !strength.is_finite() {
            return Err(invalid("strength", format!("must be between 0.0 and 1.0 (got {strength})")));
        }
        if operation == Operation::Generate {
            return Err(invalid("strength", "only applies to edits (edit_image)".into()));
        }
    }
    let masks = spec.inputs.iter().filter(|i| i.role == crate::model::ImageRole::Mask).count();
    let references = spec.inputs.len() - masks;
    if masks > 1 {
        return Err(invalid("images", "give at most one image with role `mask`".into()));
    }
    if masks == 1 && !features.mask {
        return Err(invalid("images", format!("model `{}` does not take a mask", model.id)));
    }
    if references as u32 > model.max_input_images {
        return Err(invalid("images", format!("model `{}` takes at most {} input images (got {references})", model.id, model.max_input_images)));
    }
    if operation != Operation::Generate && references == 0 {
        return Err(invalid("images", "an edit needs at least one image with role `reference`".into()));
    }
    Ok(warnings)
}

fn check_size(spec: &GenerateSpec, model: &ModelInfo) -> Result<(), Invalid> {
    match (spec.width, spec.height) {
        (None, None) => {}
        (Some(_), None) => return Err(invalid("height", "give height together with width".into())),
        (None, Some(_)) => return Err(invalid("width", "give width together with height".into())),
        (Some(width), Some(height)) => {
            if spec.aspect_ratio.is_some() {
                return Err(invalid("aspect_ratio", "give either width/height or aspect_ratio, not both".into()));
            }
            for (field, value) in [("width", width), ("height", height)] {
                if value == 0 {
                    return Err(invalid(field, "must be a positive number of pixels".into()));
                }
                if value < model.min_side || value > model.max_side {
                    return Err(invalid(
                        field,
                        format!("must be between {} and {} pixels for model `{}` (got {value})", model.min_side, model.max_side, model.id),
                    ));
                }
                if value % model.size_multiple != 0 {
                    return Err(invalid(field, format!("must be a multiple of {} for model `{}` (got {value})", model.size_multiple, model.id)));
                }
            }
            let requested = Dimensions { width, height };
            if !model.features.custom_size && !model.sizes.is_empty() && !model.sizes.contains(&requested) {
                let sizes: Vec<String> = model.sizes.iter().map(|d| format!("{}x{}", d.width, d.height)).collect();
                return Err(invalid("width", format!("{width}x{height} is not offered by model `{}`; choose one of {}", model.id, sizes.join(", "))));
            }
        }
    }
    if let Some(ratio) = &spec.aspect_ratio {
        let valid_shape = ratio.split_once(':').is_some_and(|(w, h)| w.trim().parse::<u32>().is_ok_and(|w| w > 0) && h.trim().parse::<u32>().is_ok_and(|h| h > 0));
        if !valid_shape {
            return Err(invalid("aspect_ratio", format!("`{ratio}` is not of the form W:H, e.g. 16:9")));
        }
        if !model.aspect_ratios.is_empty() && !model.aspect_ratios.iter().any(|r| r == ratio) {
            return Err(invalid("aspect_ratio", format!("`{ratio}` is not offered by model `{}`; choose one of {}", model.id, model.aspect_ratios.join(", "))));
        }
    }
    if let Some(tier) = &spec.size_tier {
        if !model.size_tiers.iter().any(|t| t.eq_ignore_ascii_case(tier)) {
            let offered = if model.size_tiers.is_empty() { "none".to_string() } else { model.size_tiers.join(", ") };
            return Err(invalid("size_tier", format!("`{tier}` is not offered by model `{}` (offered: {offered})", model.id)));
        }
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
        }
    }

    fn spec() -> GenerateSpec {
        GenerateSpec { prompt: "a fox".into(), ..GenerateSpec::default() }
    }

    fn field_of(spec: GenerateSpec) -> String {
        check(&spec, Operation::Generate, &model()).unwrap_err().field
    }

    #[test]
    fn accepts_a_plain_request() {
        assert!(check(&spec(), Operation::Generate, &model()).unwrap().is_empty());
    }

    #[test]
    fn each_bad_argument_names_its_field() {
        assert_eq!(field_of(GenerateSpec { width: Some(0), height: Some(64), ..spec() }), "width");
        assert_eq!(field_of(GenerateSpec { width: Some(64), height: Some(4096), ..spec() }), "height");
        assert_eq!(field_of(GenerateSpec { width: Some(65), height: Some(64), ..spec() }), "width");
        assert_eq!(field_of(GenerateSpec { count: Some(9), ..spec() }), "count");
        assert_eq!(field_of(GenerateSpec { count: Some(0), ..spec() }), "count");
        assert_eq!(field_of(GenerateSpec { prompt: "  ".into(), ..spec() }), "prompt");
        assert_eq!(field_of(GenerateSpec { negative_prompt: Some("blur".into()), ..spec() }), "negative_prompt");
        assert_eq!(field_of(GenerateSpec { steps: Some(20), ..spec() }), "steps");
        assert_eq!(field_of(GenerateSpec { aspect_ratio: Some("5:4".into()), ..spec() }), "aspect_ratio");
        assert_eq!(field_of(GenerateSpec { aspect_ratio: Some("wide".into()), ..spec() }), "aspect_ratio");
        assert_eq!(field_of(GenerateSpec { size_tier: Some("4K".into()), ..spec() }), "size_tier");
        assert_eq!(field_of(GenerateSpec { strength: Some(0.5), ..spec() }), "strength");
        assert_eq!(field_of(GenerateSpec { seed: Some(MAX_SEED + 1), ..spec() }), "seed");
        assert!(check(&GenerateSpec { seed: Some(MAX_SEED), ..spec() }, Operation::Generate, &model()).is_ok(), "2^53 - 1 itself is a valid seed");
    }

    #[test]
    fn retired_models_name_their_replacement() {
        let retired = ModelInfo { lifecycle: Lifecycle::Retired, replacement: Some("m2".into()), ..model() };
        let err = check(&spec(), Operation::Generate, &retired).unwrap_err();
        assert_eq!(err.field, "model");
        assert!(err.message.contains("`m2`"), "{}", err.message);
    }
}
