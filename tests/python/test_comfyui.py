"""End-to-end tests of the ComfyUI plugin: the `easel` binary (CLI and MCP over stdio)
driving the sandboxed comfyui component against tests/fakes/comfyui_fake.py, which speaks
ComfyUI's real HTTP API (docs/providers/comfyui.md).

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "comfyui"`, or from
EASEL_COMFYUI_WASM (a path to easel_comfyui.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import comfyui_fake  # noqa: E402
from conftest import closed_port, failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402
from fakekit import png_size as png_size_of  # noqa: E402
from imagebytes import png_size  # noqa: E402

WASM = os.environ.get("EASEL_COMFYUI_WASM")
SD15, SDXL = comfyui_fake.CHECKPOINTS
# The plugin's built-in txt2img graph (plugins/comfyui/src/workflows/txt2img.json), for custom-workflow tests.
TXT2IMG = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["4", 1]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": "{{batch_size}}"}},
    "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{cfg}}", "sampler_name": "{{sampler}}",
                                               "scheduler": "{{scheduler}}", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
                                               "negative": ["7", 0], "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "easel", "images": ["8", 0]}},
}


class Setup:
    """One fake ComfyUI plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        self.env = {**os.environ, "EASEL_CACHE": str(cache)}
        self.write_config()

    def write_config(self, base_url: str | None = None, allowed: list[str] | None = None, extra: str = "") -> None:
        source = f'path = "{WASM}"' if WASM else 'builtin = "comfyui"'
        allowed = [self.base] if allowed is None else allowed
        self.config.write_text(f"""
[defaults]
provider = "comfyui"
wait_secs = 20

[plugins.comfyui]
{source}
allowed_hosts = {json.dumps(allowed)}
[plugins.comfyui.config]
base_url = "{base_url or self.base}"
{extra}
""")

    def generate(self, prompt: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store),
                               "generate", prompt, "--provider", "comfyui", *args],
                              env=self.env, capture_output=True, text=True, timeout=180)

    def requests(self, method: str | None = None, prefix: str = "") -> list[dict]:
        return [r for r in list(self.server.state.recorded)
                if (method is None or r["method"] == method) and r["path"].startswith(prefix)]

    def prompts(self) -> list[dict]:
        """The graphs sent with POST /prompt."""
        return [r["json"] for r in self.requests("POST", "/prompt")]


@pytest.fixture
def make_setup(tmp_path, cache_dir):
    servers = []

    def make(**options) -> Setup:
        server, base = comfyui_fake.start(**options)
        servers.append(server)
        return Setup(tmp_path, cache_dir, base, server)

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def setup(make_setup) -> Setup:
    return make_setup()


def classes(graph: dict) -> dict[str, str]:
    return {node_id: node["class_type"] for node_id, node in graph.items()}


def find(graph: dict, class_type: str) -> dict:
    return next(node["inputs"] for node in graph.values() if node["class_type"] == class_type)


# -- CLI ------------------------------------------------------------------------------------

def test_txt2img_queues_the_default_workflow_and_returns_the_saved_pngs(setup):
    images = outputs(setup.generate("a red fox in snow", "--width", "320", "--height", "256", "--count", "2",
                                    "--seed", "42", "--steps", "12", "--guidance", "6.5", "--negative-prompt", "blurry"))
    assert len(images) == 2
    for _, path in images:
        assert png_size(path) == (320, 256)
    [body] = setup.prompts()
    assert len(body["client_id"]) >= 16
    graph = body["prompt"]
    assert sorted(classes(graph).values()) == sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode",
                                                     "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"])
    assert find(graph, "EmptyLatentImage") == {"width": 320, "height": 256, "batch_size": 2}
    sampler = find(graph, "KSampler")
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["denoise"]) == (42, 12, 6.5, 1.0)
    texts = sorted(n["inputs"]["text"] for n in graph.values() if n["class_type"] == "CLIPTextEncode")
    assert texts == ["a red fox in snow", "blurry"]
    assert find(graph, "CheckpointLoaderSimple")["ckpt_name"] == SD15, "the first checkpoint is the default model"
    assert setup.server.state.history_polls == 4, "pending, pending, running (then the websocket until it finished), done"
    [socket] = setup.server.state.ws_connections
    assert socket["client_id"] == body["client_id"], "the websocket listens as the client the prompt was queued for"
    assert setup.requests("GET", "/queue")
    views = setup.requests("GET", "/view?")
    assert len(views) == 2 and all("type=output" in r["path"] for r in views)


