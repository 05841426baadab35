//! ControlNet and LoRA requests, shared by the plugins of local Stable
//! Diffusion servers (SD WebUI, ComfyUI): the caller's `params.control_type`
//! / `params.control_weight` for control images (role `control`) and
//! `params.loras`, read and checked the same way everywhere, and the
//! `parameters` schema properties that declare them (docs/wit-reference.md:
//! a model takes control images only when its schema has a `control_type`
//! enum). What a server does with them stays in its plugin.

use crate::types::{ProviderError, Request, Role};
use serde_json::{Map, Value, json};

/// Easel's control types, in the order they are declared.
pub const CONTROL_KINDS: [&str; 4] = ["canny", "depth", "pose", "scribble"];

/// `control_weight` when the request gives none (ControlNet strength 1).
pub const DEFAULT_CONTROL_WEIGHT: f64 = 1.0;
/// The largest `control_weight` offered (A1111's slider goes 0..=2; beyond
/// it, results break up on every SD ControlNet).
pub const MAX_CONTROL_WEIGHT: f64 = 2.0;

/// The most LoRAs one request may name.
pub const MAX_LORAS: usize = 8;
/// The weight range offered (neither server bounds it usefully; beyond ±4
/// results are noise).
pub const MAX_LORA_WEIGHT: f64 = 4.0;

/// What a request asks of ControlNet: `params.control_type` (as given) and
/// `params.control_weight` (default 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub kind: String,
    pub weight: f64,
}

/// Take `control_type` and `control_weight` out of the request's params.
/// `Some` when the request has control images (role `control`).
///
/// Errors (`invalid-request`): a control image without `control_type`, or
/// `control_type`/`control_weight` without a control image
/// (`params.control_type` / `params.control_weight`); a `control_type`
/// that is not a string; a weight that is not a number in 0..=2.
pub fn take_control(params: &mut Map<String, Value>, request: &Request) -> Result<Option<Control>, ProviderError> {
    let kind = params.remove("control_type");
    let weight = params.remove("control_weight");
    let has_control = request.images.iter().any(|i| i.role == Role::Control);
    if !has_control {
        return match (kind, weight) {
            (None, None) => Ok(None),
            (Some(_), _) => Err(ProviderError::invalid(
                Some("params.control_type"),
                "applies to control images: give an image with role `control` (a ControlNet guide), or leave control_type out",
            )),
            (None, Some(_)) => Err(ProviderError::invalid(
                Some("params.control_weight"),
                "applies to control images: give an image with role `control` and a control_type",
            )),
        };
    }
    let kind = match kind {
        Some(Value::String(k)) if !k.trim().is_empty() => k.trim().to_ascii_lowercase(),
        None | Some(Value::Null) => {
            return Err(ProviderError::invalid(
                Some("params.control_type"),
                format!("a control image (role `control`) needs a control_type: one of {}", CONTROL_KINDS.join(", ")),
            ));
        }
        Some(other) => {
            return Err(ProviderError::invalid(
                Some("params.control_type"),
                format!("must be one of {} (got {other})", CONTROL_KINDS.join(", ")),
            ));
        }
    };
    let weight = match weight {
        None | Some(Value::Null) => DEFAULT_CONTROL_WEIGHT,
        Some(value) => match value.as_f64() {
            Some(w) if (0.0..=MAX_CONTROL_WEIGHT).contains(&w) => w,
            _ => {
                return Err(ProviderError::invalid(
                    Some("params.control_weight"),
                    format!("must be a number from 0 to 2 (got {value})"),
                ));
            }
        },
    };
    Ok(Some(Control { kind, weight }))
}

/// One LoRA to apply: its name as the server lists it, and its multiplier.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    pub name: String,
    pub weight: f64,
}

