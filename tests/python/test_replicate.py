"""End-to-end tests of the Replicate plugin: the `easel` binary (CLI and MCP over
stdio) driving the sandboxed replicate component against tests/fakes/replicate_fake.py.

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "replicate"`, or
from EASEL_REPLICATE_WASM (a path to easel_replicate.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import replicate_fake  # noqa: E402
from conftest import is_error, outputs, run_mcp, structured  # noqa: E402
from imagebytes import png_size  # noqa: E402

KEY = "r8_test_token_5f2a9c"
WASM = os.environ.get("EASEL_REPLICATE_WASM")
VERSION = "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"


class Setup:
    """One fake server plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "replicate"'
        self.config.write_text(f"""
[defaults]
provider = "replicate"
wait_secs = 20

[plugins.replicate]
{source}
allowed_hosts = ["{base}"]
[plugins.replicate.secrets.REPLICATE_API_TOKEN]
env = "REPLICATE_API_TOKEN"
hosts = ["{base}"]
[plugins.replicate.config]
base_url = "{base}"
extra_models = ["stability-ai/sdxl:{VERSION}"]
""")
        self.env = {**os.environ, "REPLICATE_API_TOKEN": KEY, "EASEL_CACHE": str(cache)}

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("REPLICATE_API_TOKEN", None)
        else:
            env["REPLICATE_API_TOKEN"] = key
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store),
                               "generate", prompt, "--provider", "replicate", *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def requests(self) -> list[dict]:
        return list(self.server.state.recorded)

    def add_config(self, text: str) -> None:
        """Append lines to [plugins.replicate.config] (the last table)."""
        self.config.write_text(self.config.read_text() + text + "\n")


@pytest.fixture
def setup(tmp_path, cache_dir):
    server, base = replicate_fake.start(key=KEY)
    yield Setup(tmp_path, cache_dir, base, server)
    server.shutdown()
    server.server_close()


def creates(setup: Setup) -> list[dict]:
    return [r for r in setup.requests() if r["method"] == "POST" and r["path"].endswith("/predictions")]


def polls(setup: Setup) -> list[dict]:
    return [r for r in setup.requests() if r["method"] == "GET" and r["path"].startswith("/v1/predictions/")]


def stream_opens(setup: Setup) -> list[dict]:
    return [r for r in setup.requests() if r["method"] == "GET" and r["path"].startswith("/stream/")]


def prediction(setup: Setup, prompt: str):
    [p] = [p for p in setup.server.state.predictions.values() if p.input.get("prompt") == prompt]
    return p


# -- CLI ------------------------------------------------------------------------------------

def test_generate_creates_an_official_model_prediction_and_polls_it(setup):
    images = outputs(setup.generate("a red fox in snow", "--aspect-ratio", "16:9", "--count", "2", "--seed", "42"))
    assert len(images) == 2
    expected = replicate_fake.output_size({"aspect_ratio": "16:9"})
    for _, path in images:
        assert png_size(path) == expected
    [create] = creates(setup)
    assert create["path"] == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create["headers"]["prefer"] == "wait=5"
    assert create["headers"]["cancel-after"] == "15m", "by default Replicate stops it at the host's 15-minute job deadline"
    inp = create["json"]["input"]
    assert inp["prompt"] == "a red fox in snow"
    assert (inp["aspect_ratio"], inp["num_outputs"], inp["seed"], inp["output_format"]) == ("16:9", 2, 42, "png")
    assert polls(setup) and stream_opens(setup), "the prediction streamed its progress, then one GET read the result"
    assert any(r["path"].startswith("/files/") for r in setup.requests())


