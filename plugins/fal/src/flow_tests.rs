//! Flow tests: submit → poll → result → cancel against a scripted host that
//! answers like fal's queue (docs/providers/fal.md#queue) and records every request.

use super::*;
use crate::types::{EgressError, ImageData, Operation, SseEvent};
use easel_plugin_kit::testing::{ScriptedHost as Mock, ScriptedStream, json_response, response};

fn mock() -> Mock {
    Mock::new(SECRET, &[("queue_url", "http://127.0.0.1:9/")])
}

const SUBMITTED: &str = r#"{"request_id":"r1","response_url":"http://127.0.0.1:9/fal-ai/flux/requests/r1",
  "status_url":"http://127.0.0.1:9/fal-ai/flux/requests/r1/status","cancel_url":"http://127.0.0.1:9/fal-ai/flux/requests/r1/cancel",
  "status":"IN_QUEUE","queue_position":1}"#;

/// The plain status GETs sent (not the stream: `…/status/stream?logs=1`).
fn status_polls(host: &Mock) -> Vec<String> {
    host.sent.borrow().iter().filter(|r| r.url.ends_with("/status?logs=1")).map(|r| r.url.clone()).collect()
}

/// One status event as fal's stream sends it: `data: <json>`, no event name.
fn event(data: &str) -> Result<SseEvent, EgressError> {
    Ok(SseEvent::new("message", data))
}

const RESULT: &str = r#"{"images":[{"url":"http://127.0.0.1:9/files/a.png","width":512,"height":384}],"seed":9}"#;

fn submitted_token(host: &Mock) -> String {
    host.answer(200, SUBMITTED);
    let mut request = Request::text("flux-dev", "a red fox");
    request.count = 2;
    match submit(host, &request).unwrap() {
        Submission::Pending(token) => token,
        other => panic!("{other:?}"),
    }
}

#[test]
fn submit_posts_to_the_queue_with_the_key_reference() {
    let host = mock();
    let token = Token::decode(&submitted_token(&host)).unwrap();
    assert_eq!(token.request_id, "r1");
    assert_eq!(token.cancel_url, "http://127.0.0.1:9/fal-ai/flux/requests/r1/cancel");
    let sent = &host.sent.borrow()[0];
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "http://127.0.0.1:9/fal-ai/flux/dev"));
    assert!(sent.headers.contains(&("Authorization".into(), "Key {{secret:FAL_KEY}}".into())));
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!((body["prompt"].as_str(), body["num_images"].as_u64()), (Some("a red fox"), Some(2)));
    assert!(host.progress.borrow()[0].1.contains("queue position 1"));
}

#[test]
fn poll_walks_queue_progress_and_result() {
    let host = mock();
    let token = submitted_token(&host);
    host.answer(202, r#"{"status":"IN_QUEUE","queue_position":0}"#);
    assert_eq!(poll(&host, &token).unwrap(), JobState::Queued(Some(0)));
    // No stream is scripted, so each poll falls back to one plain status GET.
    assert_eq!(status_polls(&host), vec!["http://127.0.0.1:9/fal-ai/flux/requests/r1/status?logs=1".to_string()]);
    host.answer(202, r#"{"status":"IN_PROGRESS","logs":[{"message":"step 1/4","level":"INFO"}]}"#);
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Running { fraction: Some(f), .. } if f == 0.25));
    assert_eq!(host.progress.borrow().last().unwrap(), &(Some(0.25), "fal: step 1/4".to_string()));
    host.answer(200, r#"{"status":"COMPLETED","logs":[],"metrics":{"inference_time":1.2}}"#);
    host.answer(200, r#"{"images":[{"url":"http://127.0.0.1:9/files/a.png","width":512,"height":384}],"seed":9}"#);
    match poll(&host, &token).unwrap() {
        JobState::Done(images) => {
            assert_eq!(images.len(), 1);
            assert_eq!(
                images[0].data,
                ImageData::Remote { url: "http://127.0.0.1:9/files/a.png".into(), headers: vec![] }
            );
            assert_eq!(images[0].seed, Some(9));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(host.sent.borrow().last().unwrap().url, "http://127.0.0.1:9/fal-ai/flux/requests/r1");
}

#[test]
fn a_failed_run_is_a_failed_job() {
    let host = mock();
    let token = submitted_token(&host);
    host.answer(200, r#"{"status":"COMPLETED","error":"flagged","error_type":"content_policy_violation"}"#);
    host.answer(422, r#"{"detail":[{"loc":["body","prompt"],"msg":"flagged by the content checker","type":"content_policy_violation"}]}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::ContentBlocked(m)) if m.contains("content checker"))
    );
    host.answer(200, r#"{"status":"COMPLETED","error":"CUDA out of memory","error_type":"internal_server_error"}"#);
    host.answer(502, "bad gateway");
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { message, .. }) if message.contains("CUDA"))
    );
    // A transient status error is an Err for the host to retry.
    host.answer(503, "unavailable");
    assert!(matches!(poll(&host, &token), Err(ProviderError::Upstream { status: 503, .. })));
    host.answer(404, r#"{"detail":"not found"}"#);
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { status: 404, .. })));
}

#[test]
fn submit_errors_are_classified() {
    let host = mock();
    host.answer(
        422,
        r#"{"detail":[{"loc":["body","image_size"],"msg":"Input should be a valid preset","type":"enum"}]}"#,
    );
    let err = submit(&host, &Request::text("fal-ai/flux/dev", "x")).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidRequest { field: Some(ref f), .. } if f == "width"), "{err:?}");
    host.fail(EgressError::Connection("refused".into()));
    assert!(
        matches!(submit(&host, &Request::text("fal-ai/flux/dev", "x")), Err(ProviderError::Unavailable(m)) if m.contains("refused"))
    );
}

