"""End-to-end tests of the sdwebui plugin: the `easel` binary (CLI and MCP over stdio) driving
the sandboxed AUTOMATIC1111 component against tests/fakes/sdwebui_fake.py.

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "sdwebui"`, or from
EASEL_SDWEBUI_WASM (a path to easel_sdwebui.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import sdwebui_fake  # noqa: E402
from conftest import closed_port, failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402

WASM = os.environ.get("EASEL_SDWEBUI_WASM")
V15 = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
SDXL = "sd_xl_base_1.0.safetensors [31e35c80fc]"


class Setup:
    """One fake server plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server, *, allowed: list[str] | None = None,
                 secret: bool = False, extra_config: str = "", plugin_extra: str = ""):
        self.root, self.base, self.server, self.cache = root, base, server, cache
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "sdwebui"'
        allowed = [base] if allowed is None else allowed
        secret_table = f"""
[plugins.sdwebui.secrets.SDWEBUI_AUTH]
env = "SDWEBUI_AUTH"
hosts = ["{base}"]
""" if secret else ""
        self.config.write_text(f"""
[defaults]
provider = "sdwebui"
wait_secs = 20

[plugins.sdwebui]
{source}
allowed_hosts = {json.dumps(allowed)}
{plugin_extra}
[plugins.sdwebui.config]
base_url = "{base}"
{extra_config}
{secret_table}
""")
        self.env = {**os.environ, "EASEL_CACHE": str(cache)}

    def args(self) -> list[str]:
        return [EASEL_BIN, "--config", str(self.config), "--store", str(self.store)]

    def generate(self, prompt: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.args() + ["generate", prompt, "--provider", "sdwebui", *args],
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=180)

    def requests(self) -> list[dict]:
        return list(self.server.state.recorded)

    def generations(self) -> list[dict]:
        return list(self.server.state.generations)

    def posts(self, route: str) -> list[dict]:
        return [r for r in self.requests() if r["method"] == "POST" and r["path"] == f"/sdapi/v1/{route}"]


@pytest.fixture
def fake():
    servers = []

    def make(**kwargs):
        server, base = sdwebui_fake.start(**kwargs)
        servers.append(server)
        return server, base

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def setup(tmp_path, cache_dir, fake):
    server, base = fake()
    return Setup(tmp_path, cache_dir, base, server)


def png_size(path: str | Path) -> tuple[int, int]:
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


# -- CLI ------------------------------------------------------------------------------------

def test_a_structured_prompt_reaches_a_checkpoint_as_weighted_tags_with_negatives_joined(setup):
    structured_prompt = {"subject": "a red fox", "subjects": [{"description": "a crow", "position": "on a branch"}],
                         "scene": "snowy birch forest", "style": {"medium": "watercolor", "descriptors": ["loose"]},
                         "palette": ["rust", "cream"], "negative": ["blurry", "extra limbs"]}
    outputs(setup.generate("", "--model", "sd_xl_base_1.0", "--negative-prompt", "watermark",
                           "--structured-prompt", json.dumps(structured_prompt)))
    [call] = setup.posts("txt2img")
    assert call["json"]["prompt"] == ("(a red fox:1.2), (a crow:1.1), on a branch, snowy birch forest, watercolor, loose, "
                                      "rust and cream palette"), call["json"]["prompt"]
    assert call["json"]["negative_prompt"] == "watermark, blurry, extra limbs"


def test_a_structured_prompt_with_an_unknown_key_is_refused_naming_it(setup):
    result = setup.generate("a fox", "--structured-prompt", '{"subject": "a fox", "lightning": "dusk"}')
    assert failed(result, "--structured-prompt.lightning", "unknown key `lightning`")
    assert setup.posts("txt2img") == [], "nothing reached the server"


