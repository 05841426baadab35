//! Easel's OpenAI Images provider (gpt-image-*), a sandboxed WASI component.
//!
//! It maps Easel requests onto `POST {base_url}/images/generations` (JSON) and
//! `POST {base_url}/images/edits` (multipart), both synchronous, and reads
//! base64 images back. The API key never enters the sandbox: requests carry
//! `Authorization: Bearer {{secret:OPENAI_API_KEY}}` and the host fills it in
//! toward the hosts the operator bound it to. Wire facts: PROTOCOLS.md §1.
//!
//! Everything but `plugin` is plain Rust that unit-tests natively.

pub mod models;
pub mod multipart;
pub mod request;
pub mod response;
pub mod types;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod plugin;
