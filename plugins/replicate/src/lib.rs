//! Easel's Replicate provider: creates predictions (official models by
//! `owner/name`, any model by `owner/name:version`), holds briefly with
//! `Prefer: wait`, follows `urls.stream` for live progress ([`live`]),
//! polls `urls.get` and cancels through `urls.cancel`, with
//! `Authorization: Bearer {{secret:REPLICATE_API_TOKEN}}` filled in by the
//! host (the plugin never sees the token). Wire protocol:
//! `docs/providers/replicate.md`.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`Replicate`] to the WIT
//! world `image-provider` (wasm32 only).

pub mod cancel_after;
pub mod errors;
pub mod flow;
pub mod input;
pub mod live;
pub mod models;
pub mod prediction;
pub mod schema;
pub mod token;
pub mod upscale;

use easel_plugin_kit::Provider;
pub use easel_plugin_kit::types;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// Replicate's predictions API as an Easel [`Provider`]; the calls are in [`flow`].
pub struct Replicate;

impl Provider for Replicate {
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

easel_plugin_kit::export_provider!(Replicate);