def test_txt2img_maps_the_request_and_picks_the_checkpoint(setup):
    images = outputs(setup.generate("a red fox in snow", "--model", "sd_xl_base_1.0", "--count", "2", "--seed", "42",
                                    "--steps", "12", "--width", "640", "--height", "384", "--negative-prompt", "blurry"))
    assert len(images) == 2
    assert all(png_size(path) == (640, 384) for _, path in images)
    [call] = setup.posts("txt2img")
    body = call["json"]
    assert (body["prompt"], body["negative_prompt"], body["seed"], body["batch_size"], body["n_iter"], body["steps"]) == \
        ("a red fox in snow", "blurry", 42, 2, 1, 12)
    assert (body["width"], body["height"]) == (640, 384)
    assert body["override_settings"] == {"sd_model_checkpoint": SDXL}
    task = body["force_task_id"]
    assert task.startswith("task(easel-")
    # deferred mode: the first poll checks the task is new before running it
    checks = [r for r in setup.requests() if r["path"] == "/internal/progress"]
    assert checks and checks[0]["json"]["id_task"] == task
    [gen] = setup.generations()
    assert (gen["task"], gen["checkpoint"], gen["seeds"]) == (task, SDXL, [42, 43])
    assert setup.server.state.checkpoint == V15, "override_settings are restored afterwards"


def test_img2img_sends_init_image_mask_and_denoising_strength(setup, tmp_path):
    reference, mask = tmp_path / "reference.png", tmp_path / "mask.png"
    reference.write_bytes(sdwebui_fake.make_png(320, 240, "reference"))
    mask.write_bytes(sdwebui_fake.make_png(320, 240, "mask"))
    images = outputs(setup.generate("make it night time", "--image", str(reference), "--mask", str(mask), "--strength", "0.6"))
    assert png_size(images[0][1]) == (320, 240), "output follows the input's size"
    [call] = setup.posts("img2img")
    body = call["json"]
    assert base64.b64decode(body["init_images"][0]) == reference.read_bytes()
    assert base64.b64decode(body["mask"]) == mask.read_bytes()
    assert abs(body["denoising_strength"] - 0.6) < 1e-9
    assert setup.posts("txt2img") == []
    [gen] = setup.generations()
    assert gen["img2img"] and tuple(gen["init_size"]) == (320, 240)


def test_a_leading_grid_image_is_not_returned(setup):
    images = outputs(setup.generate("a tiled floor [fake:grid]", "--count", "2", "--width", "256", "--height", "256"))
    assert len(images) == 2
    assert all(png_size(path) == (256, 256) for _, path in images), "the 512x256 grid was dropped"


@pytest.mark.parametrize("marker, expected", [
    ("server_error", ["HTTP 500", "OutOfMemoryError: CUDA out of memory"]),
    ("validation", ["steps", "not a valid integer"]),
])
def test_server_errors_are_readable(setup, marker, expected):
    stderr = failed(setup.generate(f"a cat [fake:{marker}]"))
    for text in expected:
        assert text in stderr, f"{text!r} not in stderr:\n{stderr}"


def test_unknown_sampler_points_at_params(tmp_path, cache_dir, fake):
    server, base = fake()
    setup = Setup(tmp_path, cache_dir, base, server, extra_config='params = { sampler_name = "Nope", scheduler = "Karras" }')
    stderr = failed(setup.generate("a cat"))
    assert "Sampler not found" in stderr and "sampler_name" in stderr, stderr
    assert setup.posts("txt2img")[0]["json"]["scheduler"] == "Karras"


def test_sync_mode_generates_inside_submit(tmp_path, cache_dir, fake):
    server, base = fake()
    setup = Setup(tmp_path, cache_dir, base, server, extra_config='submit_mode = "sync"')
    outputs(setup.generate("a barn", "--seed", "5"))
    assert [r for r in setup.requests() if r["path"] == "/internal/progress"] == []
    assert len(setup.posts("txt2img")) == 1


def test_basic_auth_comes_from_the_secret(tmp_path, cache_dir, fake):
    server, base = fake(basic="alice:s3cret-pass")
    setup = Setup(tmp_path, cache_dir, base, server, secret=True)
    good = base64.b64encode(b"alice:s3cret-pass").decode()
    outputs(setup.generate("a fox", env={"SDWEBUI_AUTH": good}))
    sdapi = [r for r in setup.requests() if r["path"].startswith("/sdapi/")]
    assert sdapi and all(r["headers"].get("authorization") == f"Basic {good}" for r in sdapi)


