//! The OpenAI image model table: ids, life cycle, sizes, limits and prices.
//!
//! `GET /models` exposes no capabilities, so this table is hard-coded from
//! docs/providers/openai.md#models (life cycle, from the openai 3.54.0 `types/image_model.py`
//! docstring), docs/providers/openai.md#generations, #edits (sizes, counts, inputs) and docs/providers/openai.md#models (prices, which are
//! third-party quotes [S]).

use crate::types::{Dims, Features, Lifecycle, ModelInfo, Operation, PromptStyle};

/// No optional parameters: the base of every model's [`Features`].
const NO_FEATURES: Features = Features {
    negative_prompt: false,
    seed: false,
    steps: false,
    guidance: false,
    strength: false,
    mask: false,
    custom_size: false,
};

/// How a model takes its output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeRule {
    /// Only the sizes in [`Model::sizes`] (or `auto`).
    Fixed,
    /// Any `WxH` with both sides multiples of 16, aspect ratio between 1:3
    /// and 3:1 and at most [`MAX_FREE_PIXELS`] pixels (gpt-image-2 and
    /// later — docs/providers/openai.md#generations).
    Free,
}

/// Pixel budget of free sizes: 3840×2160 (docs/providers/openai.md#generations).
pub const MAX_FREE_PIXELS: u64 = 3840 * 2160;

/// Long edge in pixels of each size tier offered for free-size models
/// (an Easel convenience: OpenAI itself has no tiers).
pub const FREE_TIERS: [(&str, u32); 3] = [("1K", 1024), ("2K", 2048), ("4K", 3840)];

/// One model's capabilities ([`Model::info`] is what `describe` reports).
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub id: &'static str,
    pub display_name: &'static str,
    pub aliases: &'static [&'static str],
    pub operations: &'static [Operation],
    /// `W:H` strings; empty = any (within the size rule).
    pub aspect_ratios: &'static [&'static str],
    pub size_tiers: &'static [&'static str],
    /// `(width, height)` pixels; empty = free sizes.
    pub sizes: &'static [(u32, u32)],
    pub min_side: u32,
    pub max_side: u32,
    pub size_multiple: u32,
    pub default_size: (u32, u32),
    /// `n` upper bound (1–10 for GPT image models — docs/providers/openai.md#generations).
    pub max_images: u32,
    /// Reference images per edit (16 for GPT image models — docs/providers/openai.md#edits).
    pub max_input_images: u32,
    pub features: Features,
    pub output_formats: &'static [&'static str],
    pub lifecycle: Lifecycle,
    pub replacement: Option<&'static str>,
    /// Why and when it was retired, for the refusal message.
    pub retired_note: Option<&'static str>,
    /// US dollars per 1024² image at `medium` quality, when known [S].
    pub price_per_image_usd: Option<f64>,
    pub prompt_notes: Option<&'static str>,
    pub size_rule: SizeRule,
    /// Whether `/images/edits` takes `input_fidelity` (not gpt-image-1-mini
    /// nor gpt-image-2 — docs/providers/openai.md#edits; assumed for 2.5+ [M]).
    pub input_fidelity: bool,
    /// GPT image family (base64 output, quality/background/format options);
    /// false for the dall-e models.
    pub gpt_image: bool,
}

const GPT_OPS: &[Operation] = &[Operation::Generate, Operation::Edit, Operation::Inpaint];
const FIXED_SIZES: &[(u32, u32)] = &[(1024, 1024), (1536, 1024), (1024, 1536)];
const FIXED_RATIOS: &[&str] = &["1:1", "3:2", "2:3"];
const GPT_FORMATS: &[&str] = &["image/png", "image/jpeg", "image/webp"];
const GPT_NOTES: &str = "Write a full natural-language description (subject, setting, style, lighting, composition); \
up to 32000 characters. Renders legible text well: quote the exact words. There is no negative prompt: say what to \
leave out in the prompt itself. For edits, say what to change and what to keep.";

