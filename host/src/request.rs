//! One generation request, end to end. [`Settings`] are the caller's
//! optional choices: the MCP tools `#[serde(flatten)]` it into their
//! arguments and `easel generate` `#[command(flatten)]`s it into its flags,
//! so a parameter is spelled once. [`GenerateSpec`] is what a job runs (and
//! what a restarted server resumes), and [`Recipe`] is what a sidecar
//! records, typed and versioned, so `vary_image` re-runs exactly it.

use crate::field_error::FieldError;
use crate::model::{Dimensions, GenerationRequest, ImageRole, InputImage, ModelInfo, Operation};
use crate::prompting::Compiled;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Provider-native parameters: a JSON object passed to the plugin as the
/// WIT request's `extra` (e.g. `{"background": "transparent"}` for OpenAI,
/// `{"responseModalities": ["IMAGE"]}` for Gemini).
pub type Params = Map<String, Value>;

/// Largest `params` object, as compact JSON bytes.
pub const MAX_PARAMS_BYTES: usize = 16 * 1024;

/// Most keys in one `params` object.
pub const MAX_PARAMS_KEYS: usize = 64;

/// The caller's optional choices for one generation; every field is
/// optional and `None` means "the model's default". Field names are the
/// MCP argument names, the CLI flags (`--negative-prompt`) and the keys of
/// the job record and the sidecar recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, clap::Args)]
pub struct Settings {
    /// Provider id from list_providers, or `auto` to let Easel choose (default: the deployment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub provider: Option<String>,
    /// Model id or alias (list_models; default: the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub model: Option<String>,
    /// What the image should not show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Pixels, with height (or use aspect_ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    #[arg(long)]
    pub width: Option<u32>,
    /// Pixels, with width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    #[arg(long)]
    pub height: Option<u32>,
    /// W:H such as "16:9", instead of width/height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub aspect_ratio: Option<String>,
    /// With aspect_ratio: "1K", "2K", … (list_models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub size_tier: Option<String>,
    /// Images to make (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    #[arg(long)]
    pub count: Option<u32>,
    /// Seed, to reproduce a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(max = 9_007_199_254_740_991u64))]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sampling steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    #[arg(long)]
    pub steps: Option<u32>,
    /// Guidance (CFG) scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f32")]
    #[arg(long)]
    pub guidance: Option<f32>,
    /// Edits: 0 keeps the input, 1 replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f32")]
    #[arg(long)]
    pub strength: Option<f32>,
    /// Instead of/beside prompt: subject, subjects[{description,position,
    /// attributes}], scene, style{medium,descriptors}, composition{shot,
    /// angle,lens,framing}, lighting, palette, mood,
    /// text[{content,placement,style}], negative. vary: changed keys (null removes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Params")]
    #[arg(long, value_name = "JSON", value_parser = json_object)]
    pub structured_prompt: Option<Params>,
    /// Saved style to apply (save_style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    #[arg(long)]
    pub style: Option<String>,
    /// Provider-native parameters, e.g. {"background": "transparent"}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Params")]
    #[arg(skip)]
    pub params: Option<Params>,
}

