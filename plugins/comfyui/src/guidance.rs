//! ControlNet and LoRA in ComfyUI (docs/providers/comfyui.md#controlnet-and-lora):
//! which of Easel's control types the server has a ControlNet model for
//! (`GET /object_info/ControlNetLoader`, files matched by name), the LoRA
//! files it lists (`GET /object_info/LoraLoader`), and the nodes spliced
//! into a filled workflow graph: `LoraLoader`s chained after each
//! `CheckpointLoaderSimple`, and for each control image `LoadImage` (→
//! `Canny` for canny) → `ControlNetApplyAdvanced` in front of every
//! sampler's `positive`/`negative`.
//!
//! Sources (primary, ComfyUI `nodes.py`): `ControlNetLoader`
//! (`control_net_name` → `CONTROL_NET`), `ControlNetApplyAdvanced`
//! (`positive`, `negative`, `control_net`, `image`, `strength` 0..10,
//! `start_percent`, `end_percent` → `positive`, `negative`), `LoraLoader`
//! (`model`, `clip`, `lora_name`, `strength_model`, `strength_clip` →
//! `MODEL`, `CLIP`); `comfy_extras/nodes_canny.py` (`Canny`: `image`,
//! `low_threshold`, `high_threshold` → `IMAGE`).

use crate::api;
use crate::client::Client;
use crate::types::{ProviderError, Request};
use easel_plugin_kit::guidance::{self, CONTROL_KINDS, Control, Lora};
use serde_json::{Map, Value, json};

/// The ControlNet loader node and its file input.
pub const CONTROLNET_LOADER: &str = "ControlNetLoader";
/// The LoRA loader node and its file input.
pub const LORA_LOADER: &str = "LoraLoader";
/// Nodes whose `positive`/`negative` conditioning a ControlNet is put in front of.
pub const SAMPLERS: [&str; 2] = ["KSampler", "KSamplerAdvanced"];
/// Canny thresholds (the `Canny` node's defaults, 0.4 and 0.8).
const CANNY_THRESHOLDS: (f64, f64) = (0.4, 0.8);

/// What the server offers: for each control kind it has a model for, the
/// ControlNet file; and its LoRA files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Offer {
    pub controlnets: Vec<(&'static str, String)>,
    pub loras: Vec<String>,
}

impl Offer {
    /// Ask the server (two optional GETs; a server without the nodes, or
    /// one that fails to answer, offers nothing of that kind).
    pub fn discover(client: &Client<'_>) -> Offer {
        let options = |class: &str, input: &str| {
            client
                .get(&format!("/object_info/{class}"))
                .ok()
                .filter(|r| r.status == 200)
                .and_then(|r| api::parse_combo(&r.body, class, input))
                .unwrap_or_default()
        };
        let mut loras: Vec<String> = Vec::new();
        for name in options(LORA_LOADER, "lora_name") {
            if !name.trim().is_empty() && !loras.contains(&name) {
                loras.push(name);
            }
        }
        Offer { controlnets: match_kinds(&options(CONTROLNET_LOADER, "control_net_name")), loras }
    }

    /// The kinds offered, in [`CONTROL_KINDS`] order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.controlnets.iter().map(|(kind, _)| *kind).collect()
    }

    /// The ControlNet file for `kind`.
    ///
    /// Errors (`invalid-request` on `params.control_type`): no model for it,
    /// saying which kinds the server has and where models go.
    pub fn controlnet_for(&self, kind: &str, base: &str) -> Result<&str, ProviderError> {
        if let Some((_, file)) = self.controlnets.iter().find(|(k, _)| *k == kind) {
            return Ok(file);
        }
        let has = if self.controlnets.is_empty() {
            "it has no ControlNet models".to_string()
        } else {
            format!("it has models for: {}", self.kinds().join(", "))
        };
        Err(ProviderError::invalid(
            Some("params.control_type"),
            format!(
                "ComfyUI at {base} has no ControlNet model for `{kind}`; {has}. Put one whose file name says `{kind}` (e.g. control_v11p_sd15_{}.safetensors) in ComfyUI/models/controlnet",
                if kind == "pose" { "openpose" } else { kind }
            ),
        ))
    }

    /// The `parameters` schema of a checkpoint model, `None` when the
    /// server offers neither ControlNet models nor LoRAs.
    pub fn parameters(&self) -> Option<Value> {
        let properties = guidance::properties(
            &self.kinds(),
            "canny runs ComfyUI's Canny node on a plain image; for depth, pose and scribble give the map itself (a depth map, an OpenPose skeleton, a scribble)",
            &self.loras,
            "each loaded with LoraLoader after the checkpoint",
            "ComfyUI/models/loras",
        );
        (!properties.is_empty()).then(|| {
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": properties})
        })
    }
}

