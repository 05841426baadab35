//! ControlNet guidance through the sd-webui-controlnet extension
//! (docs/providers/sdwebui.md#controlnet-and-lora): which of Easel's control
//! types the server can run (`GET /controlnet/control_types`), the caller's
//! `control_type` / `control_weight` params, and the extension's units added
//! to the txt2img/img2img body under `alwayson_scripts.controlnet.args`.
//!
//! Sources (primary): Mikubill/sd-webui-controlnet `scripts/api.py` (the
//! `/controlnet/control_types` route), `scripts/global_state.py`
//! (`select_control_type`: every type's `model_list` starts with `"None"`,
//! and `default_model` is `"None"` when no model matches the type) and
//! `scripts/external_code.py` (`ControlNetUnit`'s fields).

use crate::flow::{QUICK_TIMEOUT_MS, Settings};
use crate::response;
use crate::types::{Host, InputImage, ProviderError, Role};
use easel_plugin_kit::codec::b64;
use serde_json::{Map, Value, json};

/// The extension's route listing its control types.
pub const ROUTE: &str = "/controlnet/control_types";

pub use easel_plugin_kit::guidance::{CONTROL_KINDS as KINDS, Control as Wanted, take_control as take};

/// Whether the extension's tag `tag` is Easel's `kind`: canny → `Canny`,
/// depth → `Depth`, pose → `OpenPose`, scribble → a tag starting with
/// `Scribble` (`Scribble/Sketch` in current builds, `Scribble` in older
/// ones); case-insensitive.
pub fn tag_is(kind: &str, tag: &str) -> bool {
    let tag = tag.to_ascii_lowercase();
    match kind {
        "canny" => tag == "canny",
        "depth" => tag == "depth",
        "pose" => tag == "openpose",
        "scribble" => tag.starts_with("scribble"),
        _ => false,
    }
}

/// One control type the server can run: Easel's name, the extension's tag,
/// and the preprocessor (`default_option`) and model (`default_model`, e.g.
/// `control_v11p_sd15_canny [d14c016b]`) a unit of that type uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlType {
    pub kind: &'static str,
    pub tag: String,
    pub module: String,
    pub model: String,
}

/// The types offered by a `/controlnet/control_types` answer,
/// `{"control_types": {"Canny": {"module_list": [...], "model_list":
/// ["None", "control_v11p_sd15_canny [d14c016b]"], "default_option":
/// "canny", "default_model": "control_v11p_sd15_canny [d14c016b]"}, ...}}`:
/// a type is offered when its `default_model` is a model (not `"None"`), or
/// else when its `model_list` has one (the first is used). In [`KINDS`] order.
pub fn offered(answer: &Value) -> Vec<ControlType> {
    let Some(types) = answer.get("control_types").and_then(Value::as_object) else { return vec![] };
    let is_model = |m: &&str| !m.trim().is_empty() && !m.trim().eq_ignore_ascii_case("none");
    KINDS
        .iter()
        .filter_map(|kind| {
            types.iter().filter(|(tag, _)| tag_is(kind, tag)).find_map(|(tag, entry)| {
                let listed = || {
                    entry.get("model_list").and_then(Value::as_array)?.iter().filter_map(Value::as_str).find(is_model)
                };
                let model = entry.get("default_model").and_then(Value::as_str).filter(is_model).or_else(listed)?;
                let module = entry.get("default_option").and_then(Value::as_str).filter(|m| !m.trim().is_empty());
                Some(ControlType {
                    kind,
                    tag: tag.clone(),
                    module: module.unwrap_or("none").to_string(),
                    model: model.to_string(),
                })
            })
        })
        .collect()
}

/// The server's control types, for a submit with a control image (a
/// fresh instance: nothing is kept from `describe`).
///
/// Errors: the extension missing (404) is `invalid-request` on `images`,
/// saying to install sd-webui-controlnet; other failures as every call's.
pub fn fetch(host: &dyn Host, s: &Settings) -> Result<Vec<ControlType>, ProviderError> {
    let answer = s.send(host, "GET", ROUTE, None, QUICK_TIMEOUT_MS)?;
    if answer.status == 404 {
        return Err(ProviderError::invalid(
            Some("images"),
            format!(
                "SD WebUI at {} has no ControlNet (GET {ROUTE} is 404): install the sd-webui-controlnet extension (https://github.com/Mikubill/sd-webui-controlnet) and put ControlNet models in models/ControlNet to use control images",
                s.base
            ),
        ));
    }
    if !answer.is_success() {
        return Err(response::classify(&answer, &s.base, s.auth));
    }
    let body = answer.json().ok_or_else(|| crate::flow::not_json(&answer, ROUTE))?;
    Ok(offered(&body))
}