/// A `--structured-prompt` flag's JSON object.
fn json_object(text: &str) -> Result<Params, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("give a JSON object, e.g. '{\"subject\": \"a fox\", \"lighting\": \"dusk\"}'".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

impl Settings {
    /// The same settings with empty strings (which some clients send for
    /// fields they leave blank) read as "not given", and an empty `params`
    /// object as none.
    pub fn normalized(mut self) -> Settings {
        for text in [&mut self.provider, &mut self.model, &mut self.aspect_ratio, &mut self.size_tier] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        if self.negative_prompt.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.negative_prompt = None;
        }
        if self.params.as_ref().is_some_and(Map::is_empty) {
            self.params = None;
        }
        if self.structured_prompt.as_ref().is_some_and(Map::is_empty) {
            self.structured_prompt = None;
        }
        self
    }

    /// These settings with every field `overrides` gives replaced (what
    /// `vary_image` runs). A new size (`width`, `height` or `aspect_ratio`)
    /// replaces the whole old one; `params` are merged key by key, and an
    /// override key set to `null` removes that key.
    pub fn overridden_by(self, overrides: Settings) -> Settings {
        let new_size = overrides.width.is_some() || overrides.height.is_some() || overrides.aspect_ratio.is_some();
        let (width, height, aspect_ratio) = if new_size {
            (overrides.width, overrides.height, overrides.aspect_ratio)
        } else {
            (self.width, self.height, self.aspect_ratio)
        };
        let params = match (self.params, overrides.params) {
            (base, None) => base,
            (base, Some(changes)) => {
                let mut merged = base.unwrap_or_default();
                for (key, value) in changes {
                    if value.is_null() {
                        merged.remove(&key);
                    } else {
                        merged.insert(key, value);
                    }
                }
                Some(merged)
            }
        };
        let structured_prompt = match (self.structured_prompt, overrides.structured_prompt) {
            (base, None) => base,
            (base, Some(changes)) => Some(crate::prompting::merge_patch(base.unwrap_or_default(), changes)),
        };
        Settings {
            provider: overrides.provider.or(self.provider),
            model: overrides.model.or(self.model),
            negative_prompt: overrides.negative_prompt.or(self.negative_prompt),
            width,
            height,
            aspect_ratio,
            size_tier: overrides.size_tier.or(self.size_tier),
            count: overrides.count.or(self.count),
            seed: overrides.seed.or(self.seed),
            steps: overrides.steps.or(self.steps),
            guidance: overrides.guidance.or(self.guidance),
            strength: overrides.strength.or(self.strength),
            // A recipe's own style was applied into its prompt and cleared.
            style: overrides.style,
            structured_prompt,
            params,
        }
        .normalized()
    }

    /// `params` as the JSON object text the plugin receives (`extra`), or
    /// `None` when there are none.
    pub fn params_text(&self) -> Option<String> {
        self.params.as_ref().filter(|p| !p.is_empty()).map(|p| Value::Object(p.clone()).to_string())
    }
}

/// What a job runs: the prompt, the settings, and the input images (any
/// handle `inputs` accepts; a store id once resolved). Serialized flat
/// (the settings' fields beside `prompt` and `inputs`) in job records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateSpec {
    pub prompt: String,
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
    /// An upscale: enlarge the one input by this factor (`1 < scale <=`
    /// [`MAX_UPSCALE`]); the job sets `width`/`height` to the input's size
    /// times it. `None` for every other operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// An outpaint: grow the one input by these margins; the job sets
    /// `width`/`height` to the grown canvas and sends an inpaint of the
    /// margins (`jobs::expand`). `None` for every other operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Expand>,
}

/// Pixels to add on each side of an image (outpainting); sides left out
/// are 0, each at most [`MAX_EXPAND`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expand {
    #[serde(default)]
    pub left: u32,
    #[serde(default)]
    pub top: u32,
    #[serde(default)]
    pub right: u32,
    #[serde(default)]
    pub bottom: u32,
}

/// Most pixels `expand` adds on one side.
pub const MAX_EXPAND: u32 = 4096;

/// Largest upscale factor `upscale_image` takes (upscalers offer 2× to 4×,
/// some 8×; the store keeps at most `store::MAX_PIXELS`).
pub const MAX_UPSCALE: f32 = 8.0;

impl GenerateSpec {
    /// A text-to-image spec with default settings.
    pub fn text(prompt: &str) -> GenerateSpec {
        GenerateSpec { prompt: prompt.to_string(), ..GenerateSpec::default() }
    }

    /// The prompt for `model`: the caller's `prompt` trimmed, or — with a
    /// `structured_prompt` — both compiled into the model's prompt style
    /// (`crate::prompting::compile`).
    ///
    /// Errors: a structured prompt that does not parse (naming its path).
    pub fn compile_prompt(&self, model: &ModelInfo) -> Result<Compiled, FieldError> {
        match &self.settings.structured_prompt {
            Some(structured) => Ok(crate::prompting::compile(
                &self.prompt,
                &crate::prompting::parse(structured)?,
                model.prompt_style,
                model.features.negative_prompt,
            )),
            None => Ok(Compiled { prompt: self.prompt.trim().to_string(), ..Compiled::default() }),
        }
    }

