//! Request bodies for `POST /sdapi/v1/txt2img` and `/img2img`
//! (docs/providers/sdwebui.md#txt2img, #img2img): the Easel request mapped onto A1111's field
//! names, with the operator's config `params` underneath and the caller's
//! `params` (WIT `extra`, docs/providers/sdwebui.md#params) on top.
//!
//! Mapping: `count` → `batch_size` (with `n_iter` 1), `guidance` →
//! `cfg_scale`, `strength` → `denoising_strength`, the checkpoint →
//! `override_settings.sd_model_checkpoint`, the first reference image →
//! `init_images[0]`, a mask → `mask` (white = repaint, A1111's convention),
//! control images → ControlNet units in `alwayson_scripts` ([`control`]),
//! `params.loras` → `<lora:NAME:WEIGHT>` tags in the prompt ([`lora`]).
//! Every body carries `force_task_id`, so `/internal/progress` can tell
//! whether this very task is queued, running or finished (docs/providers/sdwebui.md#endpoints).

use crate::control::{self, ControlType};
use crate::lora::{self, Lora};
use crate::types::{Operation, ProviderError, Request, Role};
use easel_plugin_kit::codec::b64;
use easel_plugin_kit::params;
use easel_plugin_kit::size::{parse_ratio, round_down};
use serde_json::{Map, Value, json};

/// Body fields the plugin sets from Easel arguments, refused in the
/// request's `params` (the operator's config `params` may set them as
/// defaults): docs/providers/sdwebui.md#params.
pub const RESERVED: &[params::Reserved<'static>] = &[
    ("prompt", "prompt"),
    ("negative_prompt", "negative_prompt"),
    ("seed", "seed"),
    ("batch_size", "count"),
    ("n_iter", "count"),
    ("steps", "steps"),
    ("cfg_scale", "guidance"),
    ("width", "size"),
    ("height", "size"),
    ("init_images", "images"),
    ("mask", "images (role `mask`)"),
    ("denoising_strength", "strength"),
    ("override_settings.sd_model_checkpoint", "model"),
];

/// Width and height must be multiples of this (A1111's sliders step by 8).
pub const SIZE_MULTIPLE: u32 = 8;
pub const MIN_SIDE: u32 = 64;
pub const MAX_SIDE: u32 = 2048;

/// Which generation route a task uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Txt2img,
    Img2img,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Txt2img => "/sdapi/v1/txt2img",
            Endpoint::Img2img => "/sdapi/v1/img2img",
        }
    }
}

/// One ready-to-send generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub endpoint: Endpoint,
    pub body: Value,
    /// Images asked for (A1111 may add a grid or extension outputs).
    pub count: u32,
}

/// The request's `params` (WIT `extra`) split in two: the keys the plugin
/// reads itself (`control_type`, `control_weight`, `loras`, which never
/// reach the body as such) and the rest, merged into the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// ControlNet's type and weight; `Some` exactly when the request has control images.
    pub control: Option<control::Wanted>,
    pub loras: Vec<Lora>,
    /// Everything else, checked against [`RESERVED`].
    pub rest: Map<String, Value>,
}

impl Params {
    /// Parse and split the request's `params`.
    ///
    /// Errors (`invalid-request`): `params` not a JSON object (`params`),
    /// a reserved key (`params.<key>`), and those of [`control::take`] and
    /// [`lora::take`].
    pub fn of(request: &Request) -> Result<Params, ProviderError> {
        let mut rest = params::parse(request.extra.as_deref())?;
        let control = control::take(&mut rest, request)?;
        let loras = lora::take(&mut rest)?;
        params::refuse_reserved(&rest, RESERVED)?;
        Ok(Params { control, loras, rest })
    }
}