/// Whether the ControlNet file `name` is for `kind`: its lowercased name
/// holds `canny`, `depth`, `openpose` (or `pose`), or `scribble`.
pub fn file_is(kind: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    match kind {
        "pose" => name.contains("openpose") || name.contains("pose"),
        other => name.contains(other),
    }
}

/// For each kind, the first file that is for it (in the server's order).
pub fn match_kinds(files: &[String]) -> Vec<(&'static str, String)> {
    CONTROL_KINDS
        .iter()
        .filter_map(|kind| files.iter().find(|f| file_is(kind, f)).map(|f| (*kind, f.clone())))
        .collect()
}

/// Take the plugin's guidance params out of a request's `params`:
/// `control_type`/`control_weight` and `loras` ([`guidance`]).
pub fn take(params: &mut Map<String, Value>, request: &Request) -> Result<(Option<Control>, Vec<Lora>), ProviderError> {
    let control = guidance::take_control(params, request)?;
    let loras = guidance::take_loras(params, |name| {
        if name.chars().any(char::is_control) { Err("holds control characters".into()) } else { Ok(()) }
    })?;
    Ok((control, loras))
}

/// Node ids for spliced nodes: numbers past the graph's largest numeric id
/// (ComfyUI reads `a:b` ids as subgraph paths, so none are made up).
struct Ids(u64);

impl Ids {
    fn after(graph: &Map<String, Value>) -> Ids {
        Ids(graph.keys().filter_map(|k| k.parse::<u64>().ok()).max().unwrap_or(0))
    }

    fn next(&mut self) -> String {
        self.0 += 1;
        self.0.to_string()
    }
}

fn nodes_mut(graph: &mut Value) -> Result<&mut Map<String, Value>, ProviderError> {
    graph.as_object_mut().ok_or_else(|| ProviderError::Internal("the workflow graph is not an object".into()))
}

fn ids_of_class(nodes: &Map<String, Value>, classes: &[&str]) -> Vec<String> {
    nodes
        .iter()
        .filter(|(_, n)| n.get("class_type").and_then(Value::as_str).is_some_and(|c| classes.contains(&c)))
        .map(|(id, _)| id.clone())
        .collect()
}

/// Whether `value` is the link `[node, output]`.
fn is_link(value: &Value, node: &str, output: u64) -> bool {
    let Some([from, slot]) = value.as_array().map(Vec::as_slice) else { return false };
    let from_matches = from.as_str() == Some(node) || from.as_u64().is_some_and(|n| n.to_string() == node);
    from_matches && slot.as_u64() == Some(output)
}

/// Chain one `LoraLoader` per LoRA after every `CheckpointLoaderSimple`,
/// and move every other node's MODEL and CLIP links to the chain's end.
///
/// Errors (`invalid-request` on `params.loras`): a graph without a
/// `CheckpointLoaderSimple` (an operator workflow that loads its model
/// some other way).
pub fn add_loras(graph: &mut Value, loras: &[Lora]) -> Result<(), ProviderError> {
    if loras.is_empty() {
        return Ok(());
    }
    let nodes = nodes_mut(graph)?;
    let checkpoints = ids_of_class(nodes, &["CheckpointLoaderSimple"]);
    if checkpoints.is_empty() {
        return Err(ProviderError::invalid(
            Some("params.loras"),
            "the workflow has no CheckpointLoaderSimple node to load LoRAs after; add the LoraLoader nodes to the workflow itself",
        ));
    }
    let mut ids = Ids::after(nodes);
    for checkpoint in checkpoints {
        let mut from = checkpoint.clone();
        let mut chain = Vec::with_capacity(loras.len());
        for lora in loras {
            let id = ids.next();
            let weight = guidance::short_weight(lora.weight);
            let node = json!({"class_type": LORA_LOADER, "inputs": {
                "model": [from, 0], "clip": [from, 1], "lora_name": lora.name,
                "strength_model": weight, "strength_clip": weight}});
            chain.push((id.clone(), node));
            from = id;
        }
        relink(nodes, &[(checkpoint.as_str(), 0, from.as_str(), 0), (checkpoint.as_str(), 1, from.as_str(), 1)]);
        nodes.extend(chain);
    }
    Ok(())
}

