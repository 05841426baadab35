//! Fuzz entry points (`fuzz/` runs them under cargo-fuzz, `tests/fuzz_smoke.rs`
//! on stable): untrusted bytes through the `plugins.toml` parser, MCP tool
//! argument validation and image-input decoding, the way the server takes
//! them. Each returns normally on any input (errors are expected and
//! dropped); a panic is a bug.

use crate::config::{ConfigOrigin, Deployment, InputSettings, PreviewSettings};
use crate::inputs::decode_data_uri;
use crate::jobs::{GenerateSpec, validate};
use crate::mcp::tools::{EditArgs, GenerateArgs};
use crate::model::{Dimensions, Features, Lifecycle, ModelInfo, Operation, ProviderInfo};
use crate::store::views::ViewSpec;
use crate::store::{is_valid_id, preview, probe};
use base64::Engine as _;
use std::sync::OnceLock;

/// Parse `data` as a `plugins.toml`, as `easel --config FILE` does (text
/// that is not UTF-8 is refused like an unreadable file), and render the
/// error message (line, column, snippet) when there is one.
pub fn plugins_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A directory that does not exist: `path = "…"` sources are looked up
    // (a stat, nothing is read) and relative ones are never found.
    let origin = ConfigOrigin {
        name: "fuzz/plugins.toml".into(),
        base_dir: std::env::temp_dir().join("easel-fuzz-no-such-dir"),
        text: text.to_string(),
    };
    match Deployment::parse(text, origin) {
        Ok(deployment) => {
            for entry in deployment.plugins.values() {
                let _ = entry.path.as_ref().map(|p| deployment.resolve_path(p.get_ref()));
            }
            let _ = deployment.store.dir.as_ref().map(|d| deployment.resolve_path(d));
        }
        Err(error) => {
            let _ = error.to_string();
            let _ = error.position();
        }
    }
}

/// Treat `data` as the JSON `arguments` of an MCP `tools/call` for
/// `generate_image` and for `edit_image`: deserialize them with the server's
/// own argument types (as rmcp does: JSON object → `serde_json::from_value`),
/// convert them to a [`GenerateSpec`] like the tools do, pick the model the
/// way `Registry::route` would among [`fuzz_providers`], choose the
/// operation like `Jobs::generate`, and run [`validate::check`]. Inline
/// `data:` input images are decoded and probed as `InputResolver` would
/// (nothing is stored, nothing is fetched).
pub fn tool_arguments(data: &[u8]) {
    let Ok(arguments) = serde_json::from_slice::<rmcp::model::JsonObject>(data) else { return };
    if let Ok(args) = rmcp::handler::server::tool::parse_json_object::<GenerateArgs>(arguments.clone()) {
        validate_spec(args.into_spec());
    }
    if let Ok(args) = rmcp::handler::server::tool::parse_json_object::<EditArgs>(arguments)
        && let Ok(spec) = args.into_spec()
    {
        validate_spec(spec);
    }
}

/// Routing, operation choice and validation of one spec (the part of
/// `Jobs::generate` before any plugin or store is involved).
fn validate_spec(spec: GenerateSpec) {
    let Some(model) = route(spec.settings.provider.as_deref(), spec.settings.model.as_deref()) else { return };
    // As `Jobs::generate`: a mask asks for an inpaint, which becomes an
    // edit for a model that cannot inpaint.
    let operation = match spec.operation() {
        Operation::Inpaint if !model.operations.contains(&Operation::Inpaint) => Operation::Edit,
        operation => operation,
    };
    if validate::check(&spec, operation, &model).is_err() {
        return;
    }
    let max_bytes = InputSettings::default().max_mib << 20;
    for input in &spec.inputs {
        let handle = input.id.trim();
        let as_id = handle.strip_prefix("image://").unwrap_or(handle);
        if is_valid_id(as_id) {
            continue;
        }
        if let Some(uri) = handle.strip_prefix("data:")
            && let Ok(bytes) = decode_data_uri(uri, max_bytes)
        {
            let _ = probe(&bytes);
        }
    }
}

