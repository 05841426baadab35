"""End-to-end tests of the banana plugin: the `easel` binary (CLI and MCP over stdio) driving
the sandboxed component against tests/fakes/banana_fake.py — a self-hosted Potassium server
(default mode) and the legacy v4 start/check API.

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "banana"`, or from
EASEL_BANANA_WASM (a path to easel_banana.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import banana_fake  # noqa: E402
from conftest import closed_port, failed, is_error, outputs, run_mcp, structured  # noqa: E402
from imagebytes import png_size  # noqa: E402

WASM = os.environ.get("EASEL_BANANA_WASM")
KEY = "bk_test_7f3e19a2c4"


class Setup:
    """One fake server plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server, *, config: str = 'routes = ["/", "/sdxl"]',
                 allowed: list[str] | None = None, secret: bool = False):
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "banana"'
        allowed = [base] if allowed is None else allowed
        secret_table = f"""
[plugins.banana.secrets.BANANA_API_KEY]
env = "BANANA_API_KEY"
hosts = ["{base}"]
""" if secret else ""
        self.config.write_text(f"""
[defaults]
provider = "banana"
wait_secs = 20

[plugins.banana]
{source}
allowed_hosts = {json.dumps(allowed)}
[plugins.banana.config]
base_url = "{base}"
{config}
{secret_table}
""")
        self.env = {**os.environ, "EASEL_CACHE": str(cache), "BANANA_API_KEY": KEY}

    def args(self) -> list[str]:
        return [EASEL_BIN, "--config", str(self.config), "--store", str(self.store)]

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("BANANA_API_KEY", None)
        else:
            env["BANANA_API_KEY"] = key
        return subprocess.run(self.args() + ["generate", prompt, "--provider", "banana", *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def requests(self) -> list[dict]:
        return list(self.server.state.recorded)

    def posts(self, path: str) -> list[dict]:
        return [r for r in self.requests() if r["method"] == "POST" and r["path"] == path]


@pytest.fixture
def fake():
    servers = []

    def make(**kwargs):
        server, base = banana_fake.start(**kwargs)
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


# -- Potassium over the CLI ------------------------------------------------------------------

def test_potassium_call_uses_the_community_template(setup):
    images = outputs(setup.generate("a red fox in snow", "--count", "2", "--seed", "42", "--steps", "20",
                                    "--width", "640", "--height", "384", "--negative-prompt", "blurry", "--guidance", "7.5"))
    assert len(images) == 2 and all(png_size(p) == (640, 384) for _, p in images)
    calls = setup.posts("/")
    assert len(calls) == 2, "without {{count}} in the template, one call per image"
    first = calls[0]["json"]
    assert first == {"prompt": "a red fox in snow", "negative_prompt": "blurry", "num_inference_steps": 20,
                     "guidance_scale": 7.5, "height": 384, "width": 640, "seed": 42}
    assert calls[1]["json"]["seed"] == 43
    ids = [c["headers"]["x-banana-request-id"] for c in calls]
    assert len(set(ids)) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    assert all(c["headers"]["content-type"] == "application/json" for c in calls)
    assert "x-banana-api-key" not in calls[0]["headers"], "no secret declared, no key header"


def test_a_route_is_a_model(setup):
    outputs(setup.generate("a castle", "--model", "sdxl"))
    assert len(setup.posts("/sdxl")) == 1 and setup.posts("/") == []


def test_url_outputs_are_downloaded_through_egress(tmp_path, cache_dir, fake):
    server, base = fake(shape="output_url")
    setup = Setup(tmp_path, cache_dir, base, server)
    images = outputs(setup.generate("a lighthouse", "--width", "256", "--height", "128"))
    assert png_size(images[0][1]) == (256, 128)
    assert any(r["method"] == "GET" and r["path"].startswith("/files/") for r in setup.requests())


def test_img2img_passes_image_mask_and_strength(setup, tmp_path):
    reference, mask = tmp_path / "reference.png", tmp_path / "mask.png"
    reference.write_bytes(banana_fake.make_png(320, 240, "reference"))
    mask.write_bytes(banana_fake.make_png(320, 240, "mask"))
    images = outputs(setup.generate("make it night time", "--image", str(reference), "--mask", str(mask), "--strength", "0.6"))
    assert png_size(images[0][1]) == (320, 240), "the handler keeps the input's size"
    [call] = setup.posts("/")
    body = call["json"]
    assert base64.b64decode(body["image"]) == reference.read_bytes()
    assert base64.b64decode(body["mask_image"]) == mask.read_bytes()
    assert abs(body["strength"] - 0.6) < 1e-9


@pytest.mark.parametrize("marker, attempts", [("busy", 3), ("unavailable", 3)])
def test_busy_servers_are_retried(setup, marker, attempts):
    result = setup.generate(f"a busy fox [fake:{marker}]")
    outputs(result)
    calls = setup.posts("/")
    assert len(calls) == attempts
    assert len({c["headers"]["x-banana-request-id"] for c in calls}) == attempts, "each attempt is a new request"
    status = 423 if marker == "busy" else 503
    assert f"busy (HTTP {status}" in result.stderr, result.stderr


def test_a_server_that_stays_busy_gives_up_readably(setup):
    stderr = failed(setup.generate("a cat [fake:busy_forever]"))
    assert "busy (HTTP 423)" in stderr, stderr
    assert len(setup.posts("/")) == 4, "the first try and three retries"


def test_a_handler_crash_carries_the_traceback_line(setup):
    stderr = failed(setup.generate("a cat [fake:server_error]"))
    assert "HTTP 500" in stderr and "RuntimeError: CUDA out of memory" in stderr, stderr


def test_the_key_goes_in_the_configured_header(tmp_path, cache_dir, fake):
    server, base = fake(api_key=KEY)
    setup = Setup(tmp_path, cache_dir, base, server, secret=True)
    outputs(setup.generate("a fox"))
    [call] = setup.posts("/")
    assert call["headers"]["x-banana-api-key"] == KEY
    wrong = setup.generate("a fox", key="bk_wrong")
    stderr = failed(wrong)
    assert "unauthorized" in stderr.lower() and "BANANA_API_KEY" in stderr and "invalid or missing" in stderr, stderr


def test_a_template_with_count_makes_one_call(tmp_path, cache_dir, fake):
    server, base = fake(shape="outputs")
    config = """image_pointer = "/outputs"
seed_pointer = "/seeds"
max_images = 4
[plugins.banana.config.request_template]
prompt = "{{prompt}}"
num_images = "{{count}}"
width = "{{width}}"
height = "{{height}}"
"""
    setup = Setup(tmp_path, cache_dir, base, server, config=config)
    images = outputs(setup.generate("three pears", "--count", "3", "--width", "128", "--height", "128"))
    assert len(images) == 3
    [call] = setup.posts("/")
    assert call["json"] == {"prompt": "three pears", "num_images": 3, "width": 128, "height": 128}


def test_parameters_the_template_lacks_are_refused(tmp_path, cache_dir, fake):
    server, base = fake()
    setup = Setup(tmp_path, cache_dir, base, server, config='request_template = \'{"prompt": "{{prompt}}"}\'')
    stderr = failed(setup.generate("a fox", "--seed", "3"))
    assert "seed" in stderr, stderr
    assert setup.posts("/") == []


def test_backend_down_says_not_reachable(tmp_path, cache_dir):
    base = f"http://127.0.0.1:{closed_port()}"
    setup = Setup(tmp_path, cache_dir, base, server=None)
    stderr = failed(setup.generate("a fox"))
    assert f"Potassium server not reachable at {base}" in stderr, stderr


def test_loopback_needs_a_literal_allowed_hosts_entry(tmp_path, cache_dir, fake):
    server, base = fake()
    refused = Setup(tmp_path / "refused", cache_dir, base, server, allowed=[])
    stderr = failed(refused.generate("a fox"))
    assert f'add "{base}" to allowed_hosts' in stderr, stderr
    assert server.state.recorded == []
    outputs(Setup(tmp_path / "allowed", cache_dir, base, server).generate("a fox"))


# -- legacy v4 ------------------------------------------------------------------------------

V4 = 'mode = "v4"\nmodel_keys = ["sd15-key", "sdxl-key"]'


def test_v4_starts_and_polls_until_success(tmp_path, cache_dir, fake):
    server, base = fake(api_key=KEY)
    setup = Setup(tmp_path, cache_dir, base, server, config=V4, secret=True)
    images = outputs(setup.generate("a red fox", "--width", "256", "--height", "256", "--seed", "9", "--model", "sdxl-key"))
    assert png_size(images[0][1]) == (256, 256)
    [start] = setup.posts("/start/v4/")
    body = start["json"]
    assert (body["apiKey"], body["modelKey"], body["startOnly"]) == (KEY, "sdxl-key", False), "the host filled the key in"
    assert body["modelInputs"]["prompt"] == "a red fox" and body["modelInputs"]["seed"] == 9
    assert uuid.UUID(body["id"]).version == 4 and isinstance(body["created"], int)
    checks = setup.posts("/check/v4/")
    assert len(checks) == 3, "running, running, success"
    call_id = checks[0]["json"]["callID"]
    assert all(c["json"]["callID"] == call_id and c["json"]["apiKey"] == KEY for c in checks)
    assert "x-banana-api-key" not in start["headers"], "v4 keys travel in the body"


def test_v4_can_finish_inside_start(tmp_path, cache_dir, fake):
    server, base = fake()
    setup = Setup(tmp_path, cache_dir, base, server, config=V4)
    outputs(setup.generate("a quick one [fake:fast]"))
    assert len(setup.posts("/start/v4/")) == 1 and setup.posts("/check/v4/") == []


def test_v4_errors_come_from_message(tmp_path, cache_dir, fake):
    server, base = fake(api_key=KEY)
    setup = Setup(tmp_path, cache_dir, base, server, config=V4, secret=True)
    stderr = failed(setup.generate("a cat [fake:server_error]"))
    assert "CUDA out of memory" in stderr, stderr
    stderr = failed(setup.generate("a cat", key="bk_wrong"))
    assert "unauthorized" in stderr.lower() and "invalid apiKey" in stderr and "BANANA_API_KEY" in stderr, stderr


# -- MCP ------------------------------------------------------------------------------------

def test_mcp_list_providers_is_honest_about_banana(setup):
    async def body(session):
        return await session.call_tool("list_providers", {})

    [provider] = [p for p in structured(run_mcp(setup, body))["providers"] if p["id"] == "banana"]
    assert provider["status"] == "ready"
    assert "shut down in 2024" in provider["description"] and "Potassium" in provider["description"]
    assert [m["id"] for m in provider["models"]] == ["default", "sdxl"]


def test_mcp_list_providers_shows_a_down_server_as_unavailable(tmp_path, cache_dir):
    base = f"http://127.0.0.1:{closed_port()}"
    setup = Setup(tmp_path, cache_dir, base, server=None)

    async def body(session):
        return await session.call_tool("list_providers", {})

    [provider] = [p for p in structured(run_mcp(setup, body))["providers"] if p["id"] == "banana"]
    assert provider["status"] == "unavailable"
    assert f"Potassium server not reachable at {base}" in provider["reason"], provider


def test_mcp_seeds_and_edit(tmp_path, cache_dir, fake):
    server, base = fake(shape="outputs")
    config = """image_pointer = "/outputs"
seed_pointer = "/seeds"
request_template = '{"prompt": "{{prompt}}", "num_images": "{{count}}", "image": "{{image}}", "strength": "{{strength}}"}'
"""
    setup = Setup(tmp_path, cache_dir, base, server, config=config)

    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "two pears", "provider": "banana", "count": 2})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        edited = await session.call_tool("edit_image", {"prompt": "make them green", "provider": "banana",
                                                        "images": [{"image": reference, "role": "reference"}], "strength": 0.4})
        return made, edited

    made, edited = run_mcp(setup, body)
    assert not is_error(edited), edited.content
    generated = server.state.generations[0]
    assert [i["seed"] for i in structured(made)["images"]] == generated["seeds"], "seeds read at seed_pointer"
    edit_call = setup.posts("/")[-1]["json"]
    assert edit_call["strength"] == 0.4 and edit_call["image"]
    assert server.state.generations[1]["img2img"]


def test_mcp_v4_cancel_is_best_effort(tmp_path, cache_dir, fake):
    server, base = fake(v4_running_checks=1000)
    setup = Setup(tmp_path, cache_dir, base, server, config=V4)

    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one", "provider": "banana", "wait_seconds": 2})
        assert not is_error(started), started.content
        job_id = structured(started)["job_id"]
        assert structured(started)["status"] in ("queued", "running")
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        checks = len(setup.posts("/check/v4/"))
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status, checks

    cancelled, status, checks = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    assert structured(status)["status"] == "canceled"
    assert checks >= 1 and len(setup.posts("/check/v4/")) == checks, "polling stopped"
