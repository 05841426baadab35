//! Easel's OpenAI Images provider (gpt-image-*), a sandboxed WASI component.
//!
//! It maps Easel requests onto `POST {base_url}/images/generations` (JSON) and
//! `POST {base_url}/images/edits` (multipart), both synchronous, and reads
//! base64 images back. The API key never enters the sandbox: requests carry
//! `Authorization: Bearer {{secret:OPENAI_API_KEY}}` and the host fills it in
//! toward the hosts the operator bound it to. Wire facts: docs/providers/openai.md.
//!
//! Everything is plain Rust over the [`types::Host`] trait, so it is
//! unit-tested natively; `easel-plugin-kit` binds [`OpenAi`] to the WIT world
//! `image-provider` (wasm32 only).

pub mod flow;
pub mod models;
pub mod request;
pub mod response;

use easel_plugin_kit::Provider;
pub use easel_plugin_kit::types;
use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// OpenAI Images as an Easel [`Provider`]; the calls are in [`flow`].
pub struct OpenAi;

impl Provider for OpenAi {
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

easel_plugin_kit::export_provider!(OpenAi);
