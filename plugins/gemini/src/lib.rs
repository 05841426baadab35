//! Easel's Google Gemini image provider ("nano banana": Gemini 3.1 Flash
//! Image, Gemini 3 Pro Image, …), a sandboxed WASI component.
//!
//! It maps Easel requests onto `POST {base_url}/models/{model}:generateContent`
//! (synchronous; edits add reference images as `inlineData` parts) and reads
//! inline base64 images back. The API key never enters the sandbox: requests
//! carry `x-goog-api-key: {{secret:GEMINI_API_KEY}}` and the host fills it in
//! toward the hosts the operator bound it to. Wire facts: PROTOCOLS.md §2.
//!
//! Everything but `plugin` is plain Rust that unit-tests natively.

pub mod models;
pub mod request;
pub mod response;
pub mod types;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod plugin;