#[test]
fn missing_key_fails_fast() {
    let mut host = mock();
    host.secrets.clear();
    let err = submit(&host, &Request::text("fal-ai/flux/dev", "x")).unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized(ref m) if m.starts_with("FAL_KEY is not set")));
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn cancel_puts_and_tolerates_finished_requests() {
    let host = mock();
    let token = submitted_token(&host);
    host.answer(202, r#"{"status":"CANCELLATION_REQUESTED"}"#);
    cancel(&host, &token).unwrap();
    let sent = host.sent.borrow().last().cloned().unwrap();
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("PUT", "http://127.0.0.1:9/fal-ai/flux/requests/r1/cancel"));
    host.answer(400, r#"{"status":"ALREADY_COMPLETED"}"#);
    cancel(&host, &token).unwrap();
    host.answer(401, r#"{"detail":"bad key"}"#);
    assert!(matches!(cancel(&host, &token), Err(ProviderError::Unauthorized(_))));
}

#[test]
fn describe_lists_models_hosts_and_extra_ids() {
    let mut host = mock();
    host.config.insert("extra_models".into(), r#"["fal-ai/recraft/v3"]"#.into());
    let info = describe(&host);
    assert_eq!(info.id, "fal");
    assert_eq!(info.default_model, DEFAULT_MODEL);
    assert!(info.models.iter().any(|m| m.id == "fal-ai/recraft/v3" && m.operations.contains(&Operation::Edit)));
    assert!(info.hosts.contains(&"https://*.fal.media".to_string()));
    assert_eq!(info.hosts[0], "http://127.0.0.1:9");
    host.config.insert("default_model".into(), "fal-ai/some/new-model".into());
    let info = describe(&host);
    assert!(info.models.iter().any(|m| m.id == info.default_model));
}

#[test]
fn params_reach_the_input_and_reserved_or_malformed_ones_are_refused() {
    let host = mock();
    host.answer(200, SUBMITTED);
    let request = Request {
        extra: Some(r#"{"enable_safety_checker": false, "acceleration": "high"}"#.into()),
        ..Request::text("flux-dev", "a red fox")
    };
    submit(&host, &request).unwrap();
    let body: Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!((body["enable_safety_checker"].as_bool(), body["acceleration"].as_str()), (Some(false), Some("high")));
    let request = Request { extra: Some(r#"{"num_images": 4}"#.into()), ..request };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params.num_images");
    assert!(message.contains("count argument"), "{message}");
    let request = Request { extra: Some("7".into()), ..request };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params");
    assert_eq!(host.sent.borrow().len(), 1, "refused params send nothing");
}

// -- the status stream (docs/providers/fal.md#status-stream) --------------------------------

#[test]
fn stream_events_are_progress_and_completed_fetches_the_result_without_a_status_poll() {
    let host = mock();
    let token = submitted_token(&host);
    host.stream(ScriptedStream::Events(vec![
        event(r#"{"status":"IN_QUEUE","queue_position":2}"#),
        event(r#"{"status":"IN_QUEUE","queue_position":0}"#),
        event(r#"{"status":"IN_PROGRESS","logs":[{"message":"Loading the model","level":"INFO"}]}"#),
        event(r#"{"status":"IN_PROGRESS","logs":[{"message":"  45%|####      | 9/20","level":"INFO"}]}"#),
        // A later event carries only its new lines; a line without a percentage keeps the fraction.
        event(r#"{"status":"IN_PROGRESS","logs":[{"message":"decoding","level":"INFO"}]}"#),
        event(r#"{"status":"COMPLETED","logs":[],"metrics":{"inference_time":1.2}}"#),
    ]));
    host.answer(200, RESULT);
    match poll(&host, &token).unwrap() {
        JobState::Done(images) => assert_eq!(images[0].seed, Some(9)),
        other => panic!("{other:?}"),
    }
    let progress = host.progress.borrow().clone();
    assert_eq!(
        progress[1..],
        [
            (None, "fal: queued (position 2)".to_string()),
            (None, "fal: queued (position 0)".to_string()),
            (None, "fal: Loading the model".to_string()),
            (Some(0.45), "fal: 45%|####      | 9/20".to_string()),
            (Some(0.45), "fal: decoding".to_string()),
        ]
    );
    assert!(status_polls(&host).is_empty(), "COMPLETED came from the stream");
    let opened = host.request(1);
    assert_eq!(opened.url, "http://127.0.0.1:9/fal-ai/flux/requests/r1/status/stream?logs=1");
    assert!(opened.headers.contains(&("Authorization".into(), "Key {{secret:FAL_KEY}}".into())));
    assert!(opened.headers.contains(&("Accept".into(), "text/event-stream".into())));
    assert_eq!(host.sent.borrow().last().unwrap().url, "http://127.0.0.1:9/fal-ai/flux/requests/r1");
}

#[test]
fn when_the_window_passes_the_last_event_is_the_state() {
    let host = mock();
    let token = submitted_token(&host);
    host.stream(ScriptedStream::Events(vec![
        event(r#"{"status":"IN_PROGRESS","logs":[{"message":"step 3/4"}]}"#),
        Err(EgressError::Timeout("no event within 10 s".into())),
    ]));
    assert_eq!(
        poll(&host, &token).unwrap(),
        JobState::Running { fraction: Some(0.75), message: Some("running at fal".into()) }
    );
    host.stream(ScriptedStream::Events(vec![
        event(r#"{"status":"IN_QUEUE","queue_position":3}"#),
        Err(EgressError::Timeout("no event within 10 s".into())),
    ]));
    assert_eq!(poll(&host, &token).unwrap(), JobState::Queued(Some(3)));
    assert!(status_polls(&host).is_empty(), "{:?}", host.sent.borrow());
}

#[test]
fn a_failed_run_from_the_stream_is_a_failed_job() {
    let host = mock();
    let token = submitted_token(&host);
    host.stream(ScriptedStream::Events(vec![event(
        r#"{"status":"COMPLETED","error":"flagged","error_type":"content_policy_violation"}"#,
    )]));
    host.answer(422, r#"{"detail":[{"loc":["body","prompt"],"msg":"flagged by the content checker","type":"content_policy_violation"}]}"#);
    assert!(matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::ContentBlocked(_))));
    assert!(status_polls(&host).is_empty());
}

#[test]
fn without_a_usable_stream_poll_falls_back_to_the_plain_status() {
    let not_allowed = json_response(405, &serde_json::json!({"detail": "Method Not Allowed"}));
    let cases: Vec<(&str, Option<ScriptedStream>)> = vec![
        ("refused (no stream scripted)", None),
        ("405 from an older gateway", Some(ScriptedStream::Response(not_allowed))),
        ("404 from a proxy", Some(ScriptedStream::Response(response(404, &[], b"<html>not found</html>")))),
        ("a 200 that is not a stream", Some(ScriptedStream::Response(response(200, &[], b"{}")))),
        ("egress timeout on open", Some(ScriptedStream::Fail(EgressError::Timeout("10 s".into())))),
        ("silent for the window", Some(ScriptedStream::Events(vec![Err(EgressError::Timeout("10 s".into()))]))),
        ("ended early", Some(ScriptedStream::Events(vec![event(r#"{"status":"IN_QUEUE","queue_position":1}"#)]))),
        ("broke", Some(ScriptedStream::Events(vec![Err(EgressError::Connection("reset".into()))]))),
        ("not status events", Some(ScriptedStream::Events(vec![event("keep-alive"), event(r#"{"ok":true}"#)]))),
    ];
    for (case, stream) in cases {
        let host = mock();
        let token = submitted_token(&host);
        if let Some(stream) = stream {
            host.stream(stream);
        }
        host.answer(202, r#"{"status":"IN_PROGRESS","logs":[{"message":"step 1/4"}]}"#);
        let state = poll(&host, &token).unwrap();
        assert!(matches!(state, JobState::Running { fraction: Some(f), .. } if f == 0.25), "{case}: {state:?}");
        assert_eq!(status_polls(&host).len(), 1, "{case}: one plain status GET");
        assert!(host.logs.borrow().iter().any(|(_, l)| l.contains("polling the status")), "{case}");
    }
}

#[test]
fn a_refused_key_or_a_rate_limit_on_the_stream_is_the_status_calls_error() {
    let host = mock();
    let token = submitted_token(&host);
    host.stream(ScriptedStream::Response(json_response(401, &serde_json::json!({"detail": "Invalid API key"}))));
    let err = poll(&host, &token).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("FAL_KEY") && m.contains("Invalid API key")),
        "{err:?}"
    );
    host.stream(ScriptedStream::Response(response(403, &[], br#"{"detail":"Forbidden"}"#)));
    assert!(matches!(poll(&host, &token), Err(ProviderError::Unauthorized(_))));
    host.stream(ScriptedStream::Response(response(429, &[("retry-after", "2")], br#"{"detail":"Too many requests"}"#)));
    assert!(matches!(poll(&host, &token), Err(ProviderError::RateLimited { retry_after_ms: Some(2000), .. })));
    assert!(status_polls(&host).is_empty(), "no plain poll after an auth or rate-limit answer");
}

// -- upscaling with fal-ai/clarity-upscaler (docs/providers/fal.md#upscaling) ----------------

use crate::types::{Dims, InputImage, Role};

const CLARITY_SUBMITTED: &str = r#"{"request_id":"u1","response_url":"http://127.0.0.1:9/fal-ai/clarity-upscaler/requests/u1",
  "status_url":"http://127.0.0.1:9/fal-ai/clarity-upscaler/requests/u1/status",
  "cancel_url":"http://127.0.0.1:9/fal-ai/clarity-upscaler/requests/u1/cancel","status":"IN_QUEUE","queue_position":0}"#;

/// Clarity's output: one `image` object, not `images[]` (fal-js `ClarityUpscalerOutput`).
const CLARITY_RESULT: &str = r#"{"image":{"url":"http://127.0.0.1:9/files/up.png","content_type":"image/png",
  "file_name":"up.png","file_size":4242,"width":1024,"height":768},"seed":1234,"timings":{"inference":2.5}}"#;

/// What the host sends for `upscale_image {scale: 2}` of a 512x384 PNG.
fn upscale_request(model: &str) -> Request {
    Request {
        operation: Operation::Upscale,
        images: vec![InputImage {
            role: Role::Reference,
            mime_type: "image/png".into(),
            width: 512,
            height: 384,
            data: b"\x89PNG\r\n\x1a\nsmall".to_vec(),
        }],
        size: Some(Dims { width: 1024, height: 768 }),
        ..Request::text(model, "")
    }
}

#[test]
fn an_upscale_posts_the_image_and_the_factor_to_clarity_and_reads_its_single_image() {
    let host = mock();
    host.answer(200, CLARITY_SUBMITTED);
    let Submission::Pending(token) = submit(&host, &upscale_request("clarity-upscaler")).unwrap() else {
        panic!("fal's queue always answers pending")
    };
    let sent = host.request(0);
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "http://127.0.0.1:9/fal-ai/clarity-upscaler"));
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"image_url": "data:image/png;base64,iVBORw0KGgpzbWFsbA==", "upscale_factor": 2.0}),
        "no prompt (fal's default applies), no num_images, no output_format"
    );
    // No stream is scripted: one plain status poll, then the result.
    host.answer(200, r#"{"status":"COMPLETED","logs":[]}"#);
    host.answer(200, CLARITY_RESULT);
    let JobState::Done(images) = poll(&host, &token).unwrap() else { panic!("completed") };
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].data, ImageData::Remote { url: "http://127.0.0.1:9/files/up.png".into(), headers: vec![] });
    assert_eq!((images[0].width, images[0].height, images[0].seed), (Some(1024), Some(768), Some(1234)));
    assert_eq!(host.sent.borrow().last().unwrap().url, "http://127.0.0.1:9/fal-ai/clarity-upscaler/requests/u1");
}

#[test]
fn an_upscale_prompt_and_params_reach_clarity() {
    let host = mock();
    host.answer(200, CLARITY_SUBMITTED);
    let request = Request {
        prompt: "weathered brick, fine detail".into(),
        seed: Some(5),
        size: Some(Dims { width: 1536, height: 1152 }),
        extra: Some(r#"{"creativity": 0.2, "resemblance": 0.9}"#.into()),
        ..upscale_request("fal-ai/clarity-upscaler")
    };
    submit(&host, &request).unwrap();
    let body: Value = serde_json::from_slice(&host.request(0).body).unwrap();
    assert_eq!(body["upscale_factor"], 3.0);
    assert_eq!((body["prompt"].as_str(), body["seed"].as_u64()), (Some("weathered brick, fine detail"), Some(5)));
    assert_eq!((body["creativity"].as_f64(), body["resemblance"].as_f64()), (Some(0.2), Some(0.9)));
}

#[test]
fn an_upscale_past_claritys_four_times_is_refused_naming_scale_before_anything_is_sent() {
    let host = mock();
    let request =
        Request { size: Some(Dims { width: 2560, height: 1920 }), ..upscale_request("fal-ai/clarity-upscaler") };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "scale");
    assert!(message.contains("1 to 4") && message.contains("5.00"), "{message}");
    let request =
        Request { extra: Some(r#"{"image_url": "https://x/y.png"}"#.into()), ..upscale_request("clarity-upscaler") };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params.image_url");
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn clarity_is_the_first_upscale_model_and_other_ids_still_pass_through() {
    let info = describe(&mock());
    let upscalers: Vec<&str> =
        info.models.iter().filter(|m| m.operations.contains(&Operation::Upscale)).map(|m| m.id.as_str()).collect();
    assert_eq!(upscalers[0], "fal-ai/clarity-upscaler");
    assert!(upscalers.contains(&"*/*"), "the generic patterns keep every operation");
    // An upscale to an endpoint the table does not know keeps the generic body.
    let host = mock();
    host.route_json(
        "GET",
        "/v1/models",
        200,
        listing("fal-ai/some/other-upscaler", &["prompt", "image_url", "image_size"]),
    );
    host.answer(200, SUBMITTED);
    submit(&host, &upscale_request("fal-ai/some/other-upscaler")).unwrap();
    assert!(host.request(0).url.ends_with("/v1/models?endpoint_id=fal-ai/some/other-upscaler&expand=openapi-3.0"));
    assert!(host.request(0).headers.iter().any(|(k, v)| k == "Easel-Cache" && v == "max-age=3600"));
    assert!(host.request(0).headers.iter().all(|(k, _)| k != "Authorization"), "the key stays with the queue");
    let body: Value = serde_json::from_slice(&host.request(1).body).unwrap();
    assert_eq!(host.request(1).url, "http://127.0.0.1:9/fal-ai/some/other-upscaler");
    assert_eq!(body["image_size"], serde_json::json!({"width": 1024, "height": 768}));
    assert!(body.get("upscale_factor").is_none() && body["image_url"].is_string());
}

/// A model-search answer listing `endpoint` with an input schema of `fields` (strings).
fn listing(endpoint: &str, fields: &[&str]) -> Value {
    let properties: serde_json::Map<String, Value> =
        fields.iter().map(|f| (f.to_string(), serde_json::json!({}))).collect();
    serde_json::json!({"models": [{"endpoint_id": endpoint, "openapi": {
        "paths": {format!("/{endpoint}"): {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Input"}}}}}}},
        "components": {"schemas": {"Input": {"type": "object", "properties": properties}}}}}]})
}

#[test]
fn an_endpoint_outside_the_table_is_checked_against_its_schema_before_it_is_queued() {
    let host = mock();
    host.route_json("GET", "/v1/models", 200, listing("fal-ai/flux-lora", &["prompt", "loras", "image_size"]));
    let mut request = Request::text("fal-ai/flux-lora", "a fox");
    request.steps = Some(20);
    let error = submit(&host, &request).unwrap_err();
    assert!(
        matches!(&error, ProviderError::InvalidRequest { field: Some(f), message } if f == "steps" && message.contains("image_size, loras, prompt")),
        "{error:?}"
    );
    request.steps = None;
    request.extra = Some(r#"{"lora_scale": 1}"#.into());
    let error = submit(&host, &request).unwrap_err();
    assert!(
        matches!(&error, ProviderError::InvalidRequest { field: Some(f), .. } if f == "params.lora_scale"),
        "{error:?}"
    );
    assert!(host.sent.borrow().iter().all(|r| r.method == "GET"), "nothing was queued");

    let unlisted = mock();
    unlisted.route_json("GET", "/v1/models", 200, serde_json::json!({"models": [], "has_more": false}));
    let error = submit(&unlisted, &Request::text("nobody/nothing", "x")).unwrap_err();
    assert!(matches!(&error, ProviderError::InvalidRequest { field: Some(f), .. } if f == "model"), "{error:?}");
}
