//! The job token: what `poll` and `cancel` need about one prediction, as
//! compact JSON (the host stores it and hands it back).

pub use easel_plugin_kit::token::JobToken;
use serde::{Deserialize, Serialize};

/// One prediction. `get` and `cancel` are the absolute `urls.get` /
/// `urls.cancel` Replicate returned (docs/providers/replicate.md#predictions), or built from the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Prediction id.
    pub id: String,
    /// Model as requested (`owner/name[:version]`), for messages.
    pub model: String,
    pub get: String,
    pub cancel: String,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "replicate";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            id: "gm3q".into(),
            model: "black-forest-labs/flux-schnell".into(),
            get: "https://api.replicate.com/v1/predictions/gm3q".into(),
            cancel: "https://api.replicate.com/v1/predictions/gm3q/cancel".into(),
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("{}").is_err());
    }
}