/// Take `loras` (`[{"name": "<lora name>", "weight": <number, default 1>}]`)
/// out of the request's params.
///
/// Errors (`invalid-request`): not a list of at most [`MAX_LORAS`] objects
/// (`params.loras`, `params.loras[i]`); a name that is missing, not a
/// string, empty, or refused by the server's own `rule` (which says why,
/// e.g. "holds `:`, which <lora:NAME:WEIGHT> cannot carry";
/// `params.loras[i].name`); a weight that is not a number in
/// ±[`MAX_LORA_WEIGHT`] (`params.loras[i].weight`).
pub fn take_loras(
    params: &mut Map<String, Value>,
    rule: fn(&str) -> Result<(), String>,
) -> Result<Vec<Lora>, ProviderError> {
    let list = match params.remove("loras") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(list)) if list.len() <= MAX_LORAS => list,
        Some(_) => {
            return Err(ProviderError::invalid(
                Some("params.loras"),
                format!("must be a list of at most {MAX_LORAS} {{\"name\", \"weight\"}} objects"),
            ));
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |member: &str| format!("params.loras[{i}]{member}");
            let Some(item) = item.as_object() else {
                return Err(ProviderError::invalid(Some(&at("")), "must be an object {\"name\", \"weight\"}"));
            };
            let name = match item.get("name") {
                Some(Value::String(name)) if !name.trim().is_empty() => {
                    rule(name.trim())
                        .map_err(|why| ProviderError::invalid(Some(&at(".name")), format!("`{name}` {why}")))?;
                    name.trim().to_string()
                }
                _ => {
                    return Err(ProviderError::invalid(
                        Some(&at(".name")),
                        "give the LoRA's name (list_models lists them)",
                    ));
                }
            };
            let weight = match item.get("weight") {
                None | Some(Value::Null) => 1.0,
                Some(value) => match value.as_f64() {
                    Some(w) if w.abs() <= MAX_LORA_WEIGHT => w,
                    _ => {
                        return Err(ProviderError::invalid(
                            Some(&at(".weight")),
                            format!("must be a number from -{MAX_LORA_WEIGHT} to {MAX_LORA_WEIGHT} (got {value})"),
                        ));
                    }
                },
            };
            Ok(Lora { name, weight })
        })
        .collect()
}

/// The `parameters` schema properties for what a server offers:
/// `control_type` (an enum of `kinds`) and `control_weight` (0..=2) when
/// `kinds` is not empty; `loras` (up to [`MAX_LORAS`] `{"name": <enum of
/// loras>, "weight": ±4}`) when `loras` is not empty. `control_note` says
/// what the server does with a control image, `lora_note` how a LoRA is
/// applied and `lora_source` where the names come from; all three become
/// descriptions a model reads.
pub fn properties(
    kinds: &[&str],
    control_note: &str,
    loras: &[String],
    lora_note: &str,
    lora_source: &str,
) -> Map<String, Value> {
    let mut properties = Map::new();
    if !kinds.is_empty() {
        properties.insert(
            "control_type".into(),
            json!({"type": "string", "enum": kinds,
                   "description": format!("ControlNet guide kind of the request's control image(s) (role `control`): {control_note}")}),
        );
        properties.insert(
            "control_weight".into(),
            json!({"type": "number", "minimum": 0, "maximum": MAX_CONTROL_WEIGHT as i64, "default": DEFAULT_CONTROL_WEIGHT as i64,
                   "description": "How strongly the control image steers the result (ControlNet strength), default 1"}),
        );
    }
    if !loras.is_empty() {
        properties.insert(
            "loras".into(),
            json!({"type": "array", "maxItems": MAX_LORAS,
                   "description": format!("LoRAs to apply, {lora_note}"),
                   "items": {"type": "object",
                             "properties": {"name": {"enum": loras, "description": format!("A LoRA the server lists ({lora_source})")},
                                            "weight": {"type": "number", "minimum": -(MAX_LORA_WEIGHT as i64), "maximum": MAX_LORA_WEIGHT as i64,
                                                       "description": "Multiplier, default 1"}},
                             "required": ["name"], "additionalProperties": false}}),
        );
    }
    properties
}

