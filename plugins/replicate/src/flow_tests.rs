//! Flow tests: create (with and without `Prefer: wait` finishing) → poll →
//! cancel against a scripted host that answers like Replicate (docs/providers/replicate.md)
//! and records every request.

use super::*;
use crate::types::{EgressError, ImageData};
use easel_plugin_kit::testing::ScriptedHost as Mock;

fn mock() -> Mock {
    Mock::new(SECRET, &[("base_url", "http://127.0.0.1:9")])
}

const STARTING: &str = r#"{"id":"p1","model":"black-forest-labs/flux-schnell","version":"hidden","status":"starting","output":null,
  "logs":"","error":null,"input":{"prompt":"a red fox"},
  "urls":{"get":"http://127.0.0.1:9/v1/predictions/p1","cancel":"http://127.0.0.1:9/v1/predictions/p1/cancel"}}"#;

fn pending_token(host: &Mock) -> String {
    host.answer(201, STARTING);
    match submit(host, &Request::text("flux-schnell", "a red fox")).unwrap() {
        Submission::Pending(token) => token,
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_uses_the_official_model_path_bearer_and_prefer_wait() {
    let host = mock();
    let token = Token::decode(&pending_token(&host)).unwrap();
    assert_eq!((token.id.as_str(), token.cancel.as_str()), ("p1", "http://127.0.0.1:9/v1/predictions/p1/cancel"));
    let sent = &host.sent.borrow()[0];
    assert_eq!(sent.url, "http://127.0.0.1:9/v1/models/black-forest-labs/flux-schnell/predictions");
    assert!(sent.headers.contains(&("Authorization".into(), "Bearer {{secret:REPLICATE_API_TOKEN}}".into())));
    assert!(sent.headers.contains(&("Prefer".into(), "wait=5".into())));
    assert!(sent.headers.contains(&("Cancel-After".into(), "15m".into())), "{:?}", sent.headers);
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["input"]["num_outputs"], 1);
    assert!(host.progress.borrow()[0].1.contains("p1 starting"));
}

#[test]
fn a_prediction_finished_within_the_wait_is_done_at_once() {
    let mut host = mock();
    host.config.insert("base_url".into(), "http://127.0.0.1:9/v1/".into());
    host.config.insert("prefer_wait_secs".into(), "0".into());
    host.config.insert("download_auth".into(), "true".into());
    host.answer(201, r#"{"id":"p2","status":"succeeded","output":["http://127.0.0.1:9/files/a.png","http://127.0.0.1:9/files/b.png"],"urls":{}}"#);
    let done = submit(&host, &Request::text("black-forest-labs/flux-schnell", "x")).unwrap();
    let sent = host.sent.borrow()[0].clone();
    assert_eq!(sent.url, "http://127.0.0.1:9/v1/models/black-forest-labs/flux-schnell/predictions");
    assert!(!sent.headers.iter().any(|(k, _)| k == "Prefer"));
    match done {
        Submission::Done(images) => {
            assert_eq!(images.len(), 2);
            assert!(
                matches!(&images[1].data, ImageData::Remote { url, headers } if url.ends_with("b.png") && headers.len() == 1)
            );
        }
        other => panic!("{other:?}"),
    }
    host.answer(201, r#"{"id":"p3","status":"failed","error":"All generated images contained NSFW content. Try running it again with a different prompt."}"#);
    assert!(matches!(submit(&host, &Request::text("flux-schnell", "x")), Err(ProviderError::ContentBlocked(_))));
}

#[test]
fn poll_walks_starting_processing_succeeded() {
    let host = mock();
    let token = pending_token(&host);
    host.answer(200, STARTING);
    assert_eq!(poll(&host, &token).unwrap(), JobState::Queued(None));
    assert_eq!(host.sent.borrow()[1].url, "http://127.0.0.1:9/v1/predictions/p1");
    host.answer(
        200,
        r#"{"id":"p1","status":"processing","logs":"Using seed: 3\n 25%|██▌       | 1/4 [00:00<00:01]\n"}"#,
    );
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Running { fraction: Some(f), .. } if f == 0.25));
    assert!(host.progress.borrow().last().unwrap().1.starts_with("replicate: 25%"));
    host.answer(
        200,
        r#"{"id":"p1","status":"succeeded","input":{"seed":3},"output":"http://127.0.0.1:9/files/a.png"}"#,
    );
    match poll(&host, &token).unwrap() {
        JobState::Done(images) => {
            assert_eq!(
                images[0].data,
                ImageData::Remote { url: "http://127.0.0.1:9/files/a.png".into(), headers: vec![] }
            );
            assert_eq!(images[0].seed, Some(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_and_transient_errors() {
    let host = mock();
    let token = pending_token(&host);
    host.answer(200, r#"{"id":"p1","status":"failed","error":"CUDA out of memory"}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { message, .. }) if message.contains("CUDA"))
    );
    host.answer(502, "bad gateway");
    assert!(matches!(poll(&host, &token), Err(ProviderError::Upstream { status: 502, .. })));
    host.fail(EgressError::Timeout("no answer in 20 s".into()));
    assert!(matches!(poll(&host, &token), Err(ProviderError::Timeout(_))));
    host.answer(404, r#"{"detail":"Not found"}"#);
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { status: 404, .. })));
}

#[test]
fn create_errors_are_classified() {
    let host = mock();
    host.answer(422, r#"{"title":"Input validation failed","status":422,"invalid_fields":[{"type":"enum","field":"input.aspect_ratio","description":"aspect_ratio must be one of ..."}]}"#);
    let err = submit(&host, &Request::text("flux-schnell", "x")).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidRequest { field: Some(ref f), .. } if f == "aspect_ratio"), "{err:?}");
    let mut r = HttpResponse {
        status: 429,
        headers: vec![("retry-after".into(), "1".into())],
        body: br#"{"detail":"Request was throttled."}"#.to_vec(),
    };
    host.answers.borrow_mut().push_back(Ok(r.clone()));
    assert!(matches!(
        submit(&host, &Request::text("flux-schnell", "x")),
        Err(ProviderError::RateLimited { retry_after_ms: Some(1000), .. })
    ));
    r.status = 401;
    host.answers.borrow_mut().push_back(Ok(r));
    assert!(matches!(submit(&host, &Request::text("flux-schnell", "x")), Err(ProviderError::Unauthorized(_))));
}

#[test]
fn missing_token_fails_fast() {
    let mut host = mock();
    host.secrets.clear();
    let err = submit(&host, &Request::text("flux-schnell", "x")).unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized(ref m) if m.starts_with("REPLICATE_API_TOKEN is not set")));
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn cancel_posts_to_urls_cancel() {
    let host = mock();
    let token = pending_token(&host);
    host.answer(200, r#"{"id":"p1","status":"canceled"}"#);
    cancel(&host, &token).unwrap();
    let sent = host.sent.borrow().last().cloned().unwrap();
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "http://127.0.0.1:9/v1/predictions/p1/cancel"));
    host.answer(500, "{}");
    assert!(cancel(&host, &token).is_err());
}

#[test]
fn describe_lists_models_and_hosts() {
    let mut host = mock();
    host.config.insert("extra_models".into(), "stability-ai/sdxl, me/thing".into());
    let info = describe(&host);
    assert_eq!((info.id.as_str(), info.default_model.as_str()), ("replicate", DEFAULT_MODEL));
    assert!(info.models.iter().any(|m| m.id == "me/thing"));
    assert_eq!(info.hosts[0], "http://127.0.0.1:9");
    assert!(info.hosts.contains(&"https://replicate.delivery".to_string()));
}

#[test]
fn create_sends_cancel_after_so_a_lost_prediction_stops_billing() {
    let mut host = mock();
    host.config.insert("cancel_after".into(), "1h30m".into());
    pending_token(&host);
    assert!(host.request(0).headers.contains(&("Cancel-After".into(), "1h30m".into())));
    // Also without Prefer: wait, where the create returns at once.
    host.config.insert("prefer_wait_secs".into(), "0".into());
    host.config.insert("cancel_after".into(), "600".into());
    pending_token(&host);
    assert!(host.request(1).headers.contains(&("Cancel-After".into(), "10m".into())));
    // A bad value fails before anything is created.
    host.config.insert("cancel_after".into(), "2s".into());
    let err = submit(&host, &Request::text("flux-schnell", "x")).unwrap_err();
    assert!(
        matches!(&err, ProviderError::InvalidRequest { message, .. } if message.contains("cancel_after")),
        "{err:?}"
    );
    assert_eq!(host.sent.borrow().len(), 2);
}

#[test]
fn an_html_error_page_is_summarised_by_status_and_title() {
    let host = mock();
    let page = "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1>\n<hr>cloudflare</body>\n</html>\n";
    host.answer_with(502, &[("content-type", "text/html")], page.as_bytes());
    let err = submit(&host, &Request::text("flux-schnell", "x")).unwrap_err();
    assert_eq!(err, ProviderError::upstream(502, "Replicate: HTTP 502: an HTML page titled \"502 Bad Gateway\""));
}

#[test]
fn params_reach_the_input_and_reserved_or_malformed_ones_are_refused() {
    let host = mock();
    host.answer(201, STARTING);
    let request = Request {
        extra: Some(r#"{"output_quality": 90, "go_fast": true}"#.into()),
        ..Request::text("flux-schnell", "a red fox")
    };
    submit(&host, &request).unwrap();
    let body: Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!((body["input"]["output_quality"].as_u64(), body["input"]["go_fast"].as_bool()), (Some(90), Some(true)));
    assert!(body.get("output_quality").is_none(), "params go into `input`, not beside it");
    let request = Request { extra: Some(r#"{"prompt": "other"}"#.into()), ..request };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params.prompt");
    let request = Request { extra: Some("{not json".into()), ..request };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params");
    assert_eq!(host.sent.borrow().len(), 1, "refused params send nothing");
}
