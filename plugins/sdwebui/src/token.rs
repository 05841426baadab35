//! The job token of a deferred generation: everything `poll` needs to run
//! it and `cancel` needs to stop it, as compact JSON. The host persists it,
//! so it carries the whole request body (init images included) — the plugin
//! keeps no state between calls.

use crate::api::Endpoint;
use crate::types::ProviderError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Format version of this token.
    pub v: u8,
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

impl Token {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a token always serialises")
    }

    pub fn decode(text: &str) -> Result<Token, ProviderError> {
        serde_json::from_str(text).map_err(|e| {
            ProviderError::invalid(Some("job_id"), format!("not an sdwebui job token ({e}); it must come from this plugin's submit"))
        })
    }
}

/// A fresh task id in A1111's `task(<id>)` form (PROTOCOLS §6.2).
pub fn new_task_id() -> String {
    format!("task(easel-{:016x})", crate::util::random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            v: 1,
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