def test_raw_user_pass_as_secret_is_explained(tmp_path, cache_dir, fake):
    server, base = fake(basic="alice:s3cret-pass")
    setup = Setup(tmp_path, cache_dir, base, server, secret=True)
    stderr = failed(setup.generate("a fox", env={"SDWEBUI_AUTH": "alice:s3cret-pass"}))
    assert "SDWEBUI_AUTH" in stderr and "base64" in stderr and "Incorrect username or password" in stderr, stderr


def test_missing_credentials_name_the_secret(tmp_path, cache_dir, fake):
    server, base = fake(basic="alice:s3cret-pass")
    setup = Setup(tmp_path, cache_dir, base, server)
    stderr = failed(setup.generate("a fox"))
    assert "--api-auth" in stderr and "SDWEBUI_AUTH" in stderr, stderr


def test_backend_down_says_how_to_start_it(tmp_path, cache_dir):
    base = f"http://127.0.0.1:{closed_port()}"
    setup = Setup(tmp_path, cache_dir, base, server=None)
    stderr = failed(setup.generate("a fox"))
    assert f"SD WebUI not reachable at {base} — start it with `--api`" in stderr, stderr


def test_a_server_without_api_says_start_it_with_api(tmp_path, cache_dir, fake):
    server, base = fake(api=False)
    setup = Setup(tmp_path, cache_dir, base, server)
    stderr = failed(setup.generate("a fox"))
    assert "does not serve the API" in stderr and "`--api`" in stderr, stderr


def test_loopback_needs_a_literal_allowed_hosts_entry(tmp_path, cache_dir, fake):
    server, base = fake()
    (tmp_path / "refused").mkdir()
    refused = Setup(tmp_path / "refused", cache_dir, base, server, allowed=["https://example.com"])
    stderr = failed(refused.generate("a fox"))
    assert f'add "{base}" to allowed_hosts' in stderr, stderr
    assert server.state.recorded == [], "nothing reached the server"
    allowed = Setup(tmp_path, cache_dir, base, server)
    outputs(allowed.generate("a fox"))


def test_a_generation_that_outlives_the_call_limit_is_interrupted(tmp_path, cache_dir, fake):
    server, base = fake()
    setup = Setup(tmp_path, cache_dir, base, server, plugin_extra="timeout_secs = 2")
    stderr = failed(setup.generate("a slow one [fake:slow]"))
    assert "timeout_secs" in stderr, stderr
    [call] = setup.posts("txt2img")
    interrupts = server.state.interrupts
    assert interrupts and interrupts[0]["task"] == call["json"]["force_task_id"], interrupts
    assert len(setup.posts("txt2img")) == 1, "the lost generation was not started again"


# -- MCP ------------------------------------------------------------------------------------

def test_mcp_seeds_come_from_the_info_string(setup):
    events: list[tuple[float, str]] = []

    async def progress(value, total, message):
        events.append((value, message or ""))

    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "three foxes", "provider": "sdwebui", "count": 3,
                                                          "width": 128, "height": 128}, progress_callback=progress)

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    images = structured(result)["images"]
    [gen] = setup.generations()
    assert [i["seed"] for i in images] == gen["seeds"], "seeds chosen by the server, read from info"
    assert all((i["width"], i["height"]) == (128, 128) for i in images)
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    assert first(lambda m: m.startswith("queued for SD WebUI")) < first(lambda m: "generating 3 image(s)" in m) \
        < first(lambda m: "returned 3 image(s)" in m), messages
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"


def test_mcp_edit_image_is_img2img(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "sdwebui", "width": 256, "height": 192})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        return await session.call_tool("edit_image", {"prompt": "paint it blue", "provider": "sdwebui",
                                                      "images": [{"image": reference, "role": "reference"}], "strength": 0.35})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (256, 192)
    [call] = setup.posts("img2img")
    assert abs(call["json"]["denoising_strength"] - 0.35) < 1e-9
    assert "mask" not in call["json"]


