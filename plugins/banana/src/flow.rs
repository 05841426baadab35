//! The provider calls — describe, submit, poll, cancel — dispatched to
//! [`potassium`] (synchronous: `submit` returns `done`) or [`v4`] (queued:
//! `submit` returns `pending`, `poll` checks), written against the [`Host`]
//! trait so the whole flow runs in native tests.

use crate::potassium;
use crate::settings::{Mode, SECRET, Settings};
use crate::token::{JobToken, Token};
use crate::types::{Host, HttpRequest, JobState, ProviderError, ProviderInfo, Request, SecretNeed, Submission};
use crate::v4;
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::urls::origin_of;
use serde_json::Value;

/// Banana described honestly (docs/providers/banana.md#status).
pub const HONEST: &str = "Banana.dev's hosted service shut down in 2024; this talks to a self-hosted Potassium server or a clone of the old v4 API";

pub fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
    let s = Settings::read(host)?;
    let status = match s.mode {
        Mode::Potassium => match potassium::health(host, &s)? {
            Some(st) => match st.get("gpu_available").and_then(Value::as_bool) {
                Some(true) => "Potassium, GPU available".to_string(),
                Some(false) => "Potassium, GPU busy".to_string(),
                None => "Potassium".to_string(),
            },
            None => "no /__status__ route: not Potassium, or a proxy in front of it".to_string(),
        },
        Mode::V4 => {
            // No health route in v4: any HTTP answer shows the server is up.
            host.fetch(HttpRequest {
                method: "GET".into(),
                url: format!("{}/", s.base),
                headers: vec![],
                body: vec![],
                timeout_ms: Some(10_000),
            })
            .map_err(|e| egress_error(e, &Upstream::local(s.server_name(), &s.not_reachable()), "GET /"))?;
            "v4 start/check API".to_string()
        }
    };
    let models = s.models();
    Ok(ProviderInfo {
        id: "banana".into(),
        display_name: "Banana (self-hosted Potassium / legacy v4)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!("{HONEST}; here: {} ({status}).", s.base),
        default_model: models[0].id.clone(),
        models,
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: format!(
                "Optional key: sent as the `{}` header to a Potassium server (or the proxy in front of it), or as `apiKey` in v4 request bodies.",
                s.key_header
            ),
            required: false,
        }],
        hosts: vec![origin_of(&s.base)],
    })
}

pub fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
    let s = Settings::read(host)?;
    let target = s.target(&request.model)?;
    match s.mode {
        Mode::Potassium => potassium::run(host, &s, target, request).map(Submission::Done),
        Mode::V4 => v4::start(host, &s, target, request),
    }
}

pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let token = Token::decode(token)?;
    let s = Settings::read(host)?;
    if s.mode != Mode::V4 {
        return Err(ProviderError::invalid(
            Some("job_id"),
            "this job token is from v4 mode, but the banana plugin now runs in potassium mode",
        ));
    }
    v4::check(host, &s, &token)
}

/// Neither protocol can stop a call: Potassium has no cancel route and the
/// v4 API had none (docs/providers/banana.md#v4, #potassium).
pub fn cancel(_host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let token = Token::decode(token)?;
    Err(ProviderError::Unsupported(format!(
        "the Banana v4 API has no cancel call; call {} keeps running at the server, its result is discarded",
        token.call_id
    )))
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
