"""A local fake of AUTOMATIC1111 Stable Diffusion WebUI's API (docs/providers/sdwebui.md),
for testing Easel's sdwebui plugin without a GPU. Standard library only.

Run:    python3 tests/fakes/sdwebui_fake.py --port 0 [--basic user:pass] [--no-api] [--no-controlnet] [--no-loras]
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(port=0, basic=None, api=True, controlnet=True, loras=True)   # serves in a thread
        ...; server.shutdown(); server.server_close()
        server.state holds what happened (requests, generations, interrupts).

Wire protocol (what `webui.sh --api` serves):
  POST /sdapi/v1/txt2img   body per docs/providers/sdwebui.md#txt2img -> {"images": [<base64 PNG, no prefix>], "parameters": {...echo...},
                                             "info": "<JSON *string*: prompt, seed, all_seeds, width, height, ...>"}
  POST /sdapi/v1/img2img   docs/providers/sdwebui.md#img2img: init_images (required, else 404 "Init image not found"), mask,
                           denoising_strength; "parameters" echoes init_images/mask as null
  POST /sdapi/v1/extra-single-image  docs/providers/sdwebui.md#upscaling: {"image": <base64>, "resize_mode": 0|1,
                           "upscaling_resize" (factor, mode 0), "upscaling_resize_w"/"_h" (mode 1), "upscaling_crop",
                           "upscaler_1", "upscaler_2", ...} -> {"image": <base64 PNG of the upscaled size>, "html_info"}.
                           Sizes as A1111 computes them: mode 1 scales by max(w/iw, h/ih), the upscaled size is rounded
                           down to a multiple of 8, and upscaling_crop (default true) then makes it exactly w x h; the
                           "None" upscaler returns the input's size. PNG inputs only (the fake reads their IHDR).
  GET  /sdapi/v1/upscalers [{"name", "model_name", "model_path", "model_url", "scale"}]: None, Lanczos, Nearest, R-ESRGAN 4x+
  GET  /sdapi/v1/sd-models, /samplers, /schedulers, /options;  POST /sdapi/v1/options {"sd_model_checkpoint"}
  GET  /sdapi/v1/progress  {"progress", "eta_relative", "state": {..., "job_count", ...}, "current_task", ...}
  POST /sdapi/v1/interrupt, /sdapi/v1/skip, /sdapi/v1/refresh-checkpoints
  POST /internal/progress  {"id_task"} -> {"active", "queued", "completed", "progress", "eta", "textinfo", ...}
  GET  /controlnet/control_types  (sd-webui-controlnet; docs/providers/sdwebui.md#controlnet-and-lora)
                           {"control_types": {<tag>: {"module_list", "model_list", "default_option", "default_model"}}}:
                           All, Canny, Depth, OpenPose with a model each; Scribble/Sketch and Lineart without ("None").
                           404 with controlnet=False (no extension). Added on the app by the extension, so not behind
                           --api-auth (the fake also serves it with --no-api; whether A1111 does was not checked).
  GET  /sdapi/v1/loras     (A1111's built-in Lora extension) [{"name", "alias", "path", "metadata"}]: add_detail,
                           pixel-art-xl. 404 with loras=False. Registered on the app (not add_api_route): no --api-auth;
                           served with --no-api too, as for the ControlNet route.
  alwayson_scripts         in txt2img/img2img: a name A1111 has no always-on script for is 422 "always on script X not
                           found" (the fake knows Refiner, Seed, Sampler, Hypertile, Soft Inpainting, Extra options,
                           and ControlNet when enabled; case-insensitive). ControlNet units (scripts/external_code.py
                           ControlNetUnit fields) are checked as the extension would: an enabled unit's image must decode
                           (500 "Invalid encoded image"), its model be one the fake lists (500 RuntimeError "model not
                           found: X"; "None" is "You have not selected any ControlNet Model."), resize_mode/control_mode
                           valid and weight a number (500 ValueError); the fake also wants a module it lists. Units past control_net_unit_count (3) are
                           ignored, as A1111 does. Each enabled unit appends one detected map to "images".
  <lora:NAME:WEIGHT>       in the prompt: recorded per generation ("loras": [{"name", "weight", "found"}]); unknown
                           names are only a warning, as in A1111.
Generation runs under one global lock, like A1111: concurrent requests wait (they show as
"queued" in /internal/progress). `force_task_id` names the task; otherwise "task(<random>)".
`override_settings.sd_model_checkpoint` (title, model name or hash) picks the checkpoint for one
request (restored afterwards unless override_settings_restore_afterwards is false).
Every response carries X-Process-Time.

Errors, as A1111 sends them:
  --basic user:pass   every /sdapi route needs HTTP Basic: 401 {"detail": "Incorrect username or
                      password"} + WWW-Authenticate: Basic (internal routes are not covered, as in A1111)
  --no-api            the UI without --api: /sdapi routes are 404 {"detail": "Not Found"}
  body validation     422 {"detail": [{"loc": ["body", <field>], "msg", "type"}]} (FastAPI)
  unknown sampler     400 {"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""}
  bad base64 image    500 {"error": "HTTPException", "detail": "Invalid encoded image", ...}
  unknown upscaler    500 {"error": "AssertionError", "detail": "", "body": "", "errors": "could not find upscaler named X"}
  extras validation   422 on resize_mode (0 or 1), upscaling_resize_w/_h (>= 1), upscaling_resize (> 0), visibilities (0..1)
Markers in the prompt:
  [fake:server_error]  500 {"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory..."}
  [fake:validation]    422 on body.steps
  [fake:slow]          keeps "sampling" until /sdapi/v1/interrupt (or 120 s), then answers like
                       A1111 does after an interrupt: 200 with the images made so far
  [fake:grid]          return_grid: a grid image first, "index_of_first_image": 1 in info

Test hooks (no auth):  GET /__fake/requests (list of {method, path, headers, json}),
                       DELETE /__fake/requests, GET /__fake/state (generations, interrupts, upscales: one
                       {"upscaler", "input_size", "output_size", "resize_mode"} per extra-single-image answered).
                       Each generation records "controlnet": [{"module", "model", "weight", "image_size"}] and "loras".
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from fakekit import FakeHandler, make_png, png_size, serve_in_thread

CHECKPOINTS = [
    {"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]", "model_name": "v1-5-pruned-emaonly", "hash": "6ce0161689",
     "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
     "filename": "/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors", "config": None},
    {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0", "hash": "31e35c80fc",
     "sha256": "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b",
     "filename": "/models/Stable-diffusion/sd_xl_base_1.0.safetensors", "config": None},
]
SAMPLERS = ["DPM++ 2M", "DPM++ SDE", "Euler a", "Euler", "DDIM", "UniPC"]
SCHEDULERS = [("automatic", "Automatic"), ("uniform", "Uniform"), ("karras", "Karras"), ("exponential", "Exponential")]
INT_FIELDS = ("steps", "width", "height", "batch_size", "n_iter", "seed", "subseed", "mask_blur", "inpainting_fill", "resize_mode")
FLOAT_FIELDS = ("cfg_scale", "denoising_strength", "subseed_strength", "image_cfg_scale")
UPSCALERS = [
    {"name": "None", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "Lanczos", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "Nearest", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "R-ESRGAN 4x+", "model_name": "R-ESRGAN 4x+",
     "model_path": "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth", "model_url": None, "scale": 4},
]
CANNY_MODEL = "control_v11p_sd15_canny [d14c016b]"
DEPTH_MODEL = "control_v11f1p_sd15_depth [cfd03158]"
OPENPOSE_MODEL = "control_v11p_sd15_openpose [cab727d4]"
CONTROLNET_MODELS = ["None", CANNY_MODEL, DEPTH_MODEL, OPENPOSE_MODEL]


def control_type(modules: list[str], default_option: str, default_model: str) -> dict:
    """One entry of /controlnet/control_types, as global_state.select_control_type builds it: "None" first."""
    models = ["None"] if default_model == "None" else ["None", default_model]
    return {"module_list": ["none", *modules], "model_list": models, "default_option": default_option,
            "default_model": default_model}


CONTROL_TYPES = {
    "All": {"module_list": ["none", "canny", "depth_midas", "openpose_full", "scribble_pidinet", "lineart_standard"],
            "model_list": CONTROLNET_MODELS, "default_option": "none", "default_model": "None"},
    "Canny": control_type(["canny", "invert (from white bg & black line)"], "canny", CANNY_MODEL),
    "Depth": control_type(["depth_anything", "depth_midas", "depth_zoe"], "depth_midas", DEPTH_MODEL),
    "OpenPose": control_type(["openpose", "openpose_face", "openpose_full", "dw_openpose_full"], "openpose_full", OPENPOSE_MODEL),
    "Lineart": control_type(["lineart_standard (from white bg & black line)", "lineart_realistic"],
                            "lineart_standard (from white bg & black line)", "None"),
    "Scribble/Sketch": control_type(["scribble_hed", "scribble_pidinet", "scribble_xdog"], "scribble_pidinet", "None"),
}
CONTROLNET_MODULES = sorted({m for t in CONTROL_TYPES.values() for m in t["module_list"]})
CONTROLNET_UNIT_COUNT = 3  # the extension's control_net_unit_count default (secondary)
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill", "Inner Fit (Scale to Fit)", "Outer Fit (Shrink to Fit)",
                "Scale to Fit (Inner Fit)", "Envelope (Outer Fit)")
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
ALWAYSON_SCRIPTS = ("refiner", "seed", "sampler", "hypertile", "soft inpainting", "extra options")
LORAS = [
    {"name": "add_detail", "alias": "add_detail", "path": "/models/Lora/add_detail.safetensors",
     "metadata": {"ss_network_module": "networks.lora", "ss_network_dim": "32"}},
    {"name": "pixel-art-xl", "alias": "pixelart", "path": "/models/Lora/pixel-art-xl.safetensors",
     "metadata": {"ss_network_module": "networks.lora", "ss_base_model_version": "sdxl_base_v1-0"}},
]
RE_EXTRA_NET = re.compile(r"<(\w+):([^>]+)>")  # modules/extra_networks.py re_extra_net
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total capacity; 6.10 GiB already allocated)"


def decode_image(text: object) -> bytes | None:
    """A1111's decode_base64_to_image: optional data: prefix, then base64 of an image."""
    if not isinstance(text, str):
        return None
    if text.startswith("data:image/"):
        text = text.split(";")[1].split(",")[1] if ";" in text and "," in text else ""
    try:
        data = base64.b64decode(text, validate=False)
    except ValueError:
        return None
    return data if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[8:12] == b"WEBP" else None


