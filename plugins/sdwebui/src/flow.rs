//! The provider calls — describe, submit, poll, cancel — over A1111's API
//! (docs/providers/sdwebui.md), written against the [`Host`] trait so the whole flow
//! runs in native tests against a scripted host.
//!
//! A1111's txt2img/img2img are synchronous: one HTTP call blocks until the
//! images exist, and a plugin call has no threads to poll `/progress`
//! meanwhile. The host only calls `cancel` for jobs that have a token, so
//! in the default `deferred` mode `submit` checks the server and returns
//! `pending(token)` at once, and the first `poll` runs the generation (with
//! `force_task_id`). While that poll blocks, `cancel(token)` can look the
//! task up in `POST /internal/progress` and `POST /sdapi/v1/interrupt` it.
//! In `sync` mode `submit` generates and returns `done`; nothing can cancel.
//! Upscales (the `upscaler:<name>` models) always run inside `submit`: see
//! [`crate::upscale`].

use crate::api::{self, Endpoint, Task};
use crate::control;
use crate::lora;
use crate::models::{self, Checkpoint, Shape};
use crate::response::{self, SECRET};
use crate::token::{JobToken, Token, new_task_id};
use crate::types::{
    Host, HttpRequest, HttpResponse, JobState, Level, Operation, Output, ProviderError, ProviderInfo, Request,
    SecretNeed, Submission,
};
use crate::upscale;
use easel_plugin_kit::config;
use easel_plugin_kit::config::{config_object, config_str, config_u64, config_url};
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::size::parse_size;
use serde_json::{Map, Value, json};
use std::time::Instant;

pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:7860";
pub const DEFAULT_MAX_IMAGES: u32 = 8;
/// Asked-for timeout of one generation; the host caps it at the plugin's
/// `timeout_secs` (120 s by default).
const DEFAULT_GENERATION_TIMEOUT_MS: u32 = 900_000;
pub(crate) const QUICK_TIMEOUT_MS: u32 = 15_000;

/// `submit` returns `pending` and `poll` generates, or `submit` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Deferred,
    Sync,
}

/// The `[plugins.sdwebui.config]` keys (see the crate docs).
pub struct Settings {
    pub base: String,
    pub mode: Mode,
    pub default_model: Option<String>,
    /// The upscaler listed first among the upscale models (so the host
    /// picks it when an upscale names no model); see [`upscale::order`].
    pub default_upscaler: Option<String>,
    pub default_size: Option<(u32, u32)>,
    pub max_images: u32,
    pub params: Map<String, Value>,
    pub generation_timeout_ms: u32,
    /// Whether `SDWEBUI_AUTH` is configured (then requests carry Basic auth).
    pub auth: bool,
}