/// gpt-image-1.5-style model: fixed sizes, 1–10 images, up to 16 references.
const FIXED_BASE: Model = Model {
    id: "",
    display_name: "",
    aliases: &[],
    operations: GPT_OPS,
    aspect_ratios: FIXED_RATIOS,
    size_tiers: &[],
    sizes: FIXED_SIZES,
    min_side: 1024,
    max_side: 1536,
    size_multiple: 1,
    default_size: (1024, 1024),
    max_images: 10,
    max_input_images: 16,
    features: Features { mask: true, strength: true, ..NO_FEATURES },
    output_formats: GPT_FORMATS,
    lifecycle: Lifecycle::Current,
    replacement: None,
    retired_note: None,
    price_per_image_usd: None,
    prompt_notes: Some(GPT_NOTES),
    size_rule: SizeRule::Fixed,
    input_fidelity: true,
    gpt_image: true,
};

/// gpt-image-2-style model: free `WxH` sizes.
const FREE_BASE: Model = Model {
    aspect_ratios: &[],
    size_tiers: &["1K", "2K", "4K"],
    sizes: &[],
    min_side: 16,
    max_side: 3840,
    size_multiple: 16,
    features: Features { mask: true, strength: true, custom_size: true, ..NO_FEATURES },
    size_rule: SizeRule::Free,
    ..FIXED_BASE
};

/// Every model this plugin knows, current first.
pub const MODELS: &[Model] = &[
    Model { id: "gpt-image-1.5", display_name: "GPT Image 1.5", price_per_image_usd: Some(0.034), ..FIXED_BASE },
    Model {
        id: "gpt-image-1-mini",
        display_name: "GPT Image 1 mini",
        features: Features { mask: true, ..NO_FEATURES },
        input_fidelity: false,
        price_per_image_usd: Some(0.011),
        ..FIXED_BASE
    },
    Model {
        id: "gpt-image-2",
        display_name: "GPT Image 2",
        features: Features { mask: true, custom_size: true, ..NO_FEATURES },
        input_fidelity: false,
        ..FREE_BASE
    },
    Model {
        id: "gpt-image-2-2026-04-21",
        display_name: "GPT Image 2 (2026-04-21 snapshot)",
        features: Features { mask: true, custom_size: true, ..NO_FEATURES },
        input_fidelity: false,
        ..FREE_BASE
    },
    Model { id: "gpt-image-2.5-sunburst", display_name: "GPT Image 2.5 Sunburst", ..FREE_BASE },
    Model { id: "gpt-image-2.5-flare", display_name: "GPT Image 2.5 Flare", ..FREE_BASE },
    Model {
        id: "gpt-image-2.5-sunburst-2026-09-08",
        display_name: "GPT Image 2.5 Sunburst (2026-09-08 snapshot)",
        ..FREE_BASE
    },
    Model {
        id: "gpt-image-2.5-flare-2026-09-08",
        display_name: "GPT Image 2.5 Flare (2026-09-08 snapshot)",
        ..FREE_BASE
    },
    Model { id: "gpt-image-2.6-sunburst", display_name: "GPT Image 2.6 Sunburst", ..FREE_BASE },
    Model { id: "gpt-image-2.6-flare", display_name: "GPT Image 2.6 Flare", ..FREE_BASE },
    Model { id: "chatgpt-image-latest", display_name: "ChatGPT Image (latest)", ..FIXED_BASE },
    Model {
        id: "gpt-image-1",
        display_name: "GPT Image 1",
        lifecycle: Lifecycle::Retired,
        replacement: Some("gpt-image-2.5-sunburst"),
        retired_note: Some("shut down on the OpenAI API on 2026-10-23"),
        price_per_image_usd: Some(0.042),
        ..FIXED_BASE
    },
    Model {
        id: "dall-e-3",
        display_name: "DALL·E 3",
        operations: &[Operation::Generate],
        aspect_ratios: &["1:1"],
        sizes: &[(1024, 1024), (1792, 1024), (1024, 1792)],
        max_side: 1792,
        max_images: 1,
        max_input_images: 0,
        features: NO_FEATURES,
        output_formats: &["image/png"],
        lifecycle: Lifecycle::Retired,
        replacement: Some("gpt-image-1.5"),
        retired_note: Some("retired on the OpenAI API on 2026-05-12"),
        price_per_image_usd: Some(0.04),
        prompt_notes: None,
        input_fidelity: false,
        gpt_image: false,
        ..FIXED_BASE
    },
    Model {
        id: "dall-e-2",
        display_name: "DALL·E 2",
        operations: &[Operation::Generate, Operation::Edit, Operation::Inpaint, Operation::Variation],
        aspect_ratios: &["1:1"],
        sizes: &[(256, 256), (512, 512), (1024, 1024)],
        min_side: 256,
        max_side: 1024,
        max_input_images: 1,
        features: Features { mask: true, ..NO_FEATURES },
        output_formats: &["image/png"],
        lifecycle: Lifecycle::Retired,
        replacement: Some("gpt-image-1-mini"),
        retired_note: Some("retired on the OpenAI API on 2026-05-12"),
        price_per_image_usd: Some(0.02),
        prompt_notes: None,
        input_fidelity: false,
        gpt_image: false,
        ..FIXED_BASE
    },
];

