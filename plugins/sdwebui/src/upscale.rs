//! Upscaling through A1111's Extras tab (docs/providers/sdwebui.md#upscaling):
//! one model per upscaler of `GET /sdapi/v1/upscalers`, and `submit` posts
//! the image to `POST /sdapi/v1/extra-single-image`.
//!
//! Model ids are `upscaler:<name>` with the server's own upscaler name
//! (`upscaler:R-ESRGAN 4x+`, `upscaler:Lanczos`); the bare name is an alias
//! unless a checkpoint answers to it. A1111's `None` upscaler (which
//! returns the input unchanged) is not offered. When the listing fails,
//! the plugin offers `Lanczos`, which A1111 always has
//! (`modules/upscaler.py` `UpscalerLanczos`).
//!
//! The call is synchronous and takes no `force_task_id`, so neither the
//! deferred mode's lost-answer check nor `cancel` could apply: an upscale
//! always runs inside `submit`, whatever `submit_mode` says.

use crate::flow::{Settings, not_json};
use crate::models::Checkpoint;
use crate::response;
use crate::types::{
    Dims, Features, Host, ImageData, Level, Lifecycle, ModelInfo, Operation, Output, PromptStyle, ProviderError,
    Request, Role, Submission,
};
use easel_plugin_kit::codec::{b64, decode_b64};
use easel_plugin_kit::image::{png_size, sniff_image_mime};
use easel_plugin_kit::params;
use easel_plugin_kit::text::{text_of, truncate};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// What an upscale model id starts with; the rest is the upscaler's name.
pub const PREFIX: &str = "upscaler:";
/// The upscale route (docs/providers/sdwebui.md#upscaling).
pub const PATH: &str = "/sdapi/v1/extra-single-image";
/// The listing of upscalers.
pub const UPSCALERS_PATH: &str = "/sdapi/v1/upscalers";
/// Offered when the listing fails: A1111 always has it (plain resampling).
pub const FALLBACK: &str = "Lanczos";
/// Listed first when the server has one of them and config
/// `default_upscaler` names none: A1111's default-enabled general-purpose
/// Real-ESRGAN model (`realesrgan_enabled_models`; older builds spell it `x4+`).
pub const PREFERRED: &[&str] = &["R-ESRGAN 4x+", "R-ESRGAN x4+"];
/// Largest output side, pixels (the Extras tab's "Scale to" sliders end at 8192).
pub const MAX_SIDE: u32 = 8192;
/// Smallest output side: A1111 rounds the upscaled size down to a multiple of 8.
pub const MIN_SIDE: u32 = 8;
/// Factor used when a request gives no target size (A1111's own default).
pub const DEFAULT_FACTOR: f64 = 2.0;

/// Body fields the plugin sets from Easel arguments, refused in the
/// request's `params` (docs/providers/sdwebui.md#upscaling).
pub const RESERVED: &[params::Reserved<'static>] = &[
    ("image", "image"),
    ("upscaler_1", "model"),
    ("resize_mode", "scale"),
    ("upscaling_resize", "scale"),
    ("upscaling_resize_w", "scale"),
    ("upscaling_resize_h", "scale"),
];

/// One upscaler the server lists: `{"name", "model_name", "model_path",
/// "model_url", "scale"}` items of `GET /sdapi/v1/upscalers`.
#[derive(Debug, Clone, PartialEq)]
pub struct Upscaler {
    /// The name `upscaler_1` takes, e.g. `R-ESRGAN 4x+`.
    pub name: String,
    /// The model's native factor (4 for R-ESRGAN 4x+); A1111 also reports
    /// 4 for the resamplers, where it means nothing.
    pub scale: Option<f64>,
}

impl Upscaler {
    fn named(name: &str) -> Upscaler {
        Upscaler { name: name.into(), scale: None }
    }

    /// Whether this is plain resampling (no model, no GPU).
    pub fn resampler(&self) -> bool {
        ["Lanczos", "Nearest"].iter().any(|n| self.name.eq_ignore_ascii_case(n))
    }
}

