//! Capability discovery from the server itself (docs/providers/sdwebui.md#endpoints): one model
//! per checkpoint of `GET /sdapi/v1/sd-models`, samplers and schedulers from
//! `/samplers` and `/schedulers` for the prompt notes, the loaded
//! checkpoint (`sd_model_checkpoint` of `GET /sdapi/v1/options`) as default,
//! and each checkpoint's `parameters` schema: ControlNet types and LoRA
//! names when the server has them ([`parameters`],
//! docs/providers/sdwebui.md#controlnet-and-lora).
//!
//! `sd-models` items: `{"title": "v1-5-pruned-emaonly.safetensors
//! [6ce0161689]", "model_name": "v1-5-pruned-emaonly", "hash": "6ce0161689",
//! "sha256", "filename", "config"}`. The model id is `model_name`; the title
//! and hash are aliases, and the title is what `override_settings` gets.

use crate::api::{MAX_SIDE, MIN_SIDE, SIZE_MULTIPLE};
use crate::control::ControlType;
use crate::types::{Dims, Features, Lifecycle, ModelInfo, Operation, PromptStyle};
use easel_plugin_kit::text::text_of;
use serde_json::{Value, json};

/// One checkpoint the server lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub title: String,
    pub model_name: String,
    pub hash: Option<String>,
}

impl Checkpoint {
    /// Whether `name` picks this checkpoint (id, title, hash, or the title
    /// without its ` [hash]` suffix), case-insensitively.
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        let bare_title = self.title.rsplit_once(" [").map_or(self.title.as_str(), |(t, _)| t);
        [self.model_name.as_str(), self.title.as_str(), bare_title]
            .iter()
            .chain(self.hash.as_deref().iter())
            .any(|candidate| candidate.eq_ignore_ascii_case(name))
    }
}

/// Checkpoints from `GET /sdapi/v1/sd-models`.
pub fn checkpoints(list: &Value) -> Vec<Checkpoint> {
    let Some(items) = list.as_array() else { return vec![] };
    items
        .iter()
        .filter_map(|item| {
            let title = item.get("title").map(text_of).filter(|t| !t.is_empty());
            let model_name = item.get("model_name").map(text_of).filter(|t| !t.is_empty());
            let (title, model_name) = match (title, model_name) {
                (Some(t), Some(m)) => (t, m),
                (Some(t), None) => (t.clone(), t.rsplit_once(" [").map_or(t.as_str(), |(n, _)| n).to_string()),
                (None, Some(m)) => (m.clone(), m),
                (None, None) => return None,
            };
            let hash = item.get("hash").and_then(Value::as_str).filter(|h| !h.is_empty()).map(String::from);
            Some(Checkpoint { title, model_name, hash })
        })
        .collect()
}

/// Names from `/samplers` (`[{"name","aliases","options"}]`) or
/// `/schedulers` (`[{"name","label",...}]`; the label is what people read).
pub fn names(list: Option<&Value>, prefer_label: bool) -> Vec<String> {
    let Some(items) = list.and_then(Value::as_array) else { return vec![] };
    items
        .iter()
        .filter_map(|i| {
            let label = prefer_label.then(|| i.get("label").and_then(Value::as_str)).flatten();
            label.or_else(|| i.get("name").and_then(Value::as_str)).or_else(|| i.as_str()).map(String::from)
        })
        .collect()
}

/// Default output size for a checkpoint: 1024² for names that say XL, SD3,
/// Flux or Pony (trained at 1024), else 512² (A1111's own default).
pub fn default_size_for(checkpoint: &Checkpoint) -> (u32, u32) {
    let name = checkpoint.title.to_ascii_lowercase();
    let big = ["xl", "sd3", "flux", "pony", "illustrious"].iter().any(|k| name.contains(k));
    if big { (1024, 1024) } else { (512, 512) }
}

/// What the operator may set about every model.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Overrides the per-checkpoint default size.
    pub default_size: Option<(u32, u32)>,
    pub max_images: u32,
    pub samplers: Vec<String>,
    pub schedulers: Vec<String>,
    /// The ControlNet types the server has a model for ([`control::offered`]).
    pub control_types: Vec<ControlType>,
    /// The LoRA names it lists ([`lora::names`]).
    pub loras: Vec<String>,
}

