//! Upscaling (`Operation::Upscale`, docs/providers/comfyui.md#upscaling):
//! one upscale-only model per file ComfyUI lists in its `upscale_models`
//! folder, plus plain resampling with the core `ImageScale` node, and the
//! graph that runs them.
//!
//! Model ids are `upscaler:<model_name>` with ComfyUI's own file name
//! (`upscaler:RealESRGAN_x4plus.pth`, subfolders kept as ComfyUI writes
//! them), and [`RESAMPLE_ID`] (`upscaler:lanczos`) for resampling, which
//! every ComfyUI can do; it is listed after the model upscalers, so the
//! host's default upscaler (the provider's first) is a model when the
//! server has one. The prefix is the one the sdwebui plugin uses, and no
//! checkpoint path (`SDXL/x.safetensors`) looks like it.
//!
//! The graph: `LoadImage` (the uploaded input) → `UpscaleModelLoader` +
//! `ImageUpscaleWithModel` (the model's own factor, often 4×) → `ImageScale`
//! to the request's exact size → `SaveImage`; resampling skips the two
//! model nodes. It is queued, polled and fetched like every other prompt
//! ([`crate::flow`]).

use crate::api;
use crate::client::Client;
use crate::flow;
use crate::settings::Settings;
use crate::types::{
    Dims, Features, Host, InputImage, Level, Lifecycle, ModelInfo, Operation, PromptStyle, ProviderError, Request,
    Role, Submission,
};
use serde_json::{Value, json};

/// What every upscale model id starts with; the rest is the model file name.
pub const PREFIX: &str = "upscaler:";
/// The id of plain resampling (`ImageScale` with `lanczos`, no model).
pub const RESAMPLE_ID: &str = "upscaler:lanczos";
/// The node whose `model_name` choices are the upscale models
/// (`comfy_extras/nodes_upscale_model.py`).
pub const LOADER: &str = "UpscaleModelLoader";
/// `ImageScale`'s `upscale_method` choices (`nodes.py` `ImageScale.upscale_methods`).
pub const METHODS: [&str; 5] = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"];
/// The `upscale_method` used unless `params.upscale_method` picks another.
pub const DEFAULT_METHOD: &str = "lanczos";
/// Largest output side, pixels: `ImageScale`'s `width`/`height` maximum
/// (`MAX_RESOLUTION` = 16384 in `nodes.py`).
pub const MAX_SIDE: u32 = 16384;
/// Smallest output side, pixels (`ImageScale` takes any side from 1; 0
/// would mean "keep the aspect", which a target size never needs).
pub const MIN_SIDE: u32 = 1;
/// The factor used when a request carries no target size.
pub const DEFAULT_FACTOR: u32 = 2;

/// One way to upscale: a model from `upscale_models`, or plain resampling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upscaler {
    /// A file of ComfyUI's `upscale_models` folder, as `model_name` takes it.
    Model(String),
    /// `ImageScale` alone.
    Resample,
}

impl Upscaler {
    /// The Easel model id.
    pub fn id(&self) -> String {
        match self {
            Upscaler::Model(name) => format!("{PREFIX}{name}"),
            Upscaler::Resample => RESAMPLE_ID.to_string(),
        }
    }

    /// The upscaler behind a model id; `None` for checkpoint (and other) ids.
    pub fn from_id(id: &str) -> Option<Upscaler> {
        if id == RESAMPLE_ID {
            return Some(Upscaler::Resample);
        }
        id.strip_prefix(PREFIX).filter(|name| !name.trim().is_empty()).map(|name| Upscaler::Model(name.to_string()))
    }
}

/// The server's upscale model file names, in its order, without duplicates.
///
/// `GET /object_info/UpscaleModelLoader` gives them as the `model_name`
/// combo (`["COMBO", {"options": […]}]` on v0.3.64, the node being a V3
/// node). A 200 `{}` means the node is not loaded (ComfyUI answers `{}`
/// for a class it does not have; its `spandrel` import failed), so no model
/// can run: none are offered. Any other failure falls back to `GET
/// /models/upscale_models` (a JSON list of names); if that fails too, none.
/// Never an error: describe has already reached the server.
pub fn discover(client: &Client<'_>) -> Vec<String> {
    let host = client.host;
    let path = format!("/object_info/{LOADER}");
    let answer = client.get(&path).ok().filter(|r| r.status == 200);
    let listed = answer.as_ref().and_then(|r| api::parse_combo(&r.body, LOADER, "model_name"));
    let names = match listed {
        Some(list) => list,
        None if answer.as_ref().is_some_and(|r| is_empty_object(&r.body)) => {
            host.log(
                Level::Warn,
                &format!(
                    "comfyui: GET {path} is empty: this ComfyUI has no {LOADER} node, so only plain resampling ({RESAMPLE_ID}) upscales"
                ),
            );
            Vec::new()
        }
        None => client
            .get("/models/upscale_models")
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| api::parse_name_list(&r.body))
            .unwrap_or_default(),
    };
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !name.trim().is_empty() && !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

