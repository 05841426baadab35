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

// -- live progress from the prediction stream (urls.stream) --------------------------------

use easel_plugin_kit::testing::{ScriptedStream, response};
use easel_plugin_kit::types::SseEvent;

const STREAM_URL: &str = "https://stream.replicate.com/v1/files/bcwr-p1";

/// A create answer that carries `urls.stream`, as Replicate's does for models that stream.
fn streaming_token(host: &Mock) -> String {
    let mut p: Value = serde_json::from_str(STARTING).unwrap();
    p["urls"]["stream"] = Value::from(STREAM_URL);
    host.answer(201, &p.to_string());
    match submit(host, &Request::text("flux-schnell", "a red fox")).unwrap() {
        Submission::Pending(token) => token,
        other => panic!("{other:?}"),
    }
}

fn succeeded() -> Value {
    serde_json::json!({"id":"p1","status":"succeeded","input":{"seed":3},"output":["http://127.0.0.1:9/files/a.png"]})
}

fn prediction_gets(host: &Mock) -> usize {
    host.sent_to("GET", "/v1/predictions/p1").len()
}

fn stream_opens(host: &Mock) -> usize {
    host.sent.borrow().iter().filter(|r| r.url == STREAM_URL).count()
}

#[test]
fn the_token_carries_the_stream_url_from_the_create() {
    let host = mock();
    let token = Token::decode(&streaming_token(&host)).unwrap();
    assert_eq!(token.stream.as_deref(), Some(STREAM_URL));
    assert_eq!(Token::decode(&pending_token(&host)).unwrap().stream, None, "no urls.stream, none in the token");
    assert!(describe(&host).hosts.contains(&STREAM_HOST.to_string()));
}

#[test]
fn stream_logs_are_live_progress_and_done_takes_one_get_for_the_result() {
    let host = mock();
    let token = streaming_token(&host);
    host.stream(ScriptedStream::Events(vec![
        Ok(SseEvent::new("logs", "Using seed: 3")),
        Ok(SseEvent::new("logs", "  0%|          | 0/4 [00:00<?, ?it/s]")),
        Ok(SseEvent::new("logs", " 50%|█████     | 2/4 [00:01<00:01]")),
        Ok(SseEvent::new("logs", "100%|██████████| 4/4 [00:02<00:00]")),
        Ok(SseEvent::new("output", "http://127.0.0.1:9/files/a.png")),
        Ok(SseEvent::new("done", "{}")),
    ]));
    host.route_json("GET", "/v1/predictions/p1", 200, succeeded());
    let JobState::Done(images) = poll(&host, &token).unwrap() else { panic!("done after the stream's done") };
    assert_eq!(images[0].data, ImageData::Remote { url: "http://127.0.0.1:9/files/a.png".into(), headers: vec![] });
    let fractions: Vec<Option<f32>> = host.progress.borrow().iter().skip(1).map(|(f, _)| *f).collect();
    assert_eq!(fractions, vec![None, Some(0.0), Some(0.5), Some(1.0)], "{:?}", host.progress.borrow());
    assert!(host.progress.borrow()[3].1.starts_with("replicate: 50%|"));
    assert_eq!((stream_opens(&host), prediction_gets(&host)), (1, 1));
    let open = host.sent.borrow().iter().find(|r| r.url == STREAM_URL).cloned().unwrap();
    assert!(open.headers.contains(&("Authorization".into(), AUTH_VALUE.into())), "{:?}", open.headers);
    assert!(open.headers.contains(&("Accept".into(), "text/event-stream".into())));
}