def test_model_and_alias_reach_ckpt_name_and_sdxl_defaults_to_1024(setup):
    [(_, path)] = outputs(setup.generate("a castle", "--model", SDXL))
    assert png_size(path) == (1024, 1024)
    outputs(setup.generate("a castle", "--model", "sd_xl_base_1.0", "--width", "512", "--height", "512"))
    first, second = setup.prompts()
    assert find(first["prompt"], "CheckpointLoaderSimple")["ckpt_name"] == SDXL
    assert find(second["prompt"], "CheckpointLoaderSimple")["ckpt_name"] == SDXL
    seeds = {find(b["prompt"], "KSampler")["seed"] for b in (first, second)}
    assert len(seeds) == 2 and all(isinstance(s, int) and 0 <= s < 2**53 for s in seeds), "unseeded runs draw fresh seeds"


def test_img2img_uploads_the_input_then_loads_and_encodes_it(setup, tmp_path):
    reference = tmp_path / "reference.png"
    reference.write_bytes(comfyui_fake.make_png(320, 240, "reference"))
    [(_, path)] = outputs(setup.generate("make it night time", "--image", str(reference), "--strength", "0.6"))
    assert png_size(path) == (320, 240)
    [upload] = setup.requests("POST", "/upload/image")
    assert upload["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert upload["form"]["type"] == "input" and upload["form"]["image"].endswith(".png")
    [body] = setup.prompts()
    graph = body["prompt"]
    assert find(graph, "LoadImage")["image"] == upload["form"]["image"]
    assert "VAEEncode" in classes(graph).values() and "EmptyLatentImage" not in classes(graph).values()
    assert find(graph, "KSampler")["denoise"] == pytest.approx(0.6)


def test_node_errors_name_the_node_and_input(setup):
    workflow = json.loads(json.dumps(TXT2IMG))
    del workflow["5"]["inputs"]["height"]  # and so no {{height}}: the plugin needs none without --height
    setup.write_config(extra=f"workflow_txt2img = '{json.dumps(workflow)}'")
    failed(setup.generate("a fox"), "node 5 (EmptyLatentImage) input `height`", "Required input is missing")


@pytest.mark.parametrize("legacy", [False, True], ids=["object-error", "plain-string-error"])
def test_a_vanished_checkpoint_is_an_invalid_model(make_setup, legacy):
    setup = make_setup(legacy_errors=legacy)
    stderr = failed(setup.generate("a fox [fake:bad_checkpoint]"),
                    "node 4 (CheckpointLoaderSimple) input `ckpt_name`", "Value not in list", SD15)
    assert "model" in stderr
    [response_error] = [r for r in setup.requests("POST", "/prompt")]
    assert response_error["json"]["prompt"]


def test_an_unknown_node_class_is_named(setup):
    workflow = json.loads(json.dumps(TXT2IMG))
    workflow["3"]["class_type"] = "FancySampler"
    setup.write_config(extra=f"workflow_txt2img = '{json.dumps(workflow)}'")
    failed(setup.generate("a fox"), "FancySampler", "#3", "not installed")


def test_a_custom_img2img_workflow_without_image_placeholder_is_refused(setup, tmp_path):
    workflow = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["2", 1]}}}
    setup.write_config(extra=f"workflow_img2img = '{json.dumps(workflow)}'")
    reference = tmp_path / "reference.png"
    reference.write_bytes(comfyui_fake.make_png(64, 64, "r"))
    failed(setup.generate("night", "--image", str(reference)), "{{image}}", "workflow_img2img")
    assert setup.prompts() == [] and setup.requests("POST", "/upload/image") == []


def test_execution_errors_are_readable(setup):
    failed(setup.generate("a fox [fake:exec_error]"), "node 3 (KSampler)", "out of memory")


