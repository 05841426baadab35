//! Flow tests: Potassium calls (shapes, batching, busy, failures) and v4
//! start → check, against a scripted host that records every request.

use super::*;
use crate::types::{EgressError, ImageData, InputImage, Role};
use easel_plugin_kit::testing::ScriptedHost as Mock;
use serde_json::json;

/// A Potassium server at the default address, no API key configured.
fn mock() -> Mock {
    Mock { config: [("base_url".to_string(), "http://127.0.0.1:8000".to_string())].into(), ..Mock::default() }
}

/// The same in v4 mode, with a model key.
fn mock_v4() -> Mock {
    let mut m = mock();
    m.config.insert("mode".into(), "v4".into());
    m.config.insert("model_key".into(), "sd15-key".into());
    m
}

/// The JSON body of the `index`th request.
fn body(host: &Mock, index: usize) -> Value {
    serde_json::from_slice(&host.request(index).body).unwrap()
}

/// A header of the `index`th request, by case-insensitive name.
fn header(host: &Mock, index: usize, name: &str) -> Option<String> {
    host.request(index).headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

const PNG: &str = "iVBORw0KGgo=";

fn done(s: Submission) -> Vec<crate::types::Output> {
    match s {
        Submission::Done(list) => list,
        other => panic!("{other:?}"),
    }
}

#[test]
fn describe_is_honest_and_reads_capabilities_off_the_template() {
    let host = mock();
    host.answer(200, r#"{"gpu_available":true,"sequence_number":3,"idle_time":120,"inference_time":900}"#);
    let info = describe(&host).unwrap();
    assert_eq!(host.sent.borrow()[0].url, "http://127.0.0.1:8000/__status__");
    assert!(info.description.starts_with(HONEST) && info.description.contains("GPU available"), "{}", info.description);
    assert_eq!(info.default_model, "default");
    assert_eq!(info.hosts, ["http://127.0.0.1:8000"]);
    let m = &info.models[0];
    assert!(m.features.seed && m.features.mask && m.features.custom_size && m.features.strength);
    assert_eq!(m.max_input_images, 1);
    assert!(m.prompt_notes.as_deref().unwrap().contains("shut down in 2024"));
}

#[test]
fn describe_when_down_or_denied() {
    let host = mock();
    host.fail(EgressError::Connection("connection refused".into()));
    assert!(
        matches!(describe(&host), Err(ProviderError::Unavailable(m)) if m.starts_with("Potassium server not reachable at http://127.0.0.1:8000"))
    );
    let denial = "plugin `banana` may not reach http://127.0.0.1:8000 (its allowed_hosts is empty); to allow it, add \"http://127.0.0.1:8000\" to allowed_hosts";
    host.fail(EgressError::Denied(denial.into()));
    assert_eq!(describe(&host).unwrap_err(), ProviderError::Unavailable(denial.into()));
}

#[test]
fn routes_make_models_and_a_template_limits_features() {
    let mut host = mock();
    host.config.insert("routes".into(), r#"["/", "/sdxl"]"#.into());
    host.config.insert("request_template".into(), r#"{"text": "{{prompt}}", "n": "{{count}}"}"#.into());
    host.answer(404, "");
    let info = describe(&host).unwrap();
    assert_eq!(info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["default", "sdxl"]);
    assert!(!info.models[0].features.seed && !info.models[0].features.custom_size);
    assert_eq!(info.models[0].operations, vec![crate::types::Operation::Generate]);
    host.config.insert("request_template".into(), r#"{"text": "{{prompt}}", "x": "{{colour}}"}"#.into());
    assert!(
        matches!(describe(&host), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("colour"))
    );
}

#[test]
fn potassium_call_renders_the_template_and_reads_base64() {
    let mut host = mock();
    host.secrets.push(SECRET.into());
    host.answer(200, &json!({"image_base64": PNG}).to_string());
    let mut request = Request::text("default", "a red fox");
    request.seed = Some(42);
    request.steps = Some(20);
    request.size = Some(crate::types::Dims { width: 640, height: 384 });
    let images = done(submit(&host, &request).unwrap());
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].seed, Some(42));
    assert!(matches!(&images[0].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
    assert_eq!(host.sent.borrow()[0].url, "http://127.0.0.1:8000/");
    assert_eq!(
        body(&host, 0),
        json!({"prompt": "a red fox", "seed": 42, "num_inference_steps": 20, "width": 640, "height": 384})
    );
    assert_eq!(header(&host, 0, "X-Banana-Api-Key").as_deref(), Some("{{secret:BANANA_API_KEY}}"));
    assert_eq!(header(&host, 0, "X-Banana-Request-Id").map(|id| id.len()), Some(36));
}

#[test]
fn several_images_are_several_calls_unless_the_template_takes_count() {
    let host = mock();
    host.answer(200, &json!({"image_base64": PNG}).to_string());
    host.answer(200, &json!({"image_base64": PNG}).to_string());
    let mut request = Request::text("default", "x");
    request.count = 2;
    request.seed = Some(7);
    let images = done(submit(&host, &request).unwrap());
    assert_eq!(images.iter().map(|i| i.seed).collect::<Vec<_>>(), [Some(7), Some(8)]);
    assert_eq!((body(&host, 0)["seed"].as_u64(), body(&host, 1)["seed"].as_u64()), (Some(7), Some(8)));
    assert_ne!(header(&host, 0, "X-Banana-Request-Id"), header(&host, 1, "X-Banana-Request-Id"));

    let mut host = mock();
    host.config.insert("request_template".into(), r#"{"prompt": "{{prompt}}", "num_images": "{{count}}"}"#.into());
    host.config.insert("image_pointer".into(), "/result/images".into());
    host.config.insert("seed_pointer".into(), "/result/seeds".into());
    host.answer(200, &json!({"result": {"images": [PNG, PNG, PNG], "seeds": [1, 2, 3]}}).to_string());
    request.count = 3;
    let images = done(submit(&host, &request).unwrap());
    assert_eq!(images.iter().map(|i| i.seed).collect::<Vec<_>>(), [Some(1), Some(2), Some(3)]);
    assert_eq!(host.sent.borrow().len(), 1);
    assert_eq!(body(&host, 0)["num_images"], 3);
}

#[test]
fn urls_edits_busy_and_failures() {
    let host = mock();
    host.answer(200, r#"{"output": {"url": "/files/a.png"}}"#);
    let mut request = Request::text("default", "night");
    request.operation = crate::types::Operation::Inpaint;
    request.strength = Some(0.6);
    request.images = vec![
        InputImage {
            role: Role::Reference,
            mime_type: "image/png".into(),
            width: 8,
            height: 8,
            data: b"\x89PNG".to_vec(),
        },
        InputImage { role: Role::Mask, mime_type: "image/png".into(), width: 8, height: 8, data: b"MASK".to_vec() },
    ];
    let images = done(submit(&host, &request).unwrap());
    assert!(matches!(&images[0].data, ImageData::Remote { url, .. } if url == "http://127.0.0.1:8000/files/a.png"));
    let body = body(&host, 0);
    assert_eq!(
        (body["image"].as_str(), body["mask_image"].as_str(), body["strength"].as_f64()),
        (Some("iVBORw=="), Some("TUFTSw=="), Some(0.6))
    );

    host.answer(423, "");
    assert!(matches!(
        submit(&host, &Request::text("default", "x")),
        Err(ProviderError::RateLimited { retry_after_ms: Some(1000), .. })
    ));
    host.answer(500, "Traceback (most recent call last):\n  File \"app.py\"\nValueError: prompt too long\n");
    assert!(
        matches!(submit(&host, &Request::text("default", "x")), Err(ProviderError::Upstream { status: 500, message }) if message.ends_with("failed on route /: ValueError: prompt too long"))
    );
    host.answer(200, r#"{"error": "no GPU"}"#);
    assert!(
        matches!(submit(&host, &Request::text("default", "x")), Err(ProviderError::Upstream { status: 200, message }) if message.contains("no GPU"))
    );
    assert!(
        matches!(submit(&host, &Request::text("nope", "x")), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "model")
    );
}

#[test]
fn v4_starts_then_checks_until_success() {
    let mut host = mock_v4();
    host.secrets.push(SECRET.into());
    host.answer(200, r#"{"id":"a","message":"","created":1,"apiVersion":"January 11, 2023","callID":"call-1","finished":false,"modelOutputs":null}"#);
    let mut request = Request::text("sd15-key", "a fox");
    request.seed = Some(5);
    let Submission::Pending(token) = submit(&host, &request).unwrap() else { panic!() };
    let start = body(&host, 0);
    assert!(host.sent.borrow()[0].url.ends_with("/start/v4/"));
    assert_eq!(
        (start["modelKey"].as_str(), start["apiKey"].as_str(), start["startOnly"].as_bool()),
        (Some("sd15-key"), Some("{{secret:BANANA_API_KEY}}"), Some(false))
    );
    assert_eq!(start["modelInputs"]["prompt"], "a fox");
    assert_eq!(start["id"].as_str().map(str::len), Some(36));
    assert!(header(&host, 0, "X-Banana-Api-Key").is_none(), "v4 keys travel in the body");

    host.answer(200, r#"{"id":"b","message":"running","created":2,"apiVersion":"x","modelOutputs":null}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Running { message: Some(m), .. } if m.contains("running"))
    );
    assert_eq!(body(&host, 1)["callID"], "call-1");
    assert_eq!(body(&host, 1)["longPoll"], true);
    host.answer(
        200,
        &json!({"id":"c","message":"success","created":3,"apiVersion":"x","modelOutputs":[{"image_base64": PNG}]})
            .to_string(),
    );
    let JobState::Done(images) = poll(&host, &token).unwrap() else { panic!() };
    assert_eq!(images[0].seed, Some(5));

    host.answer(200, r#"{"id":"d","message":"error: model crashed","created":4,"apiVersion":"x","modelOutputs":null}"#);
    assert!(
        matches!(poll(&host, &token).unwrap(), JobState::Failed(ProviderError::Upstream { message, .. }) if message.contains("model crashed"))
    );
    assert!(matches!(cancel(&host, &token), Err(ProviderError::Unsupported(m)) if m.contains("call-1")));
}

#[test]
fn v4_can_finish_inside_start_and_needs_its_config() {
    let host = mock_v4();
    host.answer(200, &json!({"id":"a","message":"success","created":1,"apiVersion":"x","callID":"c","finished":true,"modelOutputs":[{"image_base64": PNG}]}).to_string());
    assert_eq!(done(submit(&host, &Request::text("sd15-key", "x")).unwrap()).len(), 1);
    assert_eq!(body(&host, 0)["apiKey"], "");
    host.answer(
        200,
        r#"{"id":"a","message":"error: invalid apiKey","created":1,"apiVersion":"x","callID":"","finished":false}"#,
    );
    assert!(
        matches!(submit(&host, &Request::text("sd15-key", "x")), Err(ProviderError::Unauthorized(m)) if m.contains("BANANA_API_KEY"))
    );

    let mut host = mock_v4();
    host.config.remove("model_key");
    assert!(
        matches!(describe(&host), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("model_key"))
    );
    host.config.remove("base_url");
    assert!(
        matches!(describe(&host), Err(ProviderError::InvalidRequest { message, .. }) if message.contains("base_url"))
    );
}

#[test]
fn params_join_the_body_unless_the_template_fills_them() {
    let host = mock();
    host.answer(200, &json!({"image_base64": PNG}).to_string());
    let request = Request {
        extra: Some(r#"{"scheduler": "DPMSolver", "lora": {"name": "x", "scale": 0.8}}"#.into()),
        ..Request::text("default", "a red fox")
    };
    done(submit(&host, &request).unwrap());
    assert_eq!(
        body(&host, 0),
        json!({"prompt": "a red fox", "scheduler": "DPMSolver", "lora": {"name": "x", "scale": 0.8}})
    );
    let request = Request { extra: Some(r#"{"num_inference_steps": 5}"#.into()), ..request };
    let message = easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params.num_inference_steps");
    assert!(message.contains("steps argument"), "{message}");
    let request = Request { extra: Some("\"fast\"".into()), ..request };
    easel_plugin_kit::testing::expect_invalid(submit(&host, &request), "params");
    assert_eq!(host.sent.borrow().len(), 1, "refused params send nothing");
}

#[test]
fn v4_params_join_model_inputs() {
    let host = mock_v4();
    host.answer(200, &json!({"id": "1", "message": "success", "created": 1, "apiVersion": "v4", "finished": true, "modelOutputs": [{"image_base64": PNG}]}).to_string());
    let request =
        Request { extra: Some(r#"{"scheduler": "DPMSolver"}"#.into()), ..Request::text("sd15-key", "a red fox") };
    done(submit(&host, &request).unwrap());
    assert_eq!(body(&host, 0)["modelInputs"]["scheduler"], "DPMSolver");
    assert!(body(&host, 0).get("scheduler").is_none());
}
