//! Unit tests of `upscale` (discovery, the graph sent to `/prompt`, the
//! image that comes back) against the scripted host in `crate::testing`.

use super::*;
use crate::describe::describe;
use crate::flow::{poll, submit as flow_submit};
use crate::testing::{BASE, ScriptedHost, new_mock, resp};
use crate::token::{JobToken, Token};
use crate::types::{HttpResponse, ImageData, JobState};
use easel_plugin_kit::testing::expect_invalid;

const ESRGAN: &str = "RealESRGAN_x4plus.pth";

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    p.extend_from_slice(&width.to_be_bytes());
    p.extend_from_slice(&height.to_be_bytes());
    p.extend_from_slice(b"rest");
    p
}

fn request(model: &str, input: (u32, u32), size: Option<(u32, u32)>) -> Request {
    Request {
        operation: Operation::Upscale,
        model: model.into(),
        prompt: String::new(),
        negative_prompt: None,
        size: size.map(|(width, height)| Dims { width, height }),
        aspect_ratio: None,
        size_tier: None,
        count: 1,
        seed: None,
        steps: None,
        guidance: None,
        strength: None,
        images: vec![InputImage {
            role: Role::Reference,
            mime_type: "image/png".into(),
            width: input.0,
            height: input.1,
            data: png(input.0, input.1),
        }],
        extra: None,
    }
}

/// A server with one checkpoint; `upscale_info` is its answer to
/// `GET /object_info/UpscaleModelLoader`.
fn server(upscale_info: HttpResponse) -> ScriptedHost {
    let mock = new_mock();
    mock.route_json(
        "GET",
        "/object_info/CheckpointLoaderSimple",
        200,
        json!({"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["sd15.safetensors"], {}]}}}}),
    );
    mock.route_json("GET", "/object_info/KSampler", 200, json!({}));
    mock.route("GET", "/object_info/UpscaleModelLoader", vec![Ok(upscale_info)]);
    // No ControlNet or LoRA nodes on this server.
    mock.route_json("GET", "/object_info/ControlNetLoader", 200, json!({}));
    mock.route_json("GET", "/object_info/LoraLoader", 200, json!({}));
    mock
}

/// `object_info` for UpscaleModelLoader as v0.3.64 writes a V3 combo.
fn loader_info(names: &[&str]) -> HttpResponse {
    resp(
        200,
        json!({"UpscaleModelLoader": {"input": {"required": {"model_name": ["COMBO", {"multiselect": false, "options": names}]}},
               "output": ["UPSCALE_MODEL"], "name": "UpscaleModelLoader"}}),
    )
}

fn ready_for_prompt(mock: &ScriptedHost) {
    mock.route_json("POST", "/upload/image", 200, json!({"name": "easel-abc.png", "subfolder": "", "type": "input"}));
    mock.route_json("POST", "/prompt", 200, json!({"prompt_id": "pid-up", "number": 1, "node_errors": {}}));
}

fn sent_graph(mock: &ScriptedHost) -> Value {
    let [post] = mock.sent_to("POST", "/prompt").try_into().unwrap();
    serde_json::from_slice::<Value>(&post.body).unwrap()["prompt"].clone()
}

#[test]
fn describe_offers_one_upscaler_per_upscale_model_then_resampling() {
    let mock = server(loader_info(&[ESRGAN, "sub/4x-UltraSharp.safetensors"]));
    let info = describe(&mock).unwrap();
    let ids: Vec<_> = info.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "sd15.safetensors",
            "upscaler:RealESRGAN_x4plus.pth",
            "upscaler:sub/4x-UltraSharp.safetensors",
            "upscaler:lanczos"
        ]
    );
    assert_eq!(info.default_model, "sd15.safetensors", "the default model stays the checkpoint");
    let checkpoint = &info.models[0];
    assert_eq!(checkpoint.operations, [Operation::Generate, Operation::Edit]);
    assert_eq!((checkpoint.max_side, checkpoint.size_multiple), (4096, 8));
    for model in &info.models[1..] {
        assert_eq!(model.operations, [Operation::Upscale], "{}", model.id);
        assert_eq!((model.max_input_images, model.max_images), (1, 1));
        assert_eq!((model.min_side, model.max_side, model.size_multiple), (1, 16384, 1));
        assert!(model.sizes.is_empty());
        assert_eq!(model.features, Features { custom_size: true, ..Features::default() });
        let schema = model.parameters.as_ref().unwrap();
        assert_eq!(schema["properties"]["upscale_method"]["enum"], json!(METHODS));
        assert_eq!(schema["additionalProperties"], json!(false));
    }
    assert_eq!(info.models[1].aliases, ["RealESRGAN_x4plus"]);
    assert_eq!(info.models[2].aliases, ["4x-UltraSharp"]);
    assert_eq!(info.models[3].aliases, ["lanczos"]);
    assert!(mock.sent_to("GET", "/models/upscale_models").is_empty(), "object_info answered");
}

