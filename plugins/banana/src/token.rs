//! The job token of a v4 call: the `callID` that `/check/v4/` needs, as
//! compact JSON (the host persists it). Potassium calls are synchronous and
//! need no token.

pub use easel_plugin_kit::token::JobToken;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// The v4 `callID` from `/start/v4/` (docs/providers/banana.md#v4).
    pub call_id: String,
    /// Model key, for messages.
    pub model: String,
    /// The request's seed, reported with the images when the answer has none.
    pub seed: Option<u64>,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "banana";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token { call_id: "c-1".into(), model: "sd15".into(), seed: Some(3) };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("{}").is_err());
    }
}