def test_mcp_list_providers_shows_checkpoints_and_the_loaded_default(setup):
    async def body(session):
        return await session.call_tool("list_providers", {})

    result = run_mcp(setup, body)
    [provider] = [p for p in structured(result)["providers"] if p["id"] == "sdwebui"]
    assert provider["status"] == "ready"
    # The checkpoints, then one upscale model per upscaler the fake lists (not "None"), R-ESRGAN 4x+ first.
    assert [m["id"] for m in provider["models"]] == ["v1-5-pruned-emaonly", "sd_xl_base_1.0", "upscaler:R-ESRGAN 4x+",
                                                     "upscaler:Lanczos", "upscaler:Nearest"]
    assert provider["default_model"] == "v1-5-pruned-emaonly"
    assert V15 in provider["models"][0]["aliases"]


def test_mcp_list_providers_shows_a_down_backend_as_unavailable(tmp_path, cache_dir):
    base = f"http://127.0.0.1:{closed_port()}"
    setup = Setup(tmp_path, cache_dir, base, server=None)

    async def body(session):
        listed = await session.call_tool("list_providers", {})
        generated = await session.call_tool("generate_image", {"prompt": "a fox", "provider": "sdwebui"})
        return listed, generated

    listed, generated = run_mcp(setup, body)
    [provider] = [p for p in structured(listed)["providers"] if p["id"] == "sdwebui"]
    assert provider["status"] == "unavailable"
    assert f"SD WebUI not reachable at {base} — start it with `--api`" in provider["reason"], provider
    assert is_error(generated) and "not reachable" in text_of(generated)


def test_mcp_errors_are_tool_results(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "x [fake:validation]", "provider": "sdwebui"})

    result = run_mcp(setup, body)
    assert is_error(result)
    assert "steps" in text_of(result), text_of(result)


def test_mcp_cancel_interrupts_the_running_generation(setup):
    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "provider": "sdwebui",
                                                             "wait_seconds": 2})
        assert not is_error(started), started.content
        job_id = structured(started)["job_id"]
        assert structured(started)["status"] in ("queued", "running")
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status

    cancelled, status = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    assert structured(status)["status"] == "canceled", structured(status)
    [call] = setup.posts("txt2img")
    interrupts = [i for i in setup.server.state.interrupts if i["kind"] == "interrupt"]
    assert len(interrupts) == 1 and interrupts[0]["task"] == call["json"]["force_task_id"], interrupts
    deadline = time.time() + 5
    while not setup.generations() and time.time() < deadline:
        time.sleep(0.05)
    assert setup.generations()[0]["interrupted"], "the fake stopped sampling at once"


# -- upscaling through the Extras route (docs/providers/sdwebui.md#upscaling) ----------------

def test_mcp_upscale_image_goes_to_extra_single_image_and_doubles_the_image(setup):
    async def body(session):
        listed = await session.call_tool("list_models", {"provider": "sdwebui", "operation": "upscale"})
        made = await session.call_tool("generate_image", {"prompt": "a lighthouse", "provider": "sdwebui",
                                                          "width": 256, "height": 192})
        assert not is_error(made), made.content
        source = structured(made)["images"][0]
        upscaled = await session.call_tool("upscale_image", {"image": source["id"], "scale": 2, "provider": "sdwebui"})
        return listed, source, upscaled

    listed, source, result = run_mcp(setup, body)
    assert not is_error(listed), listed.content
    upscalers = [m["model"] for m in structured(listed)["models"] if m["provider"] == "sdwebui"]
    assert [m["id"] for m in upscalers] == ["upscaler:R-ESRGAN 4x+", "upscaler:Lanczos", "upscaler:Nearest"], \
        "one model per upscaler the server lists, without \"None\"; the checkpoints do not upscale"
    assert all(m["operations"] == ["upscale"] and m["max_input_images"] == 1 and m["size_multiple"] == 1
               for m in upscalers), upscalers

    assert not is_error(result), result.content
    assert (source["width"], source["height"]) == (256, 192)
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (512, 384)
    assert png_size(image["path"]) == (512, 384), "the stored file is the fake's upscaled PNG"
    assert structured(result)["model"] == "upscaler:R-ESRGAN 4x+", "the host takes the provider's first upscale model"
    assert image["parents"] == [source["id"]]

    [call] = setup.posts("extra-single-image")
    sent = call["json"]
    assert (sent["resize_mode"], sent["upscaling_resize_w"], sent["upscaling_resize_h"]) == (1, 512, 384)
    assert (sent["upscaler_1"], sent["upscaler_2"], sent["upscaling_crop"]) == ("R-ESRGAN 4x+", "None", True)
    sent_png = base64.b64decode(sent["image"])
    assert sent_png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", sent_png[16:24]) == (256, 192), \
        "the stored image went as plain base64"
    assert len(setup.posts("txt2img")) == 1 and setup.posts("img2img") == [], "the upscale ran no generation"
    assert setup.server.state.upscales == [{"upscaler": "R-ESRGAN 4x+", "input_size": [256, 192],
                                           "output_size": [512, 384], "resize_mode": 1}]


