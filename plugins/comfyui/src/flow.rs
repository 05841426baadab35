//! `submit`, `poll` and `cancel` over the [`Host`] trait (docs/providers/comfyui.md):
//!
//! - submit: fill the txt2img or img2img template (uploading the input image
//!   with `POST /upload/image` first), splice in LoRA and ControlNet nodes
//!   ([`crate::guidance`]; control images are uploaded too), queue it with `POST /prompt` and a
//!   fresh `client_id`, return `pending(token)`; an upscale builds its
//!   graph in [`crate::upscale`] and is queued the same way;
//! - poll: `GET /history/{id}` (`{}` until the prompt finishes — docs/providers/comfyui.md#history-and-files);
//!   while unfinished, `GET /queue` gives `queued(position)` or `running`;
//!   a running prompt's progress comes from ComfyUI's websocket for up to
//!   10 s ([`crate::live`]), then `/history` is asked again;
//!   when finished, every output image comes back inline from `GET /view`;
//! - cancel: `POST /queue {"delete": [id]}` (if still pending), then
//!   `POST /interrupt {"prompt_id": id}` if it is running.

use crate::api::{self, History, QueueSpot};
use crate::client::Client;
use crate::describe::WORKFLOW_MODEL;
use crate::errors;
use crate::guidance;
use crate::live::{self, short};
use crate::settings::{self, Extra, Settings};
use crate::token::{JobToken, Token};
use crate::types::{
    Dims, Host, ImageData, InputImage, JobState, Level, Operation, Output, ProviderError, Request, Role, Submission,
};
use crate::upscale;
use crate::workflow::{Kind, Template};
use easel_plugin_kit::multipart::Form;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Seeds are drawn below 2^53 so every JSON client reads them exactly.
const SEED_LIMIT: u64 = 1 << 53;

