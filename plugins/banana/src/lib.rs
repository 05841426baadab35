//! Easel's "banana" provider. Banana.dev's hosted service shut down in 2024
//! (docs/providers/banana.md#status); this plugin talks to what remains: a self-hosted
//! Potassium server (docs/providers/banana.md#potassium, the default) or a server that speaks the old v4
//! start/check API (docs/providers/banana.md#v4). Not to be confused with Google's "nano banana"
//! Gemini models (docs/providers/banana.md#status).
//!
//! Potassium defines no schema for images, so the operator describes the
//! handler: a request template and where the image is in the answer.
//! A loopback or LAN address is only reachable when `allowed_hosts` names
//! it literally, e.g. `allowed_hosts = ["http://127.0.0.1:8000"]`.
//!
//! Config keys (`[plugins.banana.config]`):
//! - `mode`: `potassium` (default) or `v4`.
//! - `base_url`: Potassium default `http://127.0.0.1:8000`; required in v4
//!   mode (api.banana.dev is gone).
//! - `route` / `routes`: Potassium handler route(s), default `/`; one model
//!   per route (`/` is model `default`, `/sdxl` is `sdxl`).
//! - `model_key` / `model_keys`: v4 model key(s), one model each.
//! - `request_template`: the JSON body (Potassium) or `modelInputs` (v4),
//!   as a TOML table or a JSON string, with `{{prompt}}`, `{{seed}}`, … —
//!   see [`template`] for the names and rules. Default: the community
//!   diffusers fields `prompt`, `negative_prompt`, `num_inference_steps`,
//!   `guidance_scale`, `height`, `width`, `seed`, `image`, `mask_image`,
//!   `strength`. Features (seed, steps, mask, …) are advertised only when
//!   their placeholder is used. Without `{{count}}`, `count` images take
//!   `count` calls with seeds `seed`, `seed+1`, ….
//! - `image_pointer`: RFC 6901 JSON pointer to the image(s) — base64, data
//!   URI or URL, or a list — in the answer (in v4: in `modelOutputs[0]`).
//!   Default: the first of `/image_base64`, `/images`, `/image`,
//!   `/output/url`, … that holds something (see [`extract`]).
//! - `seed_pointer`: JSON pointer to the seed(s) used, if the handler says.
//! - `api_key_header`: header that carries `BANANA_API_KEY` in Potassium
//!   mode, default `X-Banana-Api-Key` (e.g. a proxy's `X-Api-Key`).
//! - `max_images` (default 4; 1 for v4 without `{{count}}`),
//!   `default_size` (`"WxH"`, sent when a request gives none),
//!   `size_multiple` (default 8), `busy_retry_ms` (wait after 423/503
//!   without `Retry-After`, default 1000), `request_timeout_secs` (one
//!   handler call, default 300, capped by the plugin's `timeout_secs`).
//!
//! Secret (optional): `BANANA_API_KEY`, as the header above (Potassium) or
//! the `apiKey` body field (v4); the host fills `{{secret:BANANA_API_KEY}}`.
//!
//! Behaviour: Potassium calls are synchronous (`submit` → `done`), with 423
//! and 503 reported as `rate-limited` (the host retries with backoff) and
//! 500 as `upstream` with the traceback's last line. v4 calls are queued
//! (`submit` → `pending`, `poll` → `/check/v4/`). Neither can be cancelled.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`Banana`] to the WIT
//! world `image-provider` (wasm32 only).

pub mod errors;
pub mod extract;
pub mod flow;
pub mod potassium;
pub mod settings;
pub mod template;
pub mod token;
pub mod v4;
pub mod vars;

pub use easel_plugin_kit::types;

use easel_plugin_kit::Provider;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// A Potassium or v4 server as an Easel [`Provider`]; the calls are in [`flow`].
pub struct Banana;

impl Provider for Banana {
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

easel_plugin_kit::export_provider!(Banana);
