//! Capability discovery: the models are the server's checkpoints, read
//! from `GET /object_info/CheckpointLoaderSimple` (`ckpt_name` options) or,
//! failing that, `GET /models/checkpoints` (docs/providers/comfyui.md#models); sampler and
//! scheduler names from `GET /object_info/KSampler` go into prompt notes.
//! What a model can do follows from the workflow templates' placeholders;
//! its `parameters` declare the ControlNet kinds and LoRAs the server has
//! ([`crate::guidance`]).
//! The upscale models follow the checkpoints ([`crate::upscale::discover`]).

use crate::api;
use crate::client::Client;
use crate::guidance;
use crate::settings::{MAX_SIDE, MIN_SIDE, SIZE_MULTIPLE, Settings, TOKEN_SECRET};
use crate::types::{
    Features, Host, Level, Lifecycle, ModelInfo, Operation, PromptStyle, ProviderError, ProviderInfo, SecretNeed,
};
use crate::upscale;
use crate::workflow::{Kind, Template};

/// Model id used when a custom workflow loads its own model (no
/// `{{checkpoint}}`) and the server lists no checkpoints.
pub const WORKFLOW_MODEL: &str = "workflow";

pub fn describe(host: &dyn Host) -> Result<ProviderInfo, ProviderError> {
    let settings = Settings::load(host).map_err(as_unavailable)?;
    let txt2img = Template::load(Kind::Txt2Img, settings.workflow_txt2img.as_deref()).map_err(as_unavailable)?;
    let img2img = Template::load(Kind::Img2Img, settings.workflow_img2img.as_deref()).map_err(as_unavailable)?;
    let client = Client::new(host, &settings.base);

    let mut checkpoints = checkpoints(&client)?;
    checkpoints.dedup();
    let samplers = ksampler_options(&client);

    // Edit stays advertised even when the img2img template cannot take an
    // image: submit then refuses with what to fix, which the host's generic
    // "cannot edit" would hide.
    let operations = vec![Operation::Generate, Operation::Edit];
    if let Err(problem) = img2img.check(&[("prompt", "prompt"), ("image", "images")]) {
        host.log(Level::Warn, &format!("comfyui: edits will fail: {problem}"));
    }
    let features = Features {
        negative_prompt: txt2img.has("negative_prompt"),
        seed: txt2img.has("seed"),
        steps: txt2img.has("steps"),
        guidance: txt2img.has("cfg"),
        strength: img2img.has("denoise"),
        mask: false,
        custom_size: txt2img.has("width") && txt2img.has("height"),
    };
    let max_images = if txt2img.has("batch_size") { settings.max_images } else { 1 };

    let ids: Vec<String> = if checkpoints.is_empty() {
        if txt2img.has("checkpoint") {
            return Err(ProviderError::Unavailable(format!(
                "ComfyUI at {} lists no checkpoints: put a model file (.safetensors) into ComfyUI/models/checkpoints and restart ComfyUI",
                settings.base
            )));
        }
        vec![WORKFLOW_MODEL.to_string()]
    } else {
        checkpoints.clone()
    };
    let offer = guidance::Offer::discover(&client);
    let parameters = offer.parameters();
    let notes = prompt_notes(&settings, samplers, &offer);
    let mut models: Vec<ModelInfo> = ids
        .iter()
        .map(|id| {
            let stem = stem(id);
            let unique_stem = stem != id
                && ids.iter().filter(|other| self::stem(other) == stem).count() == 1
                && !ids.iter().any(|o| o == stem);
            ModelInfo {
                id: id.clone(),
                display_name: if id == WORKFLOW_MODEL { "Operator workflow".into() } else { stem.to_string() },
                aliases: if unique_stem { vec![stem.to_string()] } else { vec![] },
                operations: operations.clone(),
                aspect_ratios: vec![],
                size_tiers: vec![],
                sizes: vec![],
                min_side: MIN_SIDE,
                max_side: MAX_SIDE,
                size_multiple: SIZE_MULTIPLE,
                default_size: settings.default_size_for(id),
                max_images,
                max_input_images: 1,
                features,
                output_formats: vec!["image/png".into()],
                lifecycle: Lifecycle::Current,
                replacement: None,
                price_per_image_usd: Some(0.0),
                parameters: parameters.clone(),
                prompt_style: PromptStyle::WeightedTags,
                prompt_notes: Some(notes.clone()),
            }
        })
        .collect();
    models.extend(upscale::models(&upscale::discover(&client), &ids));

    let default_model = match &settings.default_checkpoint {
        Some(wanted) if ids.iter().any(|id| id == wanted) => wanted.clone(),
        Some(wanted) => {
            host.log(
                Level::Warn,
                &format!("comfyui: default_checkpoint `{wanted}` is not on the server; using `{}`", ids[0]),
            );
            ids[0].clone()
        }
        None => ids[0].clone(),
    };
    Ok(ProviderInfo {
        id: "comfyui".into(),
        display_name: "ComfyUI".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!(
            "A local ComfyUI server at {} running API-format workflows (txt2img, img2img) on its checkpoints, and upscaling with its upscale models.",
            settings.base
        ),
        models,
        default_model,
        secrets: vec![SecretNeed {
            name: TOKEN_SECRET.into(),
            description: "Optional bearer token for a proxy in front of ComfyUI; core ComfyUI has no authentication."
                .into(),
            required: false,
        }],
        hosts: vec![easel_plugin_kit::urls::origin_of(&settings.base)],
    })
}