    /// The plugin request for `model`: the prompt compiled for it, the
    /// negative prompt joined with the structured prompt's negatives (a
    /// blank one dropped), width and height as one size, one image unless
    /// `count` says otherwise, and `params` as the `extra` text.
    ///
    /// Errors: as [`GenerateSpec::compile_prompt`].
    pub fn to_request(
        &self,
        operation: Operation,
        model: &ModelInfo,
        images: Vec<InputImage>,
    ) -> Result<GenerationRequest, FieldError> {
        let s = &self.settings;
        let size = match (s.width, s.height) {
            (Some(width), Some(height)) => Some(Dimensions { width, height }),
            _ => None,
        };
        let compiled = self.compile_prompt(model)?;
        let own_negative = s.negative_prompt.clone().filter(|n| !n.trim().is_empty());
        let negative_prompt = match (own_negative, compiled.negative) {
            (Some(own), Some(structured)) => Some(format!("{own}, {structured}")),
            (own, structured) => own.or(structured),
        };
        Ok(GenerationRequest {
            operation,
            model: model.id.clone(),
            prompt: compiled.prompt,
            negative_prompt,
            size,
            aspect_ratio: s.aspect_ratio.clone(),
            size_tier: s.size_tier.clone(),
            count: s.count.unwrap_or(1),
            seed: s.seed,
            steps: s.steps,
            guidance: s.guidance,
            strength: s.strength,
            images,
            extra: s.params_text(),
        })
    }

    /// The operation this spec asks for: upscale with a `scale`, generate
    /// without inputs, inpaint with a mask, otherwise edit.
    pub fn operation(&self) -> Operation {
        if self.scale.is_some() {
            return Operation::Upscale;
        }
        if self.expand.is_some() {
            return Operation::Inpaint;
        }
        match (self.inputs.is_empty(), self.inputs.iter().any(|i| i.role == ImageRole::Mask)) {
            (true, _) => Operation::Generate,
            (false, true) => Operation::Inpaint,
            (false, false) => Operation::Edit,
        }
    }
}

/// An input image of a request: a handle, and how the model uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub id: String,
    pub role: ImageRole,
}

/// The version [`Recipe`]s are written with. Version 1 (sidecars written
/// before recipes were typed) had no `version`, `provider`, `model`,
/// `negative_prompt` or `params` keys; those come from the sidecar's own
/// fields when such a recipe is read.
pub const RECIPE_VERSION: u32 = 2;

/// What made a stored image, as the sidecar's `parameters` object: the
/// operation, the settings as they were sent (resolved provider and model
/// id, the size and seed actually requested) and the inputs by store id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    #[serde(default = "first_recipe_version")]
    pub version: u32,
    pub operation: Operation,
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(default)]
    pub images: Vec<InputSpec>,
    /// The caller's own `prompt` before a `structured_prompt` was compiled
    /// into it (the sidecar's `prompt` is the compiled text), so that
    /// `vary_image` recompiles instead of compiling twice; absent without
    /// a structured prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_prompt: Option<String>,
    /// An upscale's factor (the settings' width and height are its target
    /// size); absent for other operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// An outpaint's margins, as the job grew them (the settings' width
    /// and height are the canvas); absent for other operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Expand>,
}

