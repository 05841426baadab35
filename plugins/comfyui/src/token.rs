//! The job token: what `poll` and `cancel` need about one queued prompt,
//! as compact JSON. The host keeps it (across restarts, too) and hands it
//! back; a fresh plugin instance serves every call, so nothing else survives.

use crate::types::ProviderError;
use serde::{Deserialize, Serialize};

/// One queued ComfyUI prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Format version of this token.
    pub v: u8,
    /// The server the prompt went to (normalized `base_url` at submit time).
    pub base: String,
    /// ComfyUI's `prompt_id` from `POST /prompt`.
    pub prompt_id: String,
    /// The `client_id` this plugin sent with the prompt.
    pub client_id: String,
    /// The seed filled into the workflow's `{{seed}}`, reported with the
    /// images; `None` when the workflow has no `{{seed}}` (nothing to report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Images requested (the batch size).
    pub count: u32,
}

impl Token {
    pub const VERSION: u8 = 1;

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Token, ProviderError> {
        let token: Token = serde_json::from_str(text).map_err(|e| {
            ProviderError::invalid(Some("job_id"), format!("not a ComfyUI job token ({e}); it must come from this plugin's submit"))
        })?;
        if token.v != Self::VERSION {
            return Err(ProviderError::invalid(Some("job_id"), format!("ComfyUI job token version {} is not supported", token.v)));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            v: 1,
            base: "http://127.0.0.1:8188".into(),
            prompt_id: "3f1c".into(),
            client_id: "abc".into(),
            seed: Some(7),
            count: 2,
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("job_123").is_err());
        assert!(Token::decode(&t.encode().replace("\"v\":1", "\"v\":9")).is_err());
    }
}
