//! Native unit tests of the provider logic against [`ScriptedHost`], which
//! answers each `fetch` from a script and records what was sent. No
//! network, no component: `cargo test` runs these without building the wasm.

use crate::Host;
use crate::egress::{EgressError, HttpRequest, HttpResponse};
use crate::provider::{self, MODEL_ID, SECRET};
use crate::types::{GenerationRequest, ImageData, JobState, Operation, ProviderError, Submission};
use std::cell::RefCell;
use std::collections::VecDeque;

/// A host whose answers are scripted in order.
#[derive(Default)]
struct ScriptedHost {
    config: Vec<(&'static str, &'static str)>,
    answers: RefCell<VecDeque<Result<HttpResponse, EgressError>>>,
    sent: RefCell<Vec<HttpRequest>>,
    progress: RefCell<Vec<Option<f32>>>,
}

impl ScriptedHost {
    fn answering(answers: Vec<Result<HttpResponse, EgressError>>) -> Self {
        ScriptedHost { answers: RefCell::new(answers.into()), ..Default::default() }
    }
}

impl Host for ScriptedHost {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError> {
        self.sent.borrow_mut().push(request);
        self.answers.borrow_mut().pop_front().expect("the script ran out of answers")
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }

    fn progress(&self, fraction: Option<f32>, _message: &str) {
        self.progress.borrow_mut().push(fraction);
    }
}

fn answer(status: u16, body: &str) -> Result<HttpResponse, EgressError> {
    Ok(HttpResponse { status, headers: vec![], body: body.as_bytes().to_vec() })
}

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        operation: Operation::Generate,
        model: MODEL_ID.into(),
        prompt: prompt.into(),
        negative_prompt: None,
        size: None,
        aspect_ratio: None,
        size_tier: None,
        count: 1,
        seed: None,
        steps: None,
        guidance: None,
        strength: None,
        images: vec![],
        extra: None,
    }
}

#[test]
fn describe_offers_one_model_and_the_configured_host() {
    let info = provider::describe(&ScriptedHost::default()).unwrap();
    assert_eq!((info.models.len(), info.default_model.as_str()), (1, MODEL_ID));
    assert_eq!(info.hosts, ["https://api.example.com"]);
    assert!(info.secrets[0].required && info.secrets[0].name == SECRET);

    let host = ScriptedHost { config: vec![("base_url", "http://127.0.0.1:8099/api/")], ..Default::default() };
    assert_eq!(provider::describe(&host).unwrap().hosts, ["http://127.0.0.1:8099"]);
}

#[test]
fn submit_sends_the_protocol_body_with_a_secret_reference() {
    let host = ScriptedHost::answering(vec![answer(200, r#"{"id": "gen_1"}"#)]);
    let mut req = request("a red fox");
    req.seed = Some(7);
    req.count = 2;
    let submission = provider::submit(&host, &req).unwrap();
    assert!(matches!(submission, Submission::Pending(token) if token == "gen_1"));

    let sent = &host.sent.borrow()[0];
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "https://api.example.com/v1/generations"));
    // The plugin writes the reference; the host fills in the key.
    let auth = sent.headers.iter().find(|(name, _)| name == "authorization").map(|(_, value)| value.as_str());
    assert_eq!(auth, Some("Bearer {{secret:__ENV__}}"));
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"prompt": "a red fox", "width": 1024, "height": 1024, "num_images": 2, "seed": 7})
    );
}

#[test]
fn an_aspect_ratio_becomes_pixels() {
    let mut req = request("x");
    req.aspect_ratio = Some("16:9".into());
    assert_eq!(provider::size_of(&req), (1024, 576));
    req.aspect_ratio = Some("1:4".into());
    assert_eq!(provider::size_of(&req), (256, 1024));
}

#[test]
fn poll_reports_progress_then_returns_remote_images() {
    let host = ScriptedHost::answering(vec![
        answer(200, r#"{"status": "queued"}"#),
        answer(200, r#"{"status": "running", "progress": 0.5}"#),
        answer(200, r#"{"status": "succeeded", "progress": 1.0, "images": ["http://fake/files/a.png"]}"#),
    ]);
    assert!(matches!(provider::poll(&host, "gen_1"), Ok(JobState::Queued(None))));
    assert!(matches!(provider::poll(&host, "gen_1"), Ok(JobState::Running(r)) if r.fraction == Some(0.5)));
    assert_eq!(*host.progress.borrow(), [Some(0.5)]);
    match provider::poll(&host, "gen_1") {
        Ok(JobState::Done(images)) => {
            assert!(matches!(&images[0].data, ImageData::Remote(r) if r.url == "http://fake/files/a.png"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(host.sent.borrow()[0].url, "https://api.example.com/v1/generations/gen_1");
}

#[test]
fn a_failed_job_is_a_job_state_and_a_bad_token_is_refused() {
    let host = ScriptedHost::answering(vec![answer(200, r#"{"status": "failed", "error": "out of ink"}"#)]);
    let state = provider::poll(&host, "gen_1").unwrap();
    assert!(matches!(state, JobState::Failed(ProviderError::Upstream(u)) if u.message.contains("out of ink")));
    assert!(matches!(provider::poll(&host, "../../etc"), Err(ProviderError::Internal(_))));
}

#[test]
fn http_and_egress_failures_map_to_provider_errors() {
    let limited = HttpResponse { status: 429, headers: vec![("retry-after".into(), "3".into())], body: vec![] };
    let host = ScriptedHost::answering(vec![
        answer(401, r#"{"error": "invalid API key"}"#),
        Ok(limited),
        answer(422, r#"{"error": "too many images", "field": "num_images"}"#),
        answer(503, "<html>down</html>"),
        Err(EgressError::Timeout("after 30 s".into())),
        Err(EgressError::Connection("connection refused".into())),
    ]);
    let mut errors = (0..6).map(|_| provider::submit(&host, &request("x")).unwrap_err());
    assert!(
        matches!(errors.next(), Some(ProviderError::Unauthorized(m)) if m.contains(SECRET) && m.contains("invalid API key"))
    );
    assert!(matches!(errors.next(), Some(ProviderError::RateLimited(r)) if r.retry_after_ms == Some(3000)));
    assert!(matches!(errors.next(), Some(ProviderError::InvalidRequest(f)) if f.field.as_deref() == Some("count")));
    assert!(matches!(errors.next(), Some(ProviderError::Upstream(u)) if u.status == 503 && u.message.contains("down")));
    assert!(matches!(errors.next(), Some(ProviderError::Timeout(_))));
    assert!(matches!(errors.next(), Some(ProviderError::Unavailable(m)) if m.contains("connection refused")));
}

#[test]
fn cancel_of_an_unknown_job_is_not_an_error() {
    let host = ScriptedHost::answering(vec![answer(200, "{}"), answer(404, r#"{"error": "no such generation"}"#)]);
    assert!(provider::cancel(&host, "gen_1").is_ok());
    assert!(provider::cancel(&host, "gen_2").is_ok());
    assert_eq!(host.sent.borrow()[0].url, "https://api.example.com/v1/generations/gen_1/cancel");
}
