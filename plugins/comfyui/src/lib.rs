//! Easel's ComfyUI provider: runs API-format workflows (built-in txt2img
//! and img2img templates, or the operator's own, and a built-in upscale
//! graph — [`upscale`]), with ControlNet and LoRA nodes spliced in
//! ([`guidance`]), on a local ComfyUI server
//! through the host's egress, polls `/history` (with live progress from
//! ComfyUI's websocket while a prompt runs), and returns the images inline
//! from `/view`. Wire protocol: `docs/providers/comfyui.md
//! (read from the ComfyUI v0.3.64 server source).
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`ComfyUi`] to the WIT
//! world `image-provider` (wasm32 only).

pub mod api;
pub mod client;
pub mod describe;
pub mod errors;
pub mod flow;
pub mod guidance;
pub mod live;
pub mod settings;
pub mod token;
pub mod upscale;
pub mod workflow;

#[cfg(test)]
mod testing;

use easel_plugin_kit::Provider;
pub use easel_plugin_kit::types;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// A ComfyUI server as an Easel [`Provider`]; the calls are in [`describe`]
/// and [`flow`].
pub struct ComfyUi;

impl Provider for ComfyUi {
    fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
        describe::describe(host)
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

easel_plugin_kit::export_provider!(ComfyUi);
