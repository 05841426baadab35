"""ControlNet and LoRA through the ComfyUI plugin (docs/providers/comfyui.md#controlnet-and-lora): what
list_models declares from the fake's ControlNetLoader and LoraLoader options, and the nodes that reach
POST /prompt, which the fake validates as ComfyUI does (node classes, links, combo values)."""

from __future__ import annotations

import base64

from conftest import is_error, run_mcp, structured, text_of
from test_comfyui import find, make_setup, setup  # noqa: F401  (fixtures; it also puts tests/fakes on sys.path)

import comfyui_fake  # noqa: E402
from fakekit import make_png  # noqa: E402


def comfy_checkpoints(result) -> dict:
    """The comfyui checkpoint models of a list_models result, by id."""
    return {m["model"]["id"]: m["model"] for m in structured(result)["models"]
            if m["provider"] == "comfyui" and m["model"]["id"] in comfyui_fake.CHECKPOINTS}


def nodes_of(graph: dict, class_type: str) -> list[tuple[str, dict]]:
    return [(node_id, node["inputs"]) for node_id, node in graph.items() if node["class_type"] == class_type]


def guide(kind: str) -> str:
    return "data:image/png;base64," + base64.b64encode(make_png(256, 256, kind)).decode()


def test_mcp_list_models_declares_the_controlnet_kinds_and_loras_the_server_has(setup):
    async def body(session):
        return await session.call_tool("list_models", {"provider": "comfyui"})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    models = comfy_checkpoints(result)
    assert set(models) == set(comfyui_fake.CHECKPOINTS)
    for model in models.values():
        props = model["parameters"]["properties"]
        assert props["control_type"]["enum"] == ["canny", "depth", "pose"], "no scribble model; lineart is no Easel kind"
        assert props["loras"]["items"]["properties"]["name"]["enum"] == comfyui_fake.LORAS
        assert "ControlNet" in model["prompt_notes"] and "params.loras" in model["prompt_notes"]
    paths = [r["path"] for r in setup.requests("GET")]
    assert "/object_info/ControlNetLoader" in paths and "/object_info/LoraLoader" in paths


def test_mcp_a_server_without_controlnets_or_loras_declares_no_parameters(make_setup):  # noqa: F811
    bare = make_setup(controlnets=[], loras=[])

    async def body(session):
        return await session.call_tool("list_models", {"provider": "comfyui"})

    result = run_mcp(bare, body)
    assert not is_error(result), result.content
    for model in comfy_checkpoints(result).values():
        assert model.get("parameters") is None, model


def test_mcp_loras_in_params_are_chained_after_the_checkpoint(setup):
    async def body(session):
        return await session.call_tool("generate_image", {
            "prompt": "a red fox", "provider": "comfyui", "width": 256, "height": 256,
            "params": {"loras": [{"name": "add_detail.safetensors", "weight": 0.6},
                                 {"name": "styles/pixel-art-xl.safetensors"}]}})

    result = run_mcp(setup, body)
    assert not is_error(result), text_of(result)
    graph = setup.prompts()[-1]["prompt"]
    chain = nodes_of(graph, "LoraLoader")
    assert [inputs["lora_name"] for _, inputs in chain] == ["add_detail.safetensors", "styles/pixel-art-xl.safetensors"]
    assert chain[0][1]["strength_model"] == 0.6 and chain[1][1]["strength_clip"] == 1
    [(checkpoint, _)] = nodes_of(graph, "CheckpointLoaderSimple")
    assert chain[0][1]["model"] == [checkpoint, 0] and chain[1][1]["model"] == [chain[0][0], 0]
    assert find(graph, "KSampler")["model"] == [chain[1][0], 0], "the sampler runs the LoRA'd model"
    assert all(inputs["clip"] == [chain[1][0], 1] for _, inputs in nodes_of(graph, "CLIPTextEncode"))
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (256, 256)


def test_mcp_an_unknown_lora_is_refused_before_comfyui_sees_it(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "a fox", "provider": "comfyui",
                                                          "params": {"loras": [{"name": "nope.safetensors"}]}})

    result = run_mcp(setup, body)
    assert is_error(result) and "params.loras" in text_of(result), text_of(result)
    assert setup.prompts() == []


def test_mcp_a_control_image_alone_guides_a_txt2img_run_through_controlnet(setup):
    async def body(session):
        return await session.call_tool("edit_image", {
            "prompt": "a dancer", "provider": "comfyui", "width": 256, "height": 384,
            "images": [{"image": guide("pose"), "role": "control", "control_type": "pose"}],
            "params": {"control_weight": 0.8}})

    result = run_mcp(setup, body)
    assert not is_error(result), text_of(result)
    graph = setup.prompts()[-1]["prompt"]
    assert nodes_of(graph, "EmptyLatentImage") and not nodes_of(graph, "VAEEncode"), "txt2img: no reference to encode"
    [(apply_id, apply)] = nodes_of(graph, "ControlNetApplyAdvanced")
    [(loader_id, loader)] = nodes_of(graph, "ControlNetLoader")
    assert loader["control_net_name"] == "control_v11p_sd15_openpose.pth"
    assert apply["control_net"] == [loader_id, 0] and apply["strength"] == 0.8
    [(load_id, load)] = nodes_of(graph, "LoadImage")
    assert apply["image"] == [load_id, 0] and load["image"].startswith("easel-"), "the skeleton goes in as it is"
    assert not nodes_of(graph, "Canny")
    sampler = find(graph, "KSampler")
    assert (sampler["positive"], sampler["negative"]) == ([apply_id, 0], [apply_id, 1])
    assert len(setup.requests("POST", "/upload/image")) == 1
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (256, 384)


def test_mcp_canny_beside_a_reference_runs_the_canny_node_on_img2img(setup):
    reference = "data:image/png;base64," + base64.b64encode(make_png(256, 256, "house")).decode()

    async def body(session):
        return await session.call_tool("edit_image", {
            "prompt": "a blue house", "provider": "comfyui", "strength": 0.5,
            "images": [{"image": reference, "role": "reference"},
                       {"image": guide("edges"), "role": "control", "control_type": "canny"}]})

    result = run_mcp(setup, body)
    assert not is_error(result), text_of(result)
    graph = setup.prompts()[-1]["prompt"]
    assert nodes_of(graph, "VAEEncode"), "img2img: the reference is encoded"
    [(canny_id, _)] = nodes_of(graph, "Canny")
    [(_, apply)] = nodes_of(graph, "ControlNetApplyAdvanced")
    assert apply["image"] == [canny_id, 0]
    assert find(graph, "ControlNetLoader")["control_net_name"] == "control_v11p_sd15_canny.pth"
    assert len(nodes_of(graph, "LoadImage")) == 2 and len(setup.requests("POST", "/upload/image")) == 2


def test_mcp_a_control_type_without_a_model_is_refused_naming_the_ones_there_are(setup):
    async def body(session):
        return await session.call_tool("edit_image", {
            "prompt": "a cat", "provider": "comfyui",
            "images": [{"image": guide("scribble"), "role": "control", "control_type": "scribble"}]})

    result = run_mcp(setup, body)
    assert is_error(result) and "params.control_type" in text_of(result), text_of(result)
    assert setup.prompts() == [] and setup.requests("POST", "/upload/image") == []