#[test]
fn a_window_that_passes_still_gets_the_prediction_which_decides_the_state() {
    let host = mock();
    let token = streaming_token(&host);
    host.stream(ScriptedStream::Events(vec![
        Ok(SseEvent::new("logs", " 25%|██▌       | 1/4 [00:00<00:01]")),
        Err(EgressError::Timeout("no event within 9.8 s".into())),
    ]));
    host.answer(200, r#"{"id":"p1","status":"processing","logs":" 25%|██▌       | 1/4 [00:00<00:01]\n"}"#);
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Running { fraction: Some(f), .. } if f == 0.25));
    assert!(host.progress.borrow().iter().any(|(f, m)| *f == Some(0.25) && m.starts_with("replicate: 25%")));
    // The stream's `error` or a canceled `done`: the GET names the outcome.
    host.stream(ScriptedStream::Events(vec![
        Ok(SseEvent::new("error", r#"{"detail":"CUDA out of memory"}"#)),
        Ok(SseEvent::new("done", r#"{"reason":"error"}"#)),
    ]));
    host.answer(200, r#"{"id":"p1","status":"failed","error":"CUDA out of memory"}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { message, .. }) if message.contains("CUDA"))
    );
    host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("done", r#"{"reason":"canceled"}"#))]));
    host.answer(200, r#"{"id":"p1","status":"canceled"}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { message, .. }) if message.contains("canceled"))
    );
    assert_eq!((stream_opens(&host), prediction_gets(&host)), (3, 3));
}

#[test]
fn without_a_usable_stream_the_poll_falls_back_to_the_get() {
    let host = mock();
    let token = streaming_token(&host);
    // Refused by the host (not on the allow-list), a 404 JSON answer, a
    // stream that breaks, and (nothing scripted) a connection failure.
    host.stream(ScriptedStream::Fail(EgressError::Denied(
        "https://stream.replicate.com is not in allowed_hosts".into(),
    )));
    host.stream(ScriptedStream::Response(response(
        404,
        &[("content-type", "application/json")],
        br#"{"detail":"Not found"}"#,
    )));
    host.stream(ScriptedStream::Events(vec![Err(EgressError::Connection("connection reset".into()))]));
    host.stream(ScriptedStream::Fail(EgressError::Timeout("no answer in 10 s".into())));
    host.route_json("GET", "/v1/predictions/p1", 200, serde_json::from_str(STARTING).unwrap());
    for _ in 0..5 {
        assert_eq!(poll(&host, &token).unwrap(), JobState::Queued(None));
    }
    assert_eq!((stream_opens(&host), prediction_gets(&host)), (5, 5));
    let logs = host.logs.borrow();
    assert!(logs.iter().any(|(l, m)| *l == Level::Info && m.contains("allowed_hosts")), "{logs:?}");
    assert!(logs.iter().any(|(_, m)| m.contains("HTTP 404")), "{logs:?}");
    // The GET's own failures stay what they were.
    drop(logs);
    let host = mock();
    let token = streaming_token(&host);
    host.answer(502, "bad gateway");
    assert!(matches!(poll(&host, &token), Err(ProviderError::Upstream { status: 502, .. })));
}

#[test]
fn old_tokens_and_stream_secs_zero_poll_without_the_stream() {
    let host = mock();
    host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("done", "{}"))]));
    let old = r#"{"v":1,"id":"p1","model":"black-forest-labs/flux-schnell","get":"http://127.0.0.1:9/v1/predictions/p1","cancel":"http://127.0.0.1:9/v1/predictions/p1/cancel"}"#;
    host.route_json("GET", "/v1/predictions/p1", 200, succeeded());
    assert!(matches!(poll(&host, old).unwrap(), JobState::Done(_)));
    host.answer(200, r#"{"id":"p1","status":"succeeded"}"#);
    cancel(&host, old).unwrap();
    assert_eq!(host.sent.borrow().iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["GET", "POST"]);
    assert_eq!(host.streams.borrow().len(), 1, "an old token opens no stream");

    let mut host = mock();
    let token = streaming_token(&host);
    host.config.insert("stream_secs".into(), "0".into());
    host.route_json("GET", "/v1/predictions/p1", 200, succeeded());
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Done(_)));
    assert_eq!((stream_opens(&host), prediction_gets(&host)), (0, 1));
}

// -- upscaling with nightmareai/real-esrgan (docs/providers/replicate.md#upscaling) ----------

use crate::types::{Dims, InputImage, Operation, Role};
use crate::upscale::ESRGAN_VERSION;

/// What the host sends for `upscale_image {scale: 2}` of a 320x240 PNG.
fn upscale_request(model: &str) -> Request {
    Request {
        operation: Operation::Upscale,
        images: vec![InputImage {
            role: Role::Reference,
            mime_type: "image/png".into(),
            width: 320,
            height: 240,
            data: b"\x89PNG\r\n\x1a\nsmall".to_vec(),
        }],
        size: Some(Dims { width: 640, height: 480 }),
        ..Request::text(model, "")
    }
}

/// Replicate's prediction for the pinned version: `output` is one URL string, not a list.
fn esrgan_prediction(status: &str) -> String {
    let output = if status == "succeeded" { r#""http://127.0.0.1:9/files/up.png""# } else { "null" };
    format!(
        r#"{{"id":"e1","model":"nightmareai/real-esrgan","version":"{ESRGAN_VERSION}","status":"{status}",
        "input":{{"image":"data:image/png;base64,…","scale":2}},"output":{output},"logs":"","error":null,
        "urls":{{"get":"http://127.0.0.1:9/v1/predictions/e1","cancel":"http://127.0.0.1:9/v1/predictions/e1/cancel"}}}}"#
    )
}

#[test]
fn an_upscale_creates_a_prediction_of_the_pinned_version_with_the_image_and_the_factor() {
    let host = mock();
    host.answer(201, &esrgan_prediction("starting"));
    let Submission::Pending(token) = submit(&host, &upscale_request("real-esrgan")).unwrap() else {
        panic!("starting is pending")
    };
    let sent = host.request(0);
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "http://127.0.0.1:9/v1/predictions"));
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"version": ESRGAN_VERSION,
                           "input": {"image": "data:image/png;base64,iVBORw0KGgpzbWFsbA==", "scale": 2.0}}),
        "a community model goes by version; no prompt, num_outputs or output_format"
    );
    host.answer(200, &esrgan_prediction("succeeded"));
    let JobState::Done(images) = poll(&host, &token).unwrap() else { panic!("succeeded") };
    assert_eq!(images.len(), 1, "one URL string is one image");
    assert_eq!(images[0].data, ImageData::Remote { url: "http://127.0.0.1:9/files/up.png".into(), headers: vec![] });
    assert_eq!(host.request(1).url, "http://127.0.0.1:9/v1/predictions/e1");
}

