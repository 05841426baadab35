//! The fal models this plugin describes, with their capabilities, and the
//! endpoint family each belongs to (which decides how Easel's parameters map
//! onto the endpoint's own input names).
//!
//! Schemas: docs/providers/fal.md#inputs (fal-js generated endpoint types). Facts marked
//! [M] there (or not given at all: pixel sizes of the `image_size` presets,
//! reference-image limits) are kept loose so that fal, not Easel, has the
//! last word.

use crate::types::{Dims, Features, Lifecycle, ModelInfo, Operation, PromptStyle};

/// How a model's input is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// FLUX.1 style: `image_size` enum or `{width,height}`, `num_inference_steps`,
    /// `guidance_scale`; edits go to `<id>/image-to-image` with `image_url` + `strength`.
    Flux,
    /// Gemini "nano banana" resold: `aspect_ratio`, optional `resolution`
    /// (`pro`); edits go to `<id>/edit` with `image_urls`.
    NanoBanana { resolution: bool },
    /// Clarity Upscaler (a diffusion upscaler steered by a ControlNet): `image_url`,
    /// `upscale_factor` 1–4 and optional SD-style prompts; Upscale only ([`crate::upscale`]).
    Clarity,
    /// Any other endpoint id: every common field under its usual fal name.
    Generic,
}

/// `image_size` presets of FLUX endpoints (names per docs/providers/fal.md#inputs; the
/// pixel sizes are fal's documented defaults [M]).
pub const FLUX_PRESETS: [(&str, u32, u32); 6] = [
    ("square_hd", 1024, 1024),
    ("square", 512, 512),
    ("portrait_4_3", 768, 1024),
    ("portrait_16_9", 576, 1024),
    ("landscape_4_3", 1024, 768),
    ("landscape_16_9", 1024, 576),
];

/// Aspect ratios offered for FLUX and the preset each maps to.
pub const FLUX_RATIOS: [(&str, &str); 5] = [
    ("1:1", "square_hd"),
    ("4:3", "landscape_4_3"),
    ("3:4", "portrait_4_3"),
    ("16:9", "landscape_16_9"),
    ("9:16", "portrait_16_9"),
];

/// nano-banana `aspect_ratio` values (docs/providers/fal.md#inputs: 21:9 … 9:16).
pub const BANANA_RATIOS: [&str; 10] = ["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"];

/// nano-banana-pro `resolution` tiers and the long edge each gives, pixels.
pub const BANANA_TIERS: [(&str, u32); 3] = [("1K", 1024), ("2K", 2048), ("4K", 4096)];

/// One entry of the built-in table.
struct Entry {
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    family: Family,
    /// Whether edits are offered (through the family's edit endpoint).
    edits: bool,
    lifecycle: Lifecycle,
    replacement: Option<&'static str>,
    price: Option<f64>,
    notes: &'static str,
}

const TABLE: [Entry; 5] = [
    Entry {
        id: "fal-ai/flux/dev",
        name: "FLUX.1 [dev] (fal)",
        aliases: &["flux-dev", "fal-ai/flux/dev/image-to-image"],
        family: Family::Flux,
        edits: true,
        lifecycle: Lifecycle::Current,
        replacement: None,
        // docs/providers/fal.md#models: unit_price 0.025 per megapixel, i.e. per 1024×1024 image [S].
        price: Some(0.025),
        notes: "Natural-language prompts of one to three sentences work best; describe subject, style and lighting. \
                No negative prompt. Edits (edit_image) use fal-ai/flux/dev/image-to-image with `strength` (default 0.95).",
    },
    Entry {
        id: "fal-ai/flux/schnell",
        name: "FLUX.1 [schnell] (fal)",
        aliases: &["flux-schnell"],
        family: Family::Flux,
        edits: false,
        lifecycle: Lifecycle::Current,
        replacement: None,
        price: None,
        notes: "Fast 1–4 step model: short, concrete prompts. No negative prompt and no guidance; text-to-image only.",
    },
    Entry {
        id: "fal-ai/nano-banana-pro",
        name: "Nano Banana Pro (Gemini 3 Pro Image, fal)",
        aliases: &["nano-banana-pro", "fal-ai/nano-banana-pro/edit"],
        family: Family::NanoBanana { resolution: true },
        edits: true,
        lifecycle: Lifecycle::Current,
        replacement: None,
        price: None,
        notes: "Conversational prompts; good at legible text and following edits such as \"make it night\". \
                Sizes come from aspect_ratio plus size tier 1K/2K/4K; width/height map to the nearest ratio and tier.",
    },
    Entry {
        id: "fal-ai/nano-banana",
        name: "Nano Banana (Gemini 2.5 Flash Image, fal)",
        aliases: &["nano-banana", "fal-ai/nano-banana/edit"],
        family: Family::NanoBanana { resolution: false },
        edits: true,
        // docs/providers/fal.md#models: gemini-2.5-flash-image is probably discontinued upstream [S].
        lifecycle: Lifecycle::Deprecated,
        replacement: Some("fal-ai/nano-banana-pro"),
        price: None,
        notes: "Conversational prompts; edits keep the subject. Sizes come from aspect_ratio; width/height map to the nearest ratio.",
    },
    Entry {
        id: crate::upscale::CLARITY,
        name: "Clarity Upscaler (fal)",
        aliases: &["clarity-upscaler"],
        family: Family::Clarity,
        edits: false,
        lifecycle: Lifecycle::Current,
        replacement: None,
        // docs/providers/fal.md#upscaling: $0.03 per megapixel, which depends on the size [P].
        price: None,
        notes: "Creative upscaler (upscale_image only), 1x to 4x: re-draws detail, guided by an optional SD-style tag prompt \
                (fal's default \"masterpiece, best quality, highres\" when none is given). The factor is sent as \
                upscale_factor. params: creativity (0-1, default 0.35; higher invents more), resemblance (default 0.6; \
                higher keeps closer to the input), enable_safety_checker. Priced by fal at $0.03 per megapixel.",
    },
];