def test_mcp_upscale_errors_from_the_server_are_readable(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a barn", "provider": "sdwebui",
                                                          "width": 128, "height": 128})
        assert not is_error(made), made.content
        source = structured(made)["images"][0]["id"]
        unknown = await session.call_tool("upscale_image", {"image": source, "scale": 2, "provider": "sdwebui",
                                                            "model": "upscaler:Lanczos",
                                                            "params": {"upscaler_2": "Nope",
                                                                       "extras_upscaler_2_visibility": 0.5}})
        reserved = await session.call_tool("upscale_image", {"image": source, "scale": 2, "provider": "sdwebui",
                                                             "params": {"upscaler_1": "Nearest"}})
        return unknown, reserved

    unknown, reserved = run_mcp(setup, body)
    assert is_error(unknown), unknown.content
    assert "no upscaler `Nope`" in text_of(unknown) and "upscaler_2" in text_of(unknown), text_of(unknown)
    [call] = setup.posts("extra-single-image")
    assert call["json"]["upscaler_1"] == "Lanczos" and call["json"]["upscaler_2"] == "Nope"
    assert is_error(reserved) and "upscaler_1" in text_of(reserved) and "model argument" in text_of(reserved), \
        text_of(reserved)
    assert len(setup.posts("extra-single-image")) == 1, "a refused params never reached the server"
    assert setup.server.state.upscales == []


# -- ControlNet and LoRA (docs/providers/sdwebui.md#controlnet-and-lora) ----------------------

def checkpoint_models(result) -> dict:
    """The sdwebui checkpoint models of a list_models result, by id."""
    return {m["model"]["id"]: m["model"] for m in structured(result)["models"]
            if m["provider"] == "sdwebui" and not m["model"]["id"].startswith("upscaler:")}


def test_mcp_list_models_declares_controlnet_types_with_models_and_the_servers_loras(setup):
    async def body(session):
        return await session.call_tool("list_models", {"provider": "sdwebui"})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    models = checkpoint_models(result)
    assert set(models) == {"v1-5-pruned-emaonly", "sd_xl_base_1.0"}
    for model in models.values():
        schema = model["parameters"]
        assert schema["type"] == "object" and "additionalProperties" not in schema, schema
        props = schema["properties"]
        assert props["control_type"]["enum"] == ["canny", "depth", "pose"], \
            "the fake's Scribble/Sketch and Lineart have no model"
        assert (props["control_weight"]["minimum"], props["control_weight"]["maximum"]) == (0, 2)
        lora = props["loras"]
        assert lora["maxItems"] == 8
        assert lora["items"]["properties"]["name"]["enum"] == [item["name"] for item in sdwebui_fake.LORAS]
        assert lora["items"]["required"] == ["name"]
        assert "ControlNet" in model["prompt_notes"] and "<lora:" in model["prompt_notes"]
    paths = [r["path"] for r in setup.requests() if r["method"] == "GET"]
    assert "/controlnet/control_types" in paths and "/sdapi/v1/loras" in paths


