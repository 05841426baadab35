"""End-to-end tests of the fal plugin: the `easel` binary (CLI and MCP over stdio)
driving the sandboxed fal component against tests/fakes/fal_fake.py.

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "fal"`, or from
EASEL_FAL_WASM (a path to easel_fal.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK.
"""

from __future__ import annotations

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
import fal_fake  # noqa: E402
from conftest import is_error, outputs, run_mcp, structured  # noqa: E402
from imagebytes import png_size  # noqa: E402

KEY = "fal-test-key-7c1d9e"
WASM = os.environ.get("EASEL_FAL_WASM")


class Setup:
    """One fake server plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "fal"'
        self.config.write_text(f"""
[defaults]
provider = "fal"
wait_secs = 20

{fal_fake.plugin_toml(base, source=source)}""")
        self.env = {**os.environ, "FAL_KEY": KEY, "EASEL_CACHE": str(cache)}

    def cli(self, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("FAL_KEY", None)
        else:
            env["FAL_KEY"] = key
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store), *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        return self.cli("generate", prompt, "--provider", "fal", *args, key=key)

    def requests(self) -> list[dict]:
        return list(self.server.state.recorded)


@pytest.fixture
def setup(tmp_path, cache_dir):
    server, base = fal_fake.start(key=KEY)
    yield Setup(tmp_path, cache_dir, base, server)
    server.shutdown()
    server.server_close()


def submits(setup: Setup) -> list[dict]:
    return [r for r in setup.requests() if r["method"] == "POST"]


# -- CLI ------------------------------------------------------------------------------------

def test_generate_sends_fal_inputs_and_stores_pngs(setup):
    images = outputs(setup.generate("a red fox in snow", "--width", "512", "--height", "384", "--count", "2", "--seed", "42"))
    assert len(images) == 2
    for _, path in images:
        assert png_size(path) == (512, 384)
    [submit] = submits(setup)
    assert submit["path"] == "/fal-ai/flux/dev"
    body = submit["json"]
    assert body["prompt"] == "a red fox in snow"
    assert body["image_size"] == {"width": 512, "height": 384}
    assert (body["num_images"], body["seed"]) == (2, 42)
    paths = [r["path"] for r in setup.requests()]
    assert any(p.endswith("/status/stream?logs=1") for p in paths), "progress comes from fal's status stream"
    assert any(p.startswith("/files/") for p in paths), "the host downloads the images from the fake's URLs"
    # Status, result and cancel use owner/app only (docs/providers/fal.md#endpoint-ids).
    assert all(p.startswith(("/fal-ai/flux/dev", "/fal-ai/flux/requests/", "/files/")) for p in paths), paths


def test_a_structured_prompt_reaches_flux_as_t5_prose_and_its_negatives_are_left_out(setup):
    structured_prompt = {"subject": "a lighthouse", "scene": "a stormy coast at dusk", "style": {"medium": "oil painting"},
                         "lighting": "warm lamplight", "text": {"content": "NORTH LIGHT", "placement": "at the bottom"},
                         "negative": "people"}
    result = setup.generate("", "--structured-prompt", json.dumps(structured_prompt))
    outputs(result)
    [submit] = submits(setup)
    # FLUX declares t5-prose: one descriptive sentence, no labels, no weights.
    assert submit["json"]["prompt"] == ('A lighthouse, set in a stormy coast at dusk, oil painting, warm lamplight, '
                                        'with the text "NORTH LIGHT" written at the bottom.'), submit["json"]["prompt"]
    assert "people" not in json.dumps(submit["json"]), "FLUX has no negative prompt, and naming a thing draws it"
    assert "structured_prompt.negative (people) was left out" in result.stderr, result.stderr


def test_auth_header_arrives_in_fal_form_and_the_plugin_never_sees_the_key(setup):
    result = setup.generate("a lighthouse [fake:echo_auth]", "--width", "512", "--height", "512")
    outputs(result)
    queue_calls = [r for r in setup.requests() if not r["path"].startswith("/files/")]
    assert queue_calls
    for r in queue_calls:
        assert r["headers"].get("authorization") == f"Key {KEY}", r
    for r in setup.requests():
        assert "{{secret" not in json.dumps(r["headers"]), "the host substitutes secret references"
    # The fake echoes the header into its logs; what reaches the plugin (and so the
    # progress lines it reports) has the key redacted by the host.
    assert "[redacted:FAL_KEY]" in result.stderr, result.stderr
    assert KEY not in result.stderr and KEY not in result.stdout


def test_edit_with_a_reference_image_uses_image_to_image(setup, tmp_path):
    reference = tmp_path / "reference.png"
    reference.write_bytes(fal_fake.make_png(320, 240, "reference"))
    images = outputs(setup.generate("make it night time", "--image", str(reference), "--strength", "0.6",
                                    "--model", "fal-ai/flux/dev"))
    assert len(images) == 1
    assert png_size(images[0][1]) == (320, 240), "the fake keeps the input's size when no image_size is given"
    [submit] = submits(setup)
    assert submit["path"] == "/fal-ai/flux/dev/image-to-image"
    body = submit["json"]
    assert body["image_url"].startswith("data:image/png;base64,")
    assert abs(body["strength"] - 0.6) < 1e-6


@pytest.mark.parametrize("marker, expected", [
    ("validation", ["image_size"]),
    ("nsfw", ["safety", "content checker"]),
    ("rate_limit", ["rate limited", "retry after 1.0 s"]),
    ("server_error", ["HTTP 500", "Internal server error"]),
    ("model_error", ["CUDA out of memory"]),
])
def test_provider_errors_are_readable(setup, marker, expected):
    result = setup.generate(f"a cat [fake:{marker}]", "--width", "512", "--height", "512")
    assert result.returncode != 0, result.stdout
    for text in expected:
        assert text in result.stderr, f"{text!r} not in stderr:\n{result.stderr}"
    assert "panic" not in result.stderr.lower()


def test_a_gateway_503_that_never_reached_fal_is_retried_and_summarised_then_succeeds(setup):
    result = setup.generate("a heron [fake:gateway_503]", "--width", "512", "--height", "512")
    [(_, path)] = outputs(result)
    assert png_size(path) == (512, 512)
    # The first submit got nginx's page without x-fal-request-id; the host submitted again.
    assert len(submits(setup)) == 2, submits(setup)
    assert "never reached fal" in result.stderr and "retry 1/3" in result.stderr, result.stderr
    assert '"503 Service Temporarily Unavailable"' in result.stderr, result.stderr
    assert "<center>" not in result.stderr and "<html>" not in result.stderr, result.stderr


def test_a_503_from_fal_itself_is_not_retried_since_it_may_have_been_billed(setup):
    result = setup.generate("a heron [fake:upstream_503]", "--width", "512", "--height", "512")
    assert result.returncode != 0, result.stdout
    assert len(submits(setup)) == 1, submits(setup)
    assert "HTTP 503" in result.stderr or "503" in result.stderr, result.stderr
    assert "Service temporarily unavailable" in result.stderr, result.stderr
    assert "retry" not in result.stderr.lower(), result.stderr


def test_wrong_key_is_unauthorized_and_names_the_variable(setup):
    result = setup.generate("a cat", key="not-the-key")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() and "FAL_KEY" in result.stderr, result.stderr
    assert "not-the-key" not in result.stderr
    [submit] = submits(setup)
    assert submit["headers"]["authorization"] == "Key not-the-key"


def test_missing_key_fails_before_any_request(setup):
    result = setup.generate("a cat", key=None)
    assert result.returncode != 0
    assert "FAL_KEY" in result.stderr, result.stderr
    assert submits(setup) == []


# -- MCP ------------------------------------------------------------------------------------

def generate_over_mcp(setup, prompt: str) -> tuple[object, list[tuple[float, str]]]:
    """generate_image over MCP with a progress callback: (result, [(value, message)])."""
    events: list[tuple[float, str]] = []

    async def progress(value, total, message):
        events.append((value, message or ""))

    async def body(session):
        return await session.call_tool("generate_image", {"prompt": prompt, "provider": "fal", "width": 512, "height": 384},
                                       progress_callback=progress)

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (512, 384, "image/png")
    assert Path(image["path"]).exists()
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"
    return result, events


def test_mcp_progress_comes_from_the_status_stream_with_fewer_status_polls(setup):
    _, events = generate_over_mcp(setup, "a red fox")
    # The fake's IN_PROGRESS events carry tqdm bars ("  45%|####      | 9/20"); the plugin
    # reports the latest line with the fraction it shows (MCP progress is out of 100; the host
    # keeps it below 100 until the images are stored).
    bars = [(v, m) for v, m in events if m.startswith("fal: ") and "%|" in m]
    assert bars, [m for _, m in events]
    for value, message in bars:
        percent = int(message.removeprefix("fal: ").split("%|")[0])
        assert value == pytest.approx(min(percent, 99.9)), (value, message)
    state = setup.server.state
    assert state.stream_opens >= 1
    # Polling only, the same job takes 5 plain status GETs (2 queued, 2 running, 1 completed;
    # see the next test); with the stream, COMPLETED arrives on it.
    assert state.status_polls <= 1, (state.status_polls, [r["path"] for r in setup.requests()])


def test_mcp_progress_falls_back_to_status_polls_when_the_stream_is_refused(setup):
    # [fake:no_stream]: the stream answers 405, as an older gateway or a non-streaming proxy would.
    _, events = generate_over_mcp(setup, "a red fox [fake:no_stream]")
    messages = [m for _, m in events]
    first = lambda pred: next(i for i, m in enumerate(messages) if pred(m))  # noqa: E731
    accepted = first(lambda m: "fal accepted request" in m)
    queued = first(lambda m: m.startswith("queued at fal"))
    running = first(lambda m: "45%|" in m or m == "running at fal")
    done = first(lambda m: "100%|" in m)
    assert accepted < queued < running < done, messages
    state = setup.server.state
    assert state.status_polls == state.queue_polls + state.run_polls + 1, state.status_polls
    assert state.stream_opens == state.status_polls, "every poll tried the stream first"


def test_mcp_edit_image_with_a_stored_reference(setup):
    async def body(session):
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "fal", "width": 512, "height": 512})
        assert not is_error(made), made.content
        reference = structured(made)["images"][0]["id"]
        return await session.call_tool("edit_image", {"prompt": "paint it blue", "provider": "fal", "model": "fal-ai/flux/dev",
                                                      "images": [{"image": reference, "role": "reference"}], "strength": 0.4})

    result = run_mcp(setup, body)
    assert not is_error(result), result.content
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (512, 512)
    edit = submits(setup)[-1]
    assert edit["path"] == "/fal-ai/flux/dev/image-to-image"
    assert edit["json"]["image_url"].startswith("data:image/png;base64,")


def test_mcp_errors_are_tool_results(setup):
    async def body(session):
        return await session.call_tool("generate_image", {"prompt": "x [fake:nsfw]", "provider": "fal"})

    result = run_mcp(setup, body)
    assert is_error(result)
    text = " ".join(c.text for c in result.content if getattr(c, "text", None))
    assert "safety" in text, text


def test_mcp_cancel_reaches_fal(setup):
    async def body(session):
        started = await session.call_tool("generate_image", {"prompt": "a slow one [fake:slow]", "provider": "fal", "wait_seconds": 3})
        assert not is_error(started), started.content
        job_id = structured(started)["job_id"]
        assert structured(started)["status"] in ("queued", "running")
        cancelled = await session.call_tool("cancel_generation", {"job_id": job_id})
        status = await session.call_tool("get_generation_status", {"job_id": job_id})
        return cancelled, status

    cancelled, status = run_mcp(setup, body)
    assert not is_error(cancelled), cancelled.content
    assert structured(status)["status"] == "canceled", structured(status)
    cancels = [r for r in setup.requests() if r["method"] == "PUT"]
    assert len(cancels) == 1 and cancels[0]["path"].endswith("/cancel"), setup.requests()
    assert cancels[0]["path"].startswith("/fal-ai/flux/requests/")
    assert cancels[0]["headers"]["authorization"] == f"Key {KEY}"


# -- upscaling with fal-ai/clarity-upscaler (docs/providers/fal.md#upscaling) -----------------

def test_mcp_upscale_image_doubles_a_stored_image_with_clarity_upscaler(setup):
    from fakekit import data_uri_png_size

    async def body(session):
        listed = await session.call_tool("list_models", {"provider": "fal", "operation": "upscale"})
        made = await session.call_tool("generate_image", {"prompt": "a house", "provider": "fal", "width": 512, "height": 384})
        assert not is_error(made), made.content
        source = structured(made)["images"][0]
        upscaled = await session.call_tool("upscale_image", {"image": source["id"], "scale": 2, "provider": "fal"})
        return listed, source, upscaled

    listed, source, result = run_mcp(setup, body)
    assert not is_error(listed), listed.content
    upscalers = [m["model"] for m in structured(listed)["models"] if m["provider"] == "fal"]
    # The host takes the first upscale model of the provider when none is named.
    assert upscalers[0]["id"] == "fal-ai/clarity-upscaler", [m["id"] for m in upscalers]
    assert upscalers[0]["operations"] == ["upscale"] and upscalers[0]["max_input_images"] == 1
    assert not is_error(result), result.content
    assert (source["width"], source["height"]) == (512, 384)
    [image] = structured(result)["images"]
    assert (image["width"], image["height"]) == (1024, 768)
    assert png_size(image["path"]) == (1024, 768), "the stored file is the fake's 2x PNG"
    assert image["model"] == "fal-ai/clarity-upscaler" and image["parents"] == [source["id"]]
    upscale = submits(setup)[-1]
    assert upscale["path"] == "/fal-ai/clarity-upscaler"
    sent = upscale["json"]
    assert sent["upscale_factor"] == 2
    assert data_uri_png_size(sent["image_url"]) == (512, 384), "the stored image went as a data: URI"
    assert "prompt" not in sent and "num_images" not in sent, "no prompt given: fal's default applies"
    # Status and result of the upscale use the endpoint's own owner/app.
    [job] = [j for j in setup.server.state.jobs.values() if j.endpoint == "fal-ai/clarity-upscaler"]
    assert any(r["path"] == f"/fal-ai/clarity-upscaler/requests/{job.id}" for r in setup.requests())


# -- an endpoint's own input schema (docs/providers/fal.md#endpoint-schemas) -------------------

def test_mcp_an_endpoint_outside_the_table_is_checked_against_its_schema_fetched_once(setup):
    lora = [{"path": "https://example.com/style.safetensors", "scale": 0.8}]

    async def body(session):
        first = await session.call_tool("generate_image", {
            "prompt": "a fox", "provider": "fal", "model": "fal-ai/flux-lora", "params": {"loras": lora}})
        second = await session.call_tool("generate_image", {
            "prompt": "a hare", "provider": "fal", "model": "fal-ai/flux-lora", "steps": 20})
        too_many = await session.call_tool("generate_image", {
            "prompt": "x", "provider": "fal", "model": "fal-ai/flux-lora", "steps": 80})
        unknown = await session.call_tool("generate_image", {
            "prompt": "x", "provider": "fal", "model": "fal-ai/flux-lora", "params": {"lora_scale": 1}})
        unlisted = await session.call_tool("generate_image", {"prompt": "x", "provider": "fal", "model": "nobody/nothing"})
        return first, second, too_many, unknown, unlisted

    first, second, too_many, unknown, unlisted = run_mcp(setup, body)
    assert not is_error(first) and not is_error(second), (first.content, second.content)
    searches = [r for r in setup.requests() if r["method"] == "GET" and r["path"].startswith("/v1/models?")]
    lora_searches = [r for r in searches if "endpoint_id=fal-ai/flux-lora&" in r["path"]]
    assert len(lora_searches) == 1, "the host kept the schema for the later calls"
    assert len(searches) == 2, "one more for nobody/nothing"
    assert "authorization" not in lora_searches[0]["headers"] and "easel-cache" not in lora_searches[0]["headers"]
    submits = [r["json"] for r in setup.requests() if r["method"] == "POST"]
    assert len(submits) == 2, "the refused calls queued nothing"
    assert submits[0]["loras"] == lora and submits[1]["num_inference_steps"] == 20
    assert "image_urls" not in submits[0]
    texts = [" ".join(c.text for c in r.content if getattr(c, "text", None)) for r in (too_many, unknown, unlisted)]
    assert is_error(too_many) and "steps" in texts[0] and "maximum 50" in texts[0], texts[0]
    assert is_error(unknown) and "params.lora_scale" in texts[1] and "loras" in texts[1], texts[1]
    assert is_error(unlisted) and "nobody/nothing" in texts[2], texts[2]