fn first_recipe_version() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_1_recipe_reads_with_its_settings_and_inputs() {
        let old = json!({"operation": "edit", "width": 512, "height": 384, "aspect_ratio": null, "size_tier": null, "count": 2,
            "seed": 7, "steps": null, "guidance": 3.5, "strength": 0.25, "images": [{"id": "abc", "role": "reference"}]});
        let recipe: Recipe = serde_json::from_value(old).unwrap();
        assert_eq!(recipe.version, 1);
        assert_eq!(recipe.operation, Operation::Edit);
        assert_eq!((recipe.settings.width, recipe.settings.count, recipe.settings.seed), (Some(512), Some(2), Some(7)));
        assert_eq!((recipe.settings.guidance, recipe.settings.strength), (Some(3.5), Some(0.25)));
        assert_eq!(recipe.images, vec![InputSpec { id: "abc".into(), role: ImageRole::Reference }]);
    }

    #[test]
    fn a_recipe_keeps_params_and_every_setting_through_a_round_trip() {
        let settings = Settings {
            provider: Some("openai".into()),
            model: Some("gpt-image-1".into()),
            negative_prompt: Some("blur".into()),
            aspect_ratio: Some("16:9".into()),
            size_tier: Some("2K".into()),
            count: Some(2),
            seed: Some(9),
            steps: Some(30),
            guidance: Some(4.0),
            strength: Some(0.5),
            params: Some(json!({"background": "transparent", "n": {"deep": [1, 2]}}).as_object().unwrap().clone()),
            ..Settings::default()
        };
        let recipe = Recipe {
            version: RECIPE_VERSION,
            operation: Operation::Generate,
            settings,
            images: vec![],
            source_prompt: Some("a heron".into()),
            scale: None,
            expand: Some(Expand { right: 128, ..Expand::default() }),
        };
        let read: Recipe = serde_json::from_value(serde_json::to_value(&recipe).unwrap()).unwrap();
        assert_eq!(read, recipe);
    }

    #[test]
    fn overrides_replace_fields_a_new_size_replaces_the_old_and_params_merge() {
        let base = Settings {
            width: Some(1024),
            height: Some(768),
            size_tier: Some("1K".into()),
            seed: Some(1),
            params: Some(json!({"background": "transparent", "quality": "high"}).as_object().unwrap().clone()),
            ..Settings::default()
        };
        let varied = base.clone().overridden_by(Settings {
            aspect_ratio: Some("1:1".into()),
            seed: Some(2),
            params: Some(json!({"quality": null, "output_format": "webp"}).as_object().unwrap().clone()),
            ..Settings::default()
        });
        assert_eq!((varied.width, varied.height, varied.aspect_ratio.as_deref()), (None, None, Some("1:1")));
        assert_eq!((varied.size_tier.as_deref(), varied.seed), (Some("1K"), Some(2)));
        assert_eq!(varied.params, json!({"background": "transparent", "output_format": "webp"}).as_object().cloned());
        let same = base.clone().overridden_by(Settings::default());
        assert_eq!(same, base, "no overrides change nothing");
    }

    #[test]
    fn a_structured_prompt_compiles_per_model_and_a_variation_patches_it() {
        let mut model: ModelInfo = serde_json::from_value(json!({
            "id": "sd", "display_name": "SD", "aliases": [], "operations": ["generate"], "aspect_ratios": [],
            "size_tiers": [], "sizes": [], "min_side": 64, "max_side": 2048, "size_multiple": 8,
            "default_size": {"width": 512, "height": 512}, "max_images": 1, "max_input_images": 0,
            "features": {"negative_prompt": true, "seed": true, "steps": false, "guidance": false, "strength": false,
                         "mask": false, "custom_size": true},
            "output_formats": ["image/png"], "lifecycle": "current", "replacement": null,
            "price_per_image_usd": null, "prompt_notes": null, "prompt_style": "weighted_tags"}))
        .unwrap();
        let mut spec = GenerateSpec::text("");
        spec.settings.negative_prompt = Some("watermark".into());
        spec.settings.structured_prompt =
            json!({"subject": "a fox", "lighting": "dusk", "negative": "blur"}).as_object().cloned();
        let request = spec.to_request(Operation::Generate, &model, vec![]).unwrap();
        assert_eq!(request.prompt, "(a fox:1.2), dusk");
        assert_eq!(request.negative_prompt.as_deref(), Some("watermark, blur"));
        model.prompt_style = crate::model::PromptStyle::NaturalLanguage;
        let request = spec.to_request(Operation::Generate, &model, vec![]).unwrap();
        assert_eq!(request.prompt, "A fox. Lighting: dusk.");

        let varied = spec.settings.clone().overridden_by(Settings {
            structured_prompt: json!({"lighting": "night", "negative": null}).as_object().cloned(),
            ..Settings::default()
        });
        assert_eq!(varied.structured_prompt.map(Value::Object), Some(json!({"subject": "a fox", "lighting": "night"})));
        assert_eq!(varied.negative_prompt.as_deref(), Some("watermark"), "other settings kept");
    }

    #[test]
    fn blank_strings_and_empty_params_mean_not_given() {
        let settings = Settings {
            provider: Some(String::new()),
            model: Some(" ".into()),
            negative_prompt: Some("".into()),
            params: Some(Map::new()),
            ..Settings::default()
        }
        .normalized();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.params_text(), None);
    }
}
