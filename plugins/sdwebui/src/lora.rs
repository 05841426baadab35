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

pub use easel_plugin_kit::guidance::Lora;

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

/// Take `params.loras` out of the request's params
/// ([`easel_plugin_kit::guidance::take_loras`]), refusing names that
/// `<lora:NAME:WEIGHT>` cannot carry.
pub fn take(params: &mut Map<String, Value>) -> Result<Vec<Lora>, ProviderError> {
    easel_plugin_kit::guidance::take_loras(params, |name| {
        if usable(name) { Ok(()) } else { Err("cannot be written as <lora:NAME:WEIGHT> (it holds <, > or :)".into()) }
    })
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
    let rounded = easel_plugin_kit::guidance::short_weight(weight);
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
        let mut colon = json!({"loras": [{"name": "a:b"}]}).as_object().unwrap().clone();
        let message = easel_plugin_kit::testing::expect_invalid(take(&mut colon), "params.loras[0].name");
        assert!(message.contains("<lora:NAME:WEIGHT>"), "{message}");
    }
}
