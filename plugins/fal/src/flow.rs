//! The provider calls — describe, submit, poll, cancel — over fal's queue
//! API (docs/providers/fal.md#queue), written against the [`Host`] trait so the whole
//! flow runs in native tests against a scripted host.
//!
//! Config keys (`[plugins.fal.config]`):
//! - `queue_url`: queue base URL, default `https://queue.fal.run` (point it
//!   at a fake, e.g. `http://127.0.0.1:9001`).
//! - `default_model`: model used when a request names none, default `fal-ai/flux/dev`.
//! - `extra_models`: list of further endpoint ids to offer with loose
//!   capabilities (fal validates them), e.g. `["fal-ai/recraft/v3"]`.
//! - `output_format`: `png` (default), `jpeg` or `webp` where the model takes it.

use crate::errors::{self, Call};
use crate::input;
use crate::models;
use crate::status::{self, Status};
use crate::stream::{self, Watched};
use crate::token::{JobToken, Token, app_of};
use crate::types::{
    Host, HttpRequest, HttpResponse, JobState, Level, ProviderError, ProviderInfo, Request, SecretNeed, Submission,
};
use easel_plugin_kit::config::{config_list, config_url};
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::text::truncate;
use easel_plugin_kit::urls::with_query;
use serde_json::Value;

/// The secret the plugin references; the host fills it in (docs/providers/fal.md#base-urls-and-auth).
pub const SECRET: &str = "FAL_KEY";
/// `Authorization: Key <FAL_KEY>`: fal's scheme is `Key`, not Bearer.
pub const AUTH_VALUE: &str = "Key {{secret:FAL_KEY}}";
pub const DEFAULT_QUEUE_URL: &str = "https://queue.fal.run";
pub const DEFAULT_MODEL: &str = "fal-ai/flux/dev";

/// Per-request timeouts, milliseconds: a submit carries data-URI images.
const SUBMIT_TIMEOUT_MS: u32 = 60_000;
const POLL_TIMEOUT_MS: u32 = 20_000;

pub fn describe(host: &dyn Host) -> ProviderInfo {
    let mut extra = config_list(host, "extra_models");
    let default_model = host.config("default_model").map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    let default_model = default_model.map_or_else(|| DEFAULT_MODEL.to_string(), |m| models::canonical(&m));
    extra.push(default_model.clone());
    // The queue host, and the CDN the output URLs point at (docs/providers/fal.md#base-urls-and-auth, #inputs).
    let mut hosts = vec!["https://queue.fal.run".to_string(), "https://*.fal.media".to_string()];
    let queue = config_url(host, "queue_url", DEFAULT_QUEUE_URL);
    if !hosts.contains(&queue) {
        hosts.insert(0, queue);
    }
    ProviderInfo {
        id: "fal".into(),
        display_name: "fal.ai".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "fal.ai's serverless model gallery (FLUX, Nano Banana and more) through its queue API.".into(),
        models: models::all(&extra),
        default_model,
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: "fal API key (sent as `Authorization: Key …`); create one at https://fal.ai/dashboard/keys. \
                          For an id:secret pair, give `id:secret`."
                .into(),
            required: true,
        }],
        hosts,
    }
}

/// Submit to the queue; fal never answers synchronously here, so the
/// result is always `pending` with a [`Token`].
pub fn submit(host: &dyn Host, request: &Request) -> Result<Submission, ProviderError> {
    require_key(host)?;
    let mut request = request.clone();
    request.model = models::canonical(&request.model);
    let output_format = host.config("output_format").or_else(|| Some("png".into()));
    let mut call = input::build(&request, output_format.as_deref())?;
    if models::family(&request.model) == models::Family::Generic {
        check_against_schema(host, &request, &mut call.body)?;
    }
    let queue = config_url(host, "queue_url", DEFAULT_QUEUE_URL);
    let url = format!("{queue}/{}", call.endpoint);
    host.log(Level::Debug, &format!("fal submit {} ({} image(s))", call.endpoint, request.count));
    let body =
        serde_json::to_vec(&call.body).map_err(|e| ProviderError::Internal(format!("cannot encode the input: {e}")))?;
    let response = send(host, "POST", &url, body, SUBMIT_TIMEOUT_MS)?;
    if !response.is_success() {
        return Err(errors::classify(&response, Call::Submit, &call.endpoint));
    }
    let json = response.json().ok_or_else(|| bad_json(&response, "submit"))?;
    let token = token_from_submit(&json, &queue, &call.endpoint)?;
    let position = json.get("queue_position").and_then(Value::as_u64);
    host.progress(
        None,
        &match position {
            Some(p) => format!("fal accepted request {} (queue position {p})", token.request_id),
            None => format!("fal accepted request {}", token.request_id),
        },
    );
    Ok(Submission::Pending(token.encode()))
}