/// The model `Registry::route` would pick among [`fuzz_providers`], all of
/// them ready; `None` where it would refuse (unknown provider or model).
fn route(provider: Option<&str>, model: Option<&str>) -> Option<ModelInfo> {
    let providers = fuzz_providers();
    let info = match (provider, model) {
        (Some(id), _) => providers.iter().find(|p| p.id == id)?,
        (None, Some(name)) => providers.iter().find(|p| p.find_model(name).is_some())?,
        (None, None) => &providers[0],
    };
    let found = info.find_model(model.unwrap_or(&info.default_model))?;
    Some(found.into_owned())
}

/// What [`tool_arguments`] validates against, the default provider first:
/// the placeholder plugin's `describe` (kept equal to the real one by
/// `tests/fuzz_smoke.rs`), and a made-up provider whose models reach the
/// branches the placeholder cannot: fixed sizes, a size multiple, no
/// optional features, deprecated and retired models, and a Replicate-style
/// `*/*` pattern id.
pub fn fuzz_providers() -> &'static [ProviderInfo] {
    static PROVIDERS: OnceLock<Vec<ProviderInfo>> = OnceLock::new();
    PROVIDERS.get_or_init(|| vec![placeholder_provider(), representative_provider()])
}

/// The placeholder plugin's `describe`, as the host sees it (after
/// `runtime::convert`), minus the version.
pub fn placeholder_provider() -> ProviderInfo {
    let all = Features {
        negative_prompt: true,
        seed: true,
        steps: true,
        guidance: true,
        strength: true,
        mask: true,
        custom_size: true,
    };
    ProviderInfo {
        id: "placeholder".into(),
        display_name: "Placeholder (offline)".into(),
        version: String::new(),
        description: "Deterministic abstract art rendered inside the sandbox: no key, no network, no cost.".into(),
        models: vec![
            ModelInfo {
                id: "placeholder-1".into(),
                display_name: "Placeholder v1".into(),
                aliases: vec!["placeholder".into(), "default".into()],
                operations: vec![Operation::Generate, Operation::Edit, Operation::Inpaint, Operation::Variation],
                aspect_ratios: ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"].map(String::from).to_vec(),
                size_tiers: ["0.5K", "1K", "2K"].map(String::from).to_vec(),
                sizes: vec![],
                min_side: 16,
                max_side: 4096,
                size_multiple: 1,
                default_size: Dimensions { width: 1024, height: 1024 },
                max_images: 4,
                max_input_images: 4,
                features: all,
                output_formats: vec!["image/png".into()],
                lifecycle: Lifecycle::Current,
                replacement: None,
                price_per_image_usd: Some(0.0),
                prompt_notes: Some(
                    "Any prompt works; the picture is abstract art seeded by the prompt, not a depiction of it.".into(),
                ),
                prompt_style: Default::default(),
                parameters: Some(serde_json::json!({"type": "object", "additionalProperties": false})),
            },
            ModelInfo {
                id: "placeholder-upscale".into(),
                display_name: "Placeholder upscaler (bilinear)".into(),
                aliases: vec![],
                operations: vec![Operation::Upscale],
                aspect_ratios: vec![],
                size_tiers: vec![],
                sizes: vec![],
                min_side: 16,
                max_side: 4096,
                size_multiple: 1,
                default_size: Dimensions { width: 2048, height: 2048 },
                max_images: 1,
                max_input_images: 1,
                features: Features { custom_size: true, ..Features::default() },
                output_formats: vec!["image/png".into()],
                lifecycle: Lifecycle::Current,
                replacement: None,
                price_per_image_usd: Some(0.0),
                prompt_notes: Some("A plain bilinear resize: it adds no detail and ignores the prompt.".into()),
                prompt_style: Default::default(),
                parameters: Some(serde_json::json!({"type": "object", "additionalProperties": false})),
            },
        ],
        default_model: "placeholder-1".into(),
        secrets: vec![],
        hosts: vec![],
    }
}

