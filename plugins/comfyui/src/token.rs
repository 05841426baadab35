//! The job token: what `poll` and `cancel` need about one queued prompt,
//! as compact JSON. The host keeps it (across restarts, too) and hands it
//! back; a fresh plugin instance serves every call, so nothing else survives.

pub use easel_plugin_kit::token::JobToken;
use serde::{Deserialize, Serialize};

/// One queued ComfyUI prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// The server the prompt went to (normalized `base_url` at submit time).
    pub base: String,
    /// ComfyUI's `prompt_id` from `POST /prompt`.
    pub prompt_id: String,
    /// The `client_id` this plugin sent with the prompt: ComfyUI sends the
    /// prompt's execution messages only to the websocket opened with it
    /// (`/ws?clientId=`, see [`crate::live`]). Every token this plugin wrote
    /// has one; a token without it still polls, without live progress.
    #[serde(default)]
    pub client_id: String,
    /// The seed filled into the workflow's `{{seed}}`, reported with the
    /// images; `None` when the workflow has no `{{seed}}` (nothing to report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Images requested (the batch size).
    pub count: u32,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "comfyui";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            base: "http://127.0.0.1:8188".into(),
            prompt_id: "3f1c".into(),
            client_id: "abc".into(),
            seed: Some(7),
            count: 2,
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("job_123").is_err());
        let bare = Token::decode(r#"{"v":1,"base":"http://h:1","prompt_id":"p","count":1}"#).unwrap();
        assert_eq!((bare.client_id.as_str(), bare.seed), ("", None));
        assert!(Token::decode(&t.encode().replace("\"v\":1", "\"v\":9")).is_err());
    }
}
