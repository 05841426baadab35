//! Test support (cfg(test) only): the ComfyUI address the tests use and a
//! [`ScriptedHost`] (the kit's) configured for it, with fixed randomness.

use crate::types::HttpResponse;
pub use easel_plugin_kit::testing::ScriptedHost;
use serde_json::Value;

/// The `base_url` every test host has.
pub const BASE: &str = "http://127.0.0.1:8188";

/// A scripted host with `base_url = BASE`, no secrets, and
/// `random_u64` counting 1000, 2000, …
pub fn new_mock() -> ScriptedHost {
    ScriptedHost::new("", &[("base_url", BASE)]).with_counter()
}

/// A JSON answer with `status`.
pub fn resp(status: u16, body: Value) -> HttpResponse {
    easel_plugin_kit::testing::json_response(status, &body)
}