class State:
    def __init__(self, basic: str | None, api: bool, controlnet: bool = True, loras: bool = True):
        self.basic = basic
        self.api = api
        self.controlnet = controlnet  # the sd-webui-controlnet extension is installed
        self.loras = loras            # the built-in Lora extension answers /sdapi/v1/loras
        self.lock = threading.Lock()          # protects the fields below
        self.generation_lock = threading.Lock()  # A1111's queue_lock: one generation at a time
        self.recorded: list[dict] = []
        self.checkpoint = CHECKPOINTS[0]["title"]
        self.pending: dict[str, float] = {}
        self.finished: list[str] = []
        self.current_task: str | None = None
        self.job = ""
        self.step, self.steps = 0, 0
        self.interrupted = False
        self.interrupts: list[dict] = []
        self.generations: list[dict] = []
        self.upscales: list[dict] = []

    def find_checkpoint(self, name: str) -> dict | None:
        for c in CHECKPOINTS:
            if name in (c["title"], c["model_name"], c["hash"], c["title"].split(" [")[0]):
                return c
        return None


class FakeError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def handled(status: int, error: str, detail: str = "", errors: str = "") -> FakeError:
    """A1111's api exception handler body."""
    return FakeError(status, {"error": error, "detail": detail, "body": "", "errors": errors})