/// The upscale model id of an upscaler name.
pub fn model_id(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The upscaler name of an upscale model id; `None` for checkpoint ids.
pub fn name_of(model: &str) -> Option<&str> {
    model.strip_prefix(PREFIX).filter(|name| !name.trim().is_empty())
}

/// Upscalers from the listing, in server order, without `None` and
/// duplicates; `None` when the answer is not a list.
pub fn upscalers(list: &Value) -> Option<Vec<Upscaler>> {
    let items = list.as_array()?;
    let mut out: Vec<Upscaler> = Vec::new();
    for item in items {
        let name = item.get("name").map(text_of).or_else(|| item.as_str().map(String::from));
        let Some(name) = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else { continue };
        if name.eq_ignore_ascii_case("none") || out.iter().any(|u| u.name == name) {
            continue;
        }
        let scale = item.get("scale").and_then(Value::as_f64).filter(|s| *s > 0.0);
        out.push(Upscaler { name, scale });
    }
    Some(out)
}

/// Put the upscaler the host should pick by default first: config
/// `default_upscaler` (a name or model id) if the server has it, else the
/// first of [`PREFERRED`] it has; the rest keep the server's order.
pub fn order(mut list: Vec<Upscaler>, configured: Option<&str>, host: &dyn Host) -> Vec<Upscaler> {
    let wanted = configured.map(|c| name_of(c).unwrap_or(c).trim()).filter(|c| !c.is_empty());
    let mut first = None;
    if let Some(name) = wanted {
        first = list.iter().position(|u| u.name.eq_ignore_ascii_case(name));
        if first.is_none() {
            host.log(
                Level::Warn,
                &format!("sdwebui: default_upscaler `{name}` is not an upscaler on the server; ignoring it"),
            );
        }
    }
    let first = first.or_else(|| PREFERRED.iter().find_map(|p| list.iter().position(|u| u.name == *p)));
    if let Some(index) = first {
        let chosen = list.remove(index);
        list.insert(0, chosen);
    }
    list
}

/// The upscalers to offer: the server's listing, ordered by [`order`], or
/// just [`FALLBACK`] when the listing fails (logged; describe goes on).
pub fn discover(host: &dyn Host, s: &Settings) -> Vec<Upscaler> {
    let listed = s.get_json(host, UPSCALERS_PATH).ok().and_then(|list| upscalers(&list));
    let list = listed.unwrap_or_else(|| {
        host.log(
            Level::Warn,
            &format!(
                "sdwebui: GET {UPSCALERS_PATH} failed or is not a list; offering only the built-in {FALLBACK} upscaler"
            ),
        );
        vec![Upscaler::named(FALLBACK)]
    });
    order(list, s.default_upscaler.as_deref(), host)
}

/// One upscale-only model per upscaler.
pub fn model_infos(upscalers: &[Upscaler], checkpoints: &[Checkpoint]) -> Vec<ModelInfo> {
    upscalers
        .iter()
        .map(|u| ModelInfo {
            id: model_id(&u.name),
            display_name: format!("{} (upscaler)", u.name),
            aliases: if checkpoints.iter().any(|c| c.answers_to(&u.name)) { vec![] } else { vec![u.name.clone()] },
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
            parameters: None,
            prompt_style: PromptStyle::WeightedTags,
            prompt_notes: Some(notes(u)),
        })
        .collect()
}

fn notes(u: &Upscaler) -> String {
    let kind = if u.resampler() {
        format!("{} is plain resampling: instant, no GPU, no added detail.", u.name)
    } else {
        let native = u.scale.filter(|s| *s >= 2.0).map(|s| format!(" It is a {s}× model; A1111 runs it up to three times and resizes the result with Lanczos to reach other factors.")).unwrap_or_default();
        format!(
            "{} is a learned upscaler: it adds detail but takes GPU time, and A1111 downloads its weights on first use (raise timeout_secs in [plugins.sdwebui] if that times out).{native}",
            u.name
        )
    };
    format!(
        "Upscales with the Extras upscaler `{}` of your own AUTOMATIC1111 WebUI (no cost per image); the prompt is not used. {kind} \
         The result has the exact asked size: A1111 upscales to a multiple of 8 and crops or pads to fit, so a size that is not one gets thin black edges. \
         Transparency is dropped (RGB). params may set upscaler_2 with extras_upscaler_2_visibility (0–1, blends a second upscaler in), \
         gfpgan_visibility, codeformer_visibility and codeformer_weight (0–1, face restoration), upscaling_crop and upscale_first.",
        u.name
    )
}

/// The `extra-single-image` body for `request` with upscaler `name`:
/// `resize_mode` 1 to the request's size (else 0 by [`DEFAULT_FACTOR`]),
/// the one reference image as base64 without a `data:` prefix, the
/// request's `params` merged on top (the [`RESERVED`] ones refused).
///
/// Errors: not exactly one reference image, or another role (field
/// `image`); an empty target (field `scale`); bad `params`.
pub fn body(request: &Request, name: &str) -> Result<Value, ProviderError> {
    let input = the_input(request)?;
    let mut body = Map::new();
    body.insert("image".into(), json!(b64(&input.data)));
    match request.size {
        Some(size) if size.width == 0 || size.height == 0 => {
            return Err(ProviderError::invalid(
                Some("scale"),
                format!("the target size {}x{} is empty", size.width, size.height),
            ));
        }
        Some(size) => {
            body.insert("resize_mode".into(), json!(1));
            body.insert("upscaling_resize_w".into(), json!(size.width));
            body.insert("upscaling_resize_h".into(), json!(size.height));
        }
        None => {
            body.insert("resize_mode".into(), json!(0));
            body.insert("upscaling_resize".into(), json!(DEFAULT_FACTOR));
        }
    }
    body.insert("upscaling_crop".into(), json!(true));
    body.insert("upscaler_1".into(), json!(name));
    body.insert("upscaler_2".into(), json!("None"));
    body.insert("extras_upscaler_2_visibility".into(), json!(0));
    body.insert("gfpgan_visibility".into(), json!(0));
    body.insert("codeformer_visibility".into(), json!(0));
    body.insert("show_extras_results".into(), json!(true));
    params::merge(&mut body, request.extra.as_deref(), RESERVED)?;
    Ok(Value::Object(body))
}

fn the_input(request: &Request) -> Result<&crate::types::InputImage, ProviderError> {
    if request.images.iter().any(|i| i.role != Role::Reference) {
        return Err(ProviderError::invalid(
            Some("image"),
            "SD WebUI's upscalers take one image and no mask or control image",
        ));
    }
    match request.images.as_slice() {
        [one] => Ok(one),
        images => Err(ProviderError::invalid(
            Some("image"),
            format!("an upscale takes exactly one image; got {}", images.len()),
        )),
    }
}

/// The image of an `extra-single-image` answer, `{"image": "<base64>",
/// "html_info": "..."}`, with its size when it is a PNG.
///
/// Errors (`upstream`): no `image`, not base64, not an image.
pub fn output(body: &Value) -> Result<Output, ProviderError> {
    let text = body.get("image").and_then(Value::as_str).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        ProviderError::upstream(
            200,
            format!("SD WebUI's upscale answer has no `image`: {}", truncate(&body.to_string(), 200)),
        )
    })?;
    let data = decode_b64(text)
        .ok_or_else(|| ProviderError::upstream(200, "SD WebUI's upscaled image is not valid base64"))?;
    let mime = sniff_image_mime(&data)
        .ok_or_else(|| ProviderError::upstream(200, "SD WebUI's upscaled image is not a PNG, JPEG, WebP or GIF"))?;
    let size = png_size(&data);
    Ok(Output {
        data: ImageData::Inline { mime_type: mime.into(), data },
        width: size.map(|s| s.0),
        height: size.map(|s| s.1),
        seed: None,
        revised_prompt: None,
    })
}

