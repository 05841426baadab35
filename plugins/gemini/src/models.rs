//! The Gemini image model table ("nano banana" family): ids, aliases, life
//! cycle, aspect ratios, size tiers, limits and prices.
//!
//! `GET /models` does not say which models output images (docs/providers/gemini.md#models),
//! so this is static. Sources: docs/providers/gemini.md#models (life cycle, mostly [S] quotes
//! of Google notices), docs/providers/gemini.md#generatecontent (aspect ratios, `imageSize`), docs/providers/gemini.md#models (limits and
//! prices, [S]/[M]).

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

/// Which endpoint a model used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `:generateContent` with `inlineData` parts (Gemini native image).
    GenerateContent,
    /// `:predict` (Imagen) — shut down on the Gemini API, listed only so
    /// that requests for it get a clear refusal (docs/providers/gemini.md#imagen).
    Predict,
}

/// `imageSize` tiers with their nominal square edge in pixels (the long
/// edge grows with the aspect ratio). `512` is Gemini 3.x only [S]; the
/// value is sent with an upper-case K (docs/providers/gemini.md#generatecontent).
pub const TIERS: [(&str, u32); 4] = [("512", 512), ("1K", 1024), ("2K", 2048), ("4K", 4096)];

/// One model's capabilities ([`Model::info`] is what `describe` reports).
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub id: &'static str,
    pub display_name: &'static str,
    /// Case-insensitive names the host resolves to `id`.
    pub aliases: &'static [&'static str],
    pub operations: &'static [Operation],
    /// `imageConfig.aspectRatio` values.
    pub aspect_ratios: &'static [&'static str],
    /// `imageConfig.imageSize` values; empty = the field is not sent.
    pub size_tiers: &'static [&'static str],
    pub min_side: u32,
    pub max_side: u32,
    /// Images per `submit` (the API has no `n`: one call per image —
    /// docs/providers/gemini.md#generatecontent).
    pub max_images: u32,
    /// Reference images per call (14 for Gemini 3.x, ≤3 advised for 2.5 [S]).
    pub max_input_images: u32,
    pub features: Features,
    pub output_formats: &'static [&'static str],
    pub lifecycle: Lifecycle,
    pub replacement: Option<&'static str>,
    /// When and why it went away, for the refusal message.
    pub retired_note: Option<&'static str>,
    /// US dollars per 1K image [S].
    pub price_per_image_usd: Option<f64>,
    pub prompt_notes: Option<&'static str>,
    pub api: Api,
}

const OPS: &[Operation] = &[Operation::Generate, Operation::Edit];
/// SDK docstring ratios [P] plus 4:5 and 5:4 from Google docs [S].
const RATIOS: &[&str] = &["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"];
/// Gemini 3.1 Flash Image adds the extreme ratios [S].
const RATIOS_31: &[&str] =
    &["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:4", "4:1", "1:8", "8:1"];
const NOTES: &str = "Describe the scene in full sentences (subject, setting, style, lighting, camera) rather than \
keyword lists. For edits the reference images come first: say what to change and what to keep. There is no negative \
prompt and no mask: name what to avoid or which region to change in words. Without aspect_ratio an edit follows the \
input image's shape.";

const FLASH_31: Model = Model {
    id: "gemini-3.1-flash-image",
    display_name: "Gemini 3.1 Flash Image (Nano Banana 2)",
    aliases: &[
        "nano-banana-2",
        "nano-banana",
        "flash",
        "Nano Banana 2",
        "Nano Banana",
        "Gemini 3.1 Flash Image",
        "models/gemini-3.1-flash-image",
    ],
    operations: OPS,
    aspect_ratios: RATIOS_31,
    size_tiers: &["512", "1K", "2K", "4K"],
    min_side: 64,
    max_side: 8192,
    max_images: 4,
    max_input_images: 14,
    features: Features { seed: true, ..NO_FEATURES },
    output_formats: &["image/png", "image/jpeg"],
    lifecycle: Lifecycle::Current,
    replacement: None,
    retired_note: None,
    price_per_image_usd: Some(0.067),
    prompt_notes: Some(NOTES),
    api: Api::GenerateContent,
};

