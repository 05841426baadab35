"""End-to-end tests of the bfl plugin (a Python WASI component): the `easel` binary
(CLI and MCP over stdio) driving it against tests/fakes/bfl_fake.py.

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "bfl"`, or from
EASEL_BFL_WASM (a path to the componentize-py build, see plugins/bfl/README.md)
while it is not built in yet. MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import bfl_fake  # noqa: E402
from conftest import failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402
from imagebytes import dimensions, png_size  # noqa: E402

KEY = "bfl_test_key_5d1c07e2a9"
WASM = os.environ.get("EASEL_BFL_WASM")


class Setup:
    """One fake BFL server plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "bfl"'
        self.config.write_text(f"""
[defaults]
provider = "bfl"
wait_secs = 20

[plugins.bfl]
{source}
allowed_hosts = ["{base}"]
[plugins.bfl.secrets.BFL_API_KEY]
env = "BFL_API_KEY"
hosts = ["{base}"]
[plugins.bfl.config]
base_url = "{base}"
""")
        self.env = {**os.environ, "BFL_API_KEY": KEY, "EASEL_CACHE": str(cache)}

    def cli(self, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("BFL_API_KEY", None)
        else:
            env["BFL_API_KEY"] = key
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store), *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        return self.cli("generate", prompt, "--provider", "bfl", *args, key=key)

    def requests(self) -> list[dict]:
        return list(self.server.state.recorded)

    def creates(self) -> list[dict]:
        return [r for r in self.requests() if r["method"] == "POST"]

    def polls(self) -> list[dict]:
        return [r for r in self.requests() if "/get_result" in r["path"]]


def sidecar(image_path: str) -> dict:
    """The store's metadata file next to an image."""
    return json.loads(Path(image_path).with_suffix(".json").read_text())


@pytest.fixture
def setup(tmp_path, cache_dir):
    server, base = bfl_fake.start(key=KEY)
    yield Setup(tmp_path, cache_dir, base, server)
    server.shutdown()
    server.server_close()


# -- CLI ------------------------------------------------------------------------------------

def test_generate_creates_a_task_polls_its_regional_url_and_downloads_the_signed_result(setup):
    [(_, path)] = outputs(setup.generate("a red fox in snow", "--width", "512", "--height", "384", "--seed", "42"))
    assert png_size(path) == (512, 384)
    [create] = setup.creates()
    assert create["path"] == "/v1/flux-2-pro"
    assert create["json"] == {"prompt": "a red fox in snow", "width": 512, "height": 384, "seed": 42,
                              "output_format": "png"}
    polls = setup.polls()
    assert len(polls) == 5, "two Pending polls, two with progress, then Ready"
    assert all(p["path"].startswith("/eu2/v1/get_result?id=") for p in polls), "BFL's polling_url, not a rebuilt one"
    [download] = [r for r in setup.requests() if r["path"].startswith("/delivery/")]
    assert "sig=" in download["path"]
    assert "x-key" not in download["headers"], "the signed result URL gets no credentials"
    for r in setup.creates() + polls:
        assert r["headers"]["x-key"] == KEY, "the host substituted {{secret:BFL_API_KEY}}"


def test_the_key_never_reaches_outputs_or_logs_even_when_bfl_echoes_it(setup):
    echoed = setup.generate("a lighthouse [fake:echo_key]", "-vv")
    failed(echoed, "[redacted:BFL_API_KEY]")
    ok = setup.generate("a lighthouse", "-vv")
    outputs(ok)
    for result in (echoed, ok):
        assert KEY not in result.stdout and KEY not in result.stderr
    assert all("{{secret" not in json.dumps(r["headers"]) for r in setup.requests())


def test_edit_with_kontext_sends_the_reference_as_raw_base64_and_keeps_its_size(setup, tmp_path):
    reference = tmp_path / "reference.png"
    reference.write_bytes(bfl_fake.make_png(320, 240, "reference"))
    [(_, path)] = outputs(setup.generate("make it night", "--model", "flux-kontext-pro", "--image", str(reference)))
    assert png_size(path) == (320, 240)
    [task] = setup.server.state.tasks.values()
    assert sidecar(path)["seed"] == int(task.id[:8], 16), "the seed BFL reports in result.seed is recorded"
    [create] = setup.creates()
    assert create["path"] == "/v1/flux-kontext-pro"
    assert base64.b64decode(create["json"]["input_image"]) == reference.read_bytes()
    assert "aspect_ratio" not in create["json"] and "width" not in create["json"]


def test_sizes_map_onto_each_models_own_fields(setup):
    [(_, wide)] = outputs(setup.generate("a beach", "--aspect-ratio", "16:9"))
    width, height = png_size(wide)
    assert width % 16 == 0 and height % 16 == 0 and abs(width / height - 16 / 9) < 0.03
    assert setup.creates()[-1]["json"]["width"] == width
    result = setup.generate("a beach", "--model", "kontext", "--width", "1024", "--height", "768")
    outputs(result)
    assert setup.creates()[-1]["json"]["aspect_ratio"] == "4:3"
    assert "1024x768 is sent as 4:3" in result.stderr, result.stderr


