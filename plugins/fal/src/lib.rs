//! Easel's fal.ai provider: submits to fal's queue API, polls it, fetches
//! results and cancels, with `Authorization: Key {{secret:FAL_KEY}}` filled
//! in by the host (the plugin never sees the key). Wire protocol:
//! `shared/providers/PROTOCOLS.md` §3.
//!
//! Everything but [`component`] is plain Rust over the [`types::Host`]
//! trait, so it is unit-tested natively; `component` (wasm32 only) binds it
//! to the WIT world `image-provider`.

pub mod errors;
pub mod flow;
pub mod input;
pub mod models;
pub mod status;
pub mod token;
pub mod types;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod component;