pub fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
    let settings = Settings::load(host)?;
    let references = request.images.iter().filter(|i| i.role == Role::Reference).count();
    let controls: Vec<&InputImage> = request.images.iter().filter(|i| i.role == Role::Control).collect();
    let kind = match request.operation {
        Operation::Generate => Kind::Txt2Img,
        // Control images alone guide a text-to-image run.
        Operation::Edit if references == 0 && !controls.is_empty() => Kind::Txt2Img,
        Operation::Edit => Kind::Img2Img,
        Operation::Upscale => return upscale::submit(host, &settings, request),
        other => {
            return Err(ProviderError::Unsupported(format!(
                "the ComfyUI plugin does generate, edit (img2img) and upscale, not {}",
                format!("{other:?}").to_lowercase()
            )));
        }
    };
    if upscale::Upscaler::from_id(&request.model).is_some() {
        return Err(ProviderError::invalid(
            Some("model"),
            format!(
                "`{}` is an upscaler: it only upscales (upscale_image); generate and edit with a checkpoint model",
                request.model
            ),
        ));
    }
    let custom = match kind {
        Kind::Txt2Img => settings.workflow_txt2img.as_deref(),
        Kind::Img2Img => settings.workflow_img2img.as_deref(),
    };
    let template = Template::load(kind, custom)?;
    template.check(&needed(kind, request))?;
    if kind == Kind::Txt2Img && template.has("image") {
        return Err(ProviderError::invalid(
            Some("images"),
            "the workflow in config `workflow_txt2img` has an {{image}} placeholder: send an input image with edit_image instead",
        ));
    }
    let input = input_image(kind, request)?;
    let mut params = easel_plugin_kit::params::parse(request.extra.as_deref())?;
    let (control, loras) = guidance::take(&mut params, request)?;
    let extra = Extra::parse(request.extra.as_deref())?;
    let max_images = if template.has("batch_size") { settings.max_images } else { 1 };
    if request.count < 1 || request.count > max_images {
        return Err(ProviderError::invalid(
            Some("count"),
            format!("ComfyUI batches 1..={max_images} images per call here; got {}", request.count),
        ));
    }

    let default = settings.default_size_for(&request.model);
    let input_dims = input.map(|i| Dims { width: i.width, height: i.height });
    let size = settings::output_size(request.size, request.aspect_ratio.as_deref(), input_dims, default)?;
    // A workflow without {{seed}} uses whatever seed its own nodes hold:
    // none is drawn, sent or reported (the images would not reproduce from it).
    let seed = template.has("seed").then(|| request.seed.unwrap_or_else(|| host.random_u64() % SEED_LIMIT));
    let client = Client::new(host, &settings.base);

    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    values.insert("prompt", json!(request.prompt));
    values.insert(
        "negative_prompt",
        json!(request.negative_prompt.clone().unwrap_or_else(|| settings.negative_prompt.clone())),
    );
    if let Some(seed) = seed {
        values.insert("seed", json!(seed));
    }
    values.insert("steps", json!(request.steps.unwrap_or(settings.steps)));
    values.insert("cfg", json!(request.guidance.map(|g| round3(g as f64)).unwrap_or(settings.cfg)));
    values.insert("width", json!(size.width));
    values.insert("height", json!(size.height));
    values.insert("batch_size", json!(request.count));
    values.insert("checkpoint", json!(request.model));
    values.insert("sampler", json!(extra.sampler.unwrap_or_else(|| settings.sampler.clone())));
    values.insert("scheduler", json!(extra.scheduler.unwrap_or_else(|| settings.scheduler.clone())));
    let denoise = match kind {
        Kind::Txt2Img => 1.0,
        Kind::Img2Img => request.strength.map(|s| round3(s as f64)).unwrap_or(settings.denoise),
    };
    values.insert("denoise", json!(denoise));
    if template.has("checkpoint") && request.model == WORKFLOW_MODEL {
        return Err(ProviderError::invalid(
            Some("model"),
            "the workflow needs a checkpoint ({{checkpoint}}) but ComfyUI listed none; name one with `model`",
        ));
    }
    if let Some(image) = input {
        host.progress(Some(0.02), "uploading the input image to ComfyUI");
        values.insert("image", json!(upload(&client, image)?));
    }
    let mut graph = template.fill(&values)?;
    guidance::add_loras(&mut graph, &loras)?;
    if let Some(control) = control {
        let offer = guidance::Offer::discover(&client);
        let controlnet = offer.controlnet_for(&control.kind, &settings.base)?.to_string();
        host.progress(Some(0.03), &format!("uploading {} control image(s) to ComfyUI", controls.len()));
        let names = controls.iter().map(|image| upload(&client, image)).collect::<Result<Vec<_>, _>>()?;
        guidance::add_control(&mut graph, &control.kind, &controlnet, &names, control.weight)?;
    }
    let seed_note = seed.map_or_else(|| "the workflow's own seed".to_string(), |s| format!("seed {s}"));
    let what = format!("{}x{} x{}, {seed_note}", size.width, size.height, request.count);
    queue(&client, &graph, seed, request.count, &what)
}

/// Queue a filled `graph` with `POST /prompt` and a fresh `client_id`, log
/// it (`what` describes the job) and return `pending(token)`; `seed` and
/// `count` go into the token for `poll`.
///
/// Errors: a 400 refusal via [`errors::prompt_rejected`] (`invalid-request`
/// naming the node and input), other statuses via [`errors::status`].
pub(crate) fn queue(
    client: &Client<'_>,
    graph: &Value,
    seed: Option<u64>,
    count: u32,
    what: &str,
) -> Result<Submission, ProviderError> {
    let host = client.host;
    let client_id = format!("{:016x}{:016x}", host.random_u64(), host.random_u64());
    let response = client.post_json("/prompt", api::prompt_body(graph, &client_id))?;
    let prompt_id = match response.status {
        200..=299 => api::parse_queued(&response.body)?,
        400 => return Err(errors::prompt_rejected(&response)),
        _ => return Err(errors::status(&client.base, "POST /prompt", &response)),
    };
    host.log(Level::Info, &format!("comfyui: queued prompt {prompt_id} ({what})"));
    host.progress(Some(0.05), &format!("queued at ComfyUI as prompt {}", short(&prompt_id)));
    let token = Token { base: client.base.clone(), prompt_id, client_id, seed, count };
    Ok(Submission::Pending(token.encode()))
}