/// Build the token from a submit answer, using fal's own URLs and building
/// only the ones it left out (docs/providers/fal.md#endpoint-ids: from `owner/app`).
fn token_from_submit(json: &Value, queue: &str, endpoint: &str) -> Result<Token, ProviderError> {
    let request_id = json
        .get("request_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Upstream {
            status: 200,
            message: format!("fal's submit answer has no request_id: {}", truncate(&json.to_string(), 200)),
        })?
        .to_string();
    let base = format!("{queue}/{}/requests/{request_id}", app_of(endpoint));
    let url = |key: &str, fallback: String| json.get(key).and_then(Value::as_str).map_or(fallback, String::from);
    Ok(Token {
        endpoint: endpoint.into(),
        status_url: url("status_url", format!("{base}/status")),
        response_url: url("response_url", base.clone()),
        cancel_url: url("cancel_url", format!("{base}/cancel")),
        request_id,
    })
}

/// Check a queued request; on `COMPLETED`, fetch its result.
///
/// First from fal's status stream ([`stream::watch`]): up to ten seconds
/// of live progress, ending early on `COMPLETED`. When there is no usable
/// stream, one plain status GET instead ([`poll_status`]), so nothing
/// depends on the stream (docs/providers/fal.md#status-stream).
///
/// Transient trouble (egress, 429, 5xx without a fal error body) is an
/// `Err`, which the host retries; an outcome of the job itself is `Ok`.
pub fn poll(host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    let token = Token::decode(token)?;
    require_key(host)?;
    match stream::watch(host, &token)? {
        Watched::Completed(error) => fetch_result(host, &token, error),
        Watched::Pending(state) => Ok(state),
        Watched::Fallback(why) => {
            host.log(Level::Debug, &format!("fal request {}: {why}; polling the status", token.request_id));
            poll_status(host, &token)
        }
    }
}

/// One plain status poll (`GET {status_url}?logs=1`); on `COMPLETED`,
/// fetch the result.
fn poll_status(host: &dyn Host, token: &Token) -> Result<JobState, ProviderError> {
    let response = send(host, "GET", &with_query(&token.status_url, "logs=1"), vec![], POLL_TIMEOUT_MS)?;
    if response.status == 404 {
        return Ok(JobState::Failed(ProviderError::Upstream {
            status: 404,
            message: format!("fal no longer knows request {} (expired or never existed)", token.request_id),
        }));
    }
    if !response.is_success() {
        return Err(errors::classify(&response, Call::Status, &token.endpoint));
    }
    let json = response.json().ok_or_else(|| bad_json(&response, "status"))?;
    let status = status::parse_status(&json);
    let Some(state) = status::pending_state(&status) else {
        let error = match status {
            Status::Completed { error } => error,
            _ => None,
        };
        return fetch_result(host, token, error);
    };
    match &status {
        Status::Running { fraction, log: Some(line) } => host.progress(*fraction, &format!("fal: {line}")),
        Status::Other(name) => {
            host.log(Level::Debug, &format!("fal request {} has unknown status {name}", token.request_id));
        }
        _ => {}
    }
    Ok(state)
}

/// GET the result of a completed request. A failed run answers with an
/// error status and a `detail` body (docs/providers/fal.md#queue), which is the job's
/// failure; `status_error` (from the status poll) backs it up.
fn fetch_result(
    host: &dyn Host,
    token: &Token,
    status_error: Option<ProviderError>,
) -> Result<JobState, ProviderError> {
    let response = send(host, "GET", &token.response_url, vec![], POLL_TIMEOUT_MS)?;
    if response.is_success() {
        let json = response.json().ok_or_else(|| bad_json(&response, "result"))?;
        return Ok(match status::parse_result(&json) {
            Ok(images) => JobState::Done(images),
            Err(error) => JobState::Failed(status_error.unwrap_or(error)),
        });
    }
    let error = errors::classify(&response, Call::Result, &token.endpoint);
    let has_detail = response.json().is_some_and(|b| b.get("detail").is_some());
    match (&error, status_error) {
        (ProviderError::RateLimited { .. } | ProviderError::Unauthorized(_), _) => Err(error),
        (_, _) if has_detail => Ok(JobState::Failed(error)),
        (_, Some(from_status)) => Ok(JobState::Failed(from_status)),
        (_, None) => Err(error),
    }
}

