//! The Replicate models this plugin describes, their capabilities, and the
//! input family each belongs to (which decides the model's own input names).
//!
//! FLUX inputs are primary (docs/providers/replicate.md#models, replicate/cog-flux). The
//! `google/nano-banana*` input names (`image_input`, `resolution`) and all
//! pixel limits are assumptions [M]: Replicate's 422 `invalid_fields` is the
//! authority, and the plugin maps it back to Easel's field names.

use crate::types::{Dims, Features, Lifecycle, ModelInfo, Operation, PromptStyle};

/// How a model's input is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// replicate/cog-flux: `aspect_ratio`, `num_outputs` 1–4, `output_format`
    /// webp/jpg/png; `dev` adds `image` + `prompt_strength`, `num_inference_steps`, `guidance`.
    Flux { dev: bool },
    /// Gemini image models resold: `aspect_ratio`, `image_input: [..]`,
    /// `output_format` jpg/png, one image per call; `pro` adds `resolution`.
    NanoBanana { pro: bool },
    /// nightmareai/real-esrgan, a community GAN upscaler run by pinned version:
    /// `image`, `scale` 0–10, `face_enhance`; no prompt; Upscale only ([`crate::upscale`]).
    Esrgan,
    /// Any other `owner/name[:version]`: only the fields the caller set,
    /// under their most common Replicate names.
    Generic,
}

/// cog-flux `aspect_ratio` values (docs/providers/replicate.md#models).
pub const FLUX_RATIOS: [&str; 9] = ["1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"];
/// Gemini-style ratios [M].
pub const BANANA_RATIOS: [&str; 10] = ["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"];
/// nano-banana-pro `resolution` tiers and their long edge, pixels [M].
pub const BANANA_TIERS: [(&str, u32); 3] = [("1K", 1024), ("2K", 2048), ("4K", 4096)];

struct Entry {
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    family: Family,
    lifecycle: Lifecycle,
    replacement: Option<&'static str>,
    /// The version a bare `owner/name` runs: community models are created
    /// through `/v1/predictions` with a version (docs/providers/replicate.md#upscaling);
    /// `None` for official models, which take none.
    version: Option<&'static str>,
    notes: &'static str,
}

const TABLE: [Entry; 5] = [
    Entry {
        id: "black-forest-labs/flux-schnell",
        name: "FLUX.1 [schnell] (Replicate)",
        aliases: &["flux-schnell"],
        family: Family::Flux { dev: false },
        lifecycle: Lifecycle::Current,
        replacement: None,
        version: None,
        notes: "Fast 4-step model: short, concrete prompts. Sizes come from aspect_ratio (about 1 megapixel); \
                width/height map to the nearest ratio. Text-to-image only.",
    },
    Entry {
        id: "black-forest-labs/flux-dev",
        name: "FLUX.1 [dev] (Replicate)",
        aliases: &["flux-dev"],
        family: Family::Flux { dev: true },
        lifecycle: Lifecycle::Current,
        replacement: None,
        version: None,
        notes: "Natural-language prompts of one to three sentences; steps up to 50, guidance around 3. \
                Edits are img2img from one reference with `strength` (Replicate's prompt_strength, default 0.8).",
    },
    Entry {
        id: "google/nano-banana-pro",
        name: "Nano Banana Pro (Gemini 3 Pro Image, Replicate)",
        aliases: &["nano-banana-pro"],
        family: Family::NanoBanana { pro: true },
        lifecycle: Lifecycle::Current,
        replacement: None,
        version: None,
        notes: "Conversational prompts; strong at legible text and multi-image edits. Sizes come from aspect_ratio \
                plus size tier 1K/2K/4K.",
    },
    Entry {
        id: "google/nano-banana",
        name: "Nano Banana (Gemini 2.5 Flash Image, Replicate)",
        aliases: &["nano-banana"],
        family: Family::NanoBanana { pro: false },
        // docs/providers/replicate.md#models: gemini-2.5-flash-image is probably discontinued upstream [S].
        lifecycle: Lifecycle::Deprecated,
        replacement: Some("google/nano-banana-pro"),
        version: None,
        notes: "Conversational prompts; edits keep the subject. One image per call; sizes come from aspect_ratio.",
    },
    Entry {
        id: crate::upscale::ESRGAN,
        name: "Real-ESRGAN (nightmareai, Replicate)",
        aliases: &["real-esrgan"],
        family: Family::Esrgan,
        lifecycle: Lifecycle::Current,
        replacement: None,
        version: Some(crate::upscale::ESRGAN_VERSION),
        notes: "Fast GAN upscaler (upscale_image only), any factor up to 10: sharpens and restores, invents little. \
                Takes no prompt (one given is not sent). params: face_enhance (true runs GFPGAN on faces). \
                A community model: billed by GPU time and it may cold-boot; runs a pinned version.",
    },
];