def unprocessable(field: str, msg: str, kind: str) -> FakeError:
    return FakeError(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind}]})


def validate(body: dict) -> None:
    """Pydantic-style type checks on the fields A1111 declares."""
    for field in INT_FIELDS:
        if field in body and body[field] is not None and (isinstance(body[field], bool) or not isinstance(body[field], int)):
            raise unprocessable(field, "value is not a valid integer", "type_error.integer")
    for field in FLOAT_FIELDS:
        if field in body and body[field] is not None and (isinstance(body[field], bool) or not isinstance(body[field], (int, float))):
            raise unprocessable(field, "value is not a valid float", "type_error.float")
    for field in ("prompt", "negative_prompt"):
        if field in body and not isinstance(body[field], str):
            raise unprocessable(field, "str type expected", "type_error.str")
    if "init_images" in body and body["init_images"] is not None and not isinstance(body["init_images"], list):
        raise unprocessable("init_images", "value is not a valid list", "type_error.list")
    if "override_settings" in body and body["override_settings"] is not None and not isinstance(body["override_settings"], dict):
        raise unprocessable("override_settings", "value is not a valid dict", "type_error.dict")


def controlnet_units(state: State, body: dict) -> list[dict]:
    """A1111's init_script_args for alwayson_scripts, then sd-webui-controlnet's checks of its units."""
    scripts = body.get("alwayson_scripts")
    if scripts is None:
        return []
    if not isinstance(scripts, dict):
        raise unprocessable("alwayson_scripts", "value is not a valid dict", "type_error.dict")
    units: list[dict] = []
    for name, entry in scripts.items():
        lowered = name.lower()
        if lowered not in ALWAYSON_SCRIPTS and not (lowered == "controlnet" and state.controlnet):
            raise handled(422, "HTTPException", f"always on script {name} not found")
        if lowered != "controlnet" or not isinstance(entry, dict) or "args" not in entry:
            continue
        args = entry["args"]
        if not isinstance(args, list):
            raise handled(500, "TypeError", "", f"object of type {type(args).__name__} has no len()")
        for unit in args[:CONTROLNET_UNIT_COUNT]:  # A1111 passes at most the script's argument slots
            if not isinstance(unit, dict):
                raise handled(500, "TypeError", "", "ControlNetUnit() argument after ** must be a mapping")
            if not unit.get("enabled", True):
                continue
            weight = unit.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise handled(500, "ValueError", "", f"could not convert {weight!r} to float (ControlNet unit weight)")
            if unit.get("resize_mode", "Crop and Resize") not in RESIZE_MODES + (0, 1, 2, 3):
                raise handled(500, "ValueError", "", f"{unit['resize_mode']!r} is not a valid ResizeMode")
            if unit.get("control_mode", "Balanced") not in CONTROL_MODES + (0, 1, 2):
                raise handled(500, "ValueError", "", f"{unit['control_mode']!r} is not a valid ControlMode")
            module = unit.get("module") or "none"
            if module not in CONTROLNET_MODULES:
                raise handled(500, "ValueError", "", f"preprocessor not found: {module}")
            model = unit.get("model")
            if model in (None, "None"):
                raise handled(500, "RuntimeError", "", "You have not selected any ControlNet Model.")
            if model not in CONTROLNET_MODELS:
                raise handled(500, "RuntimeError", "", f"model not found: {model}")
            data = decode_image(unit.get("image") or unit.get("input_image"))
            if data is None:
                raise handled(500, "HTTPException", "Invalid encoded image")
            units.append({"module": module, "model": model, "weight": weight,
                          "image_size": list(png_size(data)) if png_size(data) else None})
    return units