def test_a_prediction_the_host_lost_track_of_is_canceled_by_replicate_after_cancel_after(setup):
    setup.add_config('cancel_after = "5s"')
    server = subprocess.Popen([EASEL_BIN, "--config", str(setup.config), "--store", str(setup.store),
                               "generate", "a slow one [fake:slow]", "--provider", "replicate"],
                              env=setup.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not creates(setup) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.kill()  # the host dies holding the job: nothing will poll or cancel it
        server.wait()
    [create] = creates(setup)
    assert create["headers"]["cancel-after"] == "5s"
    [prediction] = setup.server.state.predictions.values()
    deadline = time.monotonic() + 60
    while prediction.status != "canceled" and time.monotonic() < deadline:
        with setup.server.state.lock:
            setup.server.state.expire(prediction)
        time.sleep(0.2)
    assert (prediction.status, prediction.canceled_by) == ("canceled", "cancel-after")
    assert not [r for r in setup.requests() if r["path"].endswith("/cancel")], "nobody asked: Replicate stopped it itself"


def test_download_auth_without_the_file_host_bound_is_a_config_error_before_any_request(setup):
    setup.add_config("download_auth = true")
    result = setup.generate("a red fox")
    assert result.returncode != 0, result.stdout
    assert f"{setup.config}:" in result.stderr and "download_auth = true" in result.stderr, result.stderr
    assert "https://replicate.delivery" in result.stderr and "REPLICATE_API_TOKEN" in result.stderr and "fix:" in result.stderr, result.stderr
    assert creates(setup) == [], "nothing was created, so nothing was paid for"
    # Bound to Replicate's file hosts, the same setting loads and runs.
    setup.config.write_text(setup.config.read_text().replace(
        f'\nhosts = ["{setup.base}"]', f'\nhosts = ["{setup.base}", "https://replicate.delivery", "https://*.replicate.delivery"]', 1))
    outputs(setup.generate("a red fox [fake:fast]"))
    files = [r for r in setup.requests() if r["path"].startswith("/files/")]
    assert files and all(r["headers"].get("authorization") == f"Bearer {KEY}" for r in files), files


def test_a_fast_prediction_finishes_inside_prefer_wait(setup):
    outputs(setup.generate("a quick sketch [fake:fast]", "--width", "512", "--height", "512"))
    [create] = creates(setup)
    assert create["json"]["input"]["aspect_ratio"] == "1:1", "width/height map to the nearest offered ratio"
    assert polls(setup) == [], "the 201 already carried the output"


def test_a_version_id_goes_to_the_predictions_endpoint(setup):
    outputs(setup.generate("a castle", "--model", f"stability-ai/sdxl:{VERSION}", "--width", "640", "--height", "480"))
    [create] = creates(setup)
    assert create["path"] == "/v1/predictions"
    assert create["json"]["version"] == VERSION
    assert (create["json"]["input"]["width"], create["json"]["input"]["height"]) == (640, 480)


def test_any_owner_name_passes_through_without_configuration(setup):
    outputs(setup.generate("a lighthouse", "--model", "someone/brand-new-model", "--width", "512", "--height", "512"))
    [create] = creates(setup)
    assert create["path"] == "/v1/models/someone/brand-new-model/predictions"


def test_auth_header_arrives_as_bearer_and_the_plugin_never_sees_the_token(setup):
    result = setup.generate("a lighthouse [fake:echo_auth]")
    outputs(result)
    api_calls = [r for r in setup.requests() if r["path"].startswith("/v1/")]
    assert api_calls
    for r in api_calls:
        assert r["headers"].get("authorization") == f"Bearer {KEY}", r
    for r in setup.requests():
        assert "{{secret" not in json.dumps(r["headers"])
    # The fake echoes the header into the logs; the plugin's progress lines show it redacted.
    assert "[redacted:REPLICATE_API_TOKEN]" in result.stderr, result.stderr
    assert KEY not in result.stderr and KEY not in result.stdout


def test_edit_sends_the_reference_as_a_data_uri(setup, tmp_path):
    reference = tmp_path / "reference.png"
    reference.write_bytes(replicate_fake.make_png(320, 240, "reference"))
    images = outputs(setup.generate("make it night time", "--image", str(reference), "--strength", "0.6",
                                    "--model", "black-forest-labs/flux-dev"))
    width, height = png_size(images[0][1])
    assert abs(width / height - 4 / 3) < 0.05, "the fake matches the input image's ratio"
    [create] = creates(setup)
    assert create["path"] == "/v1/models/black-forest-labs/flux-dev/predictions"
    inp = create["json"]["input"]
    assert inp["image"].startswith("data:image/png;base64,")
    assert abs(inp["prompt_strength"] - 0.6) < 1e-6


@pytest.mark.parametrize("marker, expected", [
    ("validation", ["aspect_ratio", "must be one of"]),
    ("nsfw", ["safety", "NSFW"]),
    ("rate_limit", ["rate limited", "retry after 1.0 s", "throttled"]),
    ("server_error", ["HTTP 500", "Internal Server Error"]),
    ("model_error", ["CUDA out of memory"]),
])
def test_provider_errors_are_readable(setup, marker, expected):
    result = setup.generate(f"a cat [fake:{marker}]")
    assert result.returncode != 0, result.stdout
    for text in expected:
        assert text in result.stderr, f"{text!r} not in stderr:\n{result.stderr}"
    assert "panic" not in result.stderr.lower()


def test_wrong_token_is_unauthorized_and_names_the_variable(setup):
    result = setup.generate("a cat", key="r8_wrong")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() and "REPLICATE_API_TOKEN" in result.stderr, result.stderr
    assert "valid authentication token" in result.stderr
    [create] = creates(setup)
    assert create["headers"]["authorization"] == "Bearer r8_wrong"


def test_missing_token_fails_before_any_request(setup):
    result = setup.generate("a cat", key=None)
    assert result.returncode != 0
    assert "REPLICATE_API_TOKEN" in result.stderr, result.stderr
    assert creates(setup) == []


# -- MCP ------------------------------------------------------------------------------------

def test_mcp_generate_reports_progress_in_order(setup):
    """A model without streaming (no urls.stream): progress from polling alone."""
    events: list[tuple[float, str]] = []

    async def progress(value, total, message):
        events.append((value, message or ""))

    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "a red fox [fake:no_stream]", "provider": "replicate",
                                                          "aspect_ratio": "1:1"},
                                       progress_callback=progress)

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (1024, 1024, "image/png")
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    created = first(lambda m: "Replicate prediction" in m and "starting" in m)
    queued = first(lambda m: m.startswith("queued at replicate"))
    halfway = first(lambda m: " 50%|" in m)
    done = first(lambda m: "100%|" in m)
    assert created < queued < halfway < done, messages
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"


