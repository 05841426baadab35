//! LoRA through A1111's built-in Lora extension
//! (docs/providers/sdwebui.md#controlnet-and-lora): the names the server
//! lists (`GET /sdapi/v1/loras`), the caller's `params.loras`, and the
//! `<lora:NAME:WEIGHT>` tags appended to the prompt.
//!
//! Sources (primary): AUTOMATIC1111/stable-diffusion-webui
//! `extensions-builtin/Lora/scripts/lora_script.py` (`api_networks`:
//! `[{"name", "alias", "path", "metadata"}]`; `re_lora` = `<lora:([^:]+):`,
//! so a name cannot hold `:`) and the extra-networks prompt syntax
//! `<lora:name:multiplier>` (`modules/extra_networks.py`).

use crate::types::ProviderError;
use serde_json::{Map, Value};

/// The Lora extension's listing route.
pub const ROUTE: &str = "/sdapi/v1/loras";

/// The most LoRAs one request may name.
pub const MAX_LORAS: usize = 8;
/// The weight range offered (the UI's "Lora" multiplier has no hard
/// bound; beyond ±4 results are noise).
pub const MAX_WEIGHT: f64 = 4.0;

/// One LoRA to apply: its `name` as `/sdapi/v1/loras` lists it and its multiplier.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    pub name: String,
    pub weight: f64,
}

/// Whether a name can be written inside `<lora:NAME:WEIGHT>`.
pub fn usable(name: &str) -> bool {
    !name.trim().is_empty() && !name.contains(['<', '>', ':'])
}

/// The usable `name`s of a `/sdapi/v1/loras` answer, in the server's order,
/// without duplicates (a fork answering something else lists none).
pub fn names(answer: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in answer.as_array().into_iter().flatten() {
        if let Some(name) = item.get("name").and_then(Value::as_str).filter(|n| usable(n))
            && !out.iter().any(|n| n == name)
        {
            out.push(name.to_string());
        }
    }
    out
}

/// Take `loras` (`[{"name": "<lora name>", "weight": <number, default 1>}]`)
/// out of the request's params.
///
/// Errors (`invalid-request`): not a list of at most [`MAX_LORAS`] objects
/// (`params.loras`, `params.loras[i]`); a name that is missing, not a
/// string, or holds `<`, `>` or `:` (`params.loras[i].name`); a weight
/// that is not a number in ±[`MAX_WEIGHT`] (`params.loras[i].weight`).
pub fn take(params: &mut Map<String, Value>) -> Result<Vec<Lora>, ProviderError> {
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
                Some(Value::String(name)) if usable(name) => name.trim().to_string(),
                Some(Value::String(name)) => {
                    return Err(ProviderError::invalid(
                        Some(&at(".name")),
                        format!("`{name}` cannot be written as <lora:NAME:WEIGHT> (empty, or holds <, > or :)"),
                    ));
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
                    Some(w) if w.abs() <= MAX_WEIGHT => w,
                    _ => {
                        return Err(ProviderError::invalid(
                            Some(&at(".weight")),
                            format!("must be a number from -{MAX_WEIGHT} to {MAX_WEIGHT} (got {value})"),
                        ));
                    }
                },
            };
            Ok(Lora { name, weight })
        })
        .collect()
}

/// `prompt` with ` <lora:NAME:WEIGHT>` appended for each LoRA, the weight
/// written shortly (`1`, `0.8`, `-0.25`; at most 3 decimals).
pub fn prompt_with(prompt: &str, loras: &[Lora]) -> String {
    let mut out = prompt.trim_end().to_string();
    for lora in loras {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("<lora:{}:{}>", lora.name, short(lora.weight)));
    }
    out
}

/// A weight as A1111 users write it: `1`, `0.8`, `0.125`.
fn short(weight: f64) -> String {
    let rounded = (weight * 1000.0).round() / 1000.0;
    if rounded == 0.0 { "0".into() } else { format!("{rounded}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_come_from_the_listing() {
        let answer = json!([
            {"name": "add_detail", "alias": "add_detail", "path": "/m/Lora/add_detail.safetensors", "metadata": {}},
            {"name": "pixel-art-xl", "alias": "pixelart", "path": "/m/Lora/pixel-art-xl.safetensors", "metadata": {"ss_network_dim": "64"}},
            {"name": "add_detail", "alias": "x", "path": "/m/Lora/sub/add_detail.pt", "metadata": {}},
            {"name": "bad:name", "alias": "", "path": "", "metadata": {}}
        ]);
        assert_eq!(names(&answer), ["add_detail", "pixel-art-xl"]);
        assert!(names(&json!({"detail": "Not Found"})).is_empty());
    }

    #[test]
    fn loras_become_prompt_tags() {
        let mut p = json!({"loras": [{"name": "add_detail", "weight": 0.8}, {"name": "pixel-art-xl"}], "steps_x": 1})
            .as_object()
            .unwrap()
            .clone();
        let loras = take(&mut p).unwrap();
        assert_eq!(Value::Object(p), json!({"steps_x": 1}));
        assert_eq!(prompt_with("a red fox ", &loras), "a red fox <lora:add_detail:0.8> <lora:pixel-art-xl:1>");
        assert_eq!(prompt_with("", &loras[1..]), "<lora:pixel-art-xl:1>");
        let odd = [Lora { name: "n".into(), weight: -0.25 }, Lora { name: "m".into(), weight: 0.70000001 }];
        assert_eq!(prompt_with("x", &odd), "x <lora:n:-0.25> <lora:m:0.7>");
        assert_eq!(prompt_with("x", &[]), "x");
    }

    #[test]
    fn bad_loras_name_their_field() {
        let nine: Vec<Value> = (0..9).map(|_| json!({"name": "a"})).collect();
        for (loras, field) in [
            (json!({"name": "a"}), "params.loras"),
            (Value::Array(nine), "params.loras"),
            (json!(["a"]), "params.loras[0]"),
            (json!([{"name": "a"}, {"name": "<lora:x:1>"}]), "params.loras[1].name"),
            (json!([{"name": "a:b"}]), "params.loras[0].name"),
            (json!([{"weight": 1}]), "params.loras[0].name"),
            (json!([{"name": "a", "weight": "1"}]), "params.loras[0].weight"),
            (json!([{"name": "a", "weight": 5}]), "params.loras[0].weight"),
        ] {
            let mut p = Map::new();
            p.insert("loras".into(), loras);
            easel_plugin_kit::testing::expect_invalid(take(&mut p), field);
        }
    }
}
