//! The four provider calls against __TITLE__'s asynchronous HTTP API
//! (README.md, "The protocol"):
//!
//! - `submit`: `POST {base_url}/v1/generations` → `{"id": …}`; the id is the job token.
//! - `poll`:   `GET {base_url}/v1/generations/{id}` → status, progress, image URLs.
//! - `cancel`: `POST {base_url}/v1/generations/{id}/cancel`.
//!
//! Config keys (`[plugins.__NAME__.config]` in plugins.toml):
//! - `base_url`: the API root, default `https://api.example.com`.
//!
//! The plugin returns image URLs (`remote` images); the host downloads them
//! through the same egress policy, so their host must be in `allowed_hosts`.

use crate::Host;
use crate::egress::{HttpRequest, HttpResponse};
use crate::errors::{bad_answer, from_egress, from_status};
use crate::types::{
    Dimensions, Features, GenerationRequest, ImageData, ImageOutput, JobState, Lifecycle, ModelInfo, Operation,
    PromptStyle, ProviderError, ProviderInfo, RemoteImage, RunningState, SecretNeed, Submission, UpstreamFailure,
};
use serde_json::{Value, json};

/// The provider id (the `[plugins.ID]` name) and how messages name the API.
pub const ID: &str = "__NAME__";
pub const TITLE: &str = "__TITLE__";
pub const MODEL_ID: &str = "__NAME__-v1";
pub const DEFAULT_BASE_URL: &str = "https://api.example.com";
/// The secret this plugin references. The host swaps `{{secret:__ENV__}}`
/// for the key on the way out, and only toward the secret's `hosts`: the
/// plugin never sees the key itself.
pub const SECRET: &str = "__ENV__";
const AUTHORIZATION: &str = "Bearer {{secret:__ENV__}}";

/// Sizes the model accepts: sides from 256 to 2048 pixels, multiples of 64.
const MIN_SIDE: u32 = 256;
const MAX_SIDE: u32 = 2048;
const SIZE_MULTIPLE: u32 = 64;
const DEFAULT_SIDE: u32 = 1024;

/// Per-request timeouts in milliseconds (the host caps them too).
const SUBMIT_TIMEOUT_MS: u32 = 30_000;
const POLL_TIMEOUT_MS: u32 = 15_000;

/// Capability discovery: the host checks every request against this before
/// it calls `submit`, so `submit` never sees sizes or counts out of range.
pub fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
    let base_url = base_url(host)?;
    let model = ModelInfo {
        id: MODEL_ID.into(),
        display_name: format!("{TITLE} v1"),
        aliases: vec![],
        operations: vec![Operation::Generate],
        aspect_ratios: vec![], // any W:H; `size_of` turns it into pixels
        size_tiers: vec![],
        sizes: vec![], // any size within the limits below
        min_side: MIN_SIDE,
        max_side: MAX_SIDE,
        size_multiple: SIZE_MULTIPLE,
        default_size: Dimensions { width: DEFAULT_SIDE, height: DEFAULT_SIDE },
        max_images: 4,
        max_input_images: 0,
        features: Features::SEED | Features::CUSTOM_SIZE,
        output_formats: vec!["image/png".into()],
        lifecycle: Lifecycle::Current,
        replacement: None,
        price_per_image_usd: None,
        prompt_notes: None,
        // How the model reads a prompt; Easel compiles a caller's structured
        // prompt into it (natural language, weighted tags or T5 prose).
        prompt_style: PromptStyle::NaturalLanguage,
        // A JSON Schema of the API's own parameters (the caller's `params`).
        // This one accepts none, so stray `params` are refused, not ignored.
        parameters: Some(r#"{"type": "object", "additionalProperties": false}"#.into()),
    };
    Ok(ProviderInfo {
        id: ID.into(),
        display_name: TITLE.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!("{TITLE} image generation through its asynchronous HTTP API."),
        models: vec![model],
        default_model: MODEL_ID.into(),
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: format!("{TITLE} API key, sent as `Authorization: Bearer …`."),
            required: true,
        }],
        hosts: vec![origin(&base_url).to_string()],
    })
}

/// Start a generation; the answer's `id` becomes the job token.
pub fn submit(host: &dyn Host, request: &GenerationRequest) -> Result<Submission, ProviderError> {
    let (width, height) = size_of(request);
    let mut body = json!({
        "prompt": request.prompt,
        "width": width,
        "height": height,
        "num_images": request.count,
    });
    if let Some(seed) = request.seed {
        body["seed"] = json!(seed);
    }
    let url = format!("{}/v1/generations", base_url(host)?);
    let response = send(host, "POST", &url, body.to_string().into_bytes(), SUBMIT_TIMEOUT_MS)?;
    if !is_success(&response) {
        return Err(from_status(&response));
    }
    let answer = json_of(&response)?;
    match answer.get("id").and_then(Value::as_str) {
        Some(id) if is_job_id(id) => Ok(Submission::Pending(id.to_string())),
        _ => Err(bad_answer(&response, "the submit answer has no usable `id`")),
    }
}

