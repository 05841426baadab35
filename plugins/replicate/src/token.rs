//! The job token: what `poll` and `cancel` need about one prediction, as
//! compact JSON (the host stores it and hands it back).

use crate::types::ProviderError;
use serde::{Deserialize, Serialize};

/// One prediction. `get` and `cancel` are the absolute `urls.get` /
/// `urls.cancel` Replicate returned (PROTOCOLS §4.3), or built from the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Format version of this token.
    pub v: u8,
    /// Prediction id.
    pub id: String,
    /// Model as requested (`owner/name[:version]`), for messages.
    pub model: String,
    pub get: String,
    pub cancel: String,
}

impl Token {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a token always serialises")
    }

    pub fn decode(text: &str) -> Result<Token, ProviderError> {
        serde_json::from_str(text).map_err(|e| {
            ProviderError::invalid(Some("job_id"), format!("not a Replicate job token ({e}); it must come from this plugin's submit"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            v: 1,
            id: "gm3q".into(),
            model: "black-forest-labs/flux-schnell".into(),
            get: "https://api.replicate.com/v1/predictions/gm3q".into(),
            cancel: "https://api.replicate.com/v1/predictions/gm3q/cancel".into(),
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("{}").is_err());
    }
}