def loras_in(prompt: str) -> list[dict]:
    """The <lora:NAME:WEIGHT> tags of a prompt, as the Lora extension reads them (unknown names are only a warning)."""
    names = {lora["name"] for lora in LORAS} | {lora["alias"] for lora in LORAS}
    found = []
    for kind, args in RE_EXTRA_NET.findall(prompt):
        if kind not in ("lora", "lyco"):
            continue
        items = args.split(":")
        try:
            weight = float(items[1]) if len(items) > 1 else 1.0
        except ValueError:
            weight = 1.0
        found.append({"name": items[0], "weight": weight, "found": items[0] in names})
    return found


def generate(state: State, body: dict, img2img: bool) -> dict:
    prompt = body.get("prompt", "")
    validate(body)
    controlnet = controlnet_units(state, body)
    if "[fake:validation]" in prompt:
        raise unprocessable("steps", "value is not a valid integer", "type_error.integer")
    sampler = body.get("sampler_name") or body.get("sampler_index") or "Euler"
    if sampler not in SAMPLERS and sampler != "Euler":
        raise handled(400, "HTTPException", "Sampler not found")
    init = None
    if img2img:
        images = body.get("init_images") or []
        if not images:
            raise handled(404, "HTTPException", "Init image not found")
        init = decode_image(images[0])
        if init is None or (body.get("mask") is not None and decode_image(body["mask"]) is None):
            raise handled(500, "HTTPException", "Invalid encoded image")
    task = body.get("force_task_id") or f"task({random.randrange(16**15):015x})"
    width, height = body.get("width") or 512, body.get("height") or 512
    batch = body.get("batch_size") or 1
    steps = body.get("steps") or 50
    seed = body.get("seed")
    if seed is None or seed == -1:
        seed = random.randrange(2**32)
    overrides = body.get("override_settings") or {}
    with state.lock:
        state.pending[task] = time.time()
    with state.generation_lock:
        with state.lock:
            del state.pending[task]
            previous = state.checkpoint
            if "sd_model_checkpoint" in overrides:
                found = state.find_checkpoint(overrides["sd_model_checkpoint"])
                if found:
                    state.checkpoint = found["title"]
            checkpoint = state.checkpoint
            state.current_task, state.job = task, "scripts_img2img" if img2img else "scripts_txt2img"
            state.step, state.steps, state.interrupted = 0, steps, False
        try:
            if "[fake:server_error]" in prompt:
                raise handled(500, "OutOfMemoryError", "", OOM)
            deadline = time.time() + (120 if "[fake:slow]" in prompt else min(0.3, steps * 0.005))
            while time.time() < deadline and not state.interrupted:
                time.sleep(0.02)
                with state.lock:
                    state.step = min(state.steps, state.step + 1)
            interrupted = state.interrupted
        finally:
            with state.lock:
                state.finished = (state.finished + [task])[-16:]
                state.current_task, state.job, state.step, state.steps = None, "", 0, 0
                if body.get("override_settings_restore_afterwards", True):
                    state.checkpoint = previous
    model = next(c for c in CHECKPOINTS if c["title"] == checkpoint)
    seeds = [seed + i for i in range(batch)]
    images = [base64.b64encode(make_png(width, height, f"{prompt}|{s}|{model['model_name']}|{bool(init)}")).decode() for s in seeds]
    first = 0
    if "[fake:grid]" in prompt and batch > 1:
        images.insert(0, base64.b64encode(make_png(width * 2, height, "grid")).decode())
        first = 1
    for unit in controlnet:  # the extension appends each unit's detected map
        images.append(base64.b64encode(make_png(width, height, f"detected map|{unit['module']}")).decode())
    info = {
        "prompt": prompt, "all_prompts": [prompt] * batch, "negative_prompt": body.get("negative_prompt", ""),
        "all_negative_prompts": [body.get("negative_prompt", "")] * batch, "seed": seed, "all_seeds": seeds,
        "subseed": seed + 1000, "all_subseeds": [s + 1000 for s in seeds], "subseed_strength": 0, "width": width,
        "height": height, "sampler_name": sampler, "cfg_scale": body.get("cfg_scale", 7.0), "steps": steps,
        "batch_size": batch, "restore_faces": False, "sd_model_name": model["model_name"], "sd_model_hash": model["hash"],
        "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": body.get("denoising_strength", 0.75 if img2img else None),
        "extra_generation_params": {}, "index_of_first_image": first, "infotexts": [f"{prompt}\nSteps: {steps}, Seed: {s}" for s in seeds],
        "styles": [], "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": 1, "is_using_inpainting_conditioning": False,
    }
    parameters = {k: v for k, v in body.items()}
    if img2img and not body.get("include_init_images"):
        parameters["init_images"], parameters["mask"] = None, None
    with state.lock:
        state.generations.append({"task": task, "img2img": img2img, "seeds": seeds, "checkpoint": checkpoint,
                                  "width": width, "height": height, "interrupted": interrupted,
                                  "init_size": png_size(init) if init else None, "controlnet": controlnet,
                                  "loras": loras_in(prompt)})
    return {"images": images, "parameters": parameters, "info": json.dumps(info)}


