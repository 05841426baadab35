//! Job tokens: what a queued job's `poll` and `cancel` need, carried by
//! the host between calls (and across restarts) because a fresh plugin
//! instance serves every call. One codec for every plugin: compact JSON
//! `{"v": VERSION, ...the plugin's fields}`, checked on the way back in.

use crate::types::ProviderError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A plugin's job token type. Implement it with the two constants and use
/// the provided [`encode`](JobToken::encode) and [`decode`](JobToken::decode):
///
/// ```ignore
/// #[derive(Serialize, Deserialize)]
/// struct Token { request_id: String }
/// impl JobToken for Token { const PLUGIN: &'static str = "fal"; }
/// ```
///
/// The text is `{"v":1,"request_id":"…"}`: the version first, then the
/// type's fields in their order. Change [`VERSION`](JobToken::VERSION)
/// whenever a field changes meaning, so that tokens an older build wrote
/// are refused with a clear message instead of misread.
pub trait JobToken: Serialize + DeserializeOwned {
    /// The plugin's id, for messages (`fal`, `comfyui`).
    const PLUGIN: &'static str;
    /// The format version this build writes and the only one it reads.
    const VERSION: u8 = 1;

    /// The token text the host stores (never fails for plain data).
    fn encode(&self) -> String {
        serde_json::to_string(&Versioned { v: Self::VERSION, token: self }).unwrap_or_default()
    }

    /// Read a token back: `invalid-request` naming `job_id` for text that
    /// is not one of this plugin's tokens, or one of another version.
    fn decode(text: &str) -> Result<Self, ProviderError> {
        let plugin = Self::PLUGIN;
        let not_ours = |why: String| {
            ProviderError::invalid(
                Some("job_id"),
                format!("not a job token of the {plugin} plugin ({why}); job ids come from its submit"),
            )
        };
        let value: Value = serde_json::from_str(text).map_err(|e| not_ours(e.to_string()))?;
        match value.get("v").and_then(Value::as_u64) {
            Some(v) if v == u64::from(Self::VERSION) => {}
            Some(v) => {
                return Err(ProviderError::invalid(
                    Some("job_id"),
                    format!(
                        "{plugin} job token version {v} is not supported (this plugin reads version {}); start the job again",
                        Self::VERSION
                    ),
                ));
            }
            None => return Err(not_ours("it has no version `v`".into())),
        }
        serde_json::from_value::<Unversioned<Self>>(value).map(|t| t.token).map_err(|e| not_ours(e.to_string()))
    }
}

#[derive(Serialize)]
struct Versioned<'a, T> {
    v: u8,
    #[serde(flatten)]
    token: &'a T,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Unversioned<T> {
    #[allow(dead_code)]
    v: u8,
    #[serde(flatten)]
    token: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Demo {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    }

    impl JobToken for Demo {
        const PLUGIN: &'static str = "demo";
    }

    #[test]
    fn round_trips_with_the_version_first() {
        let t = Demo { id: "r1".into(), seed: Some(3) };
        assert_eq!(t.encode(), r#"{"v":1,"id":"r1","seed":3}"#);
        assert_eq!(Demo::decode(&t.encode()).unwrap(), t);
        assert_eq!(Demo::decode(r#"{"v":1,"id":"r1"}"#).unwrap(), Demo { id: "r1".into(), seed: None });
    }

    #[test]
    fn refuses_garbage_and_other_versions() {
        for text in ["job_123", "{}", r#"{"v":1}"#, "[1]"] {
            let Err(ProviderError::InvalidRequest { field, message }) = Demo::decode(text) else { panic!("{text}") };
            assert_eq!(field.as_deref(), Some("job_id"));
            assert!(message.starts_with("not a job token of the demo plugin ("), "{message}");
        }
        let Err(ProviderError::InvalidRequest { message, .. }) = Demo::decode(r#"{"v":9,"id":"r1"}"#) else { panic!() };
        assert_eq!(
            message,
            "demo job token version 9 is not supported (this plugin reads version 1); start the job again"
        );
    }
}
