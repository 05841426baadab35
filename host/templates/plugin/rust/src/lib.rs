//! __TITLE__: an Easel image provider plugin, built as a WASI 0.2 component.
//!
//! This file owns the binding to the WIT world `image-provider`
//! (wit/image-provider.wit): it generates the types, wraps the host's imports
//! in a [`Host`] value and hands each exported call to [`provider`], where
//! the logic lives. The logic sees the host only through the [`Host`] trait,
//! so `cargo test` runs it natively against a scripted host (src/tests.rs).
//!
//! The host creates a fresh instance for every call: keep no state here.
//! Whatever `poll` and `cancel` need travels in the job token.

wit_bindgen::generate!({ path: "wit", world: "image-provider" });

mod errors;
mod provider;
#[cfg(test)]
mod tests;

use easel::image_provider::{config, egress, progress};
use egress::{EgressError, HttpRequest, HttpResponse};
use exports::easel::image_provider::provider::Guest;
use types::{GenerationRequest, JobState, ProviderError, ProviderInfo, Submission};

/// The WIT data types (`provider-info`, `provider-error`, …) as Rust types.
pub use easel::image_provider::types;

/// What the plugin asks of the host: HTTP (the host checks the URL against
/// `allowed_hosts` and fills in `{{secret:NAME}}`), config values and
/// progress reports.
pub trait Host {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError>;
    fn config(&self, key: &str) -> Option<String>;
    fn progress(&self, fraction: Option<f32>, message: &str);
}

/// The real host, through the component's imports (these only work inside
/// the sandbox; native tests use `tests::ScriptedHost`).
struct Imports;

impl Host for Imports {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError> {
        egress::fetch(&request)
    }

    fn config(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn progress(&self, fraction: Option<f32>, message: &str) {
        progress::report(fraction, message);
    }
}

/// The exported `provider` interface.
struct Plugin;

impl Guest for Plugin {
    fn describe() -> Result<ProviderInfo, ProviderError> {
        provider::describe(&Imports)
    }

    fn submit(request: GenerationRequest) -> Result<Submission, ProviderError> {
        provider::submit(&Imports, &request)
    }

    fn poll(token: String) -> Result<JobState, ProviderError> {
        provider::poll(&Imports, &token)
    }

    fn cancel(token: String) -> Result<(), ProviderError> {
        provider::cancel(&Imports, &token)
    }
}

export!(Plugin);
