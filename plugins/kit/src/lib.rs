//! What Easel's provider plugins share: plain-Rust mirrors of the WIT types
//! and the [`Host`](types::Host) trait over the imports ([`types`]), the
//! [`Provider`] trait a plugin implements, and (wasm32 only) the WIT
//! bindings and the adapter that exports any [`Provider`] as the
//! `image-provider` world. Beside them, one module per concern:
//!
//! | module | owns |
//! |---|---|
//! | [`http`] | egress failures → provider errors, `Retry-After` |
//! | [`html`] | HTML error pages summarised in messages |
//! | [`config`] | reading `[plugins.NAME.config]` values |
//! | [`params`] | the caller's provider parameters (`Request::extra`) |
//! | [`guidance`] | ControlNet and LoRA params of local SD servers |
//! | [`token`] | versioned job tokens ([`token::JobToken`]) |
//! | [`multipart`] | `multipart/form-data` bodies |
//! | [`codec`] | base64 and `data:` URIs |
//! | [`image`] | image format sniffing, PNG size |
//! | [`size`] | `WxH` / `W:H` arithmetic |
//! | [`text`] | message text, snippets, progress in log lines |
//! | [`urls`] | origins, queries, percent-encoding |
//! | [`random`] | random numbers, UUIDs, the clock |
//! | [`testing`] | the scripted host for native tests |
//!
//! A plugin crate is a `cdylib` that implements [`Provider`] over plain
//! types, unit-tests it natively with a scripted [`Host`](types::Host)
//! ([`testing::ScriptedHost`], native builds only), and
//! ends its `lib.rs` with one line:
//!
//! ```ignore
//! easel_plugin_kit::export_provider!(MyProvider);
//! ```

pub mod codec;
pub mod config;
pub mod guidance;
pub mod html;
pub mod http;
pub mod image;
pub mod input_schema;
pub mod multipart;
pub mod params;
pub mod random;
pub mod size;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod text;
pub mod token;
pub mod types;
pub mod urls;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
pub use component::{Adapter, bindings};

use types::{Host, JobState, ProviderError, ProviderInfo, Request, Submission};

/// One image backend, over the plain types: what the WIT `provider`
/// interface exports, with the host's imports passed in as a [`Host`].
/// The host makes a fresh instance for every call, so there is no `self`:
/// whatever must survive between `submit` and `poll` goes into the token.
pub trait Provider {
    /// Capability discovery (WIT `describe`).
    fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError>;
    /// Start a generation (WIT `submit`): `done` for synchronous APIs,
    /// `pending` with a job token for queues.
    fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError>;
    /// Check a pending job once (WIT `poll`).
    fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError>;
    /// Ask the backend to stop a pending job, best effort (WIT `cancel`).
    fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError>;
}

/// Exports a [`Provider`] as this component's `provider` interface. Expands
/// to nothing outside wasm32, so a plugin's `lib.rs` can invoke it
/// unconditionally and still build and test natively.
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type EaselPluginExport = $crate::Adapter<$provider>;
    $crate::bindings::export!(EaselPluginExport with_types_in $crate::bindings);
        };
    };
}
