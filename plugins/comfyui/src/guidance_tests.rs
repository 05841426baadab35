//! Unit tests of `guidance`: discovery by file name, and the nodes spliced
//! into the built-in workflows.

use super::*;
use crate::workflow::{KNOWN, Kind, Template};
use easel_plugin_kit::testing::expect_invalid;

fn files(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A built-in graph with every placeholder filled (in txt2img, node "4"
/// is the checkpoint loader and "3" the KSampler).
fn filled(kind: Kind) -> Value {
    let values = KNOWN.iter().map(|name| (*name, json!(1))).collect();
    Template::load(kind, None).unwrap().fill(&values).unwrap()
}

fn txt2img() -> Value {
    filled(Kind::Txt2Img)
}

fn class_ids(graph: &Value, class: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        graph.as_object().unwrap().iter().filter(|(_, n)| n["class_type"] == class).map(|(id, _)| id.clone()).collect();
    ids.sort_by_key(|id| id.parse::<u64>().unwrap_or(u64::MAX));
    ids
}

fn link(id: &str, slot: u64) -> Value {
    json!([id, slot])
}

#[test]
fn controlnet_files_are_matched_to_kinds_by_name_in_easel_order() {
    let found = match_kinds(&files(&[
        "control_v11f1p_sd15_depth.pth",
        "t2i-adapter_xl_canny.safetensors",
        "control_v11p_sd15_openpose.pth",
        "control_v11p_sd15_canny.pth",
        "lineart.pth",
    ]));
    assert_eq!(
        found,
        vec![
            ("canny", "t2i-adapter_xl_canny.safetensors".to_string()),
            ("depth", "control_v11f1p_sd15_depth.pth".to_string()),
            ("pose", "control_v11p_sd15_openpose.pth".to_string()),
        ],
        "the first file per kind in the server's order; lineart is no Easel kind"
    );
    assert!(file_is("scribble", "SD15_Scribble.safetensors") && file_is("pose", "dw_pose.pth"));
    assert!(match_kinds(&[]).is_empty());
}

#[test]
fn parameters_declare_what_the_server_has_and_nothing_when_it_has_none() {
    let offer = Offer {
        controlnets: vec![("canny", "c.pth".into()), ("pose", "p.pth".into())],
        loras: files(&["add_detail.safetensors"]),
    };
    let p = offer.parameters().unwrap();
    assert_eq!(p["properties"]["control_type"]["enum"], json!(["canny", "pose"]));
    assert_eq!(p["properties"]["loras"]["items"]["properties"]["name"]["enum"], json!(["add_detail.safetensors"]));
    assert!(p.get("additionalProperties").is_none(), "sampler/scheduler params stay allowed");
    assert_eq!(Offer::default().parameters(), None);
    let message = expect_invalid(offer.controlnet_for("depth", "http://h"), "params.control_type");
    assert!(message.contains("canny, pose") && message.contains("models/controlnet"), "{message}");
    assert_eq!(offer.controlnet_for("pose", "http://h").unwrap(), "p.pth");
}

#[test]
fn loras_chain_after_the_checkpoint_and_take_over_its_model_and_clip_links() {
    let mut graph = txt2img();
    let loras =
        [Lora { name: "a.safetensors".into(), weight: 0.8 }, Lora { name: "b.safetensors".into(), weight: -0.5 }];
    add_loras(&mut graph, &loras).unwrap();
    let chain = class_ids(&graph, "LoraLoader");
    assert_eq!(chain.len(), 2);
    let (first, second) = (&graph[&chain[0]]["inputs"], &graph[&chain[1]]["inputs"]);
    assert_eq!((&first["model"], &first["clip"]), (&link("4", 0), &link("4", 1)));
    assert_eq!((&second["model"], &second["clip"]), (&link(&chain[0], 0), &link(&chain[0], 1)));
    assert_eq!(
        (&first["lora_name"], &first["strength_model"], &first["strength_clip"]),
        (&json!("a.safetensors"), &json!(0.8), &json!(0.8))
    );
    assert_eq!(second["strength_model"], json!(-0.5));
    assert_eq!(graph["3"]["inputs"]["model"], link(&chain[1], 0), "the sampler's MODEL comes from the last LoRA");
    for encoder in class_ids(&graph, "CLIPTextEncode") {
        assert_eq!(graph[&encoder]["inputs"]["clip"], link(&chain[1], 1), "both prompts encode through the LoRAs");
    }
    assert_eq!(graph["8"]["inputs"]["vae"], link("4", 2), "the VAE still comes from the checkpoint");
    let before = txt2img();
    let mut unchanged = before.clone();
    add_loras(&mut unchanged, &[]).unwrap();
    assert_eq!(unchanged, before);
}

#[test]
fn loras_need_a_checkpoint_loader() {
    let mut graph = json!({"1": {"class_type": "UNETLoader", "inputs": {}}});
    expect_invalid(add_loras(&mut graph, &[Lora { name: "a".into(), weight: 1.0 }]), "params.loras");
}

#[test]
fn a_control_image_goes_in_front_of_the_samplers_conditioning() {
    let mut graph = txt2img();
    let (positive, negative) = (graph["3"]["inputs"]["positive"].clone(), graph["3"]["inputs"]["negative"].clone());
    add_control(&mut graph, "pose", "op.pth", &["easel-1.png".into()], 0.7).unwrap();
    let [apply] = class_ids(&graph, "ControlNetApplyAdvanced").try_into().unwrap();
    let [loader] = class_ids(&graph, "ControlNetLoader").try_into().unwrap();
    let loads = class_ids(&graph, "LoadImage");
    let a = &graph[&apply]["inputs"];
    assert_eq!((&a["positive"], &a["negative"]), (&positive, &negative));
    assert_eq!(a["control_net"], link(&loader, 0));
    assert_eq!(a["image"], link(&loads[0], 0), "pose takes the skeleton as it is");
    assert_eq!((&a["strength"], &a["start_percent"], &a["end_percent"]), (&json!(0.7), &json!(0.0), &json!(1.0)));
    assert_eq!(graph[&loader]["inputs"]["control_net_name"], json!("op.pth"));
    assert_eq!(graph[&loads[0]]["inputs"]["image"], json!("easel-1.png"));
    assert_eq!(
        (&graph["3"]["inputs"]["positive"], &graph["3"]["inputs"]["negative"]),
        (&link(&apply, 0), &link(&apply, 1))
    );
    assert!(class_ids(&graph, "Canny").is_empty());
    let max_before = txt2img().as_object().unwrap().keys().filter_map(|k| k.parse::<u64>().ok()).max().unwrap();
    assert!(apply.parse::<u64>().unwrap() > max_before, "new nodes get fresh numeric ids");
}

#[test]
fn canny_runs_the_canny_node_and_two_images_chain_on_img2img() {
    let mut graph = filled(Kind::Img2Img);
    let reference_loads = class_ids(&graph, "LoadImage");
    add_control(&mut graph, "canny", "c.pth", &["x.png".into(), "y.png".into()], 1.0).unwrap();
    let cannies = class_ids(&graph, "Canny");
    let applies = class_ids(&graph, "ControlNetApplyAdvanced");
    assert_eq!((cannies.len(), applies.len()), (2, 2));
    assert_eq!(graph[&applies[0]]["inputs"]["image"], link(&cannies[0], 0));
    assert_eq!(graph[&applies[1]]["inputs"]["positive"], link(&applies[0], 0), "the second guide refines the first");
    assert_eq!(graph[&cannies[1]]["inputs"]["low_threshold"], json!(0.4));
    assert_eq!(class_ids(&graph, "LoadImage").len(), reference_loads.len() + 2, "the reference stays loaded");
    let [sampler] = class_ids(&graph, "KSampler").try_into().unwrap();
    assert_eq!(graph[&sampler]["inputs"]["positive"], link(&applies[1], 0));
}

#[test]
fn control_needs_a_sampler_with_linked_conditioning() {
    let mut graph = json!({"1": {"class_type": "SaveImage", "inputs": {}}});
    expect_invalid(add_control(&mut graph, "depth", "d.pth", &["x.png".into()], 1.0), "images");
}
