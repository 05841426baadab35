//! Upscale tests: the upscale models describe adds (and its fallback), the
//! exact `extra-single-image` body, the image handed back, and the server's
//! errors named by field — against a scripted host answering like A1111
//! (docs/providers/sdwebui.md#upscaling).

use super::*;
use crate::flow::tests::paths;
use crate::flow::{describe, submit as flow_submit};
use crate::types::{EgressError, InputImage};
use easel_plugin_kit::testing::{ScriptedHost as Mock, expect_invalid};

fn mock() -> Mock {
    Mock { config: [("base_url".to_string(), "http://127.0.0.1:7860/".to_string())].into(), ..Mock::default() }
}

/// A mock whose `/sdapi/v1/progress` says the server is idle.
fn idle() -> Mock {
    let host = mock();
    host.route_json("GET", "/sdapi/v1/progress", 200, json!({"progress": 0, "state": {"job_count": 0}}));
    host
}

fn sent_body(host: &Mock, index: usize) -> Value {
    serde_json::from_slice(&host.request(index).body).unwrap()
}

/// The first bytes of a PNG of `w`×`h` (what `png_size` reads).
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    p.extend_from_slice(&w.to_be_bytes());
    p.extend_from_slice(&h.to_be_bytes());
    p.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    p
}

const MODELS: &str = r#"[{"title":"v1-5-pruned-emaonly.safetensors [6ce0161689]","model_name":"v1-5-pruned-emaonly","hash":"6ce0161689","sha256":"x","filename":"/m/a.safetensors","config":null},
  {"title":"sd_xl_base_1.0.safetensors [31e35c80fc]","model_name":"sd_xl_base_1.0","hash":"31e35c80fc","sha256":"y","filename":"/m/b.safetensors","config":null}]"#;
/// `GET /sdapi/v1/upscalers` of a stock A1111 (names from modules/upscaler.py and the ESRGAN/Real-ESRGAN modules).
const UPSCALERS: &str = r#"[{"name":"None","model_name":null,"model_path":null,"model_url":null,"scale":4},
  {"name":"Lanczos","model_name":null,"model_path":null,"model_url":null,"scale":4},
  {"name":"Nearest","model_name":null,"model_path":null,"model_url":null,"scale":4},
  {"name":"ESRGAN_4x","model_name":"ESRGAN_4x","model_path":"https://github.com/cszn/KAIR/releases/download/v1.0/ESRGAN.pth","model_url":null,"scale":4},
  {"name":"R-ESRGAN 4x+","model_name":"R-ESRGAN 4x+","model_path":"https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth","model_url":null,"scale":4}]"#;