def test_backend_down_says_how_to_start_comfyui(setup):
    down = f"http://127.0.0.1:{closed_port()}"
    setup.write_config(base_url=down, allowed=[down])
    stderr = failed(setup.generate("a fox"), f"ComfyUI not reachable at {down}", "start it with `python main.py` (it serves http://127.0.0.1:8188")
    # Bare --listen binds every interface in ComfyUI 0.3.64: never advise it for this machine.
    assert "`python main.py --listen`" not in stderr, stderr


def test_private_address_needs_its_literal_allowed_hosts_entry(setup):
    setup.write_config(allowed=[])
    failed(setup.generate("a fox"), f'add "{setup.base}"', "allowed_hosts")
    assert setup.requests() == [], "nothing reached the server"
    setup.write_config(allowed=["https://comfy.example.com"])
    failed(setup.generate("a fox"), f'add "{setup.base}"')
    setup.write_config(allowed=[setup.base])
    outputs(setup.generate("a fox", "--width", "64", "--height", "64"))


# -- MCP ------------------------------------------------------------------------------------

def mcp_generate_with_progress(setup, **arguments) -> tuple[dict, list[tuple[float, str]]]:
    """generate_image through MCP with a progress callback: (structured result, [(percent, message)])."""
    events: list[tuple[float, str]] = []

    async def progress(value, total, message):
        events.append((value, message or ""))

    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "a red fox", "provider": "comfyui", **arguments},
                                       progress_callback=progress)

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    return structured(result), events


def test_mcp_progress_follows_the_websocket_node_by_node_and_step_by_step(setup):
    # The fake plays the execution on /ws: each node's `executing`, the KSampler's six `progress` steps
    # (spread over 1.5 s, so the host's coalescing of reports 100 ms apart keeps most), then the end.
    result, events = mcp_generate_with_progress(setup, width=256, height=192, steps=6)
    [image] = result["images"]
    assert (image["width"], image["height"]) == (256, 192)
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    steps = [i for i, m in enumerate(messages) if re.fullmatch(r"KSampler step [1-6]/6", m)]
    assert steps, f"no sampler steps among the progress messages: {messages}"
    assert first(lambda m: "position 0" in m) < steps[0] < first(lambda m: m.startswith("storing")), messages
    # The live span sits between "queued" (5 %) and the download (90 %), and moves through it.
    live = sorted({v for v, m in events if m.startswith(("running ", "KSampler step", "ComfyUI "))})
    assert len(live) >= 3 and all(5 < v <= 90 for v in live), events
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"
    assert setup.server.state.history_polls == 4, "the poll that listened went to /history once, when the socket said done"
    assert len(setup.server.state.ws_connections) == 1
    assert not any(m.startswith("running on ComfyUI") for m in messages), "no fallback while the socket works"


def test_mcp_without_a_websocket_progress_is_queue_position_running_and_download(make_setup):
    setup = make_setup(ws_status=403)  # e.g. a proxy in front of ComfyUI that refuses websocket upgrades
    result, events = mcp_generate_with_progress(setup, width=256, height=192)
    [image] = result["images"]
    assert (image["width"], image["height"]) == (256, 192)
    assert Path(image["path"]).exists()
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    queued = first(lambda m: m.startswith("queued at ComfyUI as prompt"))
    position1 = first(lambda m: "position 1" in m)
    position0 = first(lambda m: "position 0" in m)
    running = first(lambda m: m.startswith("running on ComfyUI"))
    download = first(lambda m: m.startswith("downloading image 1/1"))
    assert queued < position1 < position0 < running < download, messages
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"
    # Clean percentages (5.0, never 5.000000074505806 from a widened f32).
    assert all(round(v, 1) == v for v in values), values
    assert setup.server.state.ws_connections, "it tried the websocket"
    assert setup.server.state.history_polls >= 5, "pending, pending, running, running, done: polling as before"


def test_mcp_edit_image_with_a_stored_reference(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "comfyui", "width": 384, "height": 256})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        return await session.call_tool("edit_image", {"prompt": "paint it blue", "provider": "comfyui",
                                                      "images": [{"image": reference, "role": "reference"}], "strength": 0.4})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (384, 256)
    assert len(setup.requests("POST", "/upload/image")) == 1
    edit = setup.prompts()[-1]["prompt"]
    assert find(edit, "KSampler")["denoise"] == pytest.approx(0.4)
    assert find(edit, "LoadImage")["image"].startswith("easel-")