/// Checkpoint file names; an unreachable server is `unavailable`.
fn checkpoints(client: &Client<'_>) -> Result<Vec<String>, ProviderError> {
    let response = client.get("/object_info/CheckpointLoaderSimple")?;
    let listed = (response.status == 200)
        .then(|| api::parse_combo(&response.body, "CheckpointLoaderSimple", "ckpt_name"))
        .flatten();
    if let Some(list) = listed.filter(|l| !l.is_empty()) {
        return Ok(list);
    }
    let fallback = client.get("/models/checkpoints")?;
    if let Some(list) = (fallback.status == 200).then(|| api::parse_name_list(&fallback.body)).flatten() {
        return Ok(list);
    }
    if response.status == 200 {
        // The node exists but lists nothing: an empty models/checkpoints folder.
        return Ok(Vec::new());
    }
    Err(client.ok("GET /object_info/CheckpointLoaderSimple", response).err().unwrap_or_else(|| {
        ProviderError::upstream(0, format!("{} does not answer like a ComfyUI server", client.base))
    }))
}

/// `(samplers, schedulers)` from KSampler's combo inputs; `None` if unavailable.
fn ksampler_options(client: &Client<'_>) -> Option<(Vec<String>, Vec<String>)> {
    let response = client.get("/object_info/KSampler").ok().filter(|r| r.status == 200)?;
    let samplers = api::parse_combo(&response.body, "KSampler", "sampler_name")?;
    let schedulers = api::parse_combo(&response.body, "KSampler", "scheduler").unwrap_or_default();
    Some((samplers, schedulers))
}

fn prompt_notes(settings: &Settings, options: Option<(Vec<String>, Vec<String>)>, offer: &guidance::Offer) -> String {
    let mut notes = String::from(
        "Stable Diffusion-style checkpoint: describe the picture as comma-separated keywords or a short sentence (subject, style, lighting); use negative_prompt for what to avoid. ",
    );
    notes.push_str(&format!(
        "Sampler `{}`, scheduler `{}` (config `sampler`/`scheduler`, or per request extra {{\"sampler\": …, \"scheduler\": …}}).",
        settings.sampler, settings.scheduler
    ));
    if let Some((samplers, schedulers)) = options {
        notes.push_str(&format!(" Samplers on this server: {}.", samplers.join(", ")));
        if !schedulers.is_empty() {
            notes.push_str(&format!(" Schedulers: {}.", schedulers.join(", ")));
        }
    }
    if !offer.controlnets.is_empty() {
        notes.push_str(&format!(
            " ControlNet: give a control image (role `control`) with control_type {} and optional control_weight 0–2; canny takes a plain image, the others the map itself.",
            offer.kinds().join("/")
        ));
    }
    if let Some(first) = offer.loras.first() {
        notes.push_str(&format!(
            " LoRA: params.loras = [{{\"name\": \"{first}\", \"weight\": 0.8}}] ({} on this server).",
            offer.loras.len()
        ));
    }
    notes
}

/// `sub/name.safetensors` → `name`.
pub(crate) fn stem(id: &str) -> &str {
    let file = id.rsplit(['/', '\\']).next().unwrap_or(id);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 12 => stem,
        _ => file,
    }
}