const PRO_3: Model = Model {
    id: "gemini-3-pro-image",
    display_name: "Gemini 3 Pro Image (Nano Banana Pro)",
    aliases: &["nano-banana-pro", "pro", "Nano Banana Pro", "Gemini 3 Pro Image", "models/gemini-3-pro-image"],
    aspect_ratios: RATIOS,
    size_tiers: &["1K", "2K", "4K"],
    price_per_image_usd: Some(0.134),
    ..FLASH_31
};

const IMAGEN: Model = Model {
    id: "",
    display_name: "",
    aliases: &[],
    operations: &[Operation::Generate],
    aspect_ratios: &["1:1", "3:4", "4:3", "9:16", "16:9"],
    size_tiers: &[],
    max_side: 2048,
    max_input_images: 0,
    features: NO_FEATURES,
    lifecycle: Lifecycle::Retired,
    replacement: Some("gemini-3.1-flash-image"),
    retired_note: Some("shut down on the Gemini API on 2026-08-17 (Imagen now needs Vertex AI)"),
    price_per_image_usd: None,
    prompt_notes: None,
    api: Api::Predict,
    ..FLASH_31
};

/// Every model this plugin knows, current first.
pub const MODELS: &[Model] = &[
    FLASH_31,
    PRO_3,
    Model {
        id: "gemini-3.1-flash-lite-image",
        display_name: "Gemini 3.1 Flash-Lite Image",
        aliases: &["flash-lite", "Gemini 3.1 Flash-Lite Image", "models/gemini-3.1-flash-lite-image"],
        // Listed by google-genai 3.4.0 [P]; capabilities assumed like 3.1 Flash [M].
        price_per_image_usd: None,
        ..FLASH_31
    },
    Model {
        id: "gemini-nano-banana-2.1",
        display_name: "Nano Banana 2.1",
        aliases: &["nano-banana-2.1", "Nano Banana 2.1", "models/gemini-nano-banana-2.1"],
        // Listed by google-genai 3.4.0 [P]; capabilities assumed like 3.1 Flash [M].
        price_per_image_usd: None,
        ..FLASH_31
    },
    Model {
        id: "gemini-3.1-flash-image-preview",
        display_name: "Gemini 3.1 Flash Image Preview",
        aliases: &["Gemini 3.1 Flash Image Preview", "models/gemini-3.1-flash-image-preview"],
        lifecycle: Lifecycle::Deprecated,
        replacement: Some("gemini-3.1-flash-image"),
        ..FLASH_31
    },
    Model {
        id: "gemini-3-pro-image-preview",
        display_name: "Gemini 3 Pro Image Preview",
        aliases: &["Gemini 3 Pro Image Preview", "models/gemini-3-pro-image-preview"],
        lifecycle: Lifecycle::Deprecated,
        replacement: Some("gemini-3-pro-image"),
        ..PRO_3
    },
    Model {
        id: "nano-banana-pro-preview",
        display_name: "Nano Banana Pro Preview",
        aliases: &["Nano Banana Pro Preview"],
        lifecycle: Lifecycle::Deprecated,
        replacement: Some("gemini-3-pro-image"),
        ..PRO_3
    },
    Model {
        id: "gemini-2.5-flash-image",
        display_name: "Gemini 2.5 Flash Image (original Nano Banana)",
        aliases: &["Gemini 2.5 Flash Image", "models/gemini-2.5-flash-image"],
        aspect_ratios: RATIOS,
        size_tiers: &[],
        max_side: 1536,
        max_input_images: 3,
        lifecycle: Lifecycle::Retired,
        replacement: Some("gemini-3.1-flash-image"),
        retired_note: Some(
            "discontinued on the Gemini Developer API on 2026-10-02 (per Google's model card as quoted by third parties)",
        ),
        price_per_image_usd: Some(0.039),
        ..FLASH_31
    },
    Model {
        id: "gemini-2.5-flash-image-preview",
        display_name: "Gemini 2.5 Flash Image Preview",
        aliases: &["Gemini 2.5 Flash Image Preview", "models/gemini-2.5-flash-image-preview"],
        aspect_ratios: RATIOS,
        size_tiers: &[],
        max_side: 1536,
        max_input_images: 3,
        lifecycle: Lifecycle::Retired,
        replacement: Some("gemini-3.1-flash-image"),
        retired_note: Some("shut down on 2026-01-15"),
        price_per_image_usd: Some(0.039),
        ..FLASH_31
    },
    Model { id: "imagen-4.0-generate-001", display_name: "Imagen 4", ..IMAGEN },
    Model { id: "imagen-4.0-fast-generate-001", display_name: "Imagen 4 Fast", ..IMAGEN },
    Model { id: "imagen-4.0-ultra-generate-001", display_name: "Imagen 4 Ultra", ..IMAGEN },
];