def test_mcp_cancel_reaches_interrupt_and_queue_delete(make_setup):
    setup = make_setup(queued_polls=0)

    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "provider": "comfyui",
                                                             "width": 64, "height": 64, "wait_seconds": 2})
        assert not is_error(started), started.content
        job_id = structured(started)["job_id"]
        # Running at ComfyUI; the host may still say queued: it records `running` at the first measured
        # progress (a KSampler step on the websocket) or when a poll returns, whichever comes first.
        assert structured(started)["status"] in ("queued", "running"), structured(started)
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status

    cancelled, status = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    assert structured(status)["status"] == "canceled", structured(status)
    [job] = setup.server.state.jobs.values()
    [delete] = setup.requests("POST", "/queue")
    assert delete["json"] == {"delete": [job.id]}
    [interrupt] = setup.requests("POST", "/interrupt")
    assert interrupt["json"] == {"prompt_id": job.id}
    assert job.state == "error" and "execution_interrupted" in json.dumps(job.history)


def test_mcp_errors_are_tool_results_naming_the_node(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "x [fake:bad_checkpoint]", "provider": "comfyui"})

    result = run_mcp(setup, body)
    assert is_error(result)
    assert "node 4 (CheckpointLoaderSimple) input `ckpt_name`" in text_of(result), text_of(result)


def test_mcp_list_providers_shows_checkpoints_or_why_comfyui_is_down(setup):
    async def body(session):
        return await session.call_tool("list_providers", {})

    result = run_mcp(setup, body)
    [comfy] = [p for p in structured(result)["providers"] if p["id"] == "comfyui"]
    assert comfy["status"] == "ready", comfy
    # The checkpoints first, then the upscalers (the plugin's own order).
    assert [m["id"] for m in comfy["models"]] == [SD15, SDXL, "upscaler:RealESRGAN_x4plus.pth",
                                                  "upscaler:RealESRGAN_x2plus.pth", "upscaler:lanczos"]

    down = f"http://127.0.0.1:{closed_port()}"
    setup.write_config(base_url=down, allowed=[down])
    result = run_mcp(setup, body)
    [comfy] = [p for p in structured(result)["providers"] if p["id"] == "comfyui"]
    assert comfy["status"] == "unavailable", comfy
    assert f"ComfyUI not reachable at {down}" in comfy["reason"] and "start it with `python main.py` (" in comfy["reason"]
    assert "`python main.py --listen`" not in comfy["reason"], comfy["reason"]


def test_mcp_vary_image_on_a_workflow_without_a_seed_reruns_it_and_records_no_seed(setup):
    workflow = json.loads(json.dumps(TXT2IMG))
    workflow["3"]["inputs"]["seed"] = 777  # the workflow's own fixed seed: no {{seed}}
    setup.write_config(extra=f"workflow_txt2img = '{json.dumps(workflow)}'")

    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a red fox", "provider": "comfyui", "width": 256, "height": 192})
        assert not is_error(made), made.content
        original = structured(made)["images"][0]
        varied = await session.call_tool("vary_image", {"image": original["id"]})
        seeded = await session.call_tool("vary_image", {"image": original["id"], "seed": 5})
        return original, varied, seeded

    original, varied, seeded = run_mcp(setup, body)
    assert original.get("seed") is None, f"the plugin reported a seed the workflow never used: {original}"
    assert not is_error(varied), text_of(varied)
    [image] = structured(varied)["images"]
    assert image.get("seed") is None, image
    assert "takes no seed" in text_of(varied) and "re-ran" in text_of(varied), text_of(varied)
    graphs = setup.prompts()
    assert len(graphs) == 2, "generate and the variation ran; the explicit seed was refused before any request"
    assert all(find(g["prompt"], "KSampler")["seed"] == 777 for g in graphs)
    assert is_error(seeded) and "seed" in text_of(seeded), text_of(seeded)


# -- upscaling --------------------------------------------------------------------------------

