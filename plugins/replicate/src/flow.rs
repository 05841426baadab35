//! The provider calls — describe, submit, poll, cancel — over Replicate's
//! predictions API (docs/providers/replicate.md), written against the [`Host`] trait so the
//! whole flow runs in native tests against a scripted host.
//!
//! Config keys (`[plugins.replicate.config]`):
//! - `base_url`: API base, default `https://api.replicate.com/v1`; with or
//!   without the trailing `/v1` (docs/providers/replicate.md#base-url-and-auth), e.g. `http://127.0.0.1:9002`.
//! - `prefer_wait_secs`: `Prefer: wait=N` on create, 0–60, default 5: fast
//!   models finish inside `submit`; 0 turns sync mode off.
//! - `default_model`: default `black-forest-labs/flux-schnell`.
//! - `extra_models`: further `owner/name[:version]` ids to offer with loose
//!   capabilities (Replicate validates them).
//! - `output_format`: `png` (default), `jpg`/`jpeg` or `webp` where the model takes it.
//! - `cancel_after`: `Cancel-After` on create, so Replicate itself cancels
//!   a prediction still running after that long (e.g. `"30m"`, `"1h"`,
//!   whole seconds; at least 5 s). Default `15m`, the host's job deadline:
//!   a prediction the host lost track of cannot bill longer than a tracked
//!   one. See [`crate::cancel_after`].
//! - `download_auth`: `true` sends `Authorization: Bearer …` with output
//!   downloads (the docs advise it, docs/providers/replicate.md#predictions); the secret must then also be
//!   bound to `https://replicate.delivery`. Default `false`.
//! - `stream_secs`: how long one `poll` follows the prediction's event
//!   stream (`urls.stream`) for live progress before it GETs the
//!   prediction, 0–30, default 10; 0 polls without the stream. See
//!   [`crate::live`].

use crate::cancel_after;
use crate::errors::{self, Call};
use crate::input;
use crate::live;
use crate::models;
use crate::prediction::{self, Phase};
use crate::token::{JobToken, Token};
use crate::types::{
    Host, HttpRequest, HttpResponse, JobState, Level, ProviderError, ProviderInfo, Request, SecretNeed, Submission,
};
use easel_plugin_kit::config::{config_bool, config_list, config_u64, config_url};
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::text::truncate;
use serde_json::Value;

/// The secret the plugin references; the host fills it in (docs/providers/replicate.md#base-url-and-auth).
pub const SECRET: &str = "REPLICATE_API_TOKEN";
pub const AUTH_VALUE: &str = "Bearer {{secret:REPLICATE_API_TOKEN}}";
pub const DEFAULT_BASE_URL: &str = "https://api.replicate.com/v1";
/// Where Replicate serves prediction event streams (`urls.stream`,
/// docs/providers/replicate.md#live-progress-the-prediction-stream).
pub const STREAM_HOST: &str = "https://stream.replicate.com";
pub const DEFAULT_MODEL: &str = "black-forest-labs/flux-schnell";
/// Default `Prefer: wait` seconds; Replicate allows 1–60 (docs/providers/replicate.md#calls).
pub const DEFAULT_PREFER_WAIT: u64 = 5;

const POLL_TIMEOUT_MS: u32 = 20_000;
/// Create timeout beyond the `Prefer: wait` hold (uploading data URIs).
const CREATE_SLACK_MS: u32 = 45_000;

pub fn describe(host: &dyn Host) -> ProviderInfo {
    let mut extra = config_list(host, "extra_models");
    let default_model = host.config("default_model").map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    let default_model = default_model.map_or_else(|| DEFAULT_MODEL.to_string(), |m| models::canonical(&m));
    extra.push(default_model.clone());
    let mut hosts = vec![
        "https://api.replicate.com".to_string(),
        STREAM_HOST.to_string(),
        "https://replicate.delivery".to_string(),
        "https://*.replicate.delivery".to_string(),
    ];
    let base = api_base(host);
    let origin = origin_of(&base);
    if !hosts.contains(&origin) {
        hosts.insert(0, origin);
    }
    ProviderInfo {
        id: "replicate".into(),
        display_name: "Replicate".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Replicate's hosted models (FLUX, Nano Banana, any owner/name[:version]) through its predictions API.".into(),
        models: models::all(&extra),
        default_model,
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: "Replicate API token (r8_…, sent as `Authorization: Bearer …`); create one at https://replicate.com/account/api-tokens."
                .into(),
            required: true,
        }],
        hosts,
    }
}

