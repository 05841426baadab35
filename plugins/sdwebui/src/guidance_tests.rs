//! ControlNet and LoRA flow tests (docs/providers/sdwebui.md#controlnet-and-lora):
//! the `parameters` schema describe builds from the extensions' listings,
//! the ControlNet units and LoRA tags submit puts in the body, and every
//! refusal naming its field — against a scripted host answering like A1111
//! with sd-webui-controlnet and the built-in Lora extension.

use crate::flow::tests::paths;
use crate::flow::{describe, submit};
use crate::token::{JobToken, Token};
use crate::types::{InputImage, Operation, ProviderError, ProviderInfo, Request, Role, Submission};
use easel_plugin_kit::testing::{ScriptedHost as Mock, expect_invalid};
use serde_json::{Value, json};

const CANNY: &str = "control_v11p_sd15_canny [d14c016b]";

fn mock() -> Mock {
    let host =
        Mock { config: [("base_url".to_string(), "http://127.0.0.1:7860/".to_string())].into(), ..Mock::default() };
    host.route_json(
        "GET",
        "/sdapi/v1/sd-models",
        200,
        json!([{"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]", "model_name": "v1-5-pruned-emaonly", "hash": "6ce0161689"}]),
    );
    host.route_json("GET", "/sdapi/v1/progress", 200, json!({"progress": 0, "state": {"job_count": 0}}));
    host
}

/// `GET /controlnet/control_types` as the extension answers it (global_state.select_control_type):
/// Canny, Depth and OpenPose have models, Scribble/Sketch has none, "All" is never a type.
fn control_types() -> Value {
    let kind = |modules: &[&str], default: &str, model: &str| {
        let models: Vec<&str> = if model == "None" { vec!["None"] } else { vec!["None", model] };
        json!({"module_list": modules, "model_list": models, "default_option": default, "default_model": model})
    };
    json!({"control_types": {
        "All": kind(&["none", "canny"], "none", "None"),
        "Canny": kind(&["none", "canny", "invert (from white bg & black line)"], "canny", CANNY),
        "Depth": kind(&["none", "depth_midas", "depth_zoe"], "depth_midas", "control_v11f1p_sd15_depth [cfd03158]"),
        "OpenPose": kind(&["none", "openpose", "openpose_full"], "openpose_full", "control_v11p_sd15_openpose [cab727d4]"),
        "Scribble/Sketch": kind(&["none", "scribble_pidinet"], "scribble_pidinet", "None")
    }})
}

fn loras() -> Value {
    json!([{"name": "add_detail", "alias": "add_detail", "path": "/models/Lora/add_detail.safetensors", "metadata": {}},
           {"name": "pixel-art-xl", "alias": "pixelart", "path": "/models/Lora/pixel-art-xl.safetensors", "metadata": {}}])
}

/// describe against a server answering the two optional listings with these statuses and bodies.
fn described(control: (u16, Value), lora: (u16, Value)) -> ProviderInfo {
    let host = mock();
    host.route_json("GET", "/sdapi/v1/samplers", 200, json!([]));
    host.route_json("GET", "/sdapi/v1/schedulers", 200, json!([]));
    host.route_json("GET", "/sdapi/v1/options", 200, json!({}));
    host.route_json("GET", "/sdapi/v1/upscalers", 200, json!([{"name": "Lanczos", "scale": 4}]));
    host.route_json("GET", "/controlnet/control_types", control.0, control.1);
    host.route_json("GET", "/sdapi/v1/loras", lora.0, lora.1);
    describe(&host).unwrap()
}

fn png() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n".to_vec()
}

fn image(role: Role, w: u32, h: u32) -> InputImage {
    InputImage { role, mime_type: "image/png".into(), width: w, height: h, data: png() }
}

fn request(images: Vec<InputImage>, extra: Value) -> Request {
    Request {
        operation: if images.iter().any(|i| i.role == Role::Reference) { Operation::Edit } else { Operation::Generate },
        images,
        extra: Some(extra.to_string()),
        ..Request::text("v1-5-pruned-emaonly", "a dancer")
    }
}

/// The body of a deferred submit's token.
fn queued(host: &Mock, request: &Request) -> Value {
    match submit(host, request).unwrap() {
        Submission::Pending(token) => Token::decode(&token).unwrap().body,
        other => panic!("{other:?}"),
    }
}