#[test]
fn without_upscale_models_only_resampling_is_offered() {
    // An empty upscale_models folder: the node is there, its choice list is empty.
    let mock = server(loader_info(&[]));
    mock.route_json("GET", "/models/upscale_models", 200, json!([]));
    let info = describe(&mock).unwrap();
    let upscalers: Vec<_> =
        info.models.iter().filter(|m| m.operations.contains(&Operation::Upscale)).map(|m| m.id.as_str()).collect();
    assert_eq!(upscalers, ["upscaler:lanczos"]);

    // No UpscaleModelLoader node at all (ComfyUI answers `{}`): resampling, and a warning saying why.
    let mock = server(resp(200, json!({})));
    let info = describe(&mock).unwrap();
    assert_eq!(info.models.last().unwrap().id, "upscaler:lanczos");
    assert_eq!(info.models.len(), 2);
    assert!(mock.logs.borrow().iter().any(|(l, m)| *l == Level::Warn && m.contains("no UpscaleModelLoader node")));
    assert!(mock.sent_to("GET", "/models/upscale_models").is_empty());
}

#[test]
fn without_object_info_the_models_folder_listing_is_used() {
    let mock = server(resp(404, json!({})));
    mock.route_json("GET", "/models/upscale_models", 200, json!([ESRGAN, ESRGAN]));
    let info = describe(&mock).unwrap();
    let ids: Vec<_> = info.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["sd15.safetensors", "upscaler:RealESRGAN_x4plus.pth", "upscaler:lanczos"]);
}

#[test]
fn aliases_never_shadow_a_checkpoint() {
    let models = models(&["sd15.pth".into(), "lanczos.pth".into()], &["sd15.safetensors".into()]);
    let aliases: Vec<_> = models.iter().map(|m| (m.id.as_str(), m.aliases.clone())).collect();
    assert_eq!(
        aliases,
        [("upscaler:sd15.pth", vec![]), ("upscaler:lanczos.pth", vec![]), ("upscaler:lanczos", vec![])],
        "`sd15` is the checkpoint's stem, and `lanczos` would be ambiguous"
    );
}

#[test]
fn a_model_upscale_uploads_the_image_and_queues_load_upscale_resize_save() {
    let mock = new_mock();
    ready_for_prompt(&mock);
    let Submission::Pending(token) =
        flow_submit(&mock, &request("upscaler:RealESRGAN_x4plus.pth", (320, 213), Some((640, 426)))).unwrap()
    else {
        panic!("an upscale is queued")
    };
    let [upload] = mock.sent_to("POST", "/upload/image").try_into().unwrap();
    assert!(String::from_utf8_lossy(&upload.body).contains("name=\"type\"\r\n\r\ninput"));
    let graph = sent_graph(&mock);
    let classes: Vec<_> = ["1", "2", "3", "4", "5"].iter().map(|id| graph[*id]["class_type"].clone()).collect();
    assert_eq!(
        classes,
        [
            json!("LoadImage"),
            json!("UpscaleModelLoader"),
            json!("ImageUpscaleWithModel"),
            json!("ImageScale"),
            json!("SaveImage")
        ]
    );
    assert_eq!(graph.as_object().unwrap().len(), 5);
    assert_eq!(graph["1"]["inputs"], json!({"image": "easel-abc.png"}), "the uploaded name goes into LoadImage");
    assert_eq!(graph["2"]["inputs"], json!({"model_name": ESRGAN}));
    assert_eq!(graph["3"]["inputs"], json!({"upscale_model": ["2", 0], "image": ["1", 0]}));
    assert_eq!(
        graph["4"]["inputs"],
        json!({"image": ["3", 0], "upscale_method": "lanczos", "width": 640, "height": 426, "crop": "disabled"})
    );
    assert_eq!(graph["5"]["inputs"]["images"], json!(["4", 0]));
    let t = Token::decode(&token).unwrap();
    assert_eq!((t.prompt_id.as_str(), t.base.as_str(), t.seed, t.count), ("pid-up", BASE, None, 1));
}