/// The server's type for what the request wants.
///
/// Errors (`invalid-request` on `params.control_type`): a type Easel does
/// not know, or one the server has no ControlNet model for; both say
/// which types it has and that models go in models/ControlNet.
pub fn pick<'a>(offered: &'a [ControlType], wanted: &Wanted, base: &str) -> Result<&'a ControlType, ProviderError> {
    if let Some(found) = offered.iter().find(|t| t.kind == wanted.kind) {
        return Ok(found);
    }
    let has = if offered.is_empty() {
        "it has no ControlNet models".to_string()
    } else {
        format!("it has models for: {}", offered.iter().map(|t| t.kind).collect::<Vec<_>>().join(", "))
    };
    let message = if KINDS.contains(&wanted.kind.as_str()) {
        format!(
            "SD WebUI at {base} has no ControlNet model for `{}`; {has}. Put a {} model in models/ControlNet (and refresh the extension's model list) to use it",
            wanted.kind, wanted.kind
        )
    } else {
        format!(
            "`{}` is not a control type (Easel's are {}); SD WebUI at {base}: {has} (models go in models/ControlNet)",
            wanted.kind,
            KINDS.join(", ")
        )
    };
    Err(ProviderError::invalid(Some("params.control_type"), message))
}

/// One `ControlNetUnit` per control image of the request: `enabled`,
/// `image` (base64, no `data:` prefix), `module` and `model` from `kind`,
/// `weight`, `pixel_perfect` (the preprocessor's resolution follows the
/// output size), `resize_mode` `"Crop and Resize"` and `control_mode`
/// `"Balanced"`.
pub fn units(images: &[InputImage], kind: &ControlType, weight: f64) -> Vec<Value> {
    images
        .iter()
        .filter(|i| i.role == Role::Control)
        .map(|image| {
            json!({
                "enabled": true,
                "image": b64(&image.data),
                "module": kind.module,
                "model": kind.model,
                "weight": easel_plugin_kit::guidance::short_weight(weight),
                "pixel_perfect": true,
                "resize_mode": "Crop and Resize",
                "control_mode": "Balanced",
            })
        })
        .collect()
}