/// Answer describe's calls: checkpoints, samplers, schedulers, options, then `upscalers`
/// (ControlNet's and LoRA's listings are 404: neither extension).
fn describe_with(host: &Mock, status: u16, upscalers: &str) -> ProviderInfo {
    host.route_json("GET", "/controlnet/", 404, json!({"detail": "Not Found"}));
    host.route_json("GET", "/sdapi/v1/loras", 404, json!({"detail": "Not Found"}));
    host.answer(200, MODELS);
    host.answer(200, "[]");
    host.answer(200, "[]");
    host.answer(200, r#"{"sd_model_checkpoint":"v1-5-pruned-emaonly.safetensors [6ce0161689]"}"#);
    host.answer(status, upscalers);
    describe(host).unwrap()
}

fn ids(info: &ProviderInfo) -> Vec<&str> {
    info.models.iter().map(|m| m.id.as_str()).collect()
}

fn request(model: &str, input: (u32, u32), target: Option<(u32, u32)>) -> Request {
    Request {
        operation: Operation::Upscale,
        images: vec![InputImage {
            role: Role::Reference,
            mime_type: "image/png".into(),
            width: input.0,
            height: input.1,
            data: png(input.0, input.1),
        }],
        size: target.map(|(width, height)| Dims { width, height }),
        ..Request::text(model, "")
    }
}

fn upscaled(w: u32, h: u32) -> String {
    json!({"image": b64(&png(w, h)), "html_info": format!("<div><p>Postprocess upscale to: {w}x{h}, Postprocess upscaler: R-ESRGAN 4x+</p></div>")})
        .to_string()
}

use crate::types::ProviderInfo;

#[test]
fn describe_adds_one_upscale_model_per_upscaler_after_the_checkpoints() {
    let host = mock();
    let info = describe_with(&host, 200, UPSCALERS);
    assert_eq!(paths(&host).last().unwrap(), "GET /sdapi/v1/upscalers");
    assert_eq!(
        ids(&info),
        [
            "v1-5-pruned-emaonly",
            "sd_xl_base_1.0",
            "upscaler:R-ESRGAN 4x+",
            "upscaler:Lanczos",
            "upscaler:Nearest",
            "upscaler:ESRGAN_4x"
        ],
        "`None` is not offered; R-ESRGAN 4x+ comes first so the host picks it"
    );
    assert_eq!(info.default_model, "v1-5-pruned-emaonly", "the default stays the loaded checkpoint");
    for checkpoint in &info.models[..2] {
        assert_eq!(checkpoint.operations, [Operation::Generate, Operation::Edit, Operation::Inpaint]);
    }
    let esrgan = &info.models[2];
    assert_eq!(esrgan.operations, [Operation::Upscale]);
    assert_eq!((esrgan.max_input_images, esrgan.max_images, esrgan.size_multiple), (1, 1, 1));
    assert_eq!((esrgan.min_side, esrgan.max_side), (8, 8192));
    assert_eq!(esrgan.features, Features { custom_size: true, ..Features::default() });
    assert!(esrgan.sizes.is_empty() && esrgan.aspect_ratios.is_empty());
    assert_eq!((esrgan.aliases.as_slice(), esrgan.lifecycle), (&["R-ESRGAN 4x+".to_string()][..], Lifecycle::Current));
    let notes = esrgan.prompt_notes.as_deref().unwrap();
    assert!(notes.contains("learned upscaler") && notes.contains("4× model"), "{notes}");
    assert!(info.models[3].prompt_notes.as_deref().unwrap().contains("plain resampling"));
}

#[test]
fn describe_falls_back_to_lanczos_when_the_listing_fails() {
    for (status, answer) in [(404, r#"{"detail":"Not Found"}"#), (200, r#"{"detail":"odd"}"#)] {
        let host = mock();
        let info = describe_with(&host, status, answer);
        assert_eq!(ids(&info), ["v1-5-pruned-emaonly", "sd_xl_base_1.0", "upscaler:Lanczos"]);
        assert_eq!(info.default_model, "v1-5-pruned-emaonly");
        assert!(host.logs.borrow().iter().any(|(l, m)| *l == Level::Warn && m.contains("only the built-in Lanczos")));
    }
}

#[test]
fn default_upscaler_config_picks_the_first_upscale_model() {
    let mut host = mock();
    host.config.insert("default_upscaler".into(), "upscaler:nearest".into());
    let info = describe_with(&host, 200, UPSCALERS);
    assert_eq!(
        &ids(&info)[2..],
        ["upscaler:Nearest", "upscaler:Lanczos", "upscaler:ESRGAN_4x", "upscaler:R-ESRGAN 4x+"]
    );

    host.config.insert("default_upscaler".into(), "SwinIR 4x".into());
    let info = describe_with(&host, 200, UPSCALERS);
    assert_eq!(ids(&info)[2], "upscaler:R-ESRGAN 4x+", "an unknown name is ignored");
    assert!(host.logs.borrow().iter().any(|(l, m)| *l == Level::Warn && m.contains("SwinIR 4x")));
}

#[test]
fn the_listing_is_read_without_none_or_duplicates() {
    let list =
        json!([{"name": "None"}, "Lanczos", {"name": "Lanczos"}, {"name": " "}, {"name": "SwinIR 4x", "scale": 4}]);
    assert_eq!(
        upscalers(&list).unwrap(),
        [Upscaler { name: "Lanczos".into(), scale: None }, Upscaler { name: "SwinIR 4x".into(), scale: Some(4.0) }]
    );
    assert_eq!(upscalers(&json!({"detail": "x"})), None);
    // A checkpoint called like an upscaler keeps its name: no alias then.
    let checkpoints = crate::models::checkpoints(&json!([{"title": "Lanczos [abc]", "model_name": "Lanczos"}]));
    let models = model_infos(&[Upscaler { name: "Lanczos".into(), scale: None }], &checkpoints);
    assert!(models[0].aliases.is_empty());
    assert_eq!(
        (name_of("upscaler:R-ESRGAN 4x+"), name_of("sd_xl_base_1.0"), name_of("upscaler:")),
        (Some("R-ESRGAN 4x+"), None, None)
    );
}

#[test]
fn an_upscale_posts_the_image_and_the_target_size_and_returns_the_image() {
    let host = idle();
    host.answer(200, &upscaled(512, 384));
    // Deferred is the default submit_mode; an upscale is done in submit anyway.
    let done = flow_submit(&host, &request("upscaler:R-ESRGAN 4x+", (256, 192), Some((512, 384)))).unwrap();
    let Submission::Done(images) = done else { panic!("not done: {done:?}") };
    assert_eq!(paths(&host), ["GET /sdapi/v1/progress?skip_current_image=true", "POST /sdapi/v1/extra-single-image"]);
    assert_eq!(
        sent_body(&host, 1),
        json!({
            "image": b64(&png(256, 192)),
            "resize_mode": 1,
            "upscaling_resize_w": 512,
            "upscaling_resize_h": 384,
            "upscaling_crop": true,
            "upscaler_1": "R-ESRGAN 4x+",
            "upscaler_2": "None",
            "extras_upscaler_2_visibility": 0,
            "gfpgan_visibility": 0,
            "codeformer_visibility": 0,
            "show_extras_results": true
        })
    );
    assert_eq!(decode_b64(sent_body(&host, 1)["image"].as_str().unwrap()).unwrap(), png(256, 192), "no data: prefix");
    assert_eq!(images.len(), 1);
    assert_eq!((images[0].width, images[0].height), (Some(512), Some(384)));
    assert_eq!(images[0].data, ImageData::Inline { mime_type: "image/png".into(), data: png(512, 384) });
    let progress = host.progress.borrow();
    assert!(progress[0].1.contains("upscaling 256x192 to 512x384 with R-ESRGAN 4x+ at SD WebUI"), "{progress:?}");
    assert!(progress.iter().any(|(f, m)| *f == Some(0.9) && m.contains("upscaled the image to 512x384")));
    assert!(host.sent.borrow().iter().all(|r| !r.headers.iter().any(|(k, _)| k == "Authorization")));
}

#[test]
fn without_a_size_it_scales_by_the_default_factor() {
    let host = idle();
    host.answer(200, &upscaled(200, 100));
    flow_submit(&host, &request("upscaler:Lanczos", (100, 50), None)).unwrap();
    let body = sent_body(&host, 1);
    assert_eq!((body["resize_mode"].as_u64(), body["upscaling_resize"].as_f64()), (Some(0), Some(2.0)));
    assert!(body.get("upscaling_resize_w").is_none() && body.get("upscaling_resize_h").is_none());
}

#[test]
fn a_busy_server_is_reported_before_the_upscale_waits() {
    let host = mock();
    host.route_json("GET", "/sdapi/v1/progress", 200, json!({"progress": 0.3, "state": {"job_count": 1}}));
    host.answer(200, &upscaled(64, 64));
    flow_submit(&host, &request("upscaler:Lanczos", (32, 32), Some((64, 64)))).unwrap();
    assert!(host.progress.borrow()[0].1.contains("busy with another job"));
}

#[test]
fn params_go_on_top_and_reserved_ones_are_refused() {
    let host = idle();
    host.answer(200, &upscaled(128, 128));
    let mut r = request("upscaler:Lanczos", (64, 64), Some((128, 128)));
    r.extra = Some(r#"{"upscaler_2": "Nearest", "extras_upscaler_2_visibility": 0.3, "gfpgan_visibility": 0.5, "upscaling_crop": false}"#.into());
    flow_submit(&host, &r).unwrap();
    let body = sent_body(&host, 1);
    assert_eq!(
        (
            body["upscaler_2"].as_str(),
            body["extras_upscaler_2_visibility"].as_f64(),
            body["gfpgan_visibility"].as_f64()
        ),
        (Some("Nearest"), Some(0.3), Some(0.5))
    );
    assert_eq!((body["upscaling_crop"].as_bool(), body["upscaler_1"].as_str()), (Some(false), Some("Lanczos")));
    for (extra, field) in [
        (r#"{"upscaler_1": "Nearest"}"#, "params.upscaler_1"),
        (r#"{"upscaling_resize_w": 4096}"#, "params.upscaling_resize_w"),
        (r#"{"image": "x"}"#, "params.image"),
        ("[1]", "params"),
    ] {
        r.extra = Some(extra.into());
        expect_invalid(flow_submit(&host, &r), field);
    }
    assert_eq!(host.sent_to("POST", PATH).len(), 1, "refused params upscale nothing");
}

#[test]
fn server_errors_name_the_argument_at_fault() {
    let cases: [(u16, &str, &str, &str); 5] = [
        (
            500,
            r#"{"error":"AssertionError","detail":"","body":"","errors":"could not find upscaler named R-ESRGAN 4x+"}"#,
            "model",
            "no upscaler `R-ESRGAN 4x+`",
        ),
        (
            500,
            r#"{"error":"AssertionError","detail":"","body":"","errors":"could not find upscaler named Nope"}"#,
            "params.upscaler_2",
            "no upscaler `Nope`",
        ),
        (
            422,
            r#"{"detail":[{"loc":["body","upscaling_resize_w"],"msg":"ensure this value is greater than or equal to 1","type":"value_error.number.not_ge"}]}"#,
            "scale",
            "greater than or equal to 1",
        ),
        (
            422,
            r#"{"detail":[{"loc":["body","gfpgan_visibility"],"msg":"ensure this value is less than or equal to 1","type":"value_error.number.not_le"}]}"#,
            "params.gfpgan_visibility",
            "less than or equal to 1",
        ),
        (
            500,
            r#"{"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":"500: Invalid encoded image"}"#,
            "image",
            "Invalid encoded image",
        ),
    ];
    for (status, answer, field, text) in cases {
        let host = idle();
        host.answer(status, answer);
        let message =
            expect_invalid(flow_submit(&host, &request("upscaler:R-ESRGAN 4x+", (64, 64), Some((128, 128)))), field);
        assert!(message.contains(text), "{field}: {message}");
    }
    let host = idle();
    host.answer(500, r#"{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 2.00 GiB"}"#);
    let e = flow_submit(&host, &request("upscaler:R-ESRGAN 4x+", (64, 64), Some((128, 128)))).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Upstream { status: 500, message } if message.contains("OutOfMemoryError: CUDA out of memory")),
        "{e:?}"
    );
    host.answer(200, r#"{"image": null, "html_info": ""}"#);
    let e = flow_submit(&host, &request("upscaler:Lanczos", (64, 64), Some((128, 128)))).unwrap_err();
    assert!(matches!(&e, ProviderError::Upstream { status: 200, message } if message.contains("no `image`")), "{e:?}");
    host.answer(200, r#"{"image": "aGVsbG8=", "html_info": ""}"#);
    let e = flow_submit(&host, &request("upscaler:Lanczos", (64, 64), Some((128, 128)))).unwrap_err();
    assert!(matches!(&e, ProviderError::Upstream { message, .. } if message.contains("not a PNG")), "{e:?}");
    host.fail(EgressError::Connection("http://127.0.0.1:7860: connection refused".into()));
    let e = flow_submit(&host, &request("upscaler:Lanczos", (64, 64), Some((128, 128)))).unwrap_err();
    assert!(matches!(&e, ProviderError::Unavailable(m) if m.contains("not reachable")), "{e:?}");
}

#[test]
fn checkpoints_do_not_upscale_and_upscalers_only_upscale() {
    let host = mock();
    let message = expect_invalid(flow_submit(&host, &request("sd_xl_base_1.0", (64, 64), Some((128, 128)))), "model");
    assert!(message.contains("checkpoints do not upscale") && message.contains("upscaler:Lanczos"), "{message}");
    let message = expect_invalid(flow_submit(&host, &Request::text("upscaler:Lanczos", "a fox")), "model");
    assert!(message.contains("only upscales"), "{message}");
    let mut masked = request("upscaler:Lanczos", (64, 64), Some((128, 128)));
    masked.images.push(InputImage { role: Role::Mask, ..masked.images[0].clone() });
    expect_invalid(flow_submit(&host, &masked), "image");
    let mut none = request("upscaler:Lanczos", (64, 64), Some((128, 128)));
    none.images.clear();
    expect_invalid(flow_submit(&host, &none), "image");
    assert!(host.sent.borrow().is_empty(), "nothing reached the server");
    // The checkpoint body builder refuses an upscale too, should one get there.
    let e = crate::api::build(&request("sd_xl_base_1.0", (64, 64), None), None, &Map::new(), (512, 512), "t", None);
    assert!(matches!(e, Err(ProviderError::Unsupported(m)) if m.contains("upscaler:Lanczos")));
}