def test_params_pass_through_under_bfl_names_and_settings_easel_owns_are_refused(setup):
    result = setup.generate("a poster", "--model", "flux-pro-1.1", "--param", "safety_tolerance=5",
                            "--param", "prompt_upsampling=true", "--param", "output_format=jpeg")
    [(_, path)] = outputs(result)
    body = setup.creates()[-1]["json"]
    assert (body["safety_tolerance"], body["prompt_upsampling"], body["output_format"]) == (5, True, "jpeg")
    assert sidecar(path)["revised_prompt"] == "a poster, rendered in rich detail with dramatic light", \
        "BFL's rewritten prompt (result.prompt) is kept when prompt_upsampling was asked for"
    failed(setup.generate("x", "--param", "webhook_url=https://elsewhere.example/hook"), "--param webhook_url", "polls")
    failed(setup.generate("x", "--param", "input_image=abc"), "--param input_image", "`images`")
    failed(setup.generate("x", "--model", "flux-pro-1.1", "--param", "safety_tolerance=9"), "--param safety_tolerance")
    failed(setup.generate("x", "--model", "flux-2-flex", "--guidance", "20"), "guidance", "1.5 and 10")
    assert len(setup.creates()) == 1, "refused requests never reach BFL"


@pytest.mark.parametrize("marker, expected", [
    ("validation", ["--width", "multiple of 16"]),
    ("credits", ["HTTP 402", "out of credits", "https://dashboard.bfl.ai"]),
    ("request_moderated", ["safety system", "Request Moderated", "Derivative Works"]),
    ("content_moderated", ["safety system", "Content Moderated"]),
    ("error", ["failed", "the sampler crashed"]),
    ("expired", ["Task not found", "start the job again"]),
    ("server_error", ["HTTP 500", "Internal Server Error"]),
])
def test_bfl_failures_are_readable(setup, marker, expected):
    failed(setup.generate(f"a cat [fake:{marker}]", "--width", "512", "--height", "512"), *expected)


def test_rate_limits_are_retried_then_reported_with_bfls_wait(setup):
    failed(setup.generate("a cat [fake:rate_limit]"), "rate limited", "retry after 1.0 s", "active tasks")
    assert len(setup.creates()) == 4, "the host retried the create three times"


def test_a_rate_limited_poll_waits_and_carries_on(setup):
    result = setup.generate("a cat [fake:poll_rate_limit]", "--width", "512", "--height", "512")
    [(_, path)] = outputs(result)
    assert png_size(path) == (512, 512)
    assert "rate limited by bfl while polling" in result.stderr, result.stderr


def test_a_wrong_key_is_unauthorized_and_names_the_variable(setup):
    result = setup.generate("a cat", key="not-the-key")
    failed(result, "unauthorized", "BFL_API_KEY", "x-key")
    assert "not-the-key" not in result.stderr
    assert setup.creates()[0]["headers"]["x-key"] == "not-the-key"


def test_a_missing_key_fails_before_any_request(setup):
    failed(setup.generate("a cat", key=None), "BFL_API_KEY")
    assert setup.requests() == []


def test_plugins_list_shows_the_bfl_models(setup):
    result = setup.cli("plugins", "list")
    assert result.returncode == 0, result.stderr
    for model in ("flux-2-pro", "flux-2-flex", "flux-pro-1.1", "flux-kontext-pro", "flux-pro-1.0-fill"):
        assert model in result.stdout, result.stdout
    assert "bfl (default)  ready" in result.stdout, result.stdout


# -- MCP ------------------------------------------------------------------------------------

def test_mcp_generate_reports_bfl_progress_in_order(setup):
    events: list[tuple[float, str]] = []

    async def progress(value, total, message):
        events.append((value, message or ""))

    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "a red fox", "provider": "bfl", "width": 512,
                                                          "height": 384}, progress_callback=progress)

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (512, 384, "image/png")
    assert Path(image["path"]).exists()
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    accepted = first(lambda m: m.startswith("BFL accepted task"))
    queued = first(lambda m: m.startswith("queued at bfl"))
    third = first(lambda m: m == "generating at BFL (33%)")
    two_thirds = first(lambda m: m == "generating at BFL (67%)")
    assert accepted < queued < third < two_thirds, messages
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"


def test_mcp_list_models_declares_bfl_parameters(setup):
    async def body(session):
        return await session.call_tool("list_models", {"provider": "bfl"})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    models = {m["model"]["id"]: m["model"] for m in structured(result)["models"] if m["provider"] == "bfl"}
    assert models["flux-pro-1.1"]["parameters"]["properties"]["safety_tolerance"]["maximum"] == 6
    assert models["flux-2-pro"]["parameters"]["properties"]["safety_tolerance"]["maximum"] == 5
    assert models["flux-2-pro"]["max_input_images"] == 8 and models["flux-kontext-pro"]["lifecycle"] == "legacy"


def test_mcp_edit_image_sends_a_stored_reference_to_flux2(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "bfl", "width": 512,
                                                          "height": 512})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        return await session.call_tool("edit_image", {"prompt": "paint it blue", "provider": "bfl",
                                                      "images": [{"image": reference, "role": "reference"}]})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (512, 512)
    edit = setup.creates()[-1]
    assert edit["path"] == "/v1/flux-2-pro"
    assert dimensions(base64.b64decode(edit["json"]["input_image"])) == (512, 512)


def test_mcp_moderation_is_a_tool_error(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "x [fake:content_moderated]", "provider": "bfl"})

    result = run_mcp(setup, body)
    assert is_error(result)
    assert "safety" in text_of(result) and "Content Moderated" in text_of(result), text_of(result)


def test_mcp_cancel_stops_waiting_and_says_bfl_cannot_stop_the_task(setup):
    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "provider": "bfl",
                                                             "wait_seconds": 3})
        assert not is_error(started), started.content
        assert structured(started)["status"] in ("queued", "running")
        job_id = structured(started)["job_id"]
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        polls_then = len(setup.polls())
        import anyio  # only the MCP tests need it (run_mcp skips without it)

        await anyio.sleep(2.5)
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status, polls_then

    cancelled, status, polls_then = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    job = structured(status)
    assert job["status"] == "canceled", job
    assert "cannot stop" in (job.get("message") or ""), job
    assert len(setup.polls()) == polls_then, "no polls after the cancel"