def test_mcp_progress_comes_live_from_the_prediction_stream_with_fewer_polls(setup):
    streamed: list[tuple[float, str]] = []

    def generate(prompt: str, events: list[tuple[float, str]]):
        async def progress(value, total, message):
            events.append((value, message or ""))

        async def body(session):
            return await session.call_tool("generate_image", {"prompt": prompt, "provider": "replicate", "aspect_ratio": "1:1"},
                                           progress_callback=progress)

        result = run_mcp(setup, body)
        assert not is_error(result), result.content
        [image] = structured(result)["images"]
        assert (image["width"], image["height"]) == (1024, 1024)

    # The same job from a model without streaming polls through every state, as every job did before.
    generate("a red fox [fake:no_stream]", [])
    plain = prediction(setup, "a red fox [fake:no_stream]")
    generate("a red fox", streamed)
    live = prediction(setup, "a red fox")

    assert (plain.stream_opens, plain.gets) == (0, 5), "starting, starting, processing, processing, succeeded"
    assert live.stream_opens >= 1 and live.gets < plain.gets, (live.stream_opens, live.gets)
    [stream] = [r for r in stream_opens(setup) if r["path"].endswith(live.id)][:1]
    assert stream["headers"]["accept"] == "text/event-stream" and stream["headers"]["cache-control"] == "no-store"
    assert stream["headers"]["authorization"] == f"Bearer {KEY}", "the token reaches the stream host too"
    # Each stream `logs` line is a progress notification, its percentage the progress value.
    percent = [(value, message) for value, message in streamed if "%|" in message]
    assert percent, streamed
    for value, message in percent:
        shown = int(message.split("%|")[0].split()[-1])
        assert message.startswith("replicate: ") and abs(value - min(shown, 99.9)) < 0.2, (value, message)
    assert any("100%|" in m for _, m in percent), streamed
    assert any(m.startswith("replicate: Using seed:") for _, m in streamed), streamed
    values = [v for v, _ in streamed]
    assert values == sorted(values), f"progress must not go backwards: {streamed}"


def test_mcp_edit_image_with_a_stored_reference(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "replicate", "aspect_ratio": "3:2"})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        return await session.call_tool("edit_image", {"prompt": "paint it blue", "provider": "replicate",
                                                      "model": "black-forest-labs/flux-dev",
                                                      "images": [{"image": reference, "role": "reference"}], "strength": 0.4})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert image["width"] > image["height"]
    edit = creates(setup)[-1]
    assert edit["path"] == "/v1/models/black-forest-labs/flux-dev/predictions"
    assert edit["json"]["input"]["image"].startswith("data:image/png;base64,")


def test_mcp_errors_are_tool_results(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "x [fake:validation]", "provider": "replicate"})

    result = run_mcp(setup, body)
    assert is_error(result)
    text = " ".join(c.text for c in result.content if getattr(c, "text", None))
    assert "aspect_ratio" in text, text


def test_mcp_cancel_reaches_replicate(setup):
    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "provider": "replicate",
                                                             "wait_seconds": 3})
        assert not is_error(started), started.content
        job_id = structured(started)["job_id"]
        assert structured(started)["status"] in ("queued", "running")
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status

    cancelled, status = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    assert structured(status)["status"] == "canceled", structured(status)
    cancels = [r for r in setup.requests() if r["method"] == "POST" and r["path"].endswith("/cancel")]
    assert len(cancels) == 1 and cancels[0]["path"].startswith("/v1/predictions/"), setup.requests()
    assert cancels[0]["headers"]["authorization"] == f"Bearer {KEY}"
    [prediction] = setup.server.state.predictions.values()
    assert prediction.status == "canceled"