/// Create a prediction, holding up to `prefer_wait_secs` for it: a fast
/// model comes back `done`, anything else `pending` with a [`Token`].
pub fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
    require_token(host)?;
    let output_format = host.config("output_format").or_else(|| Some("png".into()));
    let mut create = input::build(request, output_format.as_deref())?;
    let base = api_base(host);
    if models::family(&request.model) == models::Family::Generic {
        check_against_schema(host, &base, request, &mut create)?;
    }
    let wait = config_u64(host, "prefer_wait_secs").unwrap_or(DEFAULT_PREFER_WAIT).min(60);
    let mut headers = auth_headers();
    headers.push(("Content-Type".into(), "application/json".into()));
    headers.push(("Cancel-After".into(), cancel_after::header_value(host)?));
    if wait > 0 {
        headers.push(("Prefer".into(), format!("wait={wait}")));
    }
    let body = serde_json::to_vec(&create.body)
        .map_err(|e| ProviderError::Internal(format!("cannot encode the input: {e}")))?;
    host.log(Level::Debug, &format!("replicate create {} ({})", create.path, request.model));
    let timeout = (wait as u32) * 1000 + CREATE_SLACK_MS;
    let response = host
        .fetch(HttpRequest {
            method: "POST".into(),
            url: format!("{base}{}", create.path),
            headers,
            body,
            timeout_ms: Some(timeout),
        })
        .map_err(|e| egress_error(e, &Upstream::cloud("Replicate"), &format!("{base}{}", create.path)))?;
    if !response.is_success() {
        return Err(errors::classify(&response, Call::Create, &request.model));
    }
    let p = response.json().ok_or_else(|| bad_json(&response, "create"))?;
    match prediction::phase(&p) {
        Phase::Succeeded(urls) => Ok(Submission::Done(prediction::outputs(&p, urls, &download_headers(host)))),
        Phase::Failed(error) => Err(error),
        phase => {
            let token = token_for(&p, &base, &request.model)?;
            let state = match phase {
                Phase::Starting => "starting",
                Phase::Processing { .. } => "processing",
                _ => "accepted",
            };
            host.progress(None, &format!("Replicate prediction {} {state}", token.id));
            Ok(Submission::Pending(token.encode()))
        }
    }
}

/// The token from a prediction: its own `urls`, else built from the id.
fn token_for(p: &Value, base: &str, model: &str) -> Result<Token, ProviderError> {
    let (id, get, cancel) = prediction::identity(p);
    let stream = prediction::stream_url(p);
    let id = id.ok_or_else(|| ProviderError::Upstream {
        status: 200,
        message: format!("Replicate's answer has no prediction id: {}", truncate(&p.to_string(), 200)),
    })?;
    Ok(Token {
        get: get.unwrap_or_else(|| format!("{base}/predictions/{id}")),
        cancel: cancel.unwrap_or_else(|| format!("{base}/predictions/{id}/cancel")),
        model: model.into(),
        id,
        stream,
    })
}

/// Check a prediction once. With a stream URL in the token, first follow
/// the prediction's event stream for up to `stream_secs` for live progress
/// ([`live::follow`]); then, whatever the stream did (done, an error, the
/// window passed, or no stream at all), GET the prediction, whose answer
/// alone decides the state. Transient trouble (egress, 429, 5xx) is an
/// `Err`, which the host retries; the prediction's own outcome is `Ok`.
pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let token = Token::decode(token)?;
    require_token(host)?;
    let window = live::window(host);
    if let Some(stream) = token.stream.as_deref().filter(|_| !window.is_zero()) {
        live::follow(host, stream, vec![("Authorization".into(), AUTH_VALUE.into())], window);
    }
    let response = host
        .fetch(HttpRequest {
            method: "GET".into(),
            url: token.get.clone(),
            headers: auth_headers(),
            body: vec![],
            timeout_ms: Some(POLL_TIMEOUT_MS),
        })
        .map_err(|e| egress_error(e, &Upstream::cloud("Replicate"), &token.get))?;
    if response.status == 404 {
        return Ok(JobState::Failed(ProviderError::Upstream {
            status: 404,
            message: format!("Replicate no longer knows prediction {}", token.id),
        }));
    }
    if !response.is_success() {
        return Err(errors::classify(&response, Call::Get, &token.model));
    }
    let p = response.json().ok_or_else(|| bad_json(&response, "prediction"))?;
    Ok(match prediction::phase(&p) {
        Phase::Starting => JobState::Queued(None),
        Phase::Processing { fraction, log } => {
            if let Some(line) = &log {
                host.progress(fraction, &format!("replicate: {line}"));
            }
            JobState::Running { fraction, message: Some("running at Replicate".into()) }
        }
        Phase::Succeeded(urls) => JobState::Done(prediction::outputs(&p, urls, &download_headers(host))),
        Phase::Failed(error) => JobState::Failed(error),
        Phase::Other(status) => {
            JobState::Running { fraction: None, message: Some(format!("Replicate status {status}")) }
        }
    })
}