/// The family of a model id (built-in ids and their aliases; anything else is generic).
pub fn family(id: &str) -> Family {
    find(id).map_or(Family::Generic, |e| e.family)
}

/// The canonical id for a built-in id or alias, else the id as given.
pub fn canonical(id: &str) -> String {
    find(id).map_or_else(|| id.to_string(), |e| e.id.to_string())
}

fn find(id: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.id == id || e.aliases.contains(&id))
}

/// The endpoint a request goes to: built-in models send edits to their edit
/// endpoint (docs/providers/fal.md#endpoint-ids); other ids are used as given.
pub fn endpoint(id: &str, operation: Operation) -> String {
    let Some(entry) = find(id) else { return id.to_string() };
    match (operation, entry.family) {
        (Operation::Generate, _) => entry.id.to_string(),
        (_, Family::Flux) => format!("{}/image-to-image", entry.id),
        (_, Family::NanoBanana { .. }) => format!("{}/edit", entry.id),
        (_, Family::Clarity | Family::Generic) => entry.id.to_string(),
    }
}

/// Capabilities of every built-in model, then of each `extra` id (config
/// `extra_models`) that is not built in.
pub fn all(extra: &[String]) -> Vec<ModelInfo> {
    let mut models: Vec<ModelInfo> = TABLE.iter().map(info).collect();
    for id in extra {
        if find(id).is_none() && !models.iter().any(|m| &m.id == id) {
            models.push(generic(id));
        }
    }
    // Patterns: the host passes any matching id through with loose
    // capabilities (WIT `model-info.id`); the provider's own 422 names a bad field.
    for pattern in ["*/*", "*/*/*", "*/*/*/*"] {
        models.push(generic(pattern));
    }
    models
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn info(entry: &Entry) -> ModelInfo {
    let operations = if entry.edits { vec![Operation::Generate, Operation::Edit] } else { vec![Operation::Generate] };
    let base = ModelInfo {
        id: entry.id.into(),
        display_name: entry.name.into(),
        aliases: strings(entry.aliases),
        operations,
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![],
        min_side: 256,
        max_side: 2048,
        size_multiple: 8,
        default_size: Dims { width: 1024, height: 768 },
        max_images: 4,
        max_input_images: 1,
        features: Features::default(),
        output_formats: strings(&["image/png", "image/jpeg"]),
        lifecycle: entry.lifecycle,
        replacement: entry.replacement.map(String::from),
        price_per_image_usd: entry.price,
        parameters: None,
        prompt_style: PromptStyle::NaturalLanguage,
        prompt_notes: Some(entry.notes.into()),
    };
    match entry.family {
        Family::Flux => ModelInfo {
            prompt_style: PromptStyle::T5Prose,
            aspect_ratios: FLUX_RATIOS.iter().map(|(r, _)| r.to_string()).collect(),
            sizes: FLUX_PRESETS.iter().map(|(_, w, h)| Dims { width: *w, height: *h }).collect(),
            max_input_images: u32::from(entry.edits),
            features: Features {
                seed: true,
                steps: true,
                // schnell is guidance-distilled and takes no guidance_scale.
                guidance: entry.edits,
                strength: entry.edits,
                custom_size: true,
                ..Features::default()
            },
            ..base
        },
        Family::NanoBanana { resolution } => ModelInfo {
            aspect_ratios: strings(&BANANA_RATIOS),
            size_tiers: if resolution { BANANA_TIERS.iter().map(|(t, _)| t.to_string()).collect() } else { vec![] },
            min_side: 64,
            max_side: if resolution { 4096 } else { 1536 },
            size_multiple: 1,
            default_size: Dims { width: 1024, height: 1024 },
            // Reference-image limits are Google's model limits as resold [M].
            max_input_images: if resolution { 14 } else { 3 },
            features: Features { seed: true, ..Features::default() },
            output_formats: strings(&["image/png", "image/jpeg", "image/webp"]),
            ..base
        },
        Family::Clarity => ModelInfo {
            operations: vec![Operation::Upscale],
            prompt_style: PromptStyle::WeightedTags,
            min_side: 64,
            // fal documents no output limit [M]; 8192 is the most the host stores a side.
            max_side: 8192,
            size_multiple: 1,
            default_size: Dims { width: 2048, height: 2048 },
            max_images: 1,
            max_input_images: 1,
            features: Features {
                negative_prompt: true,
                seed: true,
                steps: true,
                guidance: true,
                custom_size: true,
                ..Features::default()
            },
            output_formats: strings(&["image/png", "image/jpeg"]),
            ..base
        },
        Family::Generic => base,
    }
}

/// Loose capabilities for an endpoint id the table does not know: fal
/// validates the request itself and its 422 names the field at fault.
pub fn generic(id: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        display_name: format!("{id} (fal endpoint)"),
        aliases: vec![],
        operations: vec![Operation::Generate, Operation::Edit, Operation::Inpaint, Operation::Upscale, Operation::Variation],
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![],
        min_side: 64,
        max_side: 4096,
        size_multiple: 1,
        default_size: Dims { width: 1024, height: 1024 },
        max_images: 4,
        max_input_images: 4,
        features: Features {
            negative_prompt: true,
            seed: true,
            steps: true,
            guidance: true,
            strength: true,
            mask: true,
            custom_size: true,
        },
        output_formats: strings(&["image/png", "image/jpeg", "image/webp"]),
        lifecycle: Lifecycle::Current,
        replacement: None,
        price_per_image_usd: None,
        parameters: None,
        prompt_style: PromptStyle::NaturalLanguage,
        prompt_notes: Some(
            "An operator-added fal endpoint: Easel's parameters are sent under fal's usual names (image_size, num_images, \
             seed, num_inference_steps, guidance_scale, negative_prompt, image_url/image_urls, mask_url, strength); \
             fal rejects the ones this endpoint does not take."
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_go_to_the_edit_endpoints() {
        assert_eq!(endpoint("fal-ai/flux/dev", Operation::Edit), "fal-ai/flux/dev/image-to-image");
        assert_eq!(endpoint("fal-ai/flux/dev", Operation::Generate), "fal-ai/flux/dev");
        assert_eq!(endpoint("fal-ai/nano-banana-pro", Operation::Edit), "fal-ai/nano-banana-pro/edit");
        assert_eq!(endpoint("fal-ai/recraft/v3", Operation::Edit), "fal-ai/recraft/v3");
        assert_eq!(canonical("flux-dev"), "fal-ai/flux/dev");
    }

    #[test]
    fn table_is_consistent() {
        let models = all(&["fal-ai/recraft/v3".into(), "fal-ai/flux/dev".into()]);
        assert_eq!(models.len(), TABLE.len() + 1 + 3, "the table, one extra, three id patterns");
        for m in &models {
            assert!(m.max_images >= 1 && m.min_side <= m.max_side, "{}", m.id);
            assert_eq!(m.lifecycle == Lifecycle::Deprecated, m.replacement.is_some(), "{}", m.id);
            if let Some(r) = &m.replacement {
                assert!(models.iter().any(|x| &x.id == r), "{} -> {r}", m.id);
            }
            for d in &m.sizes {
                assert_eq!(d.width % m.size_multiple, 0);
            }
        }
        let schnell = models.iter().find(|m| m.id == "fal-ai/flux/schnell").unwrap();
        assert!(!schnell.features.guidance && schnell.operations == vec![Operation::Generate]);
        // The upscaler only upscales, and is the first model that does (the host picks
        // the first upscale model of a provider when none is named).
        let first = models.iter().find(|m| m.operations.contains(&Operation::Upscale)).unwrap();
        assert_eq!(
            (first.id.as_str(), first.operations.as_slice()),
            ("fal-ai/clarity-upscaler", &[Operation::Upscale][..])
        );
        assert_eq!((first.max_input_images, first.size_multiple, first.max_side), (1, 1, 8192));
        assert!(first.features.custom_size && first.sizes.is_empty());
    }

    #[test]
    fn the_upscaler_keeps_its_own_endpoint() {
        assert_eq!(endpoint("clarity-upscaler", Operation::Upscale), "fal-ai/clarity-upscaler");
        assert_eq!(family("fal-ai/clarity-upscaler"), Family::Clarity);
        assert_eq!(canonical("clarity-upscaler"), "fal-ai/clarity-upscaler");
    }
}