def validate_extras(body: dict) -> None:
    """Pydantic checks of ExtrasSingleImageRequest (modules/api/models.py)."""
    if "resize_mode" in body and body["resize_mode"] not in (0, 1):
        raise unprocessable("resize_mode", "unexpected value; permitted: 0, 1", "value_error.const")
    for field in ("upscaling_resize_w", "upscaling_resize_h"):
        value = body.get(field, 512)
        if isinstance(value, bool) or not isinstance(value, int):
            raise unprocessable(field, "value is not a valid integer", "type_error.integer")
        if value < 1:
            raise unprocessable(field, "ensure this value is greater than or equal to 1", "value_error.number.not_ge")
    factor = body.get("upscaling_resize", 2)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise unprocessable("upscaling_resize", "value is not a valid float", "type_error.float")
    if factor <= 0:
        raise unprocessable("upscaling_resize", "ensure this value is greater than 0", "value_error.number.not_gt")
    for field in ("gfpgan_visibility", "codeformer_visibility", "codeformer_weight", "extras_upscaler_2_visibility"):
        value = body.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise unprocessable(field, "value is not a valid float", "type_error.float")
        if not 0 <= value <= 1:
            kind, bound = ("not_ge", "greater than or equal to 0") if value < 0 else ("not_le", "less than or equal to 1")
            raise unprocessable(field, f"ensure this value is {bound}", f"value_error.number.{kind}")
    for field in ("upscaler_1", "upscaler_2", "image"):
        if field in body and not isinstance(body[field], str):
            raise unprocessable(field, "str type expected", "type_error.str")