#[test]
fn describe_declares_the_control_types_with_models_and_the_loras() {
    let info = described((200, control_types()), (200, loras()));
    let schema = info.models[0].parameters.clone().expect("a schema");
    let p = &schema["properties"];
    assert_eq!(p["control_type"]["enum"], json!(["canny", "depth", "pose"]), "Scribble/Sketch has no model");
    assert_eq!(p["control_weight"]["maximum"], 2);
    assert_eq!(p["loras"]["items"]["properties"]["name"]["enum"], json!(["add_detail", "pixel-art-xl"]));
    assert!(schema.get("additionalProperties").is_none());
    let upscaler = info.models.iter().find(|m| m.id == "upscaler:Lanczos").unwrap();
    assert!(
        upscaler.parameters.as_ref().is_none_or(|s| s["properties"].get("control_type").is_none()),
        "upscalers are unchanged"
    );
}

#[test]
fn describe_without_an_extension_declares_only_the_other() {
    let not_found = (404, json!({"detail": "Not Found"}));
    let info = described(not_found.clone(), (200, loras()));
    let p = info.models[0].parameters.clone().unwrap()["properties"].clone();
    assert!(p.get("control_type").is_none() && p.get("control_weight").is_none() && p.get("loras").is_some());
    let no_models = json!({"control_types": {"Canny": {"model_list": ["None"], "default_model": "None"}}});
    let info = described((200, no_models), (200, json!([])));
    assert_eq!(info.models[0].parameters, None, "no model for any type and no loras: nothing declared");
    let info = described((500, json!({"error": "RuntimeError"})), not_found);
    assert_eq!(info.models[0].parameters, None, "a failing listing costs only the feature");
}

#[test]
fn a_control_image_becomes_a_controlnet_unit_in_txt2img() {
    let mut host = mock();
    host.config.insert("submit_mode".into(), "sync".into());
    host.route_json("GET", "/controlnet/control_types", 200, control_types());
    host.answer(200, &json!({"images": ["iVBORw0KGgo=", "iVBORw0KGgo="], "info": "{\"all_seeds\": [5]}"}).to_string());
    let r = request(vec![image(Role::Control, 512, 768)], json!({"control_type": "pose", "control_weight": 1.5}));
    let Submission::Done(images) = submit(&host, &r).unwrap() else { panic!() };
    assert_eq!(images.len(), 1, "the detected map ControlNet appends is dropped");
    assert_eq!(paths(&host), ["GET /sdapi/v1/sd-models", "GET /controlnet/control_types", "POST /sdapi/v1/txt2img"]);
    let body: Value = serde_json::from_slice(&host.request(2).body).unwrap();
    assert_eq!(
        body["alwayson_scripts"],
        json!({"controlnet": {"args": [{"enabled": true, "image": "iVBORw0KGgo=", "module": "openpose_full",
            "model": "control_v11p_sd15_openpose [cab727d4]", "weight": 1.5, "pixel_perfect": true,
            "resize_mode": "Crop and Resize", "control_mode": "Balanced"}]}})
    );
    assert!(body.get("control_type").is_none() && body.get("control_weight").is_none());
    assert_eq!((body["width"].as_u64(), body["height"].as_u64()), (Some(336), Some(512)), "the guide's 2:3 aspect");
}