# -- upscaling with nightmareai/real-esrgan (docs/providers/replicate.md#upscaling) -----------

def test_mcp_upscale_image_doubles_a_stored_image_with_real_esrgan(setup):
    from fakekit import data_uri_png_size

    async def body(session):
        listed = await session.call_tool("list_models", {"provider": "replicate", "operation": "upscale"})
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "replicate",
                                                          "model": f"stability-ai/sdxl:{VERSION}", "width": 320, "height": 240})
        assert not is_error(made), made.content
        source = structured(made)["images"][0]
        upscaled = await session.call_tool("upscale_image", {"image": source["id"], "scale": 2, "provider": "replicate"})
        return listed, source, upscaled

    listed, source, result = run_mcp(setup, body)
    assert not is_error(listed), listed.content
    upscalers = [m["model"] for m in structured(listed)["models"] if m["provider"] == "replicate"]
    # The host takes the first upscale model of the provider when none is named.
    assert upscalers[0]["id"] == "nightmareai/real-esrgan", [m["id"] for m in upscalers]
    assert upscalers[0]["operations"] == ["upscale"] and upscalers[0]["max_input_images"] == 1
    assert not is_error(result), result.content
    assert (source["width"], source["height"]) == (320, 240)
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (640, 480)
    assert png_size(image["path"]) == (640, 480), "the stored file is the fake's 2x PNG"
    assert image["model"] == "nightmareai/real-esrgan" and image["parents"] == [source["id"]]
    create = creates(setup)[-1]
    # A community model: created by its pinned version, not through /v1/models/.../predictions.
    assert create["path"] == "/v1/predictions"
    assert create["json"]["version"] == replicate_fake.ESRGAN_VERSION
    inp = create["json"]["input"]
    assert inp["scale"] == 2
    assert data_uri_png_size(inp["image"]) == (320, 240), "the stored image went as a data: URI"
    assert "prompt" not in inp, "Real-ESRGAN takes no prompt"
    [p] = [p for p in setup.server.state.predictions.values() if p.model == "nightmareai/real-esrgan"]
    assert p.status == "succeeded" and isinstance(p.output, str), "one URL string, as the real model answers"


# -- a model's own input schema (docs/providers/replicate.md#model-schemas) --------------------

def test_mcp_an_unlisted_model_is_checked_against_its_schema_fetched_once(setup):
    model = "stability-ai/sdxl"

    async def body(session):
        first = await session.call_tool("generate_image", {
            "prompt": "a castle", "provider": "replicate", "model": model, "width": 640, "height": 480,
            "params": {"scheduler": "DDIM"}})
        second = await session.call_tool("generate_image", {
            "prompt": "a tower", "provider": "replicate", "model": model, "steps": 30})
        bad_choice = await session.call_tool("generate_image", {
            "prompt": "x", "provider": "replicate", "model": model, "params": {"scheduler": "PLMS"}})
        bad_arg = await session.call_tool("generate_image", {
            "prompt": "x", "provider": "replicate", "model": model, "aspect_ratio": "16:9"})
        missing = await session.call_tool("generate_image", {
            "prompt": "x", "provider": "replicate", "model": "nobody/nothing"})
        return first, second, bad_choice, bad_arg, missing

    first, second, bad_choice, bad_arg, missing = run_mcp(setup, body)
    assert not is_error(first) and not is_error(second), (first.content, second.content)
    schema_gets = [r for r in setup.requests() if r["method"] == "GET" and r["path"] == f"/v1/models/{model}"]
    assert len(schema_gets) == 1, "the host kept the schema for the later calls"
    assert "easel-cache" not in schema_gets[0]["headers"], "the cache header never leaves the host"
    bodies = [c["json"]["input"] for c in creates(setup)]
    assert len(bodies) == 2, "the refused calls created nothing"
    assert bodies[0]["scheduler"] == "DDIM" and bodies[1]["num_inference_steps"] == 30
    texts = [" ".join(c.text for c in r.content if getattr(c, "text", None)) for r in (bad_choice, bad_arg, missing)]
    assert is_error(bad_choice) and "params.scheduler" in texts[0] and "K_EULER" in texts[0], texts[0]
    assert is_error(bad_arg) and "aspect_ratio" in texts[1] and "num_inference_steps" in texts[1], texts[1]
    assert is_error(missing) and "nobody/nothing" in texts[2], texts[2]