/// Placeholders the request needs, each with the Easel parameter behind it.
fn needed(kind: Kind, r: &Request) -> Vec<(&'static str, &'static str)> {
    let mut needed = vec![("prompt", "prompt")];
    if kind == Kind::Img2Img {
        needed.push(("image", "images"));
        if r.strength.is_some() {
            needed.push(("denoise", "strength"));
        }
    }
    if r.count > 1 {
        needed.push(("batch_size", "count"));
    }
    if r.seed.is_some() {
        needed.push(("seed", "seed"));
    }
    if r.negative_prompt.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        needed.push(("negative_prompt", "negative_prompt"));
    }
    if r.steps.is_some() {
        needed.push(("steps", "steps"));
    }
    if r.guidance.is_some() {
        needed.push(("cfg", "guidance"));
    }
    if r.size.is_some() {
        needed.push(("width", "width"));
        needed.push(("height", "height"));
    }
    needed
}

/// The one reference image an img2img request carries.
fn input_image(kind: Kind, request: &Request) -> Result<Option<&InputImage>, ProviderError> {
    if request.images.iter().any(|i| i.role == Role::Mask) {
        return Err(ProviderError::Unsupported(
            "masks (inpainting) need a mask-aware workflow; this plugin's workflows do img2img only".into(),
        ));
    }
    let references: Vec<_> = request.images.iter().filter(|i| i.role == Role::Reference).collect();
    match (kind, references.as_slice()) {
        (Kind::Txt2Img, []) => Ok(None),
        (Kind::Txt2Img, _) => {
            Err(ProviderError::invalid(Some("images"), "text-to-image takes no input images; use edit"))
        }
        (Kind::Img2Img, [one]) => Ok(Some(one)),
        (Kind::Img2Img, []) => Err(ProviderError::invalid(Some("images"), "img2img needs one reference image")),
        (Kind::Img2Img, many) => Err(ProviderError::invalid(
            Some("images"),
            format!("the img2img workflow takes one input image; got {}", many.len()),
        )),
    }
}

/// `POST /upload/image` (multipart, `type=input`, overwrite by content
/// name) → the name a `LoadImage` node takes.
pub(crate) fn upload(client: &Client<'_>, image: &InputImage) -> Result<String, ProviderError> {
    let filename =
        format!("easel-{:016x}.{}", fnv1a(&image.data), easel_plugin_kit::image::file_extension(&image.mime_type));
    let mut form = Form::new();
    form.text("type", "input").text("overwrite", "true").file("image", &filename, &image.mime_type, image.data.clone());
    let (content_type, body) = form.finish();
    let response = client.post_form("/upload/image", &content_type, body)?;
    let response = client.ok("POST /upload/image", response)?;
    api::parse_upload(&response.body)
}

pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let token = Token::decode(token)?;
    let client = Client::new(host, &token.base);
    if let Some(state) = finished(&client, &token)? {
        return Ok(state);
    }
    let response = client.get("/queue")?;
    let response = client.ok("GET /queue", response)?;
    Ok(match api::parse_queue(&response.body, &token.prompt_id)? {
        QueueSpot::Running => {
            let graph = live::Graph::parse(&api::queued_graph(&response.body, &token.prompt_id).unwrap_or_default());
            running(&client, &token, &graph)?
        }
        QueueSpot::Pending(position) => JobState::Queued(Some(position)),
        // It may have finished between the two requests (ComfyUI moves a prompt to history atomically).
        QueueSpot::Absent => match finished(&client, &token)? {
            Some(state) => state,
            None => JobState::Failed(ProviderError::upstream(
                0,
                format!(
                    "prompt {} is neither queued, running nor in ComfyUI's history at {}: it was deleted or ComfyUI restarted",
                    token.prompt_id, token.base
                ),
            )),
        },
    })
}