fn find(id: &str) -> Option<&'static Entry> {
    let base = id.split(':').next().unwrap_or(id);
    TABLE.iter().find(|e| e.id == base || e.aliases.contains(&base))
}

/// The family of `owner/name[:version]` (built-ins by name, else generic).
pub fn family(id: &str) -> Family {
    find(id).map_or(Family::Generic, |e| e.family)
}

/// The version a bare built-in `owner/name` (or alias) is run with, when it
/// is a community model; `None` for an id that names its own version, an
/// official model, or an id the table does not know.
pub fn pinned_version(id: &str) -> Option<&'static str> {
    if id.contains(':') {
        return None;
    }
    find(id).and_then(|e| e.version)
}

/// Built-in alias → `owner/name`; any other id as given.
pub fn canonical(id: &str) -> String {
    match find(id) {
        Some(e) if !id.contains(':') => e.id.to_string(),
        _ => id.to_string(),
    }
}

/// Every built-in model, then each `extra` id (config `extra_models`) not built in.
pub fn all(extra: &[String]) -> Vec<ModelInfo> {
    let mut models: Vec<ModelInfo> = TABLE.iter().map(info).collect();
    for id in extra {
        if !models.iter().any(|m| &m.id == id || m.aliases.contains(id)) {
            models.push(generic(id));
        }
    }
    // Patterns: the host passes any matching id through with loose
    // capabilities (WIT `model-info.id`); the provider's own 422 names a bad field.
    for pattern in ["*/*", "*/*:*"] {
        models.push(generic(pattern));
    }
    models
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn info(entry: &Entry) -> ModelInfo {
    let base = ModelInfo {
        id: entry.id.into(),
        display_name: entry.name.into(),
        aliases: strings(entry.aliases),
        operations: vec![Operation::Generate],
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![],
        min_side: 64,
        max_side: 2048,
        size_multiple: 1,
        default_size: Dims { width: 1024, height: 1024 },
        max_images: 4,
        max_input_images: 0,
        features: Features { seed: true, ..Features::default() },
        output_formats: strings(&["image/png", "image/jpeg", "image/webp"]),
        lifecycle: entry.lifecycle,
        replacement: entry.replacement.map(String::from),
        // Replicate publishes no price in its API (docs/providers/replicate.md#models, ).
        price_per_image_usd: None,
        parameters: None,
        prompt_style: PromptStyle::NaturalLanguage,
        prompt_notes: Some(entry.notes.into()),
    };
    match entry.family {
        Family::Flux { dev } => ModelInfo {
            prompt_style: PromptStyle::T5Prose,
            operations: if dev { vec![Operation::Generate, Operation::Edit] } else { vec![Operation::Generate] },
            aspect_ratios: strings(&FLUX_RATIOS),
            max_input_images: u32::from(dev),
            features: Features { seed: true, steps: dev, guidance: dev, strength: dev, ..Features::default() },
            ..base
        },
        Family::NanoBanana { pro } => ModelInfo {
            operations: vec![Operation::Generate, Operation::Edit],
            aspect_ratios: strings(&BANANA_RATIOS),
            size_tiers: if pro { BANANA_TIERS.iter().map(|(t, _)| t.to_string()).collect() } else { vec![] },
            max_side: if pro { 4096 } else { 1536 },
            max_images: 1,
            max_input_images: if pro { 14 } else { 3 },
            features: Features::default(),
            output_formats: strings(&["image/png", "image/jpeg"]),
            ..base
        },
        Family::Esrgan => ModelInfo {
            operations: vec![Operation::Upscale],
            min_side: 16,
            // No documented limit [M]; 8192 is the most the host stores a side.
            max_side: 8192,
            default_size: Dims { width: 2048, height: 2048 },
            max_images: 1,
            max_input_images: 1,
            features: Features { custom_size: true, ..Features::default() },
            output_formats: strings(&["image/png"]),
            ..base
        },
        Family::Generic => base,
    }
}

/// Loose capabilities for an id the table does not know: Replicate validates
/// the input against the model's own schema and names the field at fault.
pub fn generic(id: &str) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        display_name: format!("{id} (Replicate model)"),
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
            "An operator-added Replicate model: only the parameters you set are sent (prompt, aspect_ratio, width, height, \
             num_outputs, seed, num_inference_steps, guidance_scale, negative_prompt, image, mask, prompt_strength); \
             Replicate rejects those the model's schema lacks."
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_aliases() {
        assert_eq!(family("black-forest-labs/flux-dev"), Family::Flux { dev: true });
        assert_eq!(family("flux-schnell"), Family::Flux { dev: false });
        assert_eq!(
            family("stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"),
            Family::Generic
        );
        assert_eq!(canonical("nano-banana"), "google/nano-banana");
        assert_eq!(canonical("me/model:abc"), "me/model:abc");
    }

    #[test]
    fn table_is_consistent() {
        let models = all(&["stability-ai/sdxl".into(), "flux-dev".into()]);
        assert_eq!(models.len(), TABLE.len() + 1 + 2, "the table, one extra, two id patterns");
        for m in &models {
            assert_eq!(m.lifecycle == Lifecycle::Deprecated, m.replacement.is_some(), "{}", m.id);
            if let Some(r) = &m.replacement {
                assert!(models.iter().any(|x| &x.id == r));
            }
            let takes_images = m.operations.contains(&Operation::Edit) || m.operations.contains(&Operation::Upscale);
            assert_eq!(takes_images, m.max_input_images > 0, "{}", m.id);
        }
        let first = models.iter().find(|m| m.operations.contains(&Operation::Upscale)).unwrap();
        assert_eq!(
            (first.id.as_str(), first.operations.as_slice()),
            ("nightmareai/real-esrgan", &[Operation::Upscale][..])
        );
        assert_eq!((first.max_input_images, first.size_multiple, first.max_side), (1, 1, 8192));
        assert!(first.features.custom_size && !first.features.seed);
    }

    #[test]
    fn the_community_upscaler_runs_a_pinned_version_unless_the_id_names_one() {
        assert_eq!(family("real-esrgan"), Family::Esrgan);
        assert_eq!(canonical("real-esrgan"), "nightmareai/real-esrgan");
        assert_eq!(pinned_version("nightmareai/real-esrgan"), Some(crate::upscale::ESRGAN_VERSION));
        assert_eq!(pinned_version("real-esrgan"), Some(crate::upscale::ESRGAN_VERSION));
        assert_eq!(pinned_version(&format!("nightmareai/real-esrgan:{}", "0".repeat(64))), None);
        assert_eq!(family(&format!("nightmareai/real-esrgan:{}", "0".repeat(64))), Family::Esrgan);
        for official in ["black-forest-labs/flux-dev", "google/nano-banana-pro", "someone/other"] {
            assert_eq!(pinned_version(official), None, "{official}");
        }
    }
}