#[test]
fn a_control_image_beside_a_reference_is_img2img_merged_with_the_operators_scripts() {
    let mut host = mock();
    host.config.insert("params".into(), r#"{"alwayson_scripts": {"ADetailer": {"args": [true]}}}"#.into());
    host.route_json("GET", "/controlnet/control_types", 200, control_types());
    let r = request(
        vec![image(Role::Reference, 320, 240), image(Role::Control, 320, 240)],
        json!({"control_type": "canny", "alwayson_scripts": {"Dynamic Thresholding (CFG Scale Fix)": {"args": [true, 7]}}}),
    );
    let body = queued(&host, &r);
    assert_eq!(paths(&host)[1], "GET /controlnet/control_types", "submit looks the types up itself");
    assert!(body["init_images"].is_array() && body.get("loras").is_none());
    let scripts = body["alwayson_scripts"].as_object().unwrap();
    assert_eq!(scripts.len(), 3, "{scripts:?}");
    assert_eq!(scripts["ADetailer"], json!({"args": [true]}));
    assert_eq!(scripts["Dynamic Thresholding (CFG Scale Fix)"], json!({"args": [true, 7]}));
    let unit = &scripts["controlnet"]["args"][0];
    assert_eq!(
        (unit["module"].as_str(), unit["model"].as_str(), unit["weight"].as_f64()),
        (Some("canny"), Some(CANNY), Some(1.0))
    );
}

#[test]
fn loras_are_appended_to_the_prompt() {
    let host = mock();
    let r = request(
        vec![],
        json!({"loras": [{"name": "add_detail", "weight": 0.7}, {"name": "pixel-art-xl"}], "steps_extra": 1}),
    );
    let body = queued(&host, &r);
    assert_eq!(body["prompt"], "a dancer <lora:add_detail:0.7> <lora:pixel-art-xl:1>");
    assert!(body.get("loras").is_none() && body["steps_extra"] == 1, "other params still pass through");
    assert!(host.sent_to("GET", "/controlnet/").is_empty() && host.sent_to("GET", "/sdapi/v1/loras").is_empty());
}

#[test]
fn every_refusal_names_its_field_and_generates_nothing() {
    let host = mock();
    host.route_json("GET", "/controlnet/control_types", 200, control_types());
    let control = || vec![image(Role::Control, 64, 64)];
    let message = expect_invalid(submit(&host, &request(control(), json!({}))), "params.control_type");
    assert!(message.contains("canny, depth, pose, scribble"), "{message}");
    assert!(host.sent_to("GET", "/controlnet/").is_empty(), "refused before asking the server");
    let message =
        expect_invalid(submit(&host, &request(control(), json!({"control_type": "scribble"}))), "params.control_type");
    assert!(
        message.contains("no ControlNet model for `scribble`") && message.contains("canny, depth, pose"),
        "{message}"
    );
    assert!(message.contains("models/ControlNet"), "{message}");
    let message =
        expect_invalid(submit(&host, &request(control(), json!({"control_type": "lineart"}))), "params.control_type");
    assert!(message.contains("not a control type") && message.contains("models/ControlNet"), "{message}");
    expect_invalid(
        submit(&host, &request(control(), json!({"control_type": "canny", "control_weight": 3}))),
        "params.control_weight",
    );
    expect_invalid(submit(&host, &request(vec![], json!({"control_type": "canny"}))), "params.control_type");
    expect_invalid(
        submit(&host, &request(vec![], json!({"loras": [{"name": "a:b", "weight": 1}]}))),
        "params.loras[0].name",
    );
    expect_invalid(
        submit(&host, &request(vec![], json!({"loras": [{"name": "a", "weight": "x"}]}))),
        "params.loras[0].weight",
    );
    expect_invalid(submit(&host, &request(vec![], json!({"loras": "add_detail"}))), "params.loras");
    assert!(host.sent_to("POST", "/sdapi/v1/").is_empty() && host.sent_to("GET", "/sdapi/v1/progress").is_empty());
}

#[test]
fn a_server_without_controlnet_says_to_install_it() {
    let host = mock();
    host.route_json("GET", "/controlnet/control_types", 404, json!({"detail": "Not Found"}));
    let r = request(vec![image(Role::Control, 64, 64)], json!({"control_type": "canny"}));
    let message = expect_invalid(submit(&host, &r), "images");
    assert!(
        message.contains("install the sd-webui-controlnet extension") && message.contains("models/ControlNet"),
        "{message}"
    );
    host.routes.borrow_mut().retain(|(_, path, _)| path != "/controlnet/control_types");
    host.route_json("GET", "/controlnet/control_types", 500, json!({"error": "RuntimeError", "errors": "boom"}));
    let e = submit(&host, &r).unwrap_err();
    assert!(matches!(&e, ProviderError::Upstream { status: 500, message } if message.contains("boom")), "{e:?}");
}

#[test]
fn the_servers_refusal_of_a_unit_is_readable() {
    let mut host = mock();
    host.config.insert("submit_mode".into(), "sync".into());
    host.route_json("GET", "/controlnet/control_types", 200, control_types());
    host.answer(500, r#"{"error": "RuntimeError", "detail": "", "body": "", "errors": "model not found: control_v11p_sd15_canny [d14c016b]"}"#);
    let r = request(vec![image(Role::Control, 64, 64)], json!({"control_type": "canny"}));
    let e = submit(&host, &r).unwrap_err();
    assert!(matches!(&e, ProviderError::Upstream { message, .. } if message.contains("model not found")), "{e:?}");
}
