//! Easel's ComfyUI provider: runs API-format workflows (built-in txt2img
//! and img2img templates, or the operator's own) on a local ComfyUI server
//! through the host's egress, polls `/history`, and returns the images
//! inline from `/view`. Wire protocol: `shared/providers/PROTOCOLS.md` §5
//! (read from the ComfyUI v0.3.64 server source).
//!
//! Everything but `component` is plain Rust over the [`types::Host`]
//! trait, so it is unit-tested natively; `component` (wasm32 only) binds it
//! to the WIT world `image-provider`.

pub mod api;
pub mod client;
pub mod describe;
pub mod errors;
pub mod flow;
pub mod multipart;
pub mod settings;
pub mod token;
pub mod types;
pub mod workflow;

#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod component;