fn is_empty_object(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).ok().and_then(|v| v.as_object().map(|o| o.is_empty())).unwrap_or(false)
}

/// One upscale-only model per name in `names` (server order), then
/// [`RESAMPLE_ID`]. An id that equals one of `checkpoints` is skipped
/// (ids must be unique); the alias (the file stem, `RealESRGAN_x4plus`;
/// `lanczos` for resampling) is given only when no checkpoint id or stem
/// and no other upscaler answers to it.
pub fn models(names: &[String], checkpoints: &[String]) -> Vec<ModelInfo> {
    let taken = |alias: &str| checkpoints.iter().any(|c| c == alias || crate::describe::stem(c) == alias);
    let stems: Vec<&str> = names.iter().map(|n| crate::describe::stem(n)).collect();
    let mut upscalers: Vec<(Upscaler, Option<String>)> = names
        .iter()
        .zip(&stems)
        .map(|(name, stem)| {
            let unique = stems.iter().filter(|s| *s == stem).count() == 1 && *stem != "lanczos";
            let alias = (unique && !taken(stem)).then(|| stem.to_string());
            (Upscaler::Model(name.clone()), alias)
        })
        .collect();
    upscalers.push((Upscaler::Resample, (!taken("lanczos") && !stems.contains(&"lanczos")).then(|| "lanczos".into())));
    upscalers
        .into_iter()
        .filter(|(u, _)| !checkpoints.contains(&u.id()))
        .map(|(upscaler, alias)| model_info(&upscaler, alias))
        .collect()
}

fn model_info(upscaler: &Upscaler, alias: Option<String>) -> ModelInfo {
    let (display_name, notes) = match upscaler {
        Upscaler::Model(name) => (
            format!("{} (upscale model)", crate::describe::stem(name)),
            format!(
                "Upscales with the model `{name}` from your ComfyUI's models/upscale_models folder (no cost per image); the prompt is not used. \
                 ComfyUI runs it at its own factor (often 4×, in 512-pixel tiles, on the GPU), then ImageScale resizes the result to the exact asked size, \
                 so a 4× model at scale 2 runs at 4× and is scaled down."
            ),
        ),
        Upscaler::Resample => (
            "Lanczos resampling (ComfyUI ImageScale)".to_string(),
            "Plain resampling with ComfyUI's ImageScale node (lanczos): fast, needs no model file, adds no detail; the prompt is not used."
                .to_string(),
        ),
    };
    ModelInfo {
        id: upscaler.id(),
        display_name,
        aliases: alias.into_iter().collect(),
        operations: vec![Operation::Upscale],
        aspect_ratios: vec![],
        size_tiers: vec![],
        sizes: vec![],
        min_side: MIN_SIDE,
        max_side: MAX_SIDE,
        size_multiple: 1,
        default_size: Dims { width: 1024, height: 1024 },
        max_images: 1,
        max_input_images: 1,
        features: Features { custom_size: true, ..Features::default() },
        output_formats: vec!["image/png".into()],
        lifecycle: Lifecycle::Current,
        replacement: None,
        price_per_image_usd: Some(0.0),
        parameters: Some(json!({
            "type": "object",
            "properties": {"upscale_method": {"type": "string", "enum": METHODS,
                "description": "ImageScale's resampling for the final resize to the asked size (default lanczos)"}},
            "additionalProperties": false
        })),
        prompt_style: PromptStyle::WeightedTags,
        prompt_notes: Some(format!(
            "{notes} Transparency is dropped (LoadImage gives RGB). params: upscale_method ({}) for the final resize.",
            METHODS.join(", ")
        )),
    }
}

