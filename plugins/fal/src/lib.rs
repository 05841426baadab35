//! Easel's fal.ai provider: submits to fal's queue API, polls it, fetches
//! results and cancels, with `Authorization: Key {{secret:FAL_KEY}}` filled
//! in by the host (the plugin never sees the key). Wire protocol:
//! `docs/providers/fal.md`.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`Fal`] to the WIT world
//! `image-provider` (wasm32 only).

pub mod errors;
pub mod flow;
pub mod input;
pub mod models;
pub mod schema;
pub mod status;
pub mod stream;
pub mod token;
pub mod upscale;

use easel_plugin_kit::Provider;
pub use easel_plugin_kit::types;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// fal.ai's queue API as an Easel [`Provider`]; the calls are in [`flow`].
pub struct Fal;

impl Provider for Fal {
    fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
        Ok(flow::describe(host))
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

easel_plugin_kit::export_provider!(Fal);