impl Settings {
    pub fn read(host: &dyn Host) -> Result<Settings, ProviderError> {
        let mode = match config_str(host, "submit_mode").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("deferred") => Mode::Deferred,
            Some("sync") => Mode::Sync,
            Some(_) => return Err(config::bad_config("submit_mode", "\"deferred\" or \"sync\"")),
        };
        let default_size = match config_str(host, "default_size") {
            None => None,
            Some(text) => {
                Some(parse_size(&text).ok_or_else(|| config::bad_config("default_size", "\"WxH\", e.g. \"768x768\""))?)
            }
        };
        Ok(Settings {
            base: config_url(host, "base_url", DEFAULT_BASE_URL),
            mode,
            default_model: config_str(host, "default_model"),
            default_upscaler: config_str(host, "default_upscaler"),
            default_size,
            max_images: config_u64(host, "max_images").map_or(DEFAULT_MAX_IMAGES, |n| n.clamp(1, 64) as u32),
            params: config_object(host, "params")?,
            generation_timeout_ms: config_u64(host, "request_timeout_secs")
                .map_or(DEFAULT_GENERATION_TIMEOUT_MS, |s| (s.clamp(1, 86_400) * 1000) as u32),
            auth: host.secret_configured(SECRET),
        })
    }

    fn not_reachable(&self) -> String {
        format!("SD WebUI not reachable at {} — start it with `--api`", self.base)
    }

    fn headers(&self, json_body: bool) -> Vec<(String, String)> {
        let mut h = vec![("Accept".to_string(), "application/json".to_string())];
        if json_body {
            h.push(("Content-Type".into(), "application/json".into()));
        }
        if self.auth {
            h.push(("Authorization".into(), format!("Basic {{{{secret:{SECRET}}}}}")));
        }
        h
    }

    /// One request; `Err` only when no HTTP answer came back.
    pub(crate) fn send(
        &self,
        host: &dyn Host,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout_ms: u32,
    ) -> Result<HttpResponse, ProviderError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("JSON values serialise")).unwrap_or_default();
        let request = HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.base),
            headers: self.headers(!body.is_empty()),
            body,
            timeout_ms: Some(timeout_ms),
        };
        host.fetch(request).map_err(|e| {
            egress_error(e, &Upstream::local("SD WebUI", &self.not_reachable()), &format!("{method} {path}"))
        })
    }

    /// GET a JSON document; non-2xx answers are classified.
    pub(crate) fn get_json(&self, host: &dyn Host, path: &str) -> Result<Value, ProviderError> {
        let response = self.send(host, "GET", path, None, QUICK_TIMEOUT_MS)?;
        if !response.is_success() {
            return Err(response::classify(&response, &self.base, self.auth));
        }
        response.json().ok_or_else(|| not_json(&response, path))
    }
}

pub fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
    let s = Settings::read(host)?;
    let checkpoints = models::checkpoints(&s.get_json(host, "/sdapi/v1/sd-models")?);
    if checkpoints.is_empty() {
        return Err(ProviderError::Unavailable(format!(
            "SD WebUI at {} lists no checkpoints; put a model in models/Stable-diffusion and POST /sdapi/v1/refresh-checkpoints",
            s.base
        )));
    }
    // Optional extras: older builds lack /schedulers, and ControlNet and
    // LoRA are extensions; a failure costs only notes or that feature.
    let optional = |path: &str| s.get_json(host, path).ok();
    let shape = Shape {
        default_size: s.default_size,
        max_images: s.max_images,
        samplers: models::names(optional("/sdapi/v1/samplers").as_ref(), false),
        schedulers: models::names(optional("/sdapi/v1/schedulers").as_ref(), true),
        control_types: optional(control::ROUTE).map(|a| control::offered(&a)).unwrap_or_default(),
        loras: optional(lora::ROUTE).map(|a| lora::names(&a)).unwrap_or_default(),
    };
    let loaded = optional("/sdapi/v1/options")
        .and_then(|o| o.get("sd_model_checkpoint").and_then(Value::as_str).map(String::from));
    let default_model = pick_default(&checkpoints, s.default_model.as_deref(), loaded.as_deref(), host);
    let mut models = models::model_infos(&checkpoints, &shape);
    models.extend(upscale::model_infos(&upscale::discover(host, &s), &checkpoints));
    Ok(ProviderInfo {
        id: "sdwebui".into(),
        display_name: "Stable Diffusion WebUI (AUTOMATIC1111)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!(
            "AUTOMATIC1111 Stable Diffusion WebUI (or a fork with the same /sdapi/v1 API: Forge, reForge, SD.Next) at {}: your own GPU, your checkpoints, no cost per image.",
            s.base
        ),
        models,
        default_model,
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: "Only for servers started with `--api-auth user:pass`: base64 of `user:pass` (e.g. `printf %s 'user:pass' | base64`), sent as HTTP Basic auth.".into(),
            required: false,
        }],
        hosts: vec![s.base.clone()],
    })
}

/// The configured default, else the loaded checkpoint, else the first.
fn pick_default(checkpoints: &[Checkpoint], configured: Option<&str>, loaded: Option<&str>, host: &dyn Host) -> String {
    if let Some(name) = configured {
        if let Some(c) = checkpoints.iter().find(|c| c.answers_to(name)) {
            return c.model_name.clone();
        }
        host.log(
            Level::Warn,
            &format!("sdwebui: default_model `{name}` is not a checkpoint on the server; using the loaded one"),
        );
    }
    loaded.and_then(|l| checkpoints.iter().find(|c| c.answers_to(l))).unwrap_or(&checkpoints[0]).model_name.clone()
}