#[test]
fn resampling_skips_the_model_nodes_and_params_pick_the_method() {
    let mock = new_mock();
    ready_for_prompt(&mock);
    let mut r = request("upscaler:lanczos", (100, 50), Some((300, 150)));
    r.extra = Some(r#"{"upscale_method": "bicubic"}"#.into());
    flow_submit(&mock, &r).unwrap();
    let graph = sent_graph(&mock);
    let mut ids: Vec<_> = graph.as_object().unwrap().keys().cloned().collect();
    ids.sort();
    assert_eq!(ids, ["1", "4", "5"]);
    assert_eq!(
        graph["4"]["inputs"],
        json!({"image": ["1", 0], "upscale_method": "bicubic", "width": 300, "height": 150, "crop": "disabled"})
    );
}

#[test]
fn without_a_target_size_the_input_is_doubled() {
    let mock = new_mock();
    ready_for_prompt(&mock);
    flow_submit(&mock, &request("upscaler:lanczos", (100, 50), None)).unwrap();
    let graph = sent_graph(&mock);
    assert_eq!(
        (graph["4"]["inputs"]["width"].clone(), graph["4"]["inputs"]["height"].clone()),
        (json!(200), json!(100))
    );
}

#[test]
fn the_upscaled_image_comes_back_from_history_and_view() {
    let mock = new_mock();
    ready_for_prompt(&mock);
    let Submission::Pending(token) =
        flow_submit(&mock, &request("upscaler:RealESRGAN_x4plus.pth", (320, 213), Some((640, 426)))).unwrap()
    else {
        panic!()
    };
    mock.route_json(
        "GET",
        "/history/",
        200,
        json!({"pid-up": {
        "outputs": {"5": {"images": [{"filename": "easel-upscale_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": {"status_str": "success", "completed": true, "messages": []}}}),
    );
    mock.route(
        "GET",
        "/view",
        vec![Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "image/png".into())],
            body: png(640, 426),
        })],
    );
    let JobState::Done(images) = poll(&mock, &token).unwrap() else { panic!("done") };
    let [image] = images.as_slice() else { panic!("one image") };
    assert_eq!((image.width, image.height, image.seed), (Some(640), Some(426), None));
    assert!(
        matches!(&image.data, ImageData::Inline { mime_type, data } if mime_type == "image/png" && *data == png(640, 426))
    );
    let [view] = mock.sent_to("GET", "/view").try_into().unwrap();
    assert_eq!(view.url, format!("{BASE}/view?filename=easel-upscale_00001_.png&subfolder=&type=output"));
}

#[test]
fn wrong_models_images_sizes_and_params_are_refused_before_any_request() {
    let mock = new_mock();
    let message = expect_invalid(flow_submit(&mock, &request("sd15.safetensors", (64, 64), Some((128, 128)))), "model");
    assert!(message.contains("upscaler:lanczos"), "{message}");
    let mut generate = request("upscaler:lanczos", (64, 64), None);
    generate.operation = Operation::Generate;
    generate.images.clear();
    expect_invalid(flow_submit(&mock, &generate), "model");
    let mut two = request("upscaler:lanczos", (64, 64), Some((128, 128)));
    two.images.push(two.images[0].clone());
    expect_invalid(flow_submit(&mock, &two), "image");
    let mut mask = request("upscaler:lanczos", (64, 64), Some((128, 128)));
    mask.images[0].role = Role::Mask;
    expect_invalid(flow_submit(&mock, &mask), "image");
    expect_invalid(flow_submit(&mock, &request("upscaler:lanczos", (9000, 64), Some((18000, 128)))), "scale");
    let mut bad = request("upscaler:lanczos", (64, 64), Some((128, 128)));
    bad.extra = Some(r#"{"upscale_method": "bislerp"}"#.into());
    expect_invalid(flow_submit(&mock, &bad), "params.upscale_method");
    assert!(mock.sent.borrow().is_empty(), "nothing reached ComfyUI");
}