/// Ask Replicate to cancel (POST urls.cancel). An unknown prediction is not
/// an error: there is nothing left to stop.
pub fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let token = Token::decode(token)?;
    require_token(host)?;
    let response = host
        .fetch(HttpRequest {
            method: "POST".into(),
            url: token.cancel.clone(),
            headers: auth_headers(),
            body: vec![],
            timeout_ms: Some(POLL_TIMEOUT_MS),
        })
        .map_err(|e| egress_error(e, &Upstream::cloud("Replicate"), &token.cancel))?;
    if response.is_success() || response.status == 404 {
        let status = response.json().and_then(|p| p.get("status").and_then(Value::as_str).map(String::from));
        host.log(
            Level::Info,
            &format!(
                "replicate prediction {} cancel: HTTP {} {}",
                token.id,
                response.status,
                status.unwrap_or_default()
            ),
        );
        return Ok(());
    }
    Err(errors::classify(&response, Call::Cancel, &token.model))
}

/// The API base ending in `/v1`, whether or not the config wrote it (docs/providers/replicate.md#base-url-and-auth).
pub fn api_base(host: &dyn Host) -> String {
    let base = config_url(host, "base_url", DEFAULT_BASE_URL);
    if base.ends_with("/v1") { base } else { format!("{base}/v1") }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
}

/// Check a model without a table entry against its own input schema
/// ([`crate::schema`]), fetched once an hour through the host's cache. A
/// schema that cannot be had (a network error, a model with no public
/// version) leaves the check to Replicate's 422; an unknown model is
/// refused here.
fn check_against_schema(
    host: &dyn Host,
    base: &str,
    request: &Request,
    create: &mut input::Create,
) -> Result<(), ProviderError> {
    let id = models::canonical(&request.model);
    let Some(path) = crate::schema::path_for(&id) else { return Ok(()) };
    let mut headers = auth_headers();
    headers.push(("Easel-Cache".into(), format!("max-age={}", crate::schema::SCHEMA_CACHE_SECS)));
    let url = format!("{base}{path}");
    let answer = match host.fetch(HttpRequest {
        method: "GET".into(),
        url: url.clone(),
        headers,
        body: vec![],
        timeout_ms: Some(20_000),
    }) {
        Ok(answer) => answer,
        Err(e) => {
            host.log(
                Level::Warn,
                &format!(
                    "replicate: no input schema for `{id}` ({}); Replicate checks the input",
                    egress_error(e, &Upstream::cloud("Replicate"), &url)
                ),
            );
            return Ok(());
        }
    };
    if answer.status == 404 {
        return Err(ProviderError::invalid(
            Some("model"),
            format!(
                "Replicate has no model `{id}` (or it is private to another account); search replicate.com/explore for its owner/name"
            ),
        ));
    }
    let Some(schema) =
        answer.json().filter(|_| answer.is_success()).and_then(|v| crate::schema::input_schema(&v).cloned())
    else {
        host.log(
            Level::Warn,
            &format!(
                "replicate: `{id}` answered {} without an input schema; Replicate checks the input",
                answer.status
            ),
        );
        return Ok(());
    };
    let Some(Value::Object(input)) = create.body.get_mut("input") else { return Ok(()) };
    easel_plugin_kit::input_schema::check_request(&id, &schema, input, request.extra.as_deref(), input::RESERVED)
}

fn auth_headers() -> Vec<(String, String)> {
    vec![("Authorization".into(), AUTH_VALUE.into()), ("Accept".into(), "application/json".into())]
}

fn download_headers(host: &dyn Host) -> Vec<(String, String)> {
    if config_bool(host, "download_auth") == Some(true) {
        vec![("Authorization".into(), AUTH_VALUE.into())]
    } else {
        vec![]
    }
}

fn require_token(host: &dyn Host) -> Result<(), ProviderError> {
    if host.secret_configured(SECRET) {
        Ok(())
    } else {
        Err(ProviderError::Unauthorized(
            "REPLICATE_API_TOKEN is not set: put a Replicate API token (https://replicate.com/account/api-tokens) in the environment variable named in [plugins.replicate.secrets.REPLICATE_API_TOKEN]".into(),
        ))
    }
}

fn bad_json(response: &HttpResponse, what: &str) -> ProviderError {
    ProviderError::Upstream {
        status: response.status,
        message: format!(
            "Replicate's {what} answer is not JSON: {}",
            easel_plugin_kit::text::snippet(&response.body, 200)
        ),
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