/// Put `units` first in the body's `alwayson_scripts.controlnet.args`,
/// keeping every other script and any units already given (the operator's
/// or the caller's; A1111 matches script names case-insensitively, so an
/// existing `ControlNet` entry is the one extended).
///
/// Errors: `alwayson_scripts`, its ControlNet entry or that entry's `args`
/// of the wrong JSON type (`invalid-request` naming it under `params.`).
pub fn attach(body: &mut Map<String, Value>, units: Vec<Value>) -> Result<(), ProviderError> {
    let scripts = body.entry("alwayson_scripts").or_insert_with(|| json!({}));
    let Value::Object(scripts) = scripts else {
        return Err(ProviderError::invalid(
            Some("params.alwayson_scripts"),
            "must be an object of script name → {\"args\": [...]}",
        ));
    };
    let key = scripts.keys().find(|k| k.eq_ignore_ascii_case("controlnet")).cloned().unwrap_or("controlnet".into());
    let entry = scripts.entry(key.clone()).or_insert_with(|| json!({}));
    let Value::Object(entry) = entry else {
        return Err(ProviderError::invalid(
            Some(&format!("params.alwayson_scripts.{key}")),
            "must be {\"args\": [...]}",
        ));
    };
    let existing = match entry.remove("args") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ProviderError::invalid(
                Some(&format!("params.alwayson_scripts.{key}.args")),
                "must be a list of ControlNet units",
            ));
        }
    };
    let mut args = units;
    args.extend(existing);
    entry.insert("args".into(), Value::Array(args));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Request;

    /// A `/controlnet/control_types` answer shaped like the extension's
    /// (global_state.select_control_type): "None" first in every model list.
    fn answer() -> Value {
        json!({"control_types": {
            "All": {"module_list": ["none", "canny"], "model_list": ["None", "control_v11p_sd15_canny [d14c016b]"],
                    "default_option": "none", "default_model": "None"},
            "Canny": {"module_list": ["none", "canny", "invert (from white bg & black line)"],
                      "model_list": ["None", "control_v11p_sd15_canny [d14c016b]"],
                      "default_option": "canny", "default_model": "control_v11p_sd15_canny [d14c016b]"},
            "Depth": {"module_list": ["none", "depth_midas", "depth_zoe"], "model_list": ["None", "control_v11f1p_sd15_depth [cfd03158]"],
                      "default_option": "depth_midas", "default_model": "None"},
            "OpenPose": {"module_list": ["none", "openpose_full"], "model_list": ["None"],
                         "default_option": "openpose_full", "default_model": "None"},
            "Scribble/Sketch": {"module_list": ["none", "scribble_pidinet"], "model_list": ["None", "control_v11p_sd15_scribble [d4ba51ff]"],
                                "default_option": "scribble_pidinet", "default_model": "control_v11p_sd15_scribble [d4ba51ff]"}
        }})
    }

    #[test]
    fn types_with_a_model_are_offered_in_easel_order() {
        let types = offered(&answer());
        assert_eq!(
            types.iter().map(|t| t.kind).collect::<Vec<_>>(),
            ["canny", "depth", "scribble"],
            "OpenPose has no model"
        );
        assert_eq!(
            types[0],
            ControlType {
                kind: "canny",
                tag: "Canny".into(),
                module: "canny".into(),
                model: "control_v11p_sd15_canny [d14c016b]".into()
            }
        );
        assert_eq!(
            types[1].model, "control_v11f1p_sd15_depth [cfd03158]",
            "default_model None, but model_list has one"
        );
        assert_eq!((types[2].tag.as_str(), types[2].module.as_str()), ("Scribble/Sketch", "scribble_pidinet"));
        let old = json!({"control_types": {"scribble": {"model_list": ["None", "s [1]"], "default_model": "s [1]"}}});
        assert_eq!(offered(&old)[0].module, "none", "an older tag spelling; no default_option");
        assert!(offered(&json!({"detail": "Not Found"})).is_empty());
        assert!(tag_is("pose", "OpenPose") && !tag_is("pose", "Openpose_face") && !tag_is("canny", "All"));
    }

    #[test]
    fn pick_names_the_types_the_server_has() {
        let types = offered(&answer());
        let want = |kind: &str| Wanted { kind: kind.into(), weight: 1.0 };
        assert_eq!(pick(&types, &want("depth"), "http://h").unwrap().tag, "Depth");
        for kind in ["pose", "lineart"] {
            let Err(ProviderError::InvalidRequest { field, message }) = pick(&types, &want(kind), "http://h") else {
                panic!()
            };
            assert_eq!(field.as_deref(), Some("params.control_type"));
            assert!(message.contains("canny, depth, scribble") && message.contains("models/ControlNet"), "{message}");
        }
        let Err(e) = pick(&[], &want("canny"), "http://h") else { panic!() };
        assert!(e.message().contains("no ControlNet models"), "{e:?}");
    }

    #[test]
    fn units_go_first_and_other_scripts_stay() {
        let mut r = Request::text("m", "x");
        r.images = vec![easel_plugin_kit::testing::control_image()];
        let kind = &offered(&answer())[0];
        let units = units(&r.images, kind, 0.75);
        assert_eq!(
            units,
            [
                json!({"enabled": true, "image": "iVBORw==", "module": "canny", "model": "control_v11p_sd15_canny [d14c016b]",
                    "weight": 0.75, "pixel_perfect": true, "resize_mode": "Crop and Resize", "control_mode": "Balanced"})
            ]
        );
        let mut body =
            json!({"alwayson_scripts": {"ADetailer": {"args": [true]}, "ControlNet": {"args": [{"enabled": false}]}}})
                .as_object()
                .unwrap()
                .clone();
        attach(&mut body, units.clone()).unwrap();
        assert_eq!(body["alwayson_scripts"]["ADetailer"], json!({"args": [true]}));
        assert_eq!(body["alwayson_scripts"]["ControlNet"]["args"], json!([units[0], {"enabled": false}]));
        assert!(body["alwayson_scripts"].get("controlnet").is_none(), "the existing entry, whatever its case");
        let mut empty = Map::new();
        attach(&mut empty, units.clone()).unwrap();
        assert_eq!(Value::Object(empty), json!({"alwayson_scripts": {"controlnet": {"args": [units[0]]}}}));
        for (bad, field) in [
            (json!({"alwayson_scripts": []}), "params.alwayson_scripts"),
            (json!({"alwayson_scripts": {"controlnet": 1}}), "params.alwayson_scripts.controlnet"),
            (json!({"alwayson_scripts": {"controlnet": {"args": {}}}}), "params.alwayson_scripts.controlnet.args"),
        ] {
            let mut body = bad.as_object().unwrap().clone();
            easel_plugin_kit::testing::expect_invalid(attach(&mut body, units.clone()), field);
        }
    }
}
