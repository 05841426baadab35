//! Easel: an MCP server for image generation whose providers are sandboxed
//! WASI components. Data flows one way: `mcp`/`cli` → `jobs` →
//! `providers` → `runtime` → (plugin) → `egress` → upstream, and images
//! back into `store`; `app` wires them once. Components come from
//! `providers::source`, which pulls OCI artifacts through `registry`
//! (also `easel plugins push`), itself over `egress`. `auth` says who an
//! HTTP caller is (OAuth bearer tokens, the email allow-list); `ledger`
//! records every generation's cost and enforces the caps. `request`, `model` and
//! `field_error` are the shared vocabulary at the bottom.

pub mod app;
pub mod auth;
pub mod blocking;
pub mod cli;
pub mod config;
pub mod db;
pub mod egress;
pub mod field_error;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod inputs;
pub mod jobs;
pub mod ledger;
pub mod mcp;
pub mod model;
pub mod pipeline;
pub mod plugin_check;
pub mod preferences;
pub mod prompting;
pub mod providers;
pub mod registry;
pub mod reload;
pub mod request;
pub mod runtime;
pub mod scaffold;
pub mod store;
pub mod styles;
pub mod ui;
