//! The job token of a v4 call: the `callID` that `/check/v4/` needs, as
//! compact JSON (the host persists it). Potassium calls are synchronous and
//! need no token.

use crate::types::ProviderError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Format version of this token.
    pub v: u8,
    /// The v4 `callID` from `/start/v4/` (PROTOCOLS §7.2).
    pub call_id: String,
    /// Model key, for messages.
    pub model: String,
    /// The request's seed, reported with the images when the answer has none.
    pub seed: Option<u64>,
}

impl Token {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a token always serialises")
    }

    pub fn decode(text: &str) -> Result<Token, ProviderError> {
        serde_json::from_str(text).map_err(|e| {
            ProviderError::invalid(Some("job_id"), format!("not a banana job token ({e}); it must come from this plugin's submit"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token { v: 1, call_id: "c-1".into(), model: "sd15".into(), seed: Some(3) };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("{}").is_err());
    }
}
