//! The job token of a deferred generation: everything `poll` needs to run
//! it and `cancel` needs to stop it, as compact JSON. The host persists it,
//! so it carries the whole request body (init images included) — the plugin
//! keeps no state between calls.

use crate::api::Endpoint;
use easel_plugin_kit::random;
pub use easel_plugin_kit::token::JobToken;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// The `force_task_id` of the body, e.g. `task(easel-9f2c…)`.
    pub task: String,
    pub endpoint: Endpoint,
    /// Images asked for.
    pub count: u32,
    /// Model id, for messages.
    pub model: String,
    /// The txt2img/img2img body, ready to send.
    pub body: Value,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "sdwebui";
}

/// A fresh task id in A1111's `task(<id>)` form (docs/providers/sdwebui.md#endpoints).
pub fn new_task_id() -> String {
    format!("task(easel-{:016x})", random::random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            task: new_task_id(),
            endpoint: Endpoint::Img2img,
            count: 2,
            model: "v1-5".into(),
            body: serde_json::json!({"prompt": "x", "init_images": ["iVBORw=="]}),
        };
        let text = t.encode();
        assert!(text.contains("\"endpoint\":\"img2img\""));
        assert_eq!(Token::decode(&text).unwrap(), t);
        assert!(Token::decode("{}").is_err());
        assert!(t.task.starts_with("task(easel-") && t.task.ends_with(')'));
    }
}
