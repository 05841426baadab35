//! The job token: everything `poll` and `cancel` need about one queued fal
//! request, as compact JSON (the host stores it and hands it back).

pub use easel_plugin_kit::token::JobToken;
use serde::{Deserialize, Serialize};

/// One fal queue request. URLs are the ones fal returned at submit time:
/// status/result/cancel use only `owner/app`, so clients must not rebuild
/// them from the full endpoint id (docs/providers/fal.md#endpoint-ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Full endpoint id the request went to.
    pub endpoint: String,
    pub request_id: String,
    pub status_url: String,
    pub response_url: String,
    pub cancel_url: String,
}

impl JobToken for Token {
    const PLUGIN: &'static str = "fal";
}

/// `owner/app` of an endpoint id (legacy `workflows/`/`comfy/` ids keep
/// their prefix segment), for building URLs fal did not send.
pub fn app_of(endpoint: &str) -> String {
    let parts: Vec<&str> = endpoint.split('/').filter(|p| !p.is_empty()).collect();
    let keep = if matches!(parts.first(), Some(&"workflows") | Some(&"comfy")) { 3 } else { 2 };
    parts.into_iter().take(keep).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = Token {
            endpoint: "fal-ai/flux/dev".into(),
            request_id: "r1".into(),
            status_url: "https://queue.fal.run/fal-ai/flux/requests/r1/status".into(),
            response_url: "https://queue.fal.run/fal-ai/flux/requests/r1".into(),
            cancel_url: "https://queue.fal.run/fal-ai/flux/requests/r1/cancel".into(),
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        assert!(Token::decode("job_123").is_err());
    }

    #[test]
    fn app_is_owner_and_app() {
        assert_eq!(app_of("fal-ai/flux/dev/image-to-image"), "fal-ai/flux");
        assert_eq!(app_of("fal-ai/nano-banana"), "fal-ai/nano-banana");
        assert_eq!(app_of("workflows/me/my-flow/x"), "workflows/me/my-flow");
    }
}