/// A classified error of the upscale route, with the Easel argument at
/// fault: an unknown upscaler (A1111 answers 500 `AssertionError: could
/// not find upscaler named X`) is the model or `params.upscaler_2`, an
/// unreadable image is the image, and 422 body fields map to `scale`,
/// `model`, `image` or `params.<field>`.
pub fn refine(error: ProviderError, upscaler: &str) -> ProviderError {
    match error {
        ProviderError::InvalidRequest { field: Some(field), message } => {
            let field = match field.as_str() {
                "image" | "scale" | "model" => field,
                "resize_mode" | "upscaling_resize" | "upscaling_resize_w" | "upscaling_resize_h" => "scale".into(),
                "upscaler_1" => "model".into(),
                other if other.starts_with("params") => other.into(),
                other => format!("params.{other}"),
            };
            ProviderError::InvalidRequest { field: Some(field), message }
        }
        ProviderError::Upstream { status, message } => {
            const UNKNOWN: &str = "could not find upscaler named ";
            if let Some(at) = message.find(UNKNOWN) {
                let name = message[at + UNKNOWN.len()..].trim();
                let (field, what) = if name == upscaler {
                    (
                        "model",
                        "the model's upscaler is gone; list_models with operation \"upscale\" shows the ones it has now",
                    )
                } else {
                    (
                        "params.upscaler_2",
                        "set params.upscaler_2 to one that GET /sdapi/v1/upscalers lists, or \"None\"",
                    )
                };
                return ProviderError::invalid(Some(field), format!("SD WebUI has no upscaler `{name}`: {what}"));
            }
            if message.contains("Invalid encoded image") {
                return ProviderError::invalid(Some("image"), format!("SD WebUI could not read the image ({message})"));
            }
            ProviderError::Upstream { status, message }
        }
        other => other,
    }
}