#[test]
fn an_upscale_finished_within_prefer_wait_is_done_and_a_named_version_is_used_as_given() {
    let host = mock();
    host.answer(201, &esrgan_prediction("succeeded"));
    let other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let request = Request {
        extra: Some(r#"{"face_enhance": true}"#.into()),
        size: Some(Dims { width: 1280, height: 960 }),
        ..upscale_request(&format!("nightmareai/real-esrgan:{other}"))
    };
    let Submission::Done(images) = submit(&host, &request).unwrap() else { panic!("the 201 carried the output") };
    assert!(matches!(&images[0].data, ImageData::Remote { url, .. } if url.ends_with("/files/up.png")));
    let body: Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!(body["version"], other);
    assert_eq!((body["input"]["scale"].as_f64(), body["input"]["face_enhance"].as_bool()), (Some(4.0), Some(true)));
}

#[test]
fn an_upscale_past_ten_times_is_refused_naming_scale_before_anything_is_created() {
    let host = mock();
    let request = Request { size: Some(Dims { width: 3520, height: 2640 }), ..upscale_request("real-esrgan") };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "scale");
    assert!(message.contains("at most 10") && message.contains("11.00"), "{message}");
    let request = Request { extra: Some(r#"{"image": "https://x/y.png"}"#.into()), ..upscale_request("real-esrgan") };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params.image");
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn real_esrgan_is_the_first_upscale_model_and_other_ids_still_pass_through() {
    let info = describe(&mock());
    let upscalers: Vec<&str> =
        info.models.iter().filter(|m| m.operations.contains(&Operation::Upscale)).map(|m| m.id.as_str()).collect();
    assert_eq!(upscalers[0], "nightmareai/real-esrgan");
    assert!(upscalers.contains(&"*/*"), "the generic patterns keep every operation");
    // An upscale with a model the table does not know keeps the generic input and path.
    let host = mock();
    let input = serde_json::json!({"properties": {"image": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"}}});
    host.route_json(
        "GET",
        "/v1/models/someone/other-upscaler",
        200,
        serde_json::json!({"latest_version": {"openapi_schema": {"components": {"schemas": {"Input": input}}}}}),
    );
    host.answer(201, STARTING);
    submit(&host, &upscale_request("someone/other-upscaler")).unwrap();
    assert_eq!(host.request(0).url, "http://127.0.0.1:9/v1/models/someone/other-upscaler");
    assert!(
        host.request(0).headers.iter().any(|(k, v)| k == "Easel-Cache" && v == "max-age=3600"),
        "the schema is kept by the host"
    );
    assert_eq!(host.request(1).url, "http://127.0.0.1:9/v1/models/someone/other-upscaler/predictions");
    let body: Value = serde_json::from_slice(&host.request(1).body).unwrap();
    assert_eq!((body["input"]["width"].as_u64(), body["input"]["height"].as_u64()), (Some(640), Some(480)));
    assert!(body["input"].get("scale").is_none() && body["input"]["image"].is_string());
}

#[test]
fn an_unlisted_model_is_checked_against_its_own_schema_before_anything_is_created() {
    let host = mock();
    let input = serde_json::json!({"required": ["prompt"], "properties": {
        "prompt": {"type": "string"}, "num_inference_steps": {"type": "integer", "maximum": 50}}});
    host.route_json(
        "GET",
        "/v1/models/someone/painter",
        200,
        serde_json::json!({"latest_version": {"openapi_schema": {"components": {"schemas": {"Input": input}}}}}),
    );
    let mut request = Request::text("someone/painter", "a fox");
    request.steps = Some(80);
    let error = submit(&host, &request).unwrap_err();
    assert!(
        matches!(&error, ProviderError::InvalidRequest { field: Some(f), message } if f == "steps" && message.contains("maximum 50")),
        "{error:?}"
    );
    request.steps = None;
    request.extra = Some(r#"{"style": "oil"}"#.into());
    let error = submit(&host, &request).unwrap_err();
    assert!(
        matches!(&error, ProviderError::InvalidRequest { field: Some(f), message } if f == "params.style" && message.contains("num_inference_steps, prompt")),
        "{error:?}"
    );
    assert!(host.sent.borrow().iter().all(|r| r.method == "GET"), "nothing was created");

    let gone = mock();
    gone.route_json("GET", "/v1/models/nobody/nothing", 404, serde_json::json!({"detail": "Not found."}));
    request.model = "nobody/nothing".into();
    let error = submit(&gone, &request).unwrap_err();
    assert!(matches!(&error, ProviderError::InvalidRequest { field: Some(f), .. } if f == "model"), "{error:?}");
}