fn representative_provider() -> ProviderInfo {
    let base = ModelInfo {
        id: "fixed-1".into(),
        display_name: "Fixed sizes".into(),
        aliases: vec!["fixed".into()],
        operations: vec![Operation::Generate, Operation::Edit],
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![
            Dimensions { width: 1024, height: 1024 },
            Dimensions { width: 1536, height: 1024 },
            Dimensions { width: 1024, height: 1536 },
        ],
        min_side: 256,
        max_side: 1536,
        size_multiple: 16,
        default_size: Dimensions { width: 1024, height: 1024 },
        max_images: 2,
        max_input_images: 1,
        features: Features { seed: true, ..Features::default() },
        output_formats: vec!["image/png".into(), "image/jpeg".into()],
        lifecycle: Lifecycle::Current,
        replacement: None,
        price_per_image_usd: Some(0.04),
        prompt_notes: None,
        prompt_style: Default::default(),
        parameters: None,
    };
    let models = vec![
        ModelInfo {
            id: "old-1".into(),
            aliases: vec![],
            operations: vec![Operation::Generate],
            lifecycle: Lifecycle::Deprecated,
            replacement: Some("fixed-1".into()),
            ..base.clone()
        },
        ModelInfo {
            id: "gone-1".into(),
            aliases: vec![],
            lifecycle: Lifecycle::Retired,
            replacement: Some("fixed-1".into()),
            ..base.clone()
        },
        ModelInfo {
            id: "*/*".into(),
            aliases: vec![],
            operations: vec![Operation::Generate, Operation::Edit, Operation::Inpaint],
            aspect_ratios: vec!["1:1".into(), "16:9".into()],
            size_tiers: vec!["1K".into()],
            sizes: vec![],
            min_side: 64,
            max_side: 2048,
            size_multiple: 8,
            max_images: 4,
            max_input_images: 3,
            features: Features {
                mask: true,
                custom_size: true,
                guidance: true,
                steps: true,
                negative_prompt: true,
                ..Features::default()
            },
            lifecycle: Lifecycle::Legacy,
            ..base.clone()
        },
        base,
    ];
    ProviderInfo {
        id: "representative".into(),
        display_name: "Representative".into(),
        version: String::new(),
        description: String::new(),
        models,
        default_model: "fixed-1".into(),
        secrets: vec![],
        hosts: vec![],
    }
}

/// Views rendered from an input that probes as an image (chosen by the
/// input's length): what `show_image`, `image://…/view` and `/i/…` ask of
/// `ViewSpec::render`, at small sizes. `{cw}`/`{ch}` become a crop inside
/// the probed size.
const VIEW_QUERIES: [&str; 5] = [
    "width=32&format=png",
    "width=24&height=24&format=jpeg&quality=40",
    "crop_w={cw}&crop_h={ch}&rotate=90&flip=h&format=webp",
    "crop_x=1&crop_y=1&crop_w={cw}&crop_h={ch}&height=16&rotate=270&flip=v&format=gif",
    "height=8&rotate=180",
];

/// Treat `data` as an input image: decode the text as the tail of a
/// `data:` URI (the handle parser), wrap the bytes in a `data:` URI as a
/// client would and decode that back (it must round-trip), probe them, and
/// when they probe as PNG/JPEG/WebP/GIF make the inline preview and one
/// small view of them, as the server does for a stored image.
///
/// Bounds are the server's own: the `[inputs] max_mib` default on the URI,
/// then no pixel-count cap of Easel's — decoding is bounded only by the
/// `image` crate's default limits (512 MiB per decoded buffer), which
/// `store::preview` and `ViewSpec::render` rely on too.
pub fn image_input(data: &[u8]) {
    let max_bytes = InputSettings::default().max_mib << 20;
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_data_uri(text.trim().strip_prefix("data:").unwrap_or(text), max_bytes);
    }

    let probed = probe(data);
    let mime = probed.as_ref().map_or("image/png", |p| p.mime_type);
    let uri = format!("{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(data));
    match decode_data_uri(&uri, max_bytes) {
        Ok(decoded) => assert_eq!(decoded, data, "a data: URI must decode to the bytes it was made from"),
        Err(e) => {
            assert!(data.len() as u64 > max_bytes * 3 / 4, "a data: URI of {} bytes was refused: {e}", data.len())
        }
    }

    let Ok(probed) = probed else { return };
    let settings = PreviewSettings::default();
    let _ = preview::preview(data, settings.max_edge, settings.max_bytes);
    let query = VIEW_QUERIES[data.len() % VIEW_QUERIES.len()]
        .replace("{cw}", &(probed.width / 2).max(1).to_string())
        .replace("{ch}", &(probed.height / 2).max(1).to_string());
    let spec = ViewSpec::from_query(&query).expect("the fuzz view queries are valid");
    let _ = spec.render(data, probed.mime_type);
}