/// Build the body. `checkpoint` is the title to load (`None` keeps the
/// server's current one), `params` the operator's defaults, `default_size`
/// the size used when the request gives neither size nor input image, and
/// `control` the server's ControlNet type for the request's control images
/// ([`control::pick`]; needed exactly when there are some).
///
/// A control image without a reference is txt2img with ControlNet (also
/// for an edit); with one, img2img with ControlNet.
pub fn build(
    request: &Request,
    checkpoint: Option<&str>,
    params: &Map<String, Value>,
    default_size: (u32, u32),
    task_id: &str,
    control: Option<&ControlType>,
) -> Result<Task, ProviderError> {
    let own = Params::of(request)?;
    let reference = request.images.iter().find(|i| i.role == Role::Reference);
    let mask = request.images.iter().find(|i| i.role == Role::Mask);
    let guide = request.images.iter().find(|i| i.role == Role::Control);
    let endpoint = match (request.operation, reference) {
        // Upscales go to the `upscaler:<name>` models (crate::upscale); the
        // host only sends them to models that list `upscale`.
        (Operation::Upscale, _) => {
            return Err(ProviderError::Unsupported(format!(
                "checkpoint models do not upscale; use an upscaler model such as `{}Lanczos` (list_models with operation \"upscale\" lists them)",
                crate::upscale::PREFIX
            )));
        }
        (_, Some(_)) => Endpoint::Img2img,
        (Operation::Generate, None) => Endpoint::Txt2img,
        (Operation::Edit, None) if guide.is_some() && mask.is_none() => Endpoint::Txt2img,
        (_, None) => {
            return Err(ProviderError::invalid(Some("images"), "an edit needs an image with role `reference`"));
        }
    };
    let units = match (&own.control, control) {
        (None, _) => None,
        (Some(wanted), Some(kind)) => Some(control::units(&request.images, kind, wanted.weight)),
        (Some(_), None) => {
            return Err(ProviderError::invalid(
                Some("images"),
                "control images need the server's ControlNet types (GET /controlnet/control_types); none were given",
            ));
        }
    };
    if mask.is_some() && endpoint == Endpoint::Txt2img {
        return Err(ProviderError::invalid(Some("images"), "a mask needs a reference image to inpaint"));
    }

    let mut body = params.clone();
    let mut set = |key: &str, value: Value| {
        body.insert(key.to_string(), value);
    };
    set("prompt", json!(lora::prompt_with(&request.prompt, &own.loras)));
    if let Some(negative) = request.negative_prompt.as_deref().filter(|n| !n.trim().is_empty()) {
        set("negative_prompt", json!(negative));
    }
    if let Some(seed) = request.seed {
        set("seed", json!(seed));
    }
    set("batch_size", json!(request.count.max(1)));
    set("n_iter", json!(1));
    if let Some(steps) = request.steps {
        set("steps", json!(steps));
    }
    if let Some(guidance) = request.guidance {
        set("cfg_scale", json!(round3(guidance)));
    }
    let (width, height) = match (reference, guide) {
        // Only a control image: its aspect on the checkpoint's long edge.
        (None, Some(g)) if request.size.is_none() && request.aspect_ratio.is_none() && g.width > 0 && g.height > 0 => {
            on_long_edge(default_size, (g.width, g.height))
        }
        _ => output_size(request, reference.map(|r| (r.width, r.height)), default_size)?,
    };
    set("width", json!(width));
    set("height", json!(height));
    if let Some(reference) = reference {
        set("init_images", json!([b64(&reference.data)]));
        if let Some(strength) = request.strength {
            set("denoising_strength", json!(round3(strength)));
        }
        if let Some(mask) = mask {
            set("mask", json!(b64(&mask.data)));
        }
    }
    if let Some(title) = checkpoint {
        let mut overrides = match params.get("override_settings") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        overrides.insert("sd_model_checkpoint".into(), json!(title));
        set("override_settings", Value::Object(overrides));
    }
    // Images come back in the response; the server's disk is not our store.
    body.entry("send_images").or_insert(json!(true));
    body.entry("save_images").or_insert(json!(false));

    params::deep_merge(&mut body, own.rest);
    if let Some(units) = units {
        control::attach(&mut body, units)?;
    }
    body.insert("force_task_id".into(), json!(task_id));
    Ok(Task { endpoint, body: Value::Object(body), count: request.count.max(1) })
}

