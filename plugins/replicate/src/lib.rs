//! Easel's Replicate provider: creates predictions (official models by
//! `owner/name`, any model by `owner/name:version`), holds briefly with
//! `Prefer: wait`, polls `urls.get` and cancels through `urls.cancel`, with
//! `Authorization: Bearer {{secret:REPLICATE_API_TOKEN}}` filled in by the
//! host (the plugin never sees the token). Wire protocol:
//! `shared/providers/PROTOCOLS.md` §4.
//!
//! Everything but [`component`] is plain Rust over the [`types::Host`]
//! trait, so it is unit-tested natively; `component` (wasm32 only) binds it
//! to the WIT world `image-provider`.

pub mod errors;
pub mod flow;
pub mod input;
pub mod models;
pub mod prediction;
pub mod token;
pub mod types;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod component;