/// Ask fal to cancel (PUT cancel_url). Already finished or unknown requests
/// are not an error: there is nothing left to stop.
pub fn cancel(host: &dyn Host, token: &str) -> Result<(), ProviderError> {
    let token = Token::decode(token)?;
    require_key(host)?;
    let response = send(host, "PUT", &token.cancel_url, vec![], POLL_TIMEOUT_MS)?;
    let status =
        response.json().and_then(|b| b.get("status").and_then(Value::as_str).map(String::from)).unwrap_or_default();
    match response.status {
        200..=299 => {
            host.log(
                Level::Info,
                &format!(
                    "fal request {} cancel: {}",
                    token.request_id,
                    if status.is_empty() { "accepted" } else { &status }
                ),
            );
            Ok(())
        }
        400 | 404 => {
            host.log(
                Level::Info,
                &format!("fal request {} was not cancelled: {status} (HTTP {})", token.request_id, response.status),
            );
            Ok(())
        }
        _ => Err(errors::classify(&response, Call::Cancel, &token.endpoint)),
    }
}

/// Fail fast, before any request, when the operator set no key.
fn require_key(host: &dyn Host) -> Result<(), ProviderError> {
    if host.secret_configured(SECRET) {
        Ok(())
    } else {
        Err(ProviderError::Unauthorized(
            "FAL_KEY is not set: put a fal API key (https://fal.ai/dashboard/keys) in the environment variable named in [plugins.fal.secrets.FAL_KEY]".into(),
        ))
    }
}

/// Check an endpoint outside the table against its own input schema
/// ([`crate::schema`]): an endpoint the model search does not list is
/// refused; one whose schema cannot be had is left to fal's 422.
fn check_against_schema(host: &dyn Host, request: &Request, body: &mut Value) -> Result<(), ProviderError> {
    let api = config_url(host, "api_url", crate::schema::DEFAULT_API_URL);
    let url = crate::schema::url_for(&api, &request.model);
    let headers = vec![
        ("Accept".to_string(), "application/json".to_string()),
        ("Easel-Cache".into(), format!("max-age={}", crate::schema::SCHEMA_CACHE_SECS)),
    ];
    let skip = |why: String| {
        host.log(Level::Warn, &format!("fal: no input schema for `{}` ({why}); fal checks the input", request.model));
        Ok(())
    };
    let answer = match host.fetch(HttpRequest {
        method: "GET".into(),
        url: url.clone(),
        headers,
        body: vec![],
        timeout_ms: Some(20_000),
    }) {
        Ok(answer) if answer.is_success() => answer,
        Ok(answer) => return skip(format!("the model search answered {}", answer.status)),
        Err(e) => return skip(egress_error(e, &Upstream::cloud("fal"), &url).to_string()),
    };
    let Some(listed) = answer.json() else { return skip("the model search answered no JSON".into()) };
    let schema = match crate::schema::input_schema(&listed, &request.model) {
        None => {
            return Err(ProviderError::invalid(
                Some("model"),
                format!("fal lists no endpoint `{}`; find endpoint ids at fal.ai/models", request.model),
            ));
        }
        Some(None) => return skip("its OpenAPI document has no JSON input".into()),
        Some(Some(schema)) => schema,
    };
    let Some(input) = body.as_object_mut() else { return Ok(()) };
    crate::schema::fit_alternates(schema, input);
    easel_plugin_kit::input_schema::check_request(
        &request.model,
        schema,
        input,
        request.extra.as_deref(),
        input::RESERVED,
    )
}

fn send(
    host: &dyn Host,
    method: &str,
    url: &str,
    body: Vec<u8>,
    timeout_ms: u32,
) -> Result<HttpResponse, ProviderError> {
    let mut headers =
        vec![("Authorization".to_string(), AUTH_VALUE.to_string()), ("Accept".into(), "application/json".into())];
    if !body.is_empty() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    host.fetch(HttpRequest { method: method.into(), url: url.into(), headers, body, timeout_ms: Some(timeout_ms) })
        .map_err(|e| egress_error(e, &Upstream::cloud("fal"), url))
}

fn bad_json(response: &HttpResponse, what: &str) -> ProviderError {
    ProviderError::Upstream {
        status: response.status,
        message: format!("fal's {what} answer is not JSON: {}", easel_plugin_kit::text::snippet(&response.body, 200)),
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