/// The `parameters` JSON Schema (draft 2020-12) of every checkpoint: the
/// params the plugin reads itself. Undeclared keys stay allowed (no
/// `additionalProperties: false`): they go into the body as they are.
///
/// - `control_type` `{"enum": [...]}` and `control_weight` (0..=2) when the
///   server offers a ControlNet type; the host sends control images only
///   to models that declare `control_type`.
/// - `loras`: up to 8 `{"name": <enum of the server's LoRAs>, "weight": -4..=4}`
///   when the server lists LoRAs.
///
/// `None` when neither is available (an A1111 without these extensions).
pub fn parameters(shape: &Shape) -> Option<Value> {
    let kinds: Vec<&str> = shape.control_types.iter().map(|t| t.kind).collect();
    let properties = easel_plugin_kit::guidance::properties(
        &kinds,
        "the server's sd-webui-controlnet preprocessor and model for it run on the image",
        &shape.loras,
        "each added to the prompt as <lora:name:weight>",
        "GET /sdapi/v1/loras",
    );
    if properties.is_empty() {
        return None;
    }
    Some(json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": properties}))
}

/// One model per checkpoint.
pub fn model_infos(checkpoints: &[Checkpoint], shape: &Shape) -> Vec<ModelInfo> {
    let notes = prompt_notes(shape);
    let parameters = parameters(shape);
    checkpoints
        .iter()
        .map(|c| {
            let mut aliases = vec![c.title.clone()];
            if let Some(hash) = &c.hash {
                aliases.push(hash.clone());
            }
            aliases.retain(|a| a != &c.model_name);
            aliases.dedup();
            let (w, h) = shape.default_size.unwrap_or_else(|| default_size_for(c));
            ModelInfo {
                id: c.model_name.clone(),
                display_name: c.title.clone(),
                aliases,
                operations: vec![Operation::Generate, Operation::Edit, Operation::Inpaint],
                aspect_ratios: vec![],
                size_tiers: vec![],
                sizes: vec![],
                min_side: MIN_SIDE,
                max_side: MAX_SIDE,
                size_multiple: SIZE_MULTIPLE,
                default_size: Dims { width: w, height: h },
                max_images: shape.max_images.max(1),
                max_input_images: 1,
                features: Features {
                    negative_prompt: true,
                    seed: true,
                    steps: true,
                    guidance: true,
                    strength: true,
                    mask: true,
                    custom_size: true,
                },
                output_formats: vec!["image/png".into()],
                lifecycle: Lifecycle::Current,
                replacement: None,
                price_per_image_usd: Some(0.0),
                parameters: parameters.clone(),
                prompt_style: PromptStyle::WeightedTags,
                prompt_notes: Some(notes.clone()),
            }
        })
        .collect()
}

fn prompt_notes(shape: &Shape) -> String {
    let mut notes = String::from(
        "A Stable Diffusion checkpoint on your own AUTOMATIC1111 WebUI (runs on your GPU, no cost per image). \
         Comma-separated subject, style and quality phrases work best; `(word:1.3)` weights a phrase; put what to avoid in negative_prompt. \
         steps 20–30 and guidance (cfg_scale) 5–8 are typical. edit_image is img2img: strength (denoising_strength, default 0.75) is how far to move from the input; \
         a mask (white = repaint) makes it inpainting. count is the batch size. Images come back PNG unless the server's samples_format says otherwise.",
    );
    if !shape.samplers.is_empty() {
        notes.push_str(&format!(" Samplers on this server: {}.", shape.samplers.join(", ")));
    }
    if !shape.schedulers.is_empty() {
        notes.push_str(&format!(" Schedulers: {}.", shape.schedulers.join(", ")));
    }
    notes.push_str(" Pick a sampler/scheduler with `params` in [plugins.sdwebui.config] (e.g. params = { sampler_name = \"DPM++ 2M\", scheduler = \"Karras\" }) or per request in `params`.");
    // One sentence on the extensions the server has.
    let mut extensions = Vec::new();
    if !shape.control_types.is_empty() {
        let kinds: Vec<&str> = shape.control_types.iter().map(|t| t.kind).collect();
        extensions.push(format!(
            "ControlNet: give a control image (role `control`; a plain photo, the preprocessor makes the map) with control_type {} and optional control_weight 0–2",
            kinds.join(", ")
        ));
    }
    if let Some(first) = shape.loras.first() {
        extensions.push(format!(
            "LoRA: params.loras = [{{\"name\": \"{first}\", \"weight\": 0.8}}] adds <lora:name:weight> to the prompt ({} on this server)",
            shape.loras.len()
        ));
    }
    if !extensions.is_empty() {
        notes.push_str(&format!(" {}.", extensions.join("; ")));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!([
            {"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]", "model_name": "v1-5-pruned-emaonly", "hash": "6ce0161689",
             "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa", "filename": "/m/v1-5-pruned-emaonly.safetensors", "config": null},
            {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0", "hash": "31e35c80fc"}
        ])
    }

    #[test]
    fn one_model_per_checkpoint_with_aliases() {
        let cps = checkpoints(&list());
        let shape = Shape { max_images: 8, samplers: vec!["Euler a".into(), "DPM++ 2M".into()], ..Shape::default() };
        let models = model_infos(&cps, &shape);
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].id, "v1-5-pruned-emaonly");
        assert_eq!(
            models[0].aliases,
            vec!["v1-5-pruned-emaonly.safetensors [6ce0161689]".to_string(), "6ce0161689".into()]
        );
        assert_eq!(models[0].default_size, Dims { width: 512, height: 512 });
        assert_eq!(models[1].default_size, Dims { width: 1024, height: 1024 });
        assert_eq!((models[0].size_multiple, models[0].max_images, models[0].price_per_image_usd), (8, 8, Some(0.0)));
        assert!(models[0].features.mask && models[0].features.strength && models[0].features.custom_size);
        assert!(models[0].prompt_notes.as_deref().unwrap().contains("Euler a, DPM++ 2M"));
    }

    #[test]
    fn checkpoints_answer_to_all_their_names() {
        let cps = checkpoints(&list());
        assert!(cps[0].answers_to("v1-5-pruned-emaonly"));
        assert!(cps[0].answers_to("v1-5-pruned-emaonly.safetensors [6ce0161689]"));
        assert!(cps[0].answers_to("v1-5-pruned-emaonly.safetensors"));
        assert!(cps[0].answers_to("6CE0161689"));
        assert!(!cps[0].answers_to("sd_xl_base_1.0"));
    }

    fn kind(kind: &'static str, model: &str) -> ControlType {
        ControlType { kind, tag: kind.into(), module: kind.into(), model: model.into() }
    }

    #[test]
    fn parameters_declare_control_types_and_loras_the_server_has() {
        let shape = Shape {
            max_images: 1,
            control_types: vec![kind("canny", "control_v11p_sd15_canny [d14c016b]"), kind("pose", "op [1]")],
            loras: vec!["add_detail".into(), "pixel-art-xl".into()],
            ..Shape::default()
        };
        let models = model_infos(&checkpoints(&list()), &shape);
        let schema = models[0].parameters.clone().unwrap();
        assert_eq!(models[1].parameters.as_ref(), Some(&schema), "every checkpoint declares the same");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["type"], "object");
        assert!(schema.get("additionalProperties").is_none(), "undeclared params still reach the body");
        let p = &schema["properties"];
        assert_eq!(p["control_type"]["enum"], json!(["canny", "pose"]));
        assert_eq!(
            (p["control_weight"]["minimum"].as_f64(), p["control_weight"]["maximum"].as_f64()),
            (Some(0.0), Some(2.0))
        );
        assert_eq!(p["loras"]["maxItems"], 8);
        assert_eq!(p["loras"]["items"]["properties"]["name"]["enum"], json!(["add_detail", "pixel-art-xl"]));
        assert_eq!(
            p["loras"]["items"]["properties"]["weight"],
            json!({"type": "number", "minimum": -4, "maximum": 4, "description": "Multiplier, default 1"})
        );
        assert_eq!(
            (&p["loras"]["items"]["required"], &p["loras"]["items"]["additionalProperties"]),
            (&json!(["name"]), &json!(false))
        );
        assert!(["control_type", "control_weight", "loras"].iter().all(|k| p[k]["description"].is_string()));
        let notes = models[0].prompt_notes.as_deref().unwrap();
        assert!(
            notes.contains("control_type canny, pose")
                && notes.contains("<lora:name:weight>")
                && notes.contains("(2 on this server)"),
            "{notes}"
        );
    }

    #[test]
    fn parameters_declare_only_what_is_there() {
        let controls = Shape { control_types: vec![kind("depth", "d [2]")], ..Shape::default() };
        let schema = parameters(&controls).unwrap();
        assert_eq!(schema["properties"]["control_type"]["enum"], json!(["depth"]));
        assert!(schema["properties"].get("loras").is_none(), "no loras listed, no loras property");
        let loras = Shape { loras: vec!["add_detail".into()], ..Shape::default() };
        let schema = parameters(&loras).unwrap();
        assert!(
            schema["properties"].get("control_type").is_none() && schema["properties"].get("control_weight").is_none()
        );
        assert!(schema["properties"]["loras"].is_object());
        let plain = Shape { max_images: 8, ..Shape::default() };
        assert_eq!(parameters(&plain), None);
        let models = model_infos(&checkpoints(&list()), &plain);
        assert_eq!(models[0].parameters, None, "an A1111 without the extensions behaves as before");
        assert!(!models[0].prompt_notes.as_deref().unwrap().contains("ControlNet"));
    }

    #[test]
    fn sampler_and_scheduler_names() {
        let samplers = json!([{"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {}}]);
        let schedulers = json!([{"name": "karras", "label": "Karras", "aliases": null}]);
        assert_eq!(names(Some(&samplers), false), vec!["DPM++ 2M"]);
        assert_eq!(names(Some(&schedulers), true), vec!["Karras"]);
        assert!(names(None, true).is_empty());
    }
}
