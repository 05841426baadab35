//! Easel's AUTOMATIC1111 Stable Diffusion WebUI provider: txt2img, img2img
//! and inpainting through the server's `/sdapi/v1` API (docs/providers/sdwebui.md), one
//! model per checkpoint, the checkpoint chosen per request with
//! `override_settings.sd_model_checkpoint`; and upscaling through the
//! Extras route, one `upscaler:<name>` model per upscaler ([`upscale`]).
//! Where the server has them, ControlNet (the sd-webui-controlnet
//! extension: control images, [`control`]) and LoRA (A1111's Lora
//! extension: `params.loras`, [`lora`]), declared in each checkpoint's
//! `parameters` schema ([`models::parameters`]).
//!
//! The server must run with `--api`. A loopback or LAN address is only
//! reachable when `allowed_hosts` names it literally, e.g.
//! `allowed_hosts = ["http://127.0.0.1:7860"]`.
//!
//! Config keys (`[plugins.sdwebui.config]`):
//! - `base_url`: default `http://127.0.0.1:7860`.
//! - `submit_mode`: `deferred` (default) — `submit` checks the server and
//!   returns a job token, the first `poll` runs the (blocking) generation,
//!   so `cancel_generation` can `POST /sdapi/v1/interrupt` it; or `sync` —
//!   `submit` generates and returns the images (no cancel). See [`flow`].
//! - `default_model`: a checkpoint (model name, title or hash); default: the
//!   checkpoint the server has loaded.
//! - `default_upscaler`: the upscaler (name, e.g. `"Lanczos"`, or model id)
//!   listed first among the upscale models, which the host picks when an
//!   upscale names no model; default `R-ESRGAN 4x+` when the server has
//!   it, else the server's first.
//! - `default_size`: `"WxH"` when a request gives no size; default 1024x1024
//!   for checkpoints named like SDXL/SD3/Flux/Pony, else 512x512.
//! - `max_images`: largest batch (`count`), default 8.
//! - `params`: a table merged into every request body under the request's
//!   own fields, e.g. `params = { sampler_name = "DPM++ 2M", scheduler =
//!   "Karras", steps = 25 }`. A request's `params` (WIT `extra`) go on top, except the fields Easel arguments set (docs/providers/sdwebui.md#params).
//! - `request_timeout_secs`: how long one generation may take, default 900;
//!   the host caps it at the plugin's `timeout_secs` (default 120), so raise
//!   `timeout_secs` in `[plugins.sdwebui]` for slow GPUs.
//!
//! Secret (optional): `SDWEBUI_AUTH`, for servers started with `--api-auth
//! user:pass`. The host substitutes secrets verbatim and HTTP Basic needs
//! base64, so its value is base64 of `user:pass` (`printf %s 'user:pass' |
//! base64`); the plugin sends `Authorization: Basic {{secret:SDWEBUI_AUTH}}`.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`SdWebUi`] to the WIT
//! world `image-provider` (wasm32 only).

pub mod api;
pub mod control;
pub mod flow;
pub mod lora;
pub mod models;
pub mod response;
pub mod token;
pub mod upscale;

pub use easel_plugin_kit::types;

use easel_plugin_kit::Provider;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// AUTOMATIC1111's `/sdapi/v1` API as an Easel [`Provider`]; the calls are in [`flow`].
pub struct SdWebUi;

impl Provider for SdWebUi {
    fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
        flow::describe(host)
    }

    fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
        flow::submit(host, request)
    }

    fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
        flow::poll(host, token)
    }

    fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
        flow::cancel(host, token)
    }
}

easel_plugin_kit::export_provider!(SdWebUi);

#[cfg(test)]
mod guidance_tests;