/// Output size: the request's size; else the aspect ratio on the default
/// size's long edge; else (edits) the input image's size; else the default.
/// Always a multiple of 8 within 64..=2048.
pub fn output_size(
    request: &Request,
    input: Option<(u32, u32)>,
    default_size: (u32, u32),
) -> Result<(u32, u32), ProviderError> {
    let fit = |v: u32| round_down(v.min(MAX_SIDE), SIZE_MULTIPLE, MIN_SIDE);
    if let Some(size) = request.size {
        return Ok((fit(size.width), fit(size.height)));
    }
    if let Some(ratio) = request.aspect_ratio.as_deref() {
        let ratio = parse_ratio(ratio)
            .ok_or_else(|| ProviderError::invalid(Some("aspect_ratio"), format!("`{ratio}` is not W:H")))?;
        return Ok(on_long_edge(default_size, ratio));
    }
    if let Some((w, h)) = input {
        return Ok((fit(w), fit(h)));
    }
    Ok((fit(default_size.0), fit(default_size.1)))
}

/// The aspect `rw:rh` on the long edge of `default_size`, a multiple of 8
/// within 64..=2048.
fn on_long_edge(default_size: (u32, u32), (rw, rh): (u32, u32)) -> (u32, u32) {
    let fit = |v: u64| round_down(v.min(u64::from(MAX_SIDE)) as u32, SIZE_MULTIPLE, MIN_SIDE);
    let long = u64::from(default_size.0.max(default_size.1));
    let (rw, rh) = (u64::from(rw.max(1)), u64::from(rh.max(1)));
    let (w, h) = if rw >= rh { (long, long * rh / rw) } else { (long * rw / rh, long) };
    (fit(w), fit(h))
}

/// f32 → a short decimal (0.6f32 is 0.6000000238…; A1111 echoes what it gets).
fn round3(value: f32) -> f64 {
    (f64::from(value) * 1000.0).round() / 1000.0
}