/// Point every input linked to `(node, output)` at `(to, to_output)`.
fn relink(nodes: &mut Map<String, Value>, moves: &[(&str, u64, &str, u64)]) {
    for node in nodes.values_mut() {
        let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else { continue };
        for value in inputs.values_mut() {
            if let Some((_, _, to, to_output)) = moves.iter().find(|(n, o, _, _)| is_link(value, n, *o)) {
                *value = json!([to, to_output]);
            }
        }
    }
}

/// For each uploaded control image (`images`: the names `LoadImage`
/// takes), put a `ControlNetApplyAdvanced` with `controlnet` at `weight`
/// in front of every sampler's conditioning; canny images go through
/// `Canny` first.
///
/// Errors (`invalid-request` on `images`): a graph without a `KSampler`
/// or `KSamplerAdvanced` whose `positive` and `negative` are links.
pub fn add_control(
    graph: &mut Value,
    kind: &str,
    controlnet: &str,
    images: &[String],
    weight: f64,
) -> Result<(), ProviderError> {
    let nodes = nodes_mut(graph)?;
    let samplers: Vec<String> = ids_of_class(nodes, &SAMPLERS)
        .into_iter()
        .filter(|id| {
            let inputs = &nodes[id]["inputs"];
            inputs["positive"].is_array() && inputs["negative"].is_array()
        })
        .collect();
    if samplers.is_empty() {
        return Err(ProviderError::invalid(
            Some("images"),
            "the workflow has no KSampler with linked positive/negative conditioning to put a ControlNet in front of",
        ));
    }
    let mut ids = Ids::after(nodes);
    let loader = ids.next();
    let mut added =
        vec![(loader.clone(), json!({"class_type": CONTROLNET_LOADER, "inputs": {"control_net_name": controlnet}}))];
    let mut hints = Vec::with_capacity(images.len());
    for image in images {
        let load = ids.next();
        added.push((load.clone(), json!({"class_type": "LoadImage", "inputs": {"image": image}})));
        if kind == "canny" {
            let canny = ids.next();
            let (low, high) = CANNY_THRESHOLDS;
            added.push((
                canny.clone(),
                json!({"class_type": "Canny", "inputs": {"image": [load, 0], "low_threshold": low, "high_threshold": high}}),
            ));
            hints.push(canny);
        } else {
            hints.push(load);
        }
    }
    let strength = guidance::short_weight(weight);
    for sampler in samplers {
        let mut positive = nodes[&sampler]["inputs"]["positive"].clone();
        let mut negative = nodes[&sampler]["inputs"]["negative"].clone();
        for hint in &hints {
            let apply = ids.next();
            added.push((
                apply.clone(),
                json!({"class_type": "ControlNetApplyAdvanced", "inputs": {
                    "positive": positive, "negative": negative, "control_net": [loader, 0], "image": [hint, 0],
                    "strength": strength, "start_percent": 0.0, "end_percent": 1.0}}),
            ));
            positive = json!([apply, 0]);
            negative = json!([apply, 1]);
        }
        let inputs = &mut nodes[&sampler]["inputs"];
        inputs["positive"] = positive;
        inputs["negative"] = negative;
    }
    nodes.extend(added);
    Ok(())
}

#[cfg(test)]
#[path = "guidance_tests.rs"]
mod tests;