/// Upscale now: build the body, say whether the server is busy, post it
/// and return the one image (`done`).
///
/// Errors: a checkpoint model asked to upscale, or an upscaler model asked
/// for anything else (field `model`); [`body`]'s; no answer from the server
/// (as egress reports it); the server's refusal, via [`refine`].
pub fn submit(host: &dyn Host, s: &Settings, request: &Request) -> Result<Submission, ProviderError> {
    let Some(name) = name_of(&request.model) else {
        return Err(ProviderError::invalid(
            Some("model"),
            format!(
                "`{}` is a checkpoint, and checkpoints do not upscale; use an upscaler model such as `{PREFIX}{FALLBACK}` (list_models with operation \"upscale\" lists them)",
                request.model
            ),
        ));
    };
    if request.operation != Operation::Upscale {
        return Err(ProviderError::invalid(
            Some("model"),
            format!(
                "`{}` is an upscaler: it only upscales (upscale_image); generate and edit with a checkpoint model",
                request.model
            ),
        ));
    }
    let body = body(request, name)?;
    let input = &request.images[0];
    let target = request.size.map_or(format!("{DEFAULT_FACTOR}×"), |d| format!("{}x{}", d.width, d.height));
    let busy = s
        .get_json(host, "/sdapi/v1/progress?skip_current_image=true")
        .ok()
        .and_then(|p| p.get("state").and_then(|st| st.get("job_count")).and_then(Value::as_u64))
        .is_some_and(|n| n > 0);
    let wait = if busy { " (it is busy with another job; this waits its turn)" } else { "" };
    host.progress(
        None,
        &format!("upscaling {}x{} to {target} with {name} at SD WebUI{wait}", input.width, input.height),
    );
    host.log(Level::Debug, &format!("sdwebui POST {PATH} ({name}, {}x{} -> {target})", input.width, input.height));
    let started = Instant::now();
    let response = s.send(host, "POST", PATH, Some(&body), s.generation_timeout_ms)?;
    if !response.is_success() {
        return Err(refine(response::classify(&response, &s.base, s.auth), name));
    }
    let answer = response.json().ok_or_else(|| not_json(&response, PATH))?;
    let image = output(&answer)?;
    let size = image.width.zip(image.height).map(|(w, h)| format!(" to {w}x{h}")).unwrap_or_default();
    host.progress(Some(0.9), &format!("SD WebUI upscaled the image{size} in {:.1} s", started.elapsed().as_secs_f32()));
    Ok(Submission::Done(vec![image]))
}

#[cfg(test)]
#[path = "upscale_tests.rs"]
mod tests;
