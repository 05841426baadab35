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
    /// `urls.stream`, the prediction's server-sent-event stream, when the
    /// model supports streaming (docs/providers/replicate.md#live-progress-the-prediction-stream).
    /// Optional and left out when absent, so tokens written before it
    /// existed still decode (and poll without the stream): the token
    /// version stays 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "replicate";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let mut t = Token {
            id: "gm3q".into(),
            model: "black-forest-labs/flux-schnell".into(),
            get: "https://api.replicate.com/v1/predictions/gm3q".into(),
            cancel: "https://api.replicate.com/v1/predictions/gm3q/cancel".into(),
            stream: None,
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(!t.encode().contains("stream"), "absent, it is left out: {}", t.encode());
        t.stream = Some("https://stream.replicate.com/v1/files/bcwr-x".into());
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("{}").is_err());
    }

    #[test]
    fn a_token_from_before_streams_still_decodes() {
        let old = r#"{"v":1,"id":"gm3q","model":"m","get":"https://api.replicate.com/v1/predictions/gm3q","cancel":"https://api.replicate.com/v1/predictions/gm3q/cancel"}"#;
        let token = Token::decode(old).unwrap();
        assert_eq!((token.id.as_str(), token.stream), ("gm3q", None));
    }
}
