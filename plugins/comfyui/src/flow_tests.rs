//! Unit tests of `flow` against the scripted host in `crate::testing`.

use super::*;
use crate::testing::{BASE, ScriptedHost, new_mock, resp};
use crate::types::{EgressError, HttpResponse, InputImage};

fn request(op: Operation) -> Request {
    Request {
        operation: op,
        model: "sd15.safetensors".into(),
        prompt: "a red fox".into(),
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

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    p.extend_from_slice(&width.to_be_bytes());
    p.extend_from_slice(&height.to_be_bytes());
    p.extend_from_slice(b"rest");
    p
}

fn queued_ok(mock: &ScriptedHost) {
    mock.route_json("POST", "/prompt", 200, json!({"prompt_id": "pid-1", "number": 3, "node_errors": {}}));
}

fn sent_graph(mock: &ScriptedHost) -> Value {
    let [post] = mock.sent_to("POST", "/prompt").try_into().unwrap();
    serde_json::from_slice::<Value>(&post.body).unwrap()
}

#[test]
fn txt2img_fills_the_builtin_template_and_returns_a_token() {
    let mock = new_mock();
    queued_ok(&mock);
    let mut r = request(Operation::Generate);
    r.size = Some(Dims { width: 640, height: 480 });
    r.count = 2;
    r.seed = Some(42);
    r.guidance = Some(6.5);
    r.negative_prompt = Some("blurry".into());
    let Submission::Pending(token) = submit(&mock, &r).unwrap() else { panic!() };
    let body = sent_graph(&mock);
    let g = &body["prompt"];
    assert_eq!(g["5"]["inputs"], json!({"width": 640, "height": 480, "batch_size": 2}));
    assert_eq!(g["3"]["inputs"]["seed"], json!(42));
    assert_eq!(g["3"]["inputs"]["cfg"], json!(6.5));
    assert_eq!(g["3"]["inputs"]["steps"], json!(20));
    assert_eq!(g["6"]["inputs"]["text"], json!("a red fox"));
    assert_eq!(g["7"]["inputs"]["text"], json!("blurry"));
    assert_eq!(g["4"]["inputs"]["ckpt_name"], json!("sd15.safetensors"));
    assert_eq!(body["client_id"].as_str().unwrap().len(), 32);
    let t = Token::decode(&token).unwrap();
    assert_eq!((t.prompt_id.as_str(), t.base.as_str(), t.seed, t.count), ("pid-1", BASE, Some(42), 2));
    assert!(mock.progress.borrow().iter().any(|(_, m)| m.contains("queued at ComfyUI")));
}

#[test]
fn img2img_uploads_then_loads_the_image() {
    let mock = new_mock();
    mock.route_json("POST", "/upload/image", 200, json!({"name": "easel-x.png", "subfolder": "", "type": "input"}));
    queued_ok(&mock);
    let mut r = request(Operation::Edit);
    r.strength = Some(0.6);
    r.images = vec![InputImage {
        role: Role::Reference,
        mime_type: "image/png".into(),
        width: 321,
        height: 243,
        data: png(321, 243),
    }];
    submit(&mock, &r).unwrap();
    let [upload] = mock.sent_to("POST", "/upload/image").try_into().unwrap();
    let ct = &upload.headers.iter().find(|(k, _)| k == "content-type").unwrap().1;
    assert!(ct.starts_with("multipart/form-data; boundary="));
    let g = &sent_graph(&mock)["prompt"];
    assert_eq!(g["10"]["inputs"]["image"], json!("easel-x.png"));
    assert_eq!(g["3"]["inputs"]["denoise"], json!(0.6));
    assert_eq!((g["11"]["inputs"]["width"].clone(), g["11"]["inputs"]["height"].clone()), (json!(320), json!(240)));
}

#[test]
fn custom_img2img_without_image_placeholder_is_refused_before_any_request() {
    let mut mock = new_mock();
    mock.config.insert(
        "workflow_img2img".into(),
        r#"{"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}}}"#.into(),
    );
    let mut r = request(Operation::Edit);
    r.images = vec![InputImage {
        role: Role::Reference,
        mime_type: "image/png".into(),
        width: 64,
        height: 64,
        data: png(64, 64),
    }];
    let err = submit(&mock, &r).unwrap_err();
    assert!(matches!(&err, ProviderError::InvalidRequest { field: Some(f), .. } if f == "images"), "{err:?}");
    assert!(err.message().contains("{{image}}"));
    assert!(mock.sent.borrow().is_empty());
}

#[test]
fn node_errors_become_invalid_requests() {
    let mock = new_mock();
    mock.route_json("POST", "/prompt", 400, json!({
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
        "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
            "details": "ckpt_name: 'nope.safetensors' not in []", "extra_info": {"input_name": "ckpt_name"}}],
            "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}}));
    let err = submit(&mock, &request(Operation::Generate)).unwrap_err();
    let ProviderError::InvalidRequest { field, message } = err else { panic!() };
    assert_eq!(field.as_deref(), Some("model"));
    assert!(message.contains("node 4 (CheckpointLoaderSimple) input `ckpt_name`"), "{message}");
}

#[test]
fn unreachable_server_is_unavailable_with_the_start_hint() {
    let mock = new_mock();
    mock.route("POST", "/prompt", vec![Err(EgressError::Connection("tcp connect error: Connection refused".into()))]);
    let err = submit(&mock, &request(Operation::Generate)).unwrap_err();
    let ProviderError::Unavailable(m) = err else { panic!("{err:?}") };
    assert!(
        m.starts_with("ComfyUI not reachable at http://127.0.0.1:8188")
            && m.contains("start it with `python main.py` ("),
        "{m}"
    );
}

fn token() -> String {
    Token { base: BASE.into(), prompt_id: "pid-1".into(), client_id: "c".into(), seed: Some(9), count: 1 }.encode()
}

#[test]
fn poll_reports_queue_position_then_running_then_images() {
    let mock = new_mock();
    let history_done = json!({"pid-1": {"outputs": {"9": {"images": [{"filename": "easel_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": {"status_str": "success", "completed": true, "messages": []}}});
    mock.route(
        "GET",
        "/history/",
        vec![Ok(resp(200, json!({}))), Ok(resp(200, json!({}))), Ok(resp(200, history_done))],
    );
    mock.route("GET", "/queue", vec![
        Ok(resp(200, json!({"queue_running": [[1, "other", {}, {}, []]], "queue_pending": [[7, "pid-1", {}, {}, []], [2, "x", {}, {}, []]]}))),
        Ok(resp(200, json!({"queue_running": [[7, "pid-1", {}, {}, []]], "queue_pending": []}))),
    ]);
    mock.route(
        "GET",
        "/view",
        vec![Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "image/png".into())],
            body: png(512, 512),
        })],
    );
    assert_eq!(poll(&mock, &token()).unwrap(), JobState::Queued(Some(1)));
    assert!(matches!(poll(&mock, &token()).unwrap(), JobState::Running { .. }));
    let JobState::Done(images) = poll(&mock, &token()).unwrap() else { panic!() };
    assert_eq!((images[0].width, images[0].height, images[0].seed), (Some(512), Some(512), Some(9)));
    assert!(matches!(&images[0].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
    let [view] = mock.sent_to("GET", "/view").try_into().unwrap();
    assert_eq!(view.url, format!("{BASE}/view?filename=easel_00001_.png&subfolder=&type=output"));
}

#[test]
fn poll_of_a_failed_prompt_is_a_failed_state() {
    let mock = new_mock();
    mock.route_json("GET", "/history/", 200, json!({"pid-1": {"outputs": {}, "status": {"status_str": "error", "completed": false,
        "messages": [["execution_error", {"node_id": "3", "node_type": "KSampler", "exception_message": "boom", "exception_type": "RuntimeError"}]]}}}));
    let JobState::Failed(err) = poll(&mock, &token()).unwrap() else { panic!() };
    assert!(err.message().contains("node 3 (KSampler): RuntimeError: boom"));
}

#[test]
fn a_vanished_prompt_fails_instead_of_polling_forever() {
    let mock = new_mock();
    mock.route_json("GET", "/history/", 200, json!({}));
    mock.route_json("GET", "/queue", 200, json!({"queue_running": [], "queue_pending": []}));
    let JobState::Failed(err) = poll(&mock, &token()).unwrap() else { panic!() };
    assert!(err.message().contains("neither queued"));
}

#[test]
fn cancel_deletes_and_interrupts_a_running_prompt() {
    let mock = new_mock();
    mock.route("POST", "/queue", vec![Ok(HttpResponse { status: 200, headers: vec![], body: vec![] })]);
    mock.route_json("GET", "/queue", 200, json!({"queue_running": [[7, "pid-1", {}, {}, []]], "queue_pending": []}));
    mock.route("POST", "/interrupt", vec![Ok(HttpResponse { status: 200, headers: vec![], body: vec![] })]);
    cancel(&mock, &token()).unwrap();
    let [delete] = mock.sent_to("POST", "/queue").try_into().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&delete.body).unwrap(), json!({"delete": ["pid-1"]}));
    let [interrupt] = mock.sent_to("POST", "/interrupt").try_into().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&interrupt.body).unwrap(), json!({"prompt_id": "pid-1"}));
}