/// Check a job once. What happened to the job is `Ok` (done, failed, still
/// running); trouble asking is `Err`, which the host may retry.
pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let id = job_id(token)?;
    let url = format!("{}/v1/generations/{id}", base_url(host)?);
    let response = send(host, "GET", &url, vec![], POLL_TIMEOUT_MS)?;
    if response.status == 404 {
        return Ok(JobState::Failed(ProviderError::Upstream(UpstreamFailure {
            status: 404,
            message: format!("{TITLE} no longer knows generation {id} (expired or never existed)"),
        })));
    }
    if !is_success(&response) {
        return Err(from_status(&response));
    }
    let answer = json_of(&response)?;
    let fraction = answer.get("progress").and_then(Value::as_f64).map(|p| p.clamp(0.0, 1.0) as f32);
    let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
    Ok(match status {
        "queued" => JobState::Queued(None),
        "succeeded" => JobState::Done(images_of(&answer)),
        "failed" => {
            let why = answer.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            JobState::Failed(ProviderError::Upstream(UpstreamFailure {
                status: 0,
                message: format!("{TITLE} could not generate the image: {why}"),
            }))
        }
        // "running", and any status this code does not know yet.
        _ => {
            let message = format!("generating at {TITLE} ({})", if status.is_empty() { "no status" } else { status });
            // News from inside this call; the host shows the state returned below too.
            if let Some(fraction) = fraction {
                host.progress(Some(fraction), &format!("{TITLE} is {:.0}% done", fraction * 100.0));
            }
            JobState::Running(RunningState { fraction, message: Some(message) })
        }
    })
}

/// Ask __TITLE__ to stop a job. A job it no longer knows has nothing left to stop.
pub fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let id = job_id(token)?;
    let url = format!("{}/v1/generations/{id}/cancel", base_url(host)?);
    let response = send(host, "POST", &url, vec![], POLL_TIMEOUT_MS)?;
    if is_success(&response) || response.status == 404 { Ok(()) } else { Err(from_status(&response)) }
}

/// The output size in pixels: as asked; else the aspect ratio with its long
/// side at the default and the short side rounded to a multiple of 64;
/// else the default square.
pub fn size_of(request: &GenerationRequest) -> (u32, u32) {
    if let Some(size) = request.size {
        return (size.width, size.height);
    }
    let ratio = request.aspect_ratio.as_deref().and_then(|r| r.split_once(':')).and_then(|(w, h)| {
        let (w, h) = (w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?);
        (w > 0.0 && h > 0.0).then_some((w, h))
    });
    let short = |part: f64, whole: f64| {
        let side = (f64::from(DEFAULT_SIDE) * part / whole / f64::from(SIZE_MULTIPLE)).round() as u32 * SIZE_MULTIPLE;
        side.clamp(MIN_SIDE, DEFAULT_SIDE)
    };
    match ratio {
        Some((w, h)) if w >= h => (DEFAULT_SIDE, short(h, w)),
        Some((w, h)) => (short(w, h), DEFAULT_SIDE),
        None => (DEFAULT_SIDE, DEFAULT_SIDE),
    }
}

/// `images` of a finished job, as URLs for the host to download.
fn images_of(answer: &Value) -> Vec<ImageOutput> {
    let urls = answer.get("images").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    urls.iter()
        .filter_map(Value::as_str)
        .map(|url| ImageOutput {
            data: ImageData::Remote(RemoteImage { url: url.to_string(), headers: vec![] }),
            width: None,
            height: None,
            seed: None,
            revised_prompt: None,
        })
        .collect()
}

/// `base_url` from the config, without trailing slashes.
fn base_url(host: &dyn Host) -> Result<String, ProviderError> {
    let configured = host.config("base_url").map(|url| url.trim().trim_end_matches('/').to_string());
    let url = configured.filter(|url| !url.is_empty()).unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(ProviderError::Unavailable(format!(
            "config key base_url must be an http(s) URL (got `{url}`); fix [plugins.{ID}.config] in plugins.toml"
        )))
    }
}

/// `scheme://host[:port]` of a URL: the form `allowed_hosts` entries take.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

/// The job token is the upstream id; checked before it goes into a URL.
fn job_id(token: &str) -> Result<&str, ProviderError> {
    if is_job_id(token) {
        Ok(token)
    } else {
        Err(ProviderError::Internal(format!("`{token}` is not a {TITLE} job token")))
    }
}

fn is_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn send(
    host: &dyn Host,
    method: &str,
    url: &str,
    body: Vec<u8>,
    timeout_ms: u32,
) -> Result<HttpResponse, ProviderError> {
    let mut headers = vec![("authorization".to_string(), AUTHORIZATION.to_string())];
    headers.push(("accept".into(), "application/json".into()));
    if !body.is_empty() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let request = HttpRequest { method: method.into(), url: url.into(), headers, body, timeout_ms: Some(timeout_ms) };
    host.fetch(request).map_err(from_egress)
}

fn is_success(response: &HttpResponse) -> bool {
    (200..300).contains(&response.status)
}

fn json_of(response: &HttpResponse) -> Result<Value, ProviderError> {
    serde_json::from_slice(&response.body).map_err(|_| bad_answer(response, "the answer is not JSON"))
}