/// A running prompt: listen to ComfyUI's websocket for a while, reporting
/// its progress ([`live::watch`]), then ask `/history` as ever. Without a
/// socket (refused, not upgraded, failed), it is today's plain `running`.
fn running(client: &Client<'_>, token: &Token, graph: &live::Graph) -> Result<JobState, ProviderError> {
    let plain = format!("running on ComfyUI (prompt {})", short(&token.prompt_id));
    match live::watch(client, token, graph) {
        live::Watched::Unavailable(why) => {
            client.host.log(Level::Debug, &format!("comfyui: no live progress ({why}); polling /history"));
            Ok(JobState::Running { fraction: None, message: Some(plain) })
        }
        live::Watched::Window { fraction, message, .. } => Ok(match finished(client, token)? {
            Some(state) => state,
            None => JobState::Running { fraction, message: Some(message.unwrap_or(plain)) },
        }),
    }
}

/// The final state if `/history` has the prompt, with images downloaded.
fn finished(client: &Client<'_>, token: &Token) -> Result<Option<JobState>, ProviderError> {
    let response = client.get(&format!("/history/{}", easel_plugin_kit::urls::encode_component(&token.prompt_id)))?;
    let response = client.ok("GET /history", response)?;
    let files = match api::parse_history(&response.body, &token.prompt_id)? {
        History::NotFinished => return Ok(None),
        History::Failed(error) => return Ok(Some(JobState::Failed(error))),
        History::Succeeded(files) => files,
    };
    if files.is_empty() {
        return Ok(Some(JobState::Failed(ProviderError::upstream(
            0,
            "ComfyUI finished the prompt but it produced no images: the workflow needs a SaveImage (or PreviewImage) node",
        ))));
    }
    let total = files.len();
    let mut outputs = Vec::with_capacity(total);
    for (index, file) in files.iter().enumerate() {
        client.host.progress(Some(0.9), &format!("downloading image {}/{total} from ComfyUI", index + 1));
        let response = client.get_file(file.view_url(&client.base))?;
        let response = client.ok("GET /view", response)?;
        let size = easel_plugin_kit::image::png_size(&response.body);
        let mime_type = api::mime_of(response.header("content-type"), &file.filename);
        outputs.push(Output {
            data: ImageData::Inline { mime_type, data: response.body },
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            seed: token.seed,
            revised_prompt: None,
        });
    }
    Ok(Some(JobState::Done(outputs)))
}

pub fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let token = Token::decode(token)?;
    let client = Client::new(host, &token.base);
    // Delete first: a pending prompt is then gone, and cannot start between the two calls.
    let delete = json!({"delete": [token.prompt_id]});
    let response = client.post_json("/queue", serde_json::to_vec(&delete).unwrap_or_default())?;
    client.ok("POST /queue", response)?;
    // Interrupt only when it is running: servers older than v0.3.64 ignore
    // `prompt_id` and would stop whatever runs.
    let running = client
        .get("/queue")
        .ok()
        .filter(|r| r.status == 200)
        .map(|r| api::parse_queue(&r.body, &token.prompt_id).map_or(true, |spot| spot == QueueSpot::Running))
        .unwrap_or(true);
    if running {
        let body = json!({"prompt_id": token.prompt_id});
        let response = client.post_json("/interrupt", serde_json::to_vec(&body).unwrap_or_default())?;
        client.ok("POST /interrupt", response)?;
    }
    host.log(
        Level::Info,
        &format!("comfyui: cancelled prompt {}{}", token.prompt_id, if running { " (interrupted)" } else { "" }),
    );
    Ok(())
}

/// `f32` request values as short decimals (0.6, not 0.6000000238418579).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// FNV-1a, for content-named uploads (same bytes → same file, overwritten).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