/// In `describe`, a bad config makes the provider unavailable (with why).
fn as_unavailable(error: ProviderError) -> ProviderError {
    match error {
        ProviderError::InvalidRequest { message, .. } => ProviderError::Unavailable(message),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::new_mock;
    use crate::types::EgressError;
    use serde_json::json;

    fn object_info(class: &str, input: &str, options: &[&str]) -> serde_json::Value {
        json!({class: {"input": {"required": {input: [options, {}]}}, "name": class}})
    }

    #[test]
    fn stems() {
        assert_eq!(stem("sd_xl_base_1.0.safetensors"), "sd_xl_base_1.0");
        assert_eq!(stem("SDXL/juggernaut.ckpt"), "juggernaut");
        assert_eq!(stem("plain"), "plain");
    }

    #[test]
    fn models_are_the_checkpoints_with_samplers_in_the_notes() {
        let mut mock = new_mock();
        mock.config.insert("default_checkpoint".into(), "sd_xl_base_1.0.safetensors".into());
        mock.route_json(
            "GET",
            "/object_info/CheckpointLoaderSimple",
            200,
            object_info(
                "CheckpointLoaderSimple",
                "ckpt_name",
                &["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"],
            ),
        );
        mock.route_json(
            "GET",
            "/object_info/KSampler",
            200,
            json!({"KSampler": {"input": {"required": {
            "sampler_name": [["euler", "dpmpp_2m"], {}], "scheduler": [["normal", "karras"], {}]}}}}),
        );
        mock.route_json(
            "GET",
            "/object_info/UpscaleModelLoader",
            200,
            json!({"UpscaleModelLoader": {"input": {"required": {"model_name": ["COMBO", {"options": ["4x.pth"]}]}}}}),
        );
        let controlnets = ["control_v11p_sd15_canny.pth", "control_v11p_sd15_lineart.pth"];
        mock.route_json(
            "GET",
            "/object_info/ControlNetLoader",
            200,
            object_info("ControlNetLoader", "control_net_name", &controlnets),
        );
        mock.route_json(
            "GET",
            "/object_info/LoraLoader",
            200,
            object_info("LoraLoader", "lora_name", &["detail.safetensors"]),
        );
        let info = describe(&mock).unwrap();
        let ids: Vec<_> = info.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors", "upscaler:4x.pth", "upscaler:lanczos"],
            "the checkpoints come first, the upscalers after them"
        );
        assert_eq!(info.default_model, "sd_xl_base_1.0.safetensors");
        assert_eq!(info.hosts, ["http://127.0.0.1:8188"]);
        let (sd15, sdxl) = (&info.models[0], &info.models[1]);
        assert_eq!(sd15.aliases, ["v1-5-pruned-emaonly"]);
        assert_eq!((sd15.default_size.width, sdxl.default_size.width), (512, 1024));
        assert_eq!((sd15.size_multiple, sd15.min_side, sd15.max_side, sd15.max_images), (8, 64, 4096, 8));
        assert_eq!(sd15.operations, [Operation::Generate, Operation::Edit]);
        let f = sd15.features;
        assert!(f.seed && f.steps && f.guidance && f.negative_prompt && f.strength && f.custom_size && !f.mask);
        assert_eq!(sd15.price_per_image_usd, Some(0.0));
        let notes = sd15.prompt_notes.as_deref().unwrap();
        assert!(notes.contains("dpmpp_2m") && notes.contains("karras"), "{notes}");
        assert!(notes.contains("control_type canny") && notes.contains("detail.safetensors"), "{notes}");
        let params = sd15.parameters.as_ref().unwrap();
        assert_eq!(params["properties"]["control_type"]["enum"], json!(["canny"]));
        assert_eq!(params["properties"]["loras"]["items"]["properties"]["name"]["enum"], json!(["detail.safetensors"]));
        assert!(
            info.models[2].parameters.as_ref().is_none_or(|p| p["properties"].get("loras").is_none()),
            "upscalers take no LoRAs"
        );
    }

    #[test]
    fn falls_back_to_models_checkpoints() {
        let mock = new_mock();
        mock.route_json("GET", "/object_info/CheckpointLoaderSimple", 200, json!({}));
        mock.route_json("GET", "/models/checkpoints", 200, json!(["only.safetensors"]));
        mock.route_json("GET", "/object_info/KSampler", 200, json!({}));
        mock.route_json("GET", "/object_info/UpscaleModelLoader", 200, json!({}));
        mock.route_json("GET", "/object_info/ControlNetLoader", 404, json!({}));
        mock.route_json("GET", "/object_info/LoraLoader", 200, json!({}));
        let info = describe(&mock).unwrap();
        assert_eq!(info.default_model, "only.safetensors");
        assert_eq!(info.models[0].parameters, None, "no ControlNet or LoRA nodes: nothing declared");
    }

    #[test]
    fn no_checkpoints_is_unavailable_with_what_to_do() {
        let mock = new_mock();
        mock.route_json(
            "GET",
            "/object_info/CheckpointLoaderSimple",
            200,
            object_info("CheckpointLoaderSimple", "ckpt_name", &[]),
        );
        mock.route_json("GET", "/models/checkpoints", 200, json!([]));
        mock.route_json("GET", "/object_info/KSampler", 200, json!({}));
        let err = describe(&mock).unwrap_err();
        assert!(matches!(&err, ProviderError::Unavailable(m) if m.contains("models/checkpoints")), "{err:?}");
    }

    #[test]
    fn down_is_unavailable_and_bad_config_too() {
        let mock = new_mock();
        mock.route("GET", "/", vec![Err(EgressError::Connection("refused".into()))]);
        let err = describe(&mock).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Unavailable(m) if m.contains("start it with `python main.py` (")),
            "{err:?}"
        );
        let mut mock = new_mock();
        mock.config.insert("workflow_txt2img".into(), "{oops".into());
        let err = describe(&mock).unwrap_err();
        assert!(matches!(&err, ProviderError::Unavailable(m) if m.contains("workflow_txt2img")), "{err:?}");
    }
}