#[test]
fn cancel_of_a_pending_prompt_does_not_interrupt_others() {
    let mock = new_mock();
    mock.route("POST", "/queue", vec![Ok(HttpResponse { status: 200, headers: vec![], body: vec![] })]);
    mock.route_json(
        "GET",
        "/queue",
        200,
        json!({"queue_running": [[1, "someone-else", {}, {}, []]], "queue_pending": []}),
    );
    cancel(&mock, &token()).unwrap();
    assert!(mock.sent_to("POST", "/interrupt").is_empty());
}

#[test]
fn a_workflow_without_a_seed_placeholder_is_sent_no_seed_and_reports_none() {
    let mut mock = new_mock();
    let seedless = json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 1234, "positive": ["6", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}
    });
    mock.config.insert("workflow_txt2img".into(), seedless.to_string());
    queued_ok(&mock);
    let Submission::Pending(token) = submit(&mock, &request(Operation::Generate)).unwrap() else { panic!() };
    assert_eq!(sent_graph(&mock)["prompt"]["3"]["inputs"]["seed"], json!(1234), "the workflow's own seed stays");
    let t = Token::decode(&token).unwrap();
    assert_eq!(t.seed, None, "no seed was used, so none may be reported");
    let history_done = json!({"pid-1": {"outputs": {"9": {"images": [{"filename": "e.png", "subfolder": "", "type": "output"}]}},
        "status": {"status_str": "success", "completed": true, "messages": []}}});
    mock.route_json("GET", "/history/", 200, history_done);
    mock.route(
        "GET",
        "/view",
        vec![Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "image/png".into())],
            body: png(64, 64),
        })],
    );
    let JobState::Done(images) = poll(&mock, &token).unwrap() else { panic!() };
    assert_eq!(images[0].seed, None);
}

#[test]
fn params_pick_sampler_and_scheduler_and_malformed_ones_are_refused() {
    let mock = new_mock();
    queued_ok(&mock);
    let mut r = request(Operation::Generate);
    r.extra = Some(r#"{"sampler": "dpmpp_2m", "scheduler": "karras"}"#.into());
    submit(&mock, &r).unwrap();
    let g = &sent_graph(&mock)["prompt"];
    assert_eq!(
        (g["3"]["inputs"]["sampler_name"].as_str(), g["3"]["inputs"]["scheduler"].as_str()),
        (Some("dpmpp_2m"), Some("karras"))
    );
    r.extra = Some(r#"{"sampler": 5}"#.into());
    easel_plugin_kit::testing::expect_invalid(submit(&mock, &r), "params.sampler");
    r.extra = Some("[1]".into());
    easel_plugin_kit::testing::expect_invalid(submit(&mock, &r), "params");
    assert_eq!(mock.sent_to("POST", "/prompt").len(), 1, "refused params queue nothing");
}