def test_mcp_loras_in_params_reach_the_prompt_as_lora_tags(setup):
    async def body(session):
        return await session.call_tool("generate_image", {
            "prompt": "a red fox", "provider": "sdwebui", "width": 128, "height": 128,
            "params": {"loras": [{"name": "add_detail", "weight": 0.7}], "sampler_name": "Euler a"}})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [call] = setup.posts("txt2img")
    sent = call["json"]
    assert sent["prompt"].endswith("<lora:add_detail:0.7>"), sent["prompt"]
    assert sent["prompt"] == "a red fox <lora:add_detail:0.7>"
    assert "loras" not in sent and sent["sampler_name"] == "Euler a", "loras never reach the body; other params do"
    assert "alwayson_scripts" not in sent, "no control image, no ControlNet unit"
    [gen] = setup.generations()
    assert gen["loras"] == [{"name": "add_detail", "weight": 0.7, "found": True}]


def test_mcp_an_unknown_lora_is_refused_before_the_server_sees_it(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "a fox", "provider": "sdwebui",
                                                          "params": {"loras": [{"name": "nope", "weight": 1}]}})

    result = run_mcp(setup, body)
    assert is_error(result), result.content
    assert "loras" in text_of(result), text_of(result)
    assert setup.posts("txt2img") == []


def test_mcp_a_server_without_the_extensions_declares_no_control_type(tmp_path, cache_dir, fake):
    server, base = fake(controlnet=False, loras=False)
    setup = Setup(tmp_path, cache_dir, base, server)

    async def body(session):
        listed = await session.call_tool("list_models", {"provider": "sdwebui"})
        made = await session.call_tool("generate_image", {"prompt": "a barn", "provider": "sdwebui",
                                                          "width": 128, "height": 128})
        return listed, made

    listed, made = run_mcp(setup, body)
    assert not is_error(listed), listed.content
    for model in checkpoint_models(listed).values():
        assert not (model.get("parameters") or {}).get("properties", {}).get("control_type"), model
        assert model.get("parameters") is None, "neither extension: nothing declared, as before"
    assert not is_error(made), made.content
    assert len(setup.posts("txt2img")) == 1


def test_mcp_controlnet_without_loras_declares_only_control_type(tmp_path, cache_dir, fake):
    server, base = fake(loras=False)
    setup = Setup(tmp_path, cache_dir, base, server)

    async def body(session):
        return await session.call_tool("list_models", {"provider": "sdwebui"})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    for model in checkpoint_models(result).values():
        props = model["parameters"]["properties"]
        assert props["control_type"]["enum"] == ["canny", "depth", "pose"] and "loras" not in props, props


def test_mcp_a_control_image_through_edit_image_reaches_controlnet_and_other_models_refuse_it(setup, tmp_path):
    import base64

    from fakekit import make_png

    guide = "data:image/png;base64," + base64.b64encode(make_png(256, 256, "pose")).decode()

    async def body(session):
        guided = await session.call_tool("edit_image", {
            "prompt": "a dancer", "provider": "sdwebui",
            "images": [{"image": guide, "role": "control", "control_type": "pose"}]})
        missing_kind = await session.call_tool("edit_image", {
            "prompt": "a dancer", "provider": "sdwebui", "images": [{"image": guide, "role": "control"}]})
        no_model = await session.call_tool("edit_image", {
            "prompt": "a dancer", "provider": "sdwebui",
            "images": [{"image": guide, "role": "control", "control_type": "scribble"}]})
        return guided, missing_kind, no_model

    guided, missing_kind, no_model = run_mcp(setup, body)
    assert not is_error(guided), text_of(guided)
    [call] = setup.posts("txt2img")
    [unit] = call["json"]["alwayson_scripts"]["controlnet"]["args"]
    assert unit["enabled"] is True and "openpose" in unit["module"].lower(), unit
    [gen] = setup.generations()
    assert gen["controlnet"][0]["model"] == unit["model"]
    assert is_error(missing_kind) and "images[0].control_type" in text_of(missing_kind)
    assert is_error(no_model) and "params.control_type" in text_of(no_model), text_of(no_model)
    assert len(setup.posts("txt2img")) == 1, "the refused calls reached no server"
