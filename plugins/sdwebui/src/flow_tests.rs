//! Flow tests: describe → submit (deferred and sync) → poll → cancel
//! against a scripted host that answers like A1111 (docs/providers/sdwebui.md) and
//! records every request.

use super::*;
use crate::types::{EgressError, ImageData};
use easel_plugin_kit::testing::ScriptedHost as Mock;

/// A WebUI at the default address, without `--api-auth`.
fn mock() -> Mock {
    Mock { config: [("base_url".to_string(), "http://127.0.0.1:7860/".to_string())].into(), ..Mock::default() }
}

/// "METHOD /path" of every request sent (also used by the upscale and guidance tests).
pub(crate) fn paths(host: &Mock) -> Vec<String> {
    host.sent
        .borrow()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.trim_start_matches("http://127.0.0.1:7860")))
        .collect()
}

/// The JSON body of the `index`th request.
fn body(host: &Mock, index: usize) -> Value {
    serde_json::from_slice(&host.request(index).body).unwrap()
}

const MODELS: &str = r#"[{"title":"v1-5-pruned-emaonly.safetensors [6ce0161689]","model_name":"v1-5-pruned-emaonly","hash":"6ce0161689","sha256":"x","filename":"/m/a.safetensors","config":null},
  {"title":"sd_xl_base_1.0.safetensors [31e35c80fc]","model_name":"sd_xl_base_1.0","hash":"31e35c80fc","sha256":"y","filename":"/m/b.safetensors","config":null}]"#;
const IDLE: &str = r#"{"progress":0,"eta_relative":0,"state":{"skipped":false,"interrupted":false,"job":"","job_count":0,"job_no":0,"sampling_step":0,"sampling_steps":0},"current_image":null,"textinfo":null,"current_task":null}"#;
const UNKNOWN_TASK: &str = r#"{"active":false,"queued":false,"completed":false,"progress":null,"eta":null,"live_preview":null,"id_live_preview":-1,"textinfo":"Waiting..."}"#;
const ACTIVE_TASK: &str = r#"{"active":true,"queued":false,"completed":false,"progress":0.4,"eta":3.0,"live_preview":null,"id_live_preview":-1,"textinfo":null}"#;
const QUEUED_TASK: &str =
    r#"{"active":false,"queued":true,"completed":false,"id_live_preview":-1,"textinfo":"In queue: 1/1"}"#;

fn generated(seeds: &[u64]) -> String {
    let images: Vec<&str> = seeds.iter().map(|_| "iVBORw0KGgo=").collect();
    let info = json!({"prompt": "a red fox", "seed": seeds[0], "all_seeds": seeds, "width": 512, "height": 512, "index_of_first_image": 0});
    json!({"images": images, "parameters": {}, "info": info.to_string()}).to_string()
}

fn pending(host: &Mock, request: &Request) -> String {
    host.answer(200, MODELS);
    host.answer(200, IDLE);
    match submit(host, request).unwrap() {
        Submission::Pending(token) => token,
        other => panic!("{other:?}"),
    }
}