/// Check the server and the checkpoint, build the body, then either
/// generate now (`sync`) or hand back a token for `poll` (`deferred`).
pub fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
    let s = Settings::read(host)?;
    if request.operation == Operation::Upscale || upscale::name_of(&request.model).is_some() {
        return upscale::submit(host, &s, request);
    }
    let checkpoints = models::checkpoints(&s.get_json(host, "/sdapi/v1/sd-models")?);
    let checkpoint = checkpoints.iter().find(|c| c.answers_to(&request.model)).ok_or_else(|| {
        ProviderError::invalid(
            Some("model"),
            format!(
                "SD WebUI at {} no longer lists checkpoint `{}`; it has: {}",
                s.base,
                request.model,
                checkpoints.iter().map(|c| c.model_name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let size = s.default_size.unwrap_or_else(|| models::default_size_for(checkpoint));
    // With control images, the server's ControlNet types (nothing is kept from describe).
    let kind = match api::Params::of(request)?.control {
        Some(wanted) => Some(control::pick(&control::fetch(host, &s)?, &wanted, &s.base)?.clone()),
        None => None,
    };
    let task_id = new_task_id();
    let task = api::build(request, Some(&checkpoint.title), &s.params, size, &task_id, kind.as_ref())?;
    match s.mode {
        Mode::Sync => generate(host, &s, &task, &request.model)?.map(Submission::Done),
        Mode::Deferred => {
            let busy = s
                .get_json(host, "/sdapi/v1/progress?skip_current_image=true")
                .ok()
                .and_then(|p| p.get("state").and_then(|st| st.get("job_count")).and_then(Value::as_u64))
                .is_some_and(|n| n > 0);
            let message = if busy {
                format!("queued: SD WebUI at {} is busy with another job; this one waits its turn", s.base)
            } else {
                format!("queued for SD WebUI at {}", s.base)
            };
            host.progress(None, &message);
            let token = Token {
                task: task_id,
                endpoint: task.endpoint,
                count: task.count,
                model: request.model.clone(),
                body: task.body,
            };
            Ok(Submission::Pending(token.encode()))
        }
    }
}

/// Run the generation. Outer `Err`: no answer (retryable); inner `Err`:
/// the server's refusal or failure (final).
fn generate(
    host: &dyn Host,
    s: &Settings,
    task: &Task,
    model: &str,
) -> Result<Result<Vec<Output>, ProviderError>, ProviderError> {
    let what = if task.endpoint == Endpoint::Txt2img { "generating" } else { "editing" };
    host.progress(None, &format!("{what} {} image(s) with {model} at SD WebUI", task.count));
    host.log(Level::Debug, &format!("sdwebui POST {} ({model}, batch {})", task.endpoint.path(), task.count));
    let started = Instant::now();
    let response = s.send(host, "POST", task.endpoint.path(), Some(&task.body), s.generation_timeout_ms)?;
    if !response.is_success() {
        return Ok(Err(response::classify(&response, &s.base, s.auth)));
    }
    let Some(body) = response.json() else { return Ok(Err(not_json(&response, task.endpoint.path()))) };
    let images = response::images(&body, task.count);
    if let Ok(list) = &images {
        host.progress(
            Some(0.9),
            &format!("SD WebUI returned {} image(s) in {:.1} s", list.len(), started.elapsed().as_secs_f32()),
        );
    }
    Ok(images)
}

/// Where a task stands, from `POST /internal/progress` (docs/providers/sdwebui.md#endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TaskState {
    pub active: bool,
    pub queued: bool,
    pub completed: bool,
}

impl TaskState {
    fn known(self) -> bool {
        self.active || self.queued || self.completed
    }
}

/// `None` when the route is missing or unreadable (API-only builds, forks).
fn task_state(host: &dyn Host, s: &Settings, task: &str) -> Result<Option<TaskState>, ProviderError> {
    let body = json!({"id_task": task, "id_live_preview": -1, "live_preview": false});
    let response = s.send(host, "POST", "/internal/progress", Some(&body), QUICK_TIMEOUT_MS)?;
    if !response.is_success() {
        return Ok(None);
    }
    let Some(p) = response.json() else { return Ok(None) };
    let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Some(TaskState { active: flag("active"), queued: flag("queued"), completed: flag("completed") }))
}

/// Run a deferred generation (first poll). If the server already knows the
/// task, an earlier poll sent it and lost the answer (the call outlived the
/// plugin's time limit): that result cannot be collected, so say so.
pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let token = Token::decode(token)?;
    let s = Settings::read(host)?;
    if let Some(state) = task_state(host, &s, &token.task)?.filter(|st| st.known()) {
        let advice =
            "raise timeout_secs in [plugins.sdwebui] of plugins.toml (slow GPUs and large batches need minutes)";
        let message = if state.active {
            interrupt(host, &s)?;
            format!(
                "the generation outlived the plugin's call time limit and its answer was lost, so it was interrupted at SD WebUI; {advice}"
            )
        } else if state.queued {
            format!(
                "the request outlived the plugin's call time limit while queued at SD WebUI; it will still run there but its images cannot be collected; {advice}"
            )
        } else {
            format!(
                "SD WebUI finished the generation after the plugin's call time limit, so its images were lost; {advice}"
            )
        };
        return Ok(JobState::Failed(ProviderError::Timeout(message)));
    }
    let task = Task { endpoint: token.endpoint, body: token.body.clone(), count: token.count };
    Ok(match generate(host, &s, &task, &token.model)? {
        Ok(images) => JobState::Done(images),
        Err(error) => JobState::Failed(error),
    })
}

/// Stop the token's task if it is the one running (the interrupt is global,
/// so another client's job is never interrupted). A queued request cannot
/// be dropped from A1111's queue.
pub fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let token = Token::decode(token)?;
    let s = Settings::read(host)?;
    match task_state(host, &s, &token.task)? {
        Some(state) if state.active => return interrupt(host, &s),
        Some(state) if state.queued => {
            return Err(ProviderError::Unsupported(
                "the job is queued behind another one at SD WebUI, which cannot drop queued requests; it will still run".into(),
            ));
        }
        Some(state) if state.completed => {
            host.log(Level::Info, &format!("sdwebui: {} already finished; nothing to interrupt", token.task));
            return Ok(());
        }
        _ => {}
    }
    // No /internal/progress (or it does not know the task yet): fall back to
    // the public progress route's `current_task`.
    let progress = s.get_json(host, "/sdapi/v1/progress?skip_current_image=true")?;
    let running =
        progress.get("state").and_then(|st| st.get("job_count")).and_then(Value::as_u64).is_some_and(|n| n > 0);
    match progress.get("current_task") {
        Some(Value::String(current)) if *current == token.task => interrupt(host, &s),
        None if running => {
            host.log(Level::Warn, "sdwebui: this server does not say which task runs; interrupting the current job");
            interrupt(host, &s)
        }
        _ => {
            host.log(
                Level::Info,
                &format!("sdwebui: {} is not running at the server; nothing to interrupt", token.task),
            );
            Ok(())
        }
    }
}

fn interrupt(host: &dyn Host, s: &Settings) -> Result<(), ProviderError> {
    let response = s.send(host, "POST", "/sdapi/v1/interrupt", None, QUICK_TIMEOUT_MS)?;
    if !response.is_success() {
        return Err(response::classify(&response, &s.base, s.auth));
    }
    host.log(Level::Info, "sdwebui: interrupted the running generation");
    Ok(())
}

pub(crate) fn not_json(response: &HttpResponse, path: &str) -> ProviderError {
    ProviderError::Upstream {
        status: response.status,
        message: format!(
            "SD WebUI's answer to {path} is not JSON: {}",
            easel_plugin_kit::text::snippet(&response.body, 200)
        ),
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
pub(crate) mod tests;