def upscale(state: State, body: dict) -> dict:
    """extras_single_image_api: decode, look the upscalers up, upscale (under the queue lock)."""
    validate_extras(body)
    data = decode_image(body.get("image", ""))
    if data is None:
        raise handled(500, "HTTPException", "Invalid encoded image")
    size = png_size(data)
    if size is None:
        raise handled(500, "NotImplementedError", "", "the fake upscales PNG inputs only")
    names = [u["name"] for u in UPSCALERS]
    for field in ("upscaler_1", "upscaler_2"):
        name = body.get(field, "None")
        if name != "None" and name not in names:
            raise handled(500, "AssertionError", "", f"could not find upscaler named {name}")
    upscaler = body.get("upscaler_1", "None")
    (iw, ih), mode = size, body.get("resize_mode", 0)
    if upscaler == "None":
        width, height = iw, ih  # scripts/postprocessing_upscale.py returns before upscaling
    else:
        if mode == 1:
            target = (body.get("upscaling_resize_w", 512), body.get("upscaling_resize_h", 512))
            factor = max(target[0] / iw, target[1] / ih)
        else:
            factor = body.get("upscaling_resize", 2)
        # modules/upscaler.py Upscaler.upscale: the size is rounded down to a multiple of 8 ...
        width, height = int((iw * factor) // 8 * 8), int((ih * factor) // 8 * 8)
        if mode == 1 and body.get("upscaling_crop", True):
            width, height = target  # ... and "Crop to fit" pastes it onto a canvas of exactly the asked size
    if width < 1 or height < 1:
        raise handled(500, "ValueError", "", "height and width must be > 0")
    with state.generation_lock:
        with state.lock:
            state.job = "extras"
        time.sleep(0.02)
        with state.lock:
            state.job = ""
    seed = f"upscale|{upscaler}|{hash(data)}"
    info = f"Postprocess upscale {'to' if mode == 1 else 'by'}: " + \
        (f"{body.get('upscaling_resize_w', 512)}x{body.get('upscaling_resize_h', 512)}" if mode == 1 else f"{body.get('upscaling_resize', 2)}")
    with state.lock:
        state.upscales.append({"upscaler": upscaler, "input_size": [iw, ih], "output_size": [width, height], "resize_mode": mode})
    return {"image": base64.b64encode(make_png(width, height, seed)).decode(),
            "html_info": f"<div class='infotext'>\n<p>\n{info}, Postprocess upscaler: {upscaler}\n</p>\n</div>\n"}


class Handler(FakeHandler):
    server_version = "uvicorn"
    sys_version = ""

    @property
    def state(self) -> State:
        return self.server.state

    def send_json(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Process-Time", f"{time.time() - self.started:.4f}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        raw = self.read_body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return raw, parsed

    def record(self, path: str, parsed) -> None:
        if path.startswith("/__fake/"):
            return
        with self.state.lock:
            self.state.recorded.append({"method": self.command, "path": path,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}, "json": parsed})

    def check_auth(self) -> None:
        if not self.state.basic:
            return
        expected = "Basic " + base64.b64encode(self.state.basic.encode()).decode()
        if self.headers.get("Authorization") != expected:
            raise FakeError(401, {"detail": "Incorrect username or password"}, {"WWW-Authenticate": "Basic"})

    def handle_any(self, method: str) -> None:
        self.started = time.time()
        path = urlsplit(self.path).path
        raw, parsed = self.read_json()
        self.record(self.path, parsed)
        try:
            status, body = self.route(path, raw, parsed)
            self.send_json(status, body)
        except FakeError as e:
            self.send_json(e.status, e.body, e.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, path: str, raw: bytes, parsed):
        s, method = self.state, self.command
        if path == "/__fake/requests":
            if method == "DELETE":
                with s.lock:
                    s.recorded.clear()
                return 200, {}
            with s.lock:
                return 200, list(s.recorded)
        if path == "/__fake/state":
            with s.lock:
                return 200, {"generations": s.generations, "interrupts": s.interrupts, "checkpoint": s.checkpoint,
                             "upscales": s.upscales}
        if path == "/internal/progress" and method == "POST":
            return 200, self.task_progress(parsed or {})
        # Extension routes, registered on the app itself: --api-auth does not cover them.
        if path == "/controlnet/control_types" and method == "GET" and s.controlnet:
            return 200, {"control_types": CONTROL_TYPES}
        if path == "/sdapi/v1/loras":
            if method == "GET" and s.loras:
                return 200, LORAS
            raise FakeError(404, {"detail": "Not Found"})
        if not path.startswith("/sdapi/v1/") or not s.api:
            raise FakeError(404, {"detail": "Not Found"})
        self.check_auth()
        route = (method, path[len("/sdapi/v1"):])
        if route[0] == "POST" and route[1] in ("/txt2img", "/img2img"):
            if not isinstance(parsed, dict):
                raise FakeError(422, {"detail": [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]})
            return 200, generate(s, parsed, route[1] == "/img2img")
        if route == ("POST", "/extra-single-image"):
            if not isinstance(parsed, dict):
                raise FakeError(422, {"detail": [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]})
            return 200, upscale(s, parsed)
        if route == ("GET", "/upscalers"):
            return 200, UPSCALERS
        if route == ("GET", "/sd-models"):
            return 200, CHECKPOINTS
        if route == ("GET", "/samplers"):
            return 200, [{"name": n, "aliases": [], "options": {}} for n in SAMPLERS]
        if route == ("GET", "/schedulers"):
            return 200, [{"name": n, "label": l, "aliases": None, "default_rho": -1, "need_inner_model": False} for n, l in SCHEDULERS]
        if route == ("GET", "/options"):
            with s.lock:
                return 200, {"sd_model_checkpoint": s.checkpoint, "samples_format": "png", "return_grid": True}
        if route == ("POST", "/options"):
            found = s.find_checkpoint((parsed or {}).get("sd_model_checkpoint", "")) if isinstance(parsed, dict) else None
            if isinstance(parsed, dict) and "sd_model_checkpoint" in parsed and not found:
                raise handled(500, "RuntimeError", "", f"model {parsed['sd_model_checkpoint']!r} not found")
            with s.lock:
                if found:
                    s.checkpoint = found["title"]
            return 200, None
        if route == ("GET", "/progress"):
            with s.lock:
                running = s.current_task is not None
                fraction = s.step / s.steps if running and s.steps else 0.0
                return 200, {"progress": fraction, "eta_relative": (s.steps - s.step) * 0.02 if running else 0.0,
                             "state": {"skipped": False, "interrupted": s.interrupted, "stopping_generation": False, "job": s.job,
                                       "job_count": 1 if running else 0, "job_timestamp": "0", "job_no": 0,
                                       "sampling_step": s.step, "sampling_steps": s.steps},
                             "current_image": None, "textinfo": None, "current_task": s.current_task}
        if route in (("POST", "/interrupt"), ("POST", "/skip")):
            with s.lock:
                if route[1] == "/interrupt":
                    s.interrupted = True
                s.interrupts.append({"task": s.current_task, "kind": route[1][1:], "at": time.time()})
            return 200, None
        if route == ("POST", "/refresh-checkpoints"):
            return 200, None
        raise FakeError(404, {"detail": "Not Found"})

    def task_progress(self, body: dict) -> dict:
        s, task = self.state, body.get("id_task")
        with s.lock:
            active, queued, completed = task is not None and task == s.current_task, task in s.pending, task in s.finished
            if not active:
                text = "Waiting..."
                if queued:
                    order = sorted(s.pending, key=s.pending.get)
                    text = f"In queue: {order.index(task) + 1}/{len(order)}"
                return {"active": False, "queued": queued, "completed": completed, "progress": None, "eta": None,
                        "live_preview": None, "id_live_preview": -1, "textinfo": text}
            fraction = s.step / s.steps if s.steps else 0.0
            return {"active": True, "queued": False, "completed": False, "progress": fraction, "eta": (s.steps - s.step) * 0.02,
                    "live_preview": None, "id_live_preview": -1, "textinfo": None}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start(port: int = 0, basic: str | None = None, api: bool = True, host: str = "127.0.0.1",
          controlnet: bool = True, loras: bool = True):
    """Serve in a background thread; returns (server, base_url). controlnet/loras=False: without that extension."""
    server = Server((host, port), Handler)
    server.state = State(basic, api, controlnet, loras)
    serve_in_thread(server, "sdwebui-fake")
    return server, f"http://{host}:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--basic", help="user:pass for --api-auth style HTTP Basic on /sdapi routes")
    parser.add_argument("--no-api", action="store_true", help="serve like the UI without --api (/sdapi is 404)")
    parser.add_argument("--no-controlnet", action="store_true", help="without sd-webui-controlnet (/controlnet is 404)")
    parser.add_argument("--no-loras", action="store_true", help="without the Lora extension (/sdapi/v1/loras is 404)")
    args = parser.parse_args()
    server, base = start(args.port, args.basic, not args.no_api, args.host, not args.no_controlnet, not args.no_loras)
    print(f"LISTENING {base}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        sys.exit(0)


if __name__ == "__main__":
    main()
