"""The node side of tests/fakes/comfyui_fake.py: object_info definitions of the core nodes the fake knows,
`/prompt` validation as execution.py does it, and the size of the image a graph makes (ComfyUI v0.3.64;
docs/providers/comfyui.md). Standard library only."""

from __future__ import annotations

import re

from fakekit import png_size

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_sde", "dpmpp_2m_sde", "lcm", "ddim", "uni_pc"]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic", "kl_optimal"]
MAX_RES = 16384
OUTPUT_NODES = {"SaveImage", "PreviewImage"}


def node_defs(state) -> dict:
    """object_info entries for the core nodes this fake knows (shapes as in server.py `node_info`). The upscale
    nodes are V3 nodes (comfy_extras/nodes_upscale_model.py): their combo is ["COMBO", {"options": [...]}]."""
    def INT(default, lo, hi, step=1):
        return ["INT", {"default": default, "min": lo, "max": hi, "step": step}]

    def FLOAT(default, lo, hi, step=0.01):
        return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": step}]

    inputs = {
        "CheckpointLoaderSimple": ({"ckpt_name": [list(state.checkpoints), {"tooltip": "The name of the checkpoint (model) to load."}]},
                                   ["MODEL", "CLIP", "VAE"], "loaders", False),
        "CLIPTextEncode": ({"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]},
                           ["CONDITIONING"], "conditioning", False),
        "EmptyLatentImage": ({"width": INT(512, 16, MAX_RES, 8), "height": INT(512, 16, MAX_RES, 8), "batch_size": INT(1, 1, 4096)},
                             ["LATENT"], "latent", False),
        "KSampler": ({"model": ["MODEL", {}], "seed": INT(0, 0, 0xFFFFFFFFFFFFFFFF), "steps": INT(20, 1, 10000),
                      "cfg": FLOAT(8.0, 0.0, 100.0, 0.1), "sampler_name": [list(SAMPLERS), {}], "scheduler": [list(SCHEDULERS), {}],
                      "positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}], "latent_image": ["LATENT", {}],
                      "denoise": FLOAT(1.0, 0.0, 1.0)}, ["LATENT"], "sampling", False),
        "VAEDecode": ({"samples": ["LATENT", {}], "vae": ["VAE", {}]}, ["IMAGE"], "latent", False),
        "VAEEncode": ({"pixels": ["IMAGE", {}], "vae": ["VAE", {}]}, ["LATENT"], "latent", False),
        "RepeatLatentBatch": ({"samples": ["LATENT", {}], "amount": INT(1, 1, 64)}, ["LATENT"], "latent/batch", False),
        "ImageScale": ({"image": ["IMAGE", {}], "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"], {}],
                        "width": INT(512, 0, MAX_RES), "height": INT(512, 0, MAX_RES), "crop": [["disabled", "center"], {}]},
                       ["IMAGE"], "image/upscaling", False),
        "LoadImage": ({"image": [sorted(name for (kind, sub, name) in state.files if kind == "input" and not sub), {"image_upload": True}]},
                      ["IMAGE", "MASK"], "image", False),
        "UpscaleModelLoader": ({"model_name": ["COMBO", {"multiselect": False, "options": list(state.upscale_models)}]},
                               ["UPSCALE_MODEL"], "loaders", False),
        "ImageUpscaleWithModel": ({"upscale_model": ["UPSCALE_MODEL", {}], "image": ["IMAGE", {}]}, ["IMAGE"], "image/upscaling", False),
        "ControlNetLoader": ({"control_net_name": [list(state.controlnets), {}]}, ["CONTROL_NET"], "loaders", False),
        "ControlNetApplyAdvanced": ({"positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}],
                                     "control_net": ["CONTROL_NET", {}], "image": ["IMAGE", {}],
                                     "strength": FLOAT(1.0, 0.0, 10.0), "start_percent": FLOAT(0.0, 0.0, 1.0, 0.001),
                                     "end_percent": FLOAT(1.0, 0.0, 1.0, 0.001)}, ["CONDITIONING", "CONDITIONING"],
                                    "conditioning/controlnet", False),
        "LoraLoader": ({"model": ["MODEL", {}], "clip": ["CLIP", {}], "lora_name": [list(state.loras), {}],
                        "strength_model": FLOAT(1.0, -100.0, 100.0), "strength_clip": FLOAT(1.0, -100.0, 100.0)},
                       ["MODEL", "CLIP"], "loaders", False),
        "Canny": ({"image": ["IMAGE", {}], "low_threshold": FLOAT(0.4, 0.01, 0.99), "high_threshold": FLOAT(0.8, 0.01, 0.99)},
                  ["IMAGE"], "image/preprocessors", False),
        "SaveImage": ({"images": ["IMAGE", {}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, [], "image", True),
        "PreviewImage": ({"images": ["IMAGE", {}]}, [], "image", True),
    }
    out = {}
    for name, (required, outputs, category, output_node) in inputs.items():
        out[name] = {"input": {"required": required, "optional": {}, "hidden": {}}, "input_order": {"required": list(required)},
                     "output": outputs, "output_is_list": [False] * len(outputs), "output_name": outputs, "name": name,
                     "display_name": name, "description": "", "python_module": "nodes", "category": category,
                     "output_node": output_node}
    return out


def err(kind: str, message: str, details: str, **extra) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def validate(graph: object, state, markers: set[str]) -> tuple[dict | None, dict]:
    """(error, node_errors) as execution.validate_prompt builds them; error None when valid. Like v0.3.64, a V3
    "COMBO" value is not checked against its options here: a missing upscale model fails when it runs."""
    defs = node_defs(state)
    if not isinstance(graph, dict):
        return err("invalid_prompt", "Cannot execute because the prompt is not an object.", ""), {}
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return err("invalid_prompt", "Cannot execute because a node is missing the class_type property.", f"Node ID '#{node_id}'"), {}
        if node["class_type"] not in defs:
            return err("invalid_prompt", f"Cannot execute because node {node['class_type']} does not exist.", f"Node ID '#{node_id}'"), {}
    outputs = [i for i, n in graph.items() if n["class_type"] in OUTPUT_NODES]
    if not outputs:
        return err("prompt_no_outputs", "Prompt has no outputs", ""), {}
    node_errors: dict = {}
    for node_id, node in graph.items():
        spec = defs[node["class_type"]]["input"]["required"]
        inputs = node.get("inputs") or {}
        problems = []
        for name, (kind, opts) in spec.items():
            if name not in inputs:
                problems.append(err("required_input_missing", "Required input is missing", name, input_name=name))
                continue
            value = inputs[name]
            if isinstance(value, list) and not isinstance(kind, list):
                if len(value) != 2 or str(value[0]) not in graph:
                    problems.append(err("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                        name, input_name=name, received_value=value))
                    continue
                source = defs[graph[str(value[0])]["class_type"]]["output"]
                got = source[value[1]] if isinstance(value[1], int) and value[1] < len(source) else None
                if got != kind:
                    problems.append(err("return_type_mismatch", "Return type mismatch between linked nodes",
                                        f"{name}, received_type({got}) mismatch input_type({kind})", input_name=name))
                continue
            if kind in ("INT", "FLOAT"):
                try:
                    number = int(value) if kind == "INT" else float(value)
                    if isinstance(value, bool):
                        raise ValueError("bool")
                except (TypeError, ValueError) as e:
                    problems.append(err("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                                        f"{name}, {value}, {e}", input_name=name, received_value=value))
                    continue
                if number < opts["min"]:
                    problems.append(err("value_smaller_than_min", f"Value {number} smaller than min of {opts['min']}", name,
                                        input_name=name, received_value=value))
                elif number > opts["max"]:
                    problems.append(err("value_bigger_than_max", f"Value {number} bigger than max of {opts['max']}", name,
                                        input_name=name, received_value=value))
            elif isinstance(kind, list):
                if node["class_type"] == "LoadImage":
                    if ("input", *split_name(str(value))) not in state.files:
                        problems.append(err("custom_validation_failed", "Custom validation failed for node",
                                            f"image - Invalid image file: {value}", input_name=name))
                else:
                    if name == "ckpt_name" and "bad_checkpoint" in markers:
                        kind = [k for k in kind if k != value]
                    if value not in kind:
                        problems.append(err("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {kind}",
                                            input_name=name, input_config=[kind, opts], received_value=value))
        if problems:
            node_errors[node_id] = {"errors": problems, "dependent_outputs": outputs, "class_type": node["class_type"]}
    if node_errors:
        lines = "\n".join(f"{e['message']}: {e['details']}" for n in node_errors.values() for e in n["errors"])
        return err("prompt_outputs_failed_validation", "Prompt outputs failed validation", lines), node_errors
    return None, {}


def split_name(value: str) -> tuple[str, str]:
    """'sub/name.png' -> ('sub', 'name.png')."""
    sub, _, name = value.rpartition("/")
    return sub, name


def upscale_factor(model_name: str) -> int:
    """The factor the fake gives an upscale model: the `x4` / `4x` in its name, else 4 (ComfyUI reads it from the
    weights: spandrel's ImageModelDescriptor.scale)."""
    match = re.search(r"(?:^|[^a-z0-9])(\d)x|x(\d)(?:[^0-9]|$)", model_name.lower())
    return int(next(g for g in match.groups() if g)) if match else 4


def image_size(graph: dict, node_id: str, files: dict, depth: int = 0) -> tuple[int, int, int]:
    """(width, height, batch) flowing out of a node, following links back; `files` are the server's files."""
    node = graph.get(str(node_id)) or {}
    inputs, kind = node.get("inputs") or {}, node.get("class_type")
    link = lambda name: image_size(graph, inputs[name][0], files, depth + 1)  # noqa: E731
    if depth > 50:
        return 512, 512, 1
    if kind == "EmptyLatentImage":
        return int(inputs["width"]), int(inputs["height"]), int(inputs["batch_size"])
    if kind == "RepeatLatentBatch":
        w, h, b = link("samples")
        return w, h, b * int(inputs["amount"])
    if kind == "ImageScale":
        w, h, b = link("image")
        tw, th = int(inputs["width"]), int(inputs["height"])
        if tw == 0 and th == 0:
            return w, h, b
        return (tw or round(w * th / h)), (th or round(h * tw / w)), b
    if kind == "ImageUpscaleWithModel":
        w, h, b = link("image")
        loader = graph.get(str(inputs["upscale_model"][0])) or {}
        factor = upscale_factor(str((loader.get("inputs") or {}).get("model_name", "")))
        return w * factor, h * factor, b
    if kind == "LoadImage":
        data = files.get(("input", *split_name(str(inputs["image"]))), b"")
        w, h = png_size(data) or (512, 512)
        return w, h, 1
    upstream = {"KSampler": "latent_image", "VAEDecode": "samples", "VAEEncode": "pixels"}.get(kind)
    return link(upstream) if upstream and isinstance(inputs.get(upstream), list) else (512, 512, 1)
