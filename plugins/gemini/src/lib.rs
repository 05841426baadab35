//! Easel's Google Gemini image provider ("nano banana": Gemini 3.1 Flash
//! Image, Gemini 3 Pro Image, …), a sandboxed WASI component.
//!
//! It maps Easel requests onto `POST {base_url}/models/{model}:generateContent`
//! (synchronous; edits add reference images as `inlineData` parts) and reads
//! inline base64 images back. The API key never enters the sandbox: requests
//! carry `x-goog-api-key: {{secret:GEMINI_API_KEY}}` and the host fills it in
//! toward the hosts the operator bound it to. Wire facts: docs/providers/gemini.md.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`Gemini`] to the WIT world
//! `image-provider` (wasm32 only).

pub mod flow;
pub mod models;
pub mod request;
pub mod response;

use easel_plugin_kit::Provider;
pub use easel_plugin_kit::types;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// The Gemini API's `generateContent` as an Easel [`Provider`]; the calls
/// are in [`flow`].
pub struct Gemini;

impl Provider for Gemini {
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

easel_plugin_kit::export_provider!(Gemini);