#[test]
fn describe_lists_checkpoints_and_defaults_to_the_loaded_one() {
    let host = mock();
    host.answer(200, MODELS);
    host.answer(
        200,
        r#"[{"name":"Euler a","aliases":["k_euler_a"],"options":{}},{"name":"DPM++ 2M","aliases":[],"options":{}}]"#,
    );
    host.answer(404, r#"{"detail":"Not Found"}"#);
    host.answer(200, r#"{"sd_model_checkpoint":"sd_xl_base_1.0.safetensors [31e35c80fc]","samples_format":"png"}"#);
    host.answer(200, r#"[{"name":"None","model_name":null,"model_path":null,"model_url":null,"scale":4},{"name":"Lanczos","model_name":null,"model_path":null,"model_url":null,"scale":4}]"#);
    // Neither extension: both optional routes are 404.
    host.route_json("GET", "/controlnet/", 404, json!({"detail": "Not Found"}));
    host.route_json("GET", "/sdapi/v1/loras", 404, json!({"detail": "Not Found"}));
    let info = describe(&host).unwrap();
    assert_eq!(
        paths(&host),
        [
            "GET /sdapi/v1/sd-models",
            "GET /sdapi/v1/samplers",
            "GET /sdapi/v1/schedulers",
            "GET /controlnet/control_types",
            "GET /sdapi/v1/loras",
            "GET /sdapi/v1/options",
            "GET /sdapi/v1/upscalers"
        ]
    );
    assert_eq!(info.models[0].parameters, None, "no extension, no parameters: as before");
    assert_eq!(
        info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["v1-5-pruned-emaonly", "sd_xl_base_1.0", "upscaler:Lanczos"],
        "the checkpoints, then one upscale model per upscaler (docs/providers/sdwebui.md#upscaling)"
    );
    assert_eq!(info.default_model, "sd_xl_base_1.0");
    assert_eq!(info.hosts, ["http://127.0.0.1:7860"]);
    assert_eq!((info.secrets[0].name.as_str(), info.secrets[0].required), ("SDWEBUI_AUTH", false));
    assert!(info.models[0].prompt_notes.as_deref().unwrap().contains("Euler a, DPM++ 2M"));
    assert!(host.sent.borrow().iter().all(|r| !r.headers.iter().any(|(k, _)| k == "Authorization")));
}

#[test]
fn describe_when_down_or_denied() {
    let host = mock();
    host.fail(EgressError::Connection("http://127.0.0.1:7860: connection refused".into()));
    let e = describe(&host).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unavailable(m) if m.starts_with("SD WebUI not reachable at http://127.0.0.1:7860 — start it with `--api`")),
        "{e:?}"
    );
    let denial = "plugin `sdwebui` may not reach http://127.0.0.1:7860 (its allowed_hosts is empty); to allow it, add \"http://127.0.0.1:7860\" to allowed_hosts";
    host.fail(EgressError::Denied(denial.into()));
    assert_eq!(describe(&host).unwrap_err(), ProviderError::Unavailable(denial.into()));
}

#[test]
fn basic_auth_is_a_secret_reference() {
    let mut host = mock();
    host.secrets.push(SECRET.into());
    host.answer(401, r#"{"detail":"Incorrect username or password"}"#);
    let e = describe(&host).unwrap_err();
    assert!(matches!(&e, ProviderError::Unauthorized(m) if m.contains("base64")), "{e:?}");
    let sent = host.sent.borrow();
    assert!(sent[0].headers.contains(&("Authorization".into(), "Basic {{secret:SDWEBUI_AUTH}}".into())));
}

#[test]
fn deferred_submit_queues_and_the_first_poll_generates() {
    let host = mock();
    let mut request = Request::text("v1-5-pruned-emaonly", "a red fox");
    request.count = 2;
    request.seed = Some(1234);
    let token = pending(&host, &request);
    assert_eq!(paths(&host), ["GET /sdapi/v1/sd-models", "GET /sdapi/v1/progress?skip_current_image=true"]);
    assert!(host.progress.borrow()[0].1.contains("queued for SD WebUI"));
    let decoded = Token::decode(&token).unwrap();
    assert_eq!(
        decoded.body["override_settings"]["sd_model_checkpoint"],
        "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    );
    assert_eq!(decoded.body["force_task_id"], decoded.task.as_str());
    assert_eq!((decoded.body["width"].as_u64(), decoded.body["batch_size"].as_u64()), (Some(512), Some(2)));

    host.answer(200, UNKNOWN_TASK);
    host.answer(200, &generated(&[1234, 1235]));
    let JobState::Done(images) = poll(&host, &token).unwrap() else { panic!("not done") };
    assert_eq!(images.iter().map(|i| i.seed).collect::<Vec<_>>(), [Some(1234), Some(1235)]);
    assert!(matches!(&images[0].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
    assert_eq!(&paths(&host)[2..], ["POST /internal/progress", "POST /sdapi/v1/txt2img"]);
    assert_eq!(body(&host, 2)["id_task"], decoded.task.as_str());
    assert_eq!(body(&host, 3)["prompt"], "a red fox");
    assert!(host.progress.borrow().iter().any(|(f, m)| *f == Some(0.9) && m.contains("returned 2 image(s)")));
}

#[test]
fn sync_mode_generates_inside_submit() {
    let mut host = mock();
    host.config.insert("submit_mode".into(), "sync".into());
    host.config.insert("params".into(), r#"{"sampler_name":"Euler a","steps":25}"#.into());
    host.answer(200, MODELS);
    host.answer(200, &generated(&[7]));
    let Submission::Done(images) = submit(&host, &Request::text("sd_xl_base_1.0", "a castle")).unwrap() else {
        panic!()
    };
    assert_eq!(images[0].seed, Some(7));
    assert_eq!(paths(&host), ["GET /sdapi/v1/sd-models", "POST /sdapi/v1/txt2img"]);
    let body = body(&host, 1);
    assert_eq!(
        (body["width"].as_u64(), body["steps"].as_u64(), body["sampler_name"].as_str()),
        (Some(1024), Some(25), Some("Euler a"))
    );
}

#[test]
fn unknown_checkpoint_is_the_model_field() {
    let host = mock();
    host.answer(200, MODELS);
    let e = submit(&host, &Request::text("gone", "x")).unwrap_err();
    assert!(
        matches!(&e, ProviderError::InvalidRequest { field: Some(f), message } if f == "model" && message.contains("sd_xl_base_1.0"))
    );
}

#[test]
fn server_answers_are_final_and_missing_answers_are_retryable() {
    let host = mock();
    let token = pending(&host, &Request::text("v1-5-pruned-emaonly", "x"));
    host.answer(200, UNKNOWN_TASK);
    host.answer(500, r#"{"error":"RuntimeError","detail":"","body":"","errors":"boom"}"#);
    let state = poll(&host, &token).unwrap();
    assert!(
        matches!(&state, JobState::Failed(ProviderError::Upstream { status: 500, message }) if message.contains("RuntimeError: boom")),
        "{state:?}"
    );
    host.answer(200, UNKNOWN_TASK);
    host.answer(
        422,
        r#"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}"#,
    );
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "steps")
    );
    host.fail(EgressError::Connection("refused".into()));
    assert!(matches!(poll(&host, &token), Err(ProviderError::Unavailable(m)) if m.contains("not reachable")));
}

#[test]
fn a_poll_that_finds_its_task_running_interrupts_it() {
    let host = mock();
    let token = pending(&host, &Request::text("v1-5-pruned-emaonly", "x"));
    host.answer(200, ACTIVE_TASK);
    host.answer(200, "");
    let state = poll(&host, &token).unwrap();
    assert!(matches!(&state, JobState::Failed(ProviderError::Timeout(m)) if m.contains("timeout_secs")), "{state:?}");
    assert_eq!(paths(&host).last().unwrap(), "POST /sdapi/v1/interrupt");
}

#[test]
fn cancel_interrupts_only_its_own_task() {
    let host = mock();
    let token = pending(&host, &Request::text("v1-5-pruned-emaonly", "x"));
    let task = Token::decode(&token).unwrap().task;
    let before = host.sent.borrow().len();

    host.answer(200, ACTIVE_TASK);
    host.answer(200, "");
    cancel(&host, &token).unwrap();
    assert_eq!(&paths(&host)[before..], ["POST /internal/progress", "POST /sdapi/v1/interrupt"]);

    host.answer(200, QUEUED_TASK);
    assert!(matches!(cancel(&host, &token), Err(ProviderError::Unsupported(_))));

    // Unknown to /internal/progress, and someone else's task is running.
    host.answer(200, UNKNOWN_TASK);
    host.answer(
        200,
        &IDLE
            .replace("\"job_count\":0", "\"job_count\":1")
            .replace("\"current_task\":null", "\"current_task\":\"task(other)\""),
    );
    let count = host.sent.borrow().len();
    cancel(&host, &token).unwrap();
    assert_eq!(host.sent.borrow().len(), count + 2, "no interrupt");

    // No /internal/progress, but /progress names our task.
    host.answer(404, r#"{"detail":"Not Found"}"#);
    host.answer(
        200,
        &IDLE
            .replace("\"job_count\":0", "\"job_count\":1")
            .replace("\"current_task\":null", &format!("\"current_task\":\"{task}\"")),
    );
    host.answer(200, "");
    cancel(&host, &token).unwrap();
    assert_eq!(paths(&host).last().unwrap(), "POST /sdapi/v1/interrupt");
}

#[test]
fn bad_config_is_reported() {
    let mut host = mock();
    host.config.insert("submit_mode".into(), "later".into());
    assert!(
        matches!(describe(&host), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("submit_mode"))
    );
    host.config.insert("submit_mode".into(), "sync".into());
    host.config.insert("params".into(), "[1,2]".into());
    assert!(
        matches!(describe(&host), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("params"))
    );
}

#[test]
fn params_reach_the_txt2img_body_and_reserved_or_malformed_ones_are_refused() {
    let mut host = mock();
    host.config.insert("submit_mode".into(), "sync".into());
    host.answer(200, MODELS);
    host.answer(200, &generated(&[7]));
    let request = Request {
        extra: Some(r#"{"sampler_name": "DPM++ 2M", "enable_hr": true}"#.into()),
        ..Request::text("sd_xl_base_1.0", "a castle")
    };
    submit(&host, &request).unwrap();
    let sent = body(&host, 1);
    assert_eq!((sent["sampler_name"].as_str(), sent["enable_hr"].as_bool()), (Some("DPM++ 2M"), Some(true)));
    for (extra, field) in [(r#"{"batch_size": 4}"#, "params.batch_size"), ("[]", "params")] {
        host.answer(200, MODELS);
        let request = Request { extra: Some(extra.into()), ..request.clone() };
        easel_plugin_kit::testing::expect_invalid(submit(&host, &request), field);
    }
    assert_eq!(host.sent_to("POST", "/sdapi/v1/txt2img").len(), 1, "refused params generate nothing");
}