/// Model used when a request names none.
pub const DEFAULT_MODEL: &str = "gpt-image-1.5";

/// A model by exact id.
pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

impl Model {
    /// The provider parameters a GPT image model declares (JSON Schema, WIT
    /// 0.2.0 `model-info.parameters`): `quality`, `background`,
    /// `output_format`, `output_compression` and `moderation` with their
    /// documented values (docs/providers/openai.md#generations); other keys
    /// pass through to the API. The dall-e models declare nothing.
    pub fn parameters(&self) -> Option<serde_json::Value> {
        if !self.gpt_image {
            return None;
        }
        let quality: &[&str] = if self.id.starts_with("gpt-image-2.") {
            &["low", "medium", "high", "auto", "xhigh", "max"]
        } else {
            &["low", "medium", "high", "auto"]
        };
        Some(serde_json::json!({
            "type": "object",
            "properties": {
                "quality": {"enum": quality},
                "background": {"enum": ["transparent", "opaque", "auto"]},
                "output_format": {"enum": ["png", "jpeg", "webp"]},
                "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
                "moderation": {"enum": ["low", "auto"]},
            },
        }))
    }

    /// The model as `describe` reports it (WIT `model-info`).
    pub fn info(&self) -> ModelInfo {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let dims = |(width, height): (u32, u32)| Dims { width, height };
        ModelInfo {
            id: self.id.into(),
            display_name: self.display_name.into(),
            aliases: strings(self.aliases),
            operations: self.operations.to_vec(),
            aspect_ratios: strings(self.aspect_ratios),
            size_tiers: strings(self.size_tiers),
            sizes: self.sizes.iter().copied().map(dims).collect(),
            min_side: self.min_side,
            max_side: self.max_side,
            size_multiple: self.size_multiple,
            default_size: dims(self.default_size),
            max_images: self.max_images,
            max_input_images: self.max_input_images,
            features: self.features,
            output_formats: strings(self.output_formats),
            lifecycle: self.lifecycle,
            replacement: self.replacement.map(Into::into),
            price_per_image_usd: self.price_per_image_usd,
            prompt_style: PromptStyle::NaturalLanguage,
            prompt_notes: self.prompt_notes.map(Into::into),
            parameters: self.parameters(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert!(find(DEFAULT_MODEL).is_some_and(|m| m.lifecycle == Lifecycle::Current));
        for model in MODELS {
            assert!(!model.id.is_empty() && !model.display_name.is_empty());
            assert_eq!(MODELS.iter().filter(|m| m.id == model.id).count(), 1, "{} twice", model.id);
            if let Some(replacement) = model.replacement {
                let target = find(replacement).expect("replacement is listed");
                assert_eq!(target.lifecycle, Lifecycle::Current, "{} → {replacement}", model.id);
            }
            assert_eq!(model.lifecycle == Lifecycle::Retired, model.retired_note.is_some(), "{}", model.id);
            assert!(model.sizes.contains(&model.default_size) || model.sizes.is_empty(), "{}", model.id);
            assert_eq!(model.features.strength, model.input_fidelity, "{}", model.id);
        }
    }
}