/// Model used when a request names none: the current GA "Nano Banana 2"
/// (`gemini-2.5-flash-image` is past its announced discontinuation — docs/providers/gemini.md#models).
pub const DEFAULT_MODEL: &str = "gemini-3.1-flash-image";

/// A model by exact id.
pub fn find(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

impl Model {
    /// The model as `describe` reports it (WIT `model-info`). Sizes come
    /// from aspect ratio × tier, so none are listed; width/height map to
    /// the nearest pair.
    pub fn info(&self) -> ModelInfo {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ModelInfo {
            id: self.id.into(),
            display_name: self.display_name.into(),
            aliases: strings(self.aliases),
            operations: self.operations.to_vec(),
            aspect_ratios: strings(self.aspect_ratios),
            size_tiers: strings(self.size_tiers),
            sizes: vec![],
            min_side: self.min_side,
            max_side: self.max_side,
            size_multiple: 1,
            default_size: Dims { width: 1024, height: 1024 },
            max_images: self.max_images,
            max_input_images: self.max_input_images,
            features: self.features,
            output_formats: strings(self.output_formats),
            lifecycle: self.lifecycle,
            replacement: self.replacement.map(Into::into),
            price_per_image_usd: self.price_per_image_usd,
            parameters: None,
            prompt_style: PromptStyle::NaturalLanguage,
            prompt_notes: self.prompt_notes.map(Into::into),
        }
    }
}

/// Nominal square edge of a tier name (`0.5K` is accepted for `512`).
pub fn tier_edge(tier: &str) -> Option<u32> {
    let tier = if tier.eq_ignore_ascii_case("0.5K") { "512" } else { tier };
    TIERS.iter().find(|(name, _)| name.eq_ignore_ascii_case(tier)).map(|(_, px)| *px)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert!(find(DEFAULT_MODEL).is_some_and(|m| m.lifecycle == Lifecycle::Current));
        let mut names: Vec<String> = Vec::new();
        for model in MODELS {
            assert!(!model.id.is_empty() && !model.display_name.is_empty());
            for name in std::iter::once(model.id).chain(model.aliases.iter().copied()) {
                let lower = name.to_lowercase();
                assert!(!names.contains(&lower), "`{name}` is used twice");
                names.push(lower);
            }
            if let Some(replacement) = model.replacement {
                assert_eq!(find(replacement).expect("listed").lifecycle, Lifecycle::Current, "{}", model.id);
            }
            assert_eq!(model.lifecycle == Lifecycle::Retired, model.retired_note.is_some(), "{}", model.id);
            for tier in model.size_tiers {
                assert!(tier_edge(tier).is_some(), "{tier}");
            }
        }
    }

    #[test]
    fn aliases_reach_current_models() {
        let by_alias =
            |alias: &str| MODELS.iter().find(|m| m.aliases.iter().any(|a| a.eq_ignore_ascii_case(alias))).map(|m| m.id);
        assert_eq!(by_alias("nano-banana"), Some("gemini-3.1-flash-image"));
        assert_eq!(by_alias("NANO-BANANA-2"), Some("gemini-3.1-flash-image"));
        assert_eq!(by_alias("flash"), Some("gemini-3.1-flash-image"));
        assert_eq!(by_alias("pro"), Some("gemini-3-pro-image"));
        assert_eq!(by_alias("nano-banana-pro"), Some("gemini-3-pro-image"));
        assert_eq!(tier_edge("0.5k"), Some(512));
        assert_eq!(tier_edge("2k"), Some(2048));
    }
}