/// The API-format graph for `upscaler`: node `1` LoadImage (`image`, an
/// uploaded input's name), `2` UpscaleModelLoader and `3`
/// ImageUpscaleWithModel (models only), `4` ImageScale to `size` with
/// `method` (`crop: disabled`: the target keeps the input's aspect up to
/// rounding), `5` SaveImage.
pub fn graph(upscaler: &Upscaler, image: &str, size: Dims, method: &str) -> Value {
    let mut graph = json!({
        "1": {"class_type": "LoadImage", "_meta": {"title": "Image to upscale"}, "inputs": {"image": image}},
        "4": {"class_type": "ImageScale", "_meta": {"title": "Resize to the asked size"},
              "inputs": {"image": ["1", 0], "upscale_method": method, "width": size.width, "height": size.height,
                         "crop": "disabled"}},
        "5": {"class_type": "SaveImage", "_meta": {"title": "Save Image"},
              "inputs": {"filename_prefix": "easel-upscale", "images": ["4", 0]}}
    });
    if let Upscaler::Model(name) = upscaler {
        graph["2"] = json!({"class_type": LOADER, "_meta": {"title": "Load Upscale Model"},
                            "inputs": {"model_name": name}});
        graph["3"] = json!({"class_type": "ImageUpscaleWithModel", "_meta": {"title": "Upscale Image (using Model)"},
                            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}});
        graph["4"]["inputs"]["image"] = json!(["3", 0]);
    }
    graph
}

/// Upscale `request.images[0]` to `request.size` (else [`DEFAULT_FACTOR`]×
/// the input): upload it, queue [`graph`], return `pending(token)`.
///
/// Errors: a model id that is not an upscaler (field `model`); not exactly
/// one reference image (field `image`); a target side outside
/// [`MIN_SIDE`]..=[`MAX_SIDE`] (field `scale`); `count` other than 1;
/// `params` that are not an object or an `upscale_method` ComfyUI lacks
/// (field `params.upscale_method`); then the upload's and the queue's.
pub fn submit(host: &dyn Host, settings: &Settings, request: &Request) -> Result<Submission, ProviderError> {
    let Some(upscaler) = Upscaler::from_id(&request.model) else {
        return Err(ProviderError::invalid(
            Some("model"),
            format!(
                "`{}` is a checkpoint, and checkpoints do not upscale here; use an upscaler such as `{RESAMPLE_ID}` (list_models with operation \"upscale\" lists them)",
                request.model
            ),
        ));
    };
    let input = the_input(request)?;
    let size = target(request, input)?;
    if request.count != 1 {
        return Err(ProviderError::invalid(
            Some("count"),
            format!("an upscale makes one image; got {}", request.count),
        ));
    }
    let method = method(request.extra.as_deref())?;
    let client = Client::new(host, &settings.base);
    host.progress(Some(0.02), "uploading the image to upscale to ComfyUI");
    let image = flow::upload(&client, input)?;
    let graph = graph(&upscaler, &image, size, &method);
    let what = format!(
        "upscale {}x{} to {}x{} with {}",
        input.width,
        input.height,
        size.width,
        size.height,
        match &upscaler {
            Upscaler::Model(name) => name.as_str(),
            Upscaler::Resample => "ImageScale alone",
        }
    );
    flow::queue(&client, &graph, None, 1, &what)
}

fn the_input(request: &Request) -> Result<&InputImage, ProviderError> {
    if request.images.iter().any(|i| i.role != Role::Reference) {
        return Err(ProviderError::invalid(Some("image"), "ComfyUI's upscalers take one image and no mask"));
    }
    match request.images.as_slice() {
        [one] => Ok(one),
        images => Err(ProviderError::invalid(
            Some("image"),
            format!("an upscale takes exactly one image; got {}", images.len()),
        )),
    }
}

/// The output size: the request's, else [`DEFAULT_FACTOR`]× the input.
fn target(request: &Request, input: &InputImage) -> Result<Dims, ProviderError> {
    let size = request.size.unwrap_or(Dims {
        width: input.width.saturating_mul(DEFAULT_FACTOR),
        height: input.height.saturating_mul(DEFAULT_FACTOR),
    });
    for side in [size.width, size.height] {
        if !(MIN_SIDE..=MAX_SIDE).contains(&side) {
            return Err(ProviderError::invalid(
                Some("scale"),
                format!(
                    "the upscaled size {}x{} is outside what ComfyUI's ImageScale makes ({MIN_SIDE}..={MAX_SIDE} pixels a side)",
                    size.width, size.height
                ),
            ));
        }
    }
    Ok(size)
}

/// `params.upscale_method`, one of [`METHODS`]; [`DEFAULT_METHOD`] without it.
fn method(extra: Option<&str>) -> Result<String, ProviderError> {
    let params = easel_plugin_kit::params::parse(extra)?;
    match params.get("upscale_method") {
        None | Some(Value::Null) => Ok(DEFAULT_METHOD.to_string()),
        Some(Value::String(m)) if METHODS.contains(&m.as_str()) => Ok(m.clone()),
        Some(other) => Err(ProviderError::invalid(
            Some("params.upscale_method"),
            format!("must be one of {} (ImageScale's upscale_method); got {other}", METHODS.join(", ")),
        )),
    }
}

#[cfg(test)]
#[path = "upscale_tests.rs"]
mod tests;
