//! The legacy Banana v4 API (docs/providers/banana.md#v4), for old deployments and
//! clones: `POST /start/v4/` with `{"id": <uuid>, "created": <unix>,
//! "apiKey", "modelKey", "modelInputs", "startOnly": false}` answers `{"id",
//! "message", "created", "apiVersion", "callID", "finished",
//! "modelOutputs"}`; `POST /check/v4/` with `{"id", "created", "longPoll":
//! true, "callID", "apiKey"}` until `message` is "success", when
//! `modelOutputs[0]` is the handler's output. Errors are HTTP 200 with
//! "error" in `message`. The key travels in the body, as the host's
//! `{{secret:BANANA_API_KEY}}` substitution. There is no cancel call.

use crate::errors::{classify, v4_message_error};
use crate::extract;
use crate::settings::{SECRET, Settings, Target};
use crate::template;
use crate::token::{JobToken, Token};
use crate::types::{Host, HttpRequest, HttpResponse, JobState, Output, ProviderError, Request, Submission};
use crate::vars;
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::random::{unix_now, uuid_v4};
use easel_plugin_kit::text::truncate;
use serde_json::{Value, json};

/// The server may hold a long-poll check this long (about 50 s, docs/providers/banana.md#v4).
const CHECK_TIMEOUT_MS: u32 = 60_000;

pub fn start(host: &dyn Host, s: &Settings, target: &Target, request: &Request) -> Result<Submission, ProviderError> {
    let id = uuid_v4();
    let given = template::params_for(&s.template, request.extra.as_deref())?;
    let inputs = template::with_params(template::render(&s.template, &vars::for_call(request, s, 0, &id)), &given);
    let body = json!({
        "id": id,
        "created": unix_now(),
        "apiKey": api_key(s),
        "modelKey": target.address,
        "modelInputs": inputs,
        "startOnly": false,
    });
    let answer = post(host, s, "/start/v4/", &body, s.timeout_ms)?;
    if let Some(error) = v4_message_error(&answer) {
        return Err(error);
    }
    if let Some(outputs) = finished_outputs(&answer) {
        return Ok(Submission::Done(images(s, outputs, request.seed)?));
    }
    let call_id = answer.get("callID").and_then(Value::as_str).filter(|c| !c.is_empty()).ok_or_else(|| {
        ProviderError::Upstream {
            status: 200,
            message: format!(
                "the v4 start answer has neither outputs nor a callID: {}",
                truncate(&answer.to_string(), 200)
            ),
        }
    })?;
    host.progress(None, &format!("Banana v4 call {call_id} started at {}", s.base));
    Ok(Submission::Pending(Token { call_id: call_id.into(), model: target.id.clone(), seed: request.seed }.encode()))
}

pub fn check(host: &dyn Host, s: &Settings, token: &Token) -> Result<JobState, ProviderError> {
    let body = json!({"id": uuid_v4(), "created": unix_now(), "longPoll": true, "callID": token.call_id, "apiKey": api_key(s)});
    let answer = post(host, s, "/check/v4/", &body, CHECK_TIMEOUT_MS)?;
    if let Some(error) = v4_message_error(&answer) {
        return Ok(JobState::Failed(error));
    }
    let message = answer.get("message").and_then(Value::as_str).unwrap_or("").trim();
    if message.eq_ignore_ascii_case("success") || answer.get("finished").and_then(Value::as_bool) == Some(true) {
        let Some(outputs) = finished_outputs(&answer).or_else(|| first_output(&answer)) else {
            return Ok(JobState::Failed(ProviderError::Upstream {
                status: 200,
                message: "the v4 call succeeded without modelOutputs".into(),
            }));
        };
        return Ok(match images(s, outputs, token.seed) {
            Ok(list) => JobState::Done(list),
            Err(e) => JobState::Failed(e),
        });
    }
    let shown = if message.is_empty() { "running".to_string() } else { truncate(message, 100) };
    Ok(JobState::Running { fraction: None, message: Some(format!("Banana v4 call {}: {shown}", token.call_id)) })
}

/// `modelOutputs[0]` once `finished` is true.
fn finished_outputs(answer: &Value) -> Option<&Value> {
    (answer.get("finished").and_then(Value::as_bool) == Some(true)).then(|| first_output(answer)).flatten()
}

fn first_output(answer: &Value) -> Option<&Value> {
    answer.get("modelOutputs").and_then(Value::as_array).and_then(|o| o.first()).filter(|o| !o.is_null())
}

fn images(s: &Settings, output: &Value, seed: Option<u64>) -> Result<Vec<Output>, ProviderError> {
    let mut list = extract::images(output, s.image_pointer.as_deref(), s.seed_pointer.as_deref(), &s.base)?;
    if list.len() == 1 && list[0].seed.is_none() {
        list[0].seed = seed;
    }
    Ok(list)
}

/// The key as a secret reference the host fills in, or "" without one.
fn api_key(s: &Settings) -> String {
    if s.key_set { format!("{{{{secret:{SECRET}}}}}") } else { String::new() }
}

fn post(host: &dyn Host, s: &Settings, path: &str, body: &Value, timeout_ms: u32) -> Result<Value, ProviderError> {
    let response: HttpResponse = host
        .fetch(HttpRequest {
            method: "POST".into(),
            url: format!("{}{path}", s.base),
            headers: s.headers(None),
            body: serde_json::to_vec(body).expect("JSON values serialise"),
            timeout_ms: Some(timeout_ms),
        })
        .map_err(|e| egress_error(e, &Upstream::local(s.server_name(), &s.not_reachable()), &format!("POST {path}")))?;
    if !response.is_success() {
        return Err(classify(&response, s, path));
    }
    response.json().ok_or_else(|| ProviderError::Upstream {
        status: response.status,
        message: format!(
            "the v4 answer to {path} is not JSON: {}",
            easel_plugin_kit::text::snippet(&response.body, 200)
        ),
    })
}