/// Easel's parameter name for an A1111 body field, for 422 messages.
pub fn easel_field(name: &str) -> Option<&'static str> {
    Some(match name {
        "prompt" => "prompt",
        "negative_prompt" => "negative_prompt",
        "seed" => "seed",
        "steps" => "steps",
        "cfg_scale" => "guidance",
        "width" => "width",
        "height" => "height",
        "batch_size" | "n_iter" => "count",
        "denoising_strength" => "strength",
        "init_images" | "mask" => "images",
        "override_settings" | "sd_model_checkpoint" => "model",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Dims, InputImage};
    use easel_plugin_kit::testing::expect_invalid;

    fn image(role: Role, w: u32, h: u32) -> InputImage {
        InputImage { role, mime_type: "image/png".into(), width: w, height: h, data: b"\x89PNG".to_vec() }
    }

    #[test]
    fn txt2img_maps_every_field() {
        let mut r = Request::text("v1-5", "a red fox");
        r.negative_prompt = Some("blurry".into());
        r.seed = Some(42);
        r.count = 3;
        r.steps = Some(20);
        r.guidance = Some(6.5);
        r.size = Some(Dims { width: 640, height: 384 });
        let mut params = Map::new();
        params.insert("sampler_name".into(), json!("Euler a"));
        params.insert("steps".into(), json!(30));
        let t = build(&r, Some("v1-5.safetensors [6ce0161689]"), &params, (512, 512), "task(easel-1)", None).unwrap();
        assert_eq!(t.endpoint, Endpoint::Txt2img);
        assert_eq!(t.count, 3);
        let b = &t.body;
        assert_eq!(b["prompt"], "a red fox");
        assert_eq!(b["negative_prompt"], "blurry");
        assert_eq!((b["seed"].as_u64(), b["batch_size"].as_u64(), b["n_iter"].as_u64()), (Some(42), Some(3), Some(1)));
        assert_eq!(b["steps"], 20, "the request beats the operator's params");
        assert_eq!(b["sampler_name"], "Euler a");
        assert_eq!(b["cfg_scale"], 6.5);
        assert_eq!((b["width"].as_u64(), b["height"].as_u64()), (Some(640), Some(384)));
        assert_eq!(b["override_settings"]["sd_model_checkpoint"], "v1-5.safetensors [6ce0161689]");
        assert_eq!(b["force_task_id"], "task(easel-1)");
        assert!(b.get("init_images").is_none() && b.get("denoising_strength").is_none());
    }

    #[test]
    fn img2img_takes_init_image_mask_and_strength() {
        let mut r = Request::text("m", "make it night");
        r.operation = Operation::Inpaint;
        r.strength = Some(0.6);
        r.images = vec![image(Role::Reference, 333, 250), image(Role::Mask, 333, 250)];
        let t = build(&r, None, &Map::new(), (512, 512), "t", None).unwrap();
        assert_eq!(t.endpoint, Endpoint::Img2img);
        let b = &t.body;
        assert_eq!(b["init_images"][0], "iVBORw==");
        assert_eq!(b["mask"], "iVBORw==");
        assert_eq!(b["denoising_strength"], 0.6);
        assert_eq!((b["width"].as_u64(), b["height"].as_u64()), (Some(328), Some(248)), "input size rounded to 8");
        assert!(b.get("override_settings").is_none());
    }

    #[test]
    fn aspect_ratio_uses_the_default_long_edge() {
        let mut r = Request::text("m", "x");
        r.aspect_ratio = Some("16:9".into());
        assert_eq!(output_size(&r, None, (1024, 1024)).unwrap(), (1024, 576));
        r.aspect_ratio = Some("2:3".into());
        assert_eq!(output_size(&r, None, (512, 512)).unwrap(), (336, 512));
    }

    #[test]
    fn params_go_on_top_and_bad_params_are_refused() {
        let mut r = Request::text("m", "x");
        r.extra = Some(
            r#"{"sampler_name":"DDIM","enable_hr":true,"override_settings":{"CLIP_stop_at_last_layers":2}}"#.into(),
        );
        let t = build(&r, Some("v1-5 [6ce0161689]"), &Map::new(), (512, 512), "t", None).unwrap();
        assert_eq!((t.body["sampler_name"].as_str(), t.body["enable_hr"].as_bool()), (Some("DDIM"), Some(true)));
        assert_eq!(
            t.body["override_settings"],
            json!({"sd_model_checkpoint": "v1-5 [6ce0161689]", "CLIP_stop_at_last_layers": 2})
        );
        r.extra = Some(r#"{"override_settings":{"sd_model_checkpoint":"other"}}"#.into());
        let refused = build(&r, None, &Map::new(), (512, 512), "t", None).unwrap_err();
        assert!(
            matches!(&refused, ProviderError::InvalidRequest { field: Some(f), message } if f == "params.override_settings.sd_model_checkpoint" && message.contains("model argument")),
            "{refused:?}"
        );
        r.extra = Some(r#"{"cfg_scale": 3}"#.into());
        assert!(
            matches!(build(&r, None, &Map::new(), (512, 512), "t", None), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "params.cfg_scale")
        );
        r.extra = Some("[1]".into());
        assert!(
            matches!(build(&r, None, &Map::new(), (512, 512), "t", None), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "params")
        );
    }

    #[test]
    fn orphan_masks_are_refused() {
        let mut r = Request::text("m", "x");
        r.operation = Operation::Inpaint;
        r.images = vec![image(Role::Mask, 64, 64)];
        expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", None), "images");
        r.images.push(image(Role::Control, 64, 64));
        r.extra = Some(r#"{"control_type": "canny"}"#.into());
        expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", Some(&canny())), "images");
    }

    fn canny() -> ControlType {
        ControlType {
            kind: "canny",
            tag: "Canny".into(),
            module: "canny".into(),
            model: "control_v11p_sd15_canny [d14c016b]".into(),
        }
    }

    #[test]
    fn a_control_image_alone_is_txt2img_with_a_controlnet_unit_and_its_aspect() {
        let mut r = Request::text("m", "a dancer");
        r.operation = Operation::Edit;
        r.images = vec![image(Role::Control, 900, 600)];
        r.extra = Some(r#"{"control_type": "canny", "control_weight": 0.6, "sampler_name": "Euler a"}"#.into());
        let t = build(&r, None, &Map::new(), (512, 512), "t", Some(&canny())).unwrap();
        assert_eq!(t.endpoint, Endpoint::Txt2img);
        let b = &t.body;
        assert_eq!(
            b["alwayson_scripts"]["controlnet"]["args"],
            json!([{"enabled": true, "image": "iVBORw==", "module": "canny", "model": "control_v11p_sd15_canny [d14c016b]",
                    "weight": 0.6, "pixel_perfect": true, "resize_mode": "Crop and Resize", "control_mode": "Balanced"}])
        );
        assert!(b.get("control_type").is_none() && b.get("control_weight").is_none(), "the plugin's params stay out");
        assert_eq!(b["sampler_name"], "Euler a");
        assert!(b.get("init_images").is_none());
        assert_eq!((b["width"].as_u64(), b["height"].as_u64()), (Some(512), Some(336)), "3:2 on the 512 edge");
        r.size = Some(crate::types::Dims { width: 640, height: 640 });
        let t = build(&r, None, &Map::new(), (512, 512), "t", Some(&canny())).unwrap();
        assert_eq!((t.body["width"].as_u64(), t.body["height"].as_u64()), (Some(640), Some(640)));
    }

    #[test]
    fn a_control_image_beside_a_reference_is_img2img_and_keeps_other_scripts() {
        let mut r = Request::text("m", "night");
        r.operation = Operation::Edit;
        r.images = vec![image(Role::Reference, 320, 240), image(Role::Control, 320, 240), image(Role::Control, 32, 32)];
        r.extra = Some(
            r#"{"control_type": "canny", "alwayson_scripts": {"ControlNet": {"args": [{"enabled": false}]}, "Refiner": {"args": [true]}}}"#
                .into(),
        );
        let mut config = Map::new();
        config.insert("alwayson_scripts".into(), json!({"ADetailer": {"args": [true, false]}}));
        let t = build(&r, None, &config, (512, 512), "t", Some(&canny())).unwrap();
        assert_eq!(t.endpoint, Endpoint::Img2img);
        let scripts = &t.body["alwayson_scripts"];
        assert_eq!(
            (&scripts["ADetailer"], &scripts["Refiner"]),
            (&json!({"args": [true, false]}), &json!({"args": [true]}))
        );
        let args = scripts["ControlNet"]["args"].as_array().unwrap();
        assert_eq!(args.len(), 3, "one unit per control image, then the caller's: {args:?}");
        assert_eq!((args[0]["weight"].as_f64(), args[1]["enabled"].as_bool()), (Some(1.0), Some(true)));
        assert_eq!(args[2], json!({"enabled": false}));
        assert!(scripts.get("controlnet").is_none());
        assert_eq!(
            (t.body["width"].as_u64(), t.body["height"].as_u64()),
            (Some(320), Some(240)),
            "the reference's size"
        );
    }

    #[test]
    fn control_images_need_a_type_and_the_servers_types() {
        let mut r = Request::text("m", "x");
        r.images = vec![image(Role::Control, 64, 64)];
        let message =
            expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", Some(&canny())), "params.control_type");
        assert!(message.contains("canny, depth, pose, scribble"), "{message}");
        r.extra = Some(r#"{"control_type": "canny"}"#.into());
        expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", None), "images");
        r.images.clear();
        expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", None), "params.control_type");
    }

    #[test]
    fn loras_are_prompt_tags_not_body_keys() {
        let mut r = Request::text("m", "a red fox");
        r.extra = Some(r#"{"loras": [{"name": "add_detail", "weight": 0.8}, {"name": "pixel-art-xl"}]}"#.into());
        let t = build(&r, None, &Map::new(), (512, 512), "t", None).unwrap();
        assert_eq!(t.body["prompt"], "a red fox <lora:add_detail:0.8> <lora:pixel-art-xl:1>");
        assert!(t.body.get("loras").is_none());
        r.extra = Some(r#"{"loras": [{"name": "x>y"}]}"#.into());
        expect_invalid(build(&r, None, &Map::new(), (512, 512), "t", None), "params.loras[0].name");
    }
}