/// A weight written shortly: `1`, `0.8`, `-0.25` (at most 3 decimals).
pub fn short_weight(weight: f64) -> f64 {
    (weight * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_control(extra: Value) -> (Map<String, Value>, Request) {
        let mut r = Request::text("m", "x");
        r.images = vec![crate::testing::control_image()];
        (extra.as_object().unwrap().clone(), r)
    }

    #[test]
    fn take_reads_type_and_weight_and_names_what_is_wrong() {
        let (mut p, r) = with_control(json!({"control_type": "Canny", "control_weight": 0.5, "steps_x": 1}));
        assert_eq!(take_control(&mut p, &r).unwrap(), Some(Control { kind: "canny".into(), weight: 0.5 }));
        assert_eq!(Value::Object(p), json!({"steps_x": 1}), "the plugin's keys are taken out");
        let (mut p, r) = with_control(json!({"control_type": "depth"}));
        assert_eq!(take_control(&mut p, &r).unwrap().unwrap().weight, 1.0);
        let field = |extra: Value, control: bool| {
            let (mut p, mut r) = with_control(extra);
            if !control {
                r.images.clear();
            }
            match take_control(&mut p, &r) {
                Err(ProviderError::InvalidRequest { field: Some(f), .. }) => f,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(field(json!({}), true), "params.control_type");
        assert_eq!(field(json!({"control_type": 3}), true), "params.control_type");
        assert_eq!(field(json!({"control_type": "canny", "control_weight": 2.5}), true), "params.control_weight");
        assert_eq!(field(json!({"control_type": "canny", "control_weight": "1"}), true), "params.control_weight");
        assert_eq!(field(json!({"control_type": "canny"}), false), "params.control_type");
        assert_eq!(field(json!({"control_weight": 1}), false), "params.control_weight");
        let (mut p, mut r) = with_control(json!({"other": 1}));
        r.images.clear();
        assert_eq!(take_control(&mut p, &r).unwrap(), None);
    }

    fn no_colon(name: &str) -> Result<(), String> {
        if name.contains(':') { Err("holds `:`".into()) } else { Ok(()) }
    }

    #[test]
    fn bad_loras_name_their_field() {
        let nine: Vec<Value> = (0..9).map(|_| json!({"name": "a"})).collect();
        for (loras, field) in [
            (json!({"name": "a"}), "params.loras"),
            (Value::Array(nine), "params.loras"),
            (json!(["a"]), "params.loras[0]"),
            (json!([{"name": "a"}, {"name": "<lora:x:1>"}]), "params.loras[1].name"),
            (json!([{"name": " "}]), "params.loras[0].name"),
            (json!([{"name": "a:b"}]), "params.loras[0].name"),
            (json!([{"weight": 1}]), "params.loras[0].name"),
            (json!([{"name": "a", "weight": "1"}]), "params.loras[0].weight"),
            (json!([{"name": "a", "weight": 5}]), "params.loras[0].weight"),
        ] {
            let mut p = Map::new();
            p.insert("loras".into(), loras);
            crate::testing::expect_invalid(take_loras(&mut p, no_colon), field);
        }
    }
    #[test]
    fn properties_declare_only_what_the_server_has() {
        let both = properties(&["canny", "pose"], "as given", &["add_detail".into()], "as tags", "GET /loras");
        assert_eq!(both["control_type"]["enum"], json!(["canny", "pose"]));
        assert_eq!(
            (both["control_weight"]["minimum"].as_f64(), both["control_weight"]["maximum"].as_f64()),
            (Some(0.0), Some(2.0))
        );
        assert_eq!(both["loras"]["items"]["properties"]["name"]["enum"], json!(["add_detail"]));
        assert!(both["control_type"]["description"].as_str().unwrap().ends_with("as given"));
        assert!(properties(&[], "", &[], "", "").is_empty());
        assert_eq!(properties(&[], "", &["a".into()], "x", "y").keys().collect::<Vec<_>>(), ["loras"]);
    }
}