UPSCALE_GRAPH = ["ImageScale", "ImageUpscaleWithModel", "LoadImage", "SaveImage", "UpscaleModelLoader"]


def mcp_upscale(setup, width: int, height: int, **arguments):
    """generate_image (a source of width x height), then upscale_image of it with `arguments`, then list_models
    for operation "upscale": (source, upscale result, its metadata sidecar or None, listed upscale models)."""
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a lighthouse", "provider": "comfyui",
                                                          "width": width, "height": height})
        assert not is_error(made), made.content
        source = structured(made)["images"][0]
        up = await session.call_tool("upscale_image", {"image": source["id"], "provider": "comfyui", **arguments})
        meta = None
        if not is_error(up):
            resource = await session.read_resource(f"image://{structured(up)['images'][0]['id']}/metadata")
            meta = json.loads(resource.contents[0].text)
        listed = await session.call_tool("list_models", {"provider": "comfyui", "operation": "upscale"})
        return source, up, meta, listed

    return run_mcp(setup, body)


def test_mcp_upscale_image_runs_the_upscale_model_then_resizes_to_twice_the_size(setup):
    source, up, meta, listed = mcp_upscale(setup, 192, 128, scale=2)
    assert not is_error(up), text_of(up)
    [image] = structured(up)["images"]
    assert (image["width"], image["height"]) == (384, 256)
    assert png_size(image["path"]) == (384, 256)
    assert structured(up)["model"] == "upscaler:RealESRGAN_x4plus.pth", "the first upscaler, not the default checkpoint"
    assert meta["parents"] == [source["id"]]

    # Generating uploads nothing; the upscale uploads the stored source and loads exactly that file.
    [upload] = setup.requests("POST", "/upload/image")
    assert upload["form"]["type"] == "input"
    name = upload["form"]["image"]
    assert png_size_of(setup.server.state.files[("input", "", name)]) == (192, 128)
    graph = setup.prompts()[-1]["prompt"]
    assert sorted(classes(graph).values()) == UPSCALE_GRAPH
    ids = {class_type: node_id for node_id, class_type in classes(graph).items()}
    assert find(graph, "LoadImage") == {"image": name}
    assert find(graph, "UpscaleModelLoader") == {"model_name": "RealESRGAN_x4plus.pth"}
    assert find(graph, "ImageUpscaleWithModel") == {"upscale_model": [ids["UpscaleModelLoader"], 0], "image": [ids["LoadImage"], 0]}
    resize = find(graph, "ImageScale")
    assert resize == {"image": [ids["ImageUpscaleWithModel"], 0], "upscale_method": "lanczos", "width": 384, "height": 256,
                      "crop": "disabled"}, "the 4x model's 768x512 is resized to the asked 2x"
    assert find(graph, "SaveImage")["images"] == [ids["ImageScale"], 0]

    assert not is_error(listed), text_of(listed)
    models = structured(listed)["models"]
    assert [(m["provider"], m["model"]["id"]) for m in models] == [
        ("comfyui", "upscaler:RealESRGAN_x4plus.pth"), ("comfyui", "upscaler:RealESRGAN_x2plus.pth"), ("comfyui", "upscaler:lanczos")]
    for m in models:
        assert m["model"]["operations"] == ["upscale"] and m["model"]["max_input_images"] == 1, m


def test_mcp_upscale_without_upscale_models_resamples_with_image_scale_alone(make_setup):
    setup = make_setup(upscale_models=[])
    source, up, meta, listed = mcp_upscale(setup, 160, 96, scale=2)
    assert not is_error(up), text_of(up)
    [image] = structured(up)["images"]
    assert (image["width"], image["height"]) == (320, 192)
    assert png_size(image["path"]) == (320, 192)
    assert structured(up)["model"] == "upscaler:lanczos"
    graph = setup.prompts()[-1]["prompt"]
    assert sorted(classes(graph).values()) == ["ImageScale", "LoadImage", "SaveImage"]
    resize = find(graph, "ImageScale")
    assert (resize["width"], resize["height"], resize["upscale_method"]) == (320, 192, "lanczos")
    assert [m["model"]["id"] for m in structured(listed)["models"]] == ["upscaler:lanczos"]
