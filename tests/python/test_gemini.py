"""End-to-end tests of the Gemini ("nano banana") plugin: the `easel` binary (CLI and MCP
over stdio) driving the sandboxed gemini component against tests/fakes/gemini_fake.py,
which speaks the Gemini API's generateContent protocol (docs/providers/gemini.md).

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "gemini"`, or from
EASEL_GEMINI_WASM (a path to easel_gemini.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK (through tests/python/mcpclient.py, which
speaks to both SDK lines).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gemini_fake  # noqa: E402
from conftest import failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402
from imagebytes import png_size  # noqa: E402

KEY = "AIzaSy-test-9d2b7c41e0"
WASM = os.environ.get("EASEL_GEMINI_WASM")
KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


class Setup:
    """One fake Gemini API plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "gemini"'
        self.config.write_text(f"""
[defaults]
provider = "gemini"
wait_secs = 30

[plugins.gemini]
{source}
allowed_hosts = ["{base}"]
[plugins.gemini.secrets.GEMINI_API_KEY]
env = ["GEMINI_API_KEY", "GOOGLE_API_KEY"]
hosts = ["{base}"]
[plugins.gemini.config]
base_url = "{base}/v1beta"
""")
        env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
        self.env = {**env, "GEMINI_API_KEY": KEY, "EASEL_CACHE": str(cache), "RUST_LOG": "easel=debug"}

    def cli(self, *args: str, key: str | None = KEY, var: str = "GEMINI_API_KEY") -> subprocess.CompletedProcess:
        env = {k: v for k, v in self.env.items() if k not in KEY_VARS}
        if key is not None:
            env[var] = key
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store), *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def generate(self, prompt: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.cli("generate", prompt, "--provider", "gemini", *args, **kw)

    def api_calls(self) -> list[dict]:
        with self.server.lock:
            return [r for r in self.server.requests if r["path"].startswith(("/v1beta/", "/v1/"))]


@pytest.fixture
def setup(tmp_path, cache_dir):
    server, base = gemini_fake.start(key=KEY)
    yield Setup(tmp_path, cache_dir, base, server)
    server.shutdown()
    server.server_close()


GENERATE = "/v1beta/models/gemini-3.1-flash-image:generateContent"


# -- generation ---------------------------------------------------------------------------------

def test_generate_maps_aspect_ratio_and_tier_to_image_config(setup):
    [(_, path)] = outputs(setup.generate("a watercolor fox", "--aspect-ratio", "16:9", "--size-tier", "2K"))
    assert png_size(path) == (2688, 1536), "the final image, not the 64x64 thought image"
    [call] = setup.api_calls()
    assert (call["method"], call["path"]) == ("POST", GENERATE)
    body = call["json"]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a watercolor fox"}]}]
    config = body["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert "IMAGE" in config["responseModalities"]
    assert "candidateCount" not in config, "image models take one candidate; count means several calls"


def test_width_and_height_become_the_nearest_ratio_and_tier(setup):
    outputs(setup.generate("a harbour", "--width", "1920", "--height", "1080"))
    assert setup.api_calls()[0]["json"]["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    failed(setup.generate("a harbour", "--width", "1000", "--height", "600"), "width", "aspect ratio")


def test_count_makes_one_call_per_image_with_stepped_seeds(setup):
    images = outputs(setup.generate("a fox", "--count", "2", "--seed", "40"))
    assert len(images) == 2 and images[0][0] != images[1][0]
    seeds = [c["json"]["generationConfig"]["seed"] for c in setup.api_calls()]
    assert seeds == [40, 41]
    sidecars = [json.loads(Path(p).with_suffix(".json").read_text()) for _, p in images]
    assert sorted(s["seed"] for s in sidecars) == [40, 41]


@pytest.mark.parametrize("alias, model", [
    ("nano-banana", "gemini-3.1-flash-image"),
    ("nano-banana-2", "gemini-3.1-flash-image"),
    ("flash", "gemini-3.1-flash-image"),
    ("pro", "gemini-3-pro-image"),
    ("nano-banana-pro", "gemini-3-pro-image"),
    ("Nano Banana Pro", "gemini-3-pro-image"),
])
def test_aliases_resolve_to_gemini_ids(setup, alias, model):
    outputs(setup.generate("a fox", "--model", alias))
    assert setup.api_calls()[0]["path"] == f"/v1beta/models/{model}:generateContent"


# -- auth and secrets ---------------------------------------------------------------------------

def test_key_arrives_as_x_goog_api_key_and_the_plugin_never_sees_it(setup):
    outputs(setup.generate("a lighthouse"))
    [call] = setup.api_calls()
    assert call["headers"]["x-goog-api-key"] == KEY
    assert "authorization" not in call["headers"] and "key=" not in call["path"]
    assert "{{secret" not in json.dumps(call["headers"]), "the host substitutes the secret reference"
    # The fake echoes the key into the model's text; what reaches the plugin (and so its
    # error message) has it redacted by the host.
    result = setup.generate("a lighthouse [fake:no_image] [fake:echo_auth]")
    failed(result, "[redacted:GEMINI_API_KEY]")
    assert KEY not in result.stderr and KEY not in result.stdout  # debug logs included (RUST_LOG=easel=debug)


def test_google_api_key_also_works(setup):
    outputs(setup.generate("a fox", var="GOOGLE_API_KEY"))
    assert setup.api_calls()[0]["headers"]["x-goog-api-key"] == KEY


def test_bad_key_is_400_api_key_invalid_and_reads_as_unauthorized(setup):
    stderr = failed(setup.generate("a cat", key="AIza-wrong-key-00000"), "unauthorized", "API_KEY_INVALID", "GEMINI_API_KEY")
    assert "AIza-wrong-key-00000" not in stderr


def test_a_base_url_without_the_api_version_is_a_config_error_before_any_request(setup):
    setup.config.write_text(setup.config.read_text().replace(f'base_url = "{setup.base}/v1beta"', f'base_url = "{setup.base}"'))
    stderr = failed(setup.generate("a cat"), f"{setup.config}:", "does not end in a Gemini API version", "fix:", "/v1beta")
    assert "rejected the API key" not in stderr, stderr
    with setup.server.lock:
        assert setup.server.requests == [], "nothing was sent"


def test_missing_key_fails_before_any_request(setup):
    failed(setup.generate("a cat", key=None), "GEMINI_API_KEY")
    assert setup.api_calls() == []


# -- edits --------------------------------------------------------------------------------------

def test_edit_by_id_sends_the_reference_as_inline_data_before_the_text(setup):
    [(parent, parent_path)] = outputs(setup.generate("a plain house", "--aspect-ratio", "3:2"))
    [(child, path)] = outputs(setup.generate("make it night", "--image", parent))
    assert child != parent
    assert png_size(path) == png_size(parent_path) == (1248, 832), "without aspectRatio the edit keeps the input's shape"
    call = setup.api_calls()[-1]
    assert call["path"] == GENERATE
    parts = call["json"]["contents"][0]["parts"]
    assert [("inlineData" in p, "text" in p) for p in parts] == [(True, False), (False, True)]
    assert parts[0]["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == Path(parent_path).read_bytes()
    assert parts[1]["text"] == "make it night"
    assert "imageConfig" not in call["json"]["generationConfig"]
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["parents"] == [parent] and sidecar["origin"] == "edited"


def test_masks_and_strength_are_refused_by_name(setup):
    [(parent, _)] = outputs(setup.generate("a room"))
    failed(setup.generate("add a window", "--image", parent, "--mask", parent), "mask")
    failed(setup.generate("add a window", "--image", parent, "--strength", "0.4"), "strength")
    assert len(setup.api_calls()) == 1, "refused before calling Gemini"


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("marker, expected", [
    ("block_reason", ["safety system", "blockReason PROHIBITED_CONTENT"]),
    ("image_safety", ["safety system", "IMAGE_SAFETY", "Prohibited Use policy"]),
    ("no_image", ["no image", "NO_IMAGE", "could you tell me more"]),
    ("text_only", ["no image", "Here is a description"]),
    ("validation", ["aspect_ratio", "INVALID_ARGUMENT"]),
    ("rate_limit", ["rate limited", "retry after 1.0 s", "RESOURCE_EXHAUSTED"]),
    ("rate_limit=0.5", ["retry after 0.5 s"]),
    ("permission", ["unauthorized", "PERMISSION_DENIED"]),
    ("location", ["User location is not supported"]),
    ("server_error", ["HTTP 500", "INTERNAL"]),
    ("overloaded", ["HTTP 503", "overloaded"]),
    ("garbage", ["not JSON"]),
])
def test_provider_errors_are_readable(setup, marker, expected):
    failed(setup.generate(f"a cat [fake:{marker}]"), *expected)


def test_validation_error_names_the_field(setup):
    failed(setup.generate("a cat [fake:validation]"), "invalid --aspect-ratio")


def test_retired_models_name_their_replacement(setup):
    failed(setup.generate("a cat", "--model", "gemini-2.5-flash-image-preview"), "retired", "gemini-3.1-flash-image")
    failed(setup.generate("a cat", "--model", "gemini-2.5-flash-image"), "gemini-3.1-flash-image")
    failed(setup.generate("a cat", "--model", "imagen-4.0-generate-001"), "gemini-3.1-flash-image")
    assert setup.api_calls() == [], "retired models are refused before any request"


def test_parameters_gemini_lacks_are_refused_by_name(setup):
    failed(setup.generate("a cat", "--negative-prompt", "dogs"), "negative_prompt")
    failed(setup.generate("a cat", "--model", "pro", "--size-tier", "512"), "size-tier", "1K, 2K, 4K")
    failed(setup.generate("a cat", "--model", "pro", "--aspect-ratio", "8:1"), "aspect-ratio", "21:9")
    assert setup.api_calls() == []


# -- MCP ----------------------------------------------------------------------------------------

def test_mcp_generate_and_edit_by_id(setup):
    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a house", "provider": "gemini", "model": "nano-banana",
                                                         "aspect_ratio": "4:3"})
        assert not is_error(made), text_of(made)
        reference = structured(made)["images"][0]["id"]
        edited = await client.call_tool("edit_image", {"prompt": "paint it blue", "provider": "gemini",
                                                       "images": [{"image": reference, "role": "reference"}]})
        return made, edited

    made, edited = run_mcp(setup, body)
    [image] = structured(made)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (1184, 864, "image/png")
    assert Path(image["path"]).exists()
    assert not is_error(edited), text_of(edited)
    [child] = structured(edited)["images"]
    assert (child["width"], child["height"]) == (1184, 864)
    calls = setup.api_calls()
    assert [c["path"] for c in calls] == [GENERATE, GENERATE]
    assert "inlineData" in calls[1]["json"]["contents"][0]["parts"][0]


def test_mcp_errors_are_tool_results(setup):
    async def body(client):
        blocked = await client.call_tool("generate_image", {"prompt": "x [fake:image_safety]", "provider": "gemini"})
        retired = await client.call_tool("generate_image", {"prompt": "x", "provider": "gemini",
                                                            "model": "gemini-2.5-flash-image-preview"})
        return blocked, retired

    blocked, retired = run_mcp(setup, body)
    assert is_error(blocked) and "IMAGE_SAFETY" in text_of(blocked), text_of(blocked)
    assert is_error(retired) and "gemini-3.1-flash-image" in text_of(retired), text_of(retired)
