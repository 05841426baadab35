"""End-to-end tests of the Stability AI plugin (a JavaScript component, plugins/stability):
the `easel` binary (CLI and MCP over stdio) driving it against tests/fakes/stability_fake.py,
which speaks Stability's v2beta Stable Image protocol (docs/providers/stability.md).

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "stability"`, or from
EASEL_STABILITY_WASM (a path to the componentize-js build, see plugins/stability/README.md)
while it is not built in yet. MCP tests use the official `mcp` Python SDK (through
tests/python/mcpclient.py, which speaks to both SDK lines).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import stability_fake  # noqa: E402
from conftest import failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402
from imagebytes import png_size  # noqa: E402

KEY = "sk-stab-test-9d41c0e7a2"
WASM = os.environ.get("EASEL_STABILITY_WASM")


class Setup:
    """One fake Stability plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server, config: str = ""):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "stability"'
        self.config.write_text(f"""
[defaults]
provider = "stability"
wait_secs = 30

[plugins.stability]
{source}
allowed_hosts = ["{base}"]
[plugins.stability.secrets.STABILITY_API_KEY]
env = "STABILITY_API_KEY"
hosts = ["{base}"]
[plugins.stability.config]
base_url = "{base}"
{config}
""")
        self.env = {**os.environ, "STABILITY_API_KEY": KEY, "EASEL_CACHE": str(cache), "RUST_LOG": "easel=debug"}
        self.stderr: list[str] = []

    def cli(self, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("STABILITY_API_KEY", None)
        else:
            env["STABILITY_API_KEY"] = key
        result = subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store), *args],
                                env=env, capture_output=True, text=True, timeout=240)
        self.stderr.append(result.stderr + result.stdout)
        return result

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        return self.cli("generate", prompt, "--provider", "stability", *args, key=key)

    def calls(self) -> list[dict]:
        with self.server.lock:
            return [r for r in self.server.requests if r["path"].startswith("/v2beta/")]

    def form(self, index: int = -1) -> dict:
        """The text fields of one recorded request, name → value."""
        return {p["name"]: p["value"] for p in self.calls()[index]["form"] if p["filename"] is None}


@pytest.fixture(scope="module")
def warm(tmp_path_factory, cache_dir):
    """Compile the component once (a cold compile of a JS component takes a while)."""
    server, base = stability_fake.start(key=KEY)
    setup = Setup(tmp_path_factory.mktemp("warm"), cache_dir, base, server)
    for _ in range(10):
        if setup.cli("plugins", "check").returncode == 0:
            break
        time.sleep(2)
    server.shutdown()
    server.server_close()


def make_setup(tmp_path, cache_dir, config=""):
    server, base = stability_fake.start(key=KEY)
    return Setup(tmp_path, cache_dir, base, server, config)


@pytest.fixture
def setup(tmp_path, cache_dir, warm):
    s = make_setup(tmp_path, cache_dir)
    yield s
    s.server.shutdown()
    s.server.server_close()
    # Debug logs included (RUST_LOG=easel=debug): the key never shows up anywhere.
    for text in s.stderr:
        assert KEY not in text, text


# -- generation ---------------------------------------------------------------------------------

def test_generate_sends_a_multipart_form_and_stores_the_inline_image(setup):
    result = setup.generate("a red fox in snow", "--width", "1344", "--height", "768", "--seed", "42",
                            "--negative-prompt", "dogs")
    [(image_id, path)] = outputs(result)
    assert png_size(path) == (1344, 768), "the fake renders Stability's 16:9 size"
    [call] = setup.calls()
    assert call["path"] == "/v2beta/stable-image/generate/core", "stable-image-core is the default model"
    assert call["headers"]["authorization"] == f"Bearer {KEY}"
    assert call["headers"]["accept"] == "image/*"
    assert call["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert setup.form() == {"prompt": "a red fox in snow", "negative_prompt": "dogs", "aspect_ratio": "16:9", "seed": "42"}
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert (sidecar["id"], sidecar["provider"], sidecar["model"], sidecar["seed"]) == (image_id, "stability", "stable-image-core", 42)
    assert sidecar["cost_estimate_usd"] == pytest.approx(0.03)


@pytest.mark.parametrize("width, height, ratio", [(1024, 1024, "1:1"), (1216, 832, "3:2"), (1024, 768, "5:4"), (640, 1536, "9:21")])
def test_width_and_height_map_to_the_nearest_aspect_ratio(setup, width, height, ratio):
    [(_, path)] = outputs(setup.generate("a lighthouse", "--width", str(width), "--height", str(height)))
    assert setup.form()["aspect_ratio"] == ratio
    assert png_size(path) == stability_fake.ASPECT_SIZES[ratio]


def test_a_shape_far_from_every_ratio_is_refused_naming_width(setup):
    failed(setup.generate("a banner", "--width", "2048", "--height", "512"), "invalid --width", "2048x512", "16:9")
    assert setup.calls() == [], "refused before any request"


def test_sd3_models_send_model_mode_and_cfg_scale_and_keep_the_returned_seed(setup):
    [(_, path)] = outputs(setup.generate("a tall tower", "--model", "sd3.5-medium", "--aspect-ratio", "9:21", "--guidance", "4.5"))
    assert png_size(path) == (640, 1536)
    call = setup.calls()[0]
    assert call["path"] == "/v2beta/stable-image/generate/sd3"
    assert setup.form() == {"prompt": "a tall tower", "aspect_ratio": "9:21", "model": "sd3.5-medium",
                            "mode": "text-to-image", "cfg_scale": "4.5"}
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert isinstance(sidecar["seed"], int) and sidecar["seed"] > 0, "the seed Stability reports is recorded"


def test_json_answers_work_when_configured(tmp_path, cache_dir, warm):
    s = make_setup(tmp_path, cache_dir, 'accept = "application/json"')
    try:
        [(_, path)] = outputs(s.generate("a heron", "--aspect-ratio", "3:2", "--seed", "7"))
        assert png_size(path) == (1216, 832)
        assert s.calls()[0]["headers"]["accept"] == "application/json"
        assert json.loads(Path(path).with_suffix(".json").read_text())["seed"] == 7
    finally:
        s.server.shutdown()
        s.server.server_close()


def test_what_stability_lacks_is_refused_by_name_before_any_request(setup):
    failed(setup.generate("a cat", "--seed", "4294967295"), "invalid --seed", "4294967294")
    failed(setup.generate("a cat", "--steps", "30"), "invalid --steps")
    failed(setup.generate("a cat", "--guidance", "5"), "invalid --guidance", "stable-image-core")
    failed(setup.generate("a cat", "--model", "sd3.5-large-turbo", "--negative-prompt", "dogs"), "invalid --negative-prompt")
    failed(setup.generate("a cat", "--count", "2"), "invalid --count")
    failed(setup.generate("a cat", "--aspect-ratio", "4:3"), "invalid --aspect-ratio", "16:9")
    assert setup.calls() == []


def test_declared_params_are_checked_and_reach_the_form(setup):
    failed(setup.generate("a cat", "--param", "style_preset=watercolor"), "invalid --param style_preset", "watercolor")
    failed(setup.generate("a cat", "--model", "sd3.5-large", "--param", "output_format=webp"), "invalid --param output_format")
    failed(setup.generate("a cat", "--param", "seed=3"), "invalid --param seed", "seed argument")
    assert setup.calls() == [], "refused before any request"
    outputs(setup.generate("a cat", "--param", "style_preset=anime", "--param", "output_format=jpeg"))
    assert setup.form()["style_preset"] == "anime" and setup.form()["output_format"] == "jpeg"


# -- edits --------------------------------------------------------------------------------------

def test_sd3_image_to_image_sends_the_image_and_strength(setup):
    [(parent, parent_path)] = outputs(setup.generate("a plain house", "--aspect-ratio", "2:3"))
    [(child, path)] = outputs(setup.generate("paint the door red", "--image", parent, "--strength", "0.35", "--model", "sd3.5-large"))
    assert child != parent
    assert png_size(path) == (832, 1216), "image-to-image keeps the input's size"
    edit = setup.calls()[-1]
    assert edit["path"] == "/v2beta/stable-image/generate/sd3"
    assert setup.form() == {"prompt": "paint the door red", "model": "sd3.5-large", "mode": "image-to-image", "strength": "0.35"}
    [image] = [p for p in edit["form"] if p["name"] == "image"]
    assert (image["filename"], image["content_type"], image["size"]) == ("image.png", "image/png", len(Path(parent_path).read_bytes()))
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["parents"] == [parent] and sidecar["origin"] == "edited"


def test_edits_refuse_a_shape_and_models_that_cannot_edit(setup):
    [(parent, _)] = outputs(setup.generate("a room"))
    failed(setup.generate("add a window", "--image", parent, "--model", "ultra", "--aspect-ratio", "16:9"), "invalid --aspect-ratio", "input image's shape")
    failed(setup.generate("add a window", "--image", parent, "--model", "stable-image-core"), "invalid --model")
    assert len(setup.calls()) == 1, "refused before calling Stability"


# -- errors -------------------------------------------------------------------------------------

def test_wrong_key_is_unauthorized_and_names_the_variable(setup):
    stderr = failed(setup.generate("a cat", key="sk-wrong-000000"), "unauthorized", "STABILITY_API_KEY", "invalid API key")
    assert "sk-wrong-000000" not in stderr
    [call] = setup.calls()
    assert call["headers"]["authorization"] == "Bearer sk-wrong-000000"


def test_missing_key_fails_before_any_request(setup):
    failed(setup.generate("a cat", key=None), "STABILITY_API_KEY")
    assert setup.calls() == []


def test_rate_limit_is_retried_after_retry_after_then_reported(setup):
    failed(setup.generate("a cat [fake:rate_limit=0.2]"), "rate limited (retry after 0.2 s)", "rate_limit_exceeded", "150 requests")
    assert len(setup.calls()) == 4, "the host retried three times"
    [(_, path)] = outputs(setup.generate("a dog [fake:rate_limit_once=0.2]"))
    assert png_size(path) == (1024, 1024)


@pytest.mark.parametrize("marker, expected", [
    ("reject=aspect_ratio", ["invalid --aspect-ratio", "rejected by the fake"]),
    ("reject=image", ["invalid --images"]),
    ("reject=style_preset", ["invalid --param style_preset"]),
    ("language", ["invalid request", "HTTP 422 invalid_language", "English is the only supported language"]),
    ("filtered", ["blocked by the provider's safety system", "CONTENT_FILTERED"]),
    ("moderation", ["blocked by the provider's safety system", "content_moderation", "not charged"]),
    ("no_credits", ["HTTP 402", "credits"]),
    ("server_error", ["HTTP 500", "internal_error", "error id"]),
    ("garbage", ["text/html instead of an image", "502 upstream hiccup"]),
])
def test_provider_errors_are_readable(setup, marker, expected):
    failed(setup.generate(f"a cat [fake:{marker}]"), *expected)


def test_the_key_is_redacted_in_what_the_plugin_receives(setup):
    stderr = failed(setup.generate("a cat [fake:echo_auth]"), "[redacted:STABILITY_API_KEY]")
    assert KEY not in stderr
    assert setup.calls()[0]["headers"]["authorization"] == f"Bearer {KEY}", "the fake did receive the real key"


@pytest.mark.parametrize("content_type, body, expected", [
    ("multipart/form-data", b"--x\r\n", "content-type: must be multipart/form-data with a boundary"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n', "no closing boundary"),
    ("multipart/form-data; boundary=x", b"--x\r\nno header block\r\n--x--\r\n", "no header block"),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na\r\n--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nb\r\n--x--\r\n',
     "prompt: given more than once"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na\r\n--x\r\nContent-Disposition: form-data; name="steps"\r\n\r\n9\r\n--x--\r\n',
     "steps: unknown field"),
])
def test_the_fake_rejects_malformed_forms_like_a_strict_server(content_type, body, expected):
    # The fake is only a useful check of the plugin's bodies if it refuses bad ones.
    import urllib.error
    import urllib.request

    server, base = stability_fake.start(key=KEY)
    try:
        request = urllib.request.Request(f"{base}/v2beta/stable-image/generate/core", data=body, method="POST", headers={
            "authorization": f"Bearer {KEY}", "content-type": content_type})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 400
        answer = json.loads(caught.value.read())
        assert answer["name"] == "bad_request" and expected in answer["errors"][0], answer
    finally:
        server.shutdown()
        server.server_close()


# -- MCP ----------------------------------------------------------------------------------------

def test_mcp_generate_and_edit_with_ultra(setup):
    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a house", "provider": "stability", "model": "ultra",
                                                         "width": 1536, "height": 640})
        assert not is_error(made), text_of(made)
        reference = structured(made)["images"][0]["id"]
        edited = await client.call_tool("edit_image", {"prompt": "paint it blue", "provider": "stability", "model": "ultra",
                                                       "images": [{"image": reference, "role": "reference"}], "strength": 0.7})
        return made, edited

    made, edited = run_mcp(setup, body)
    [image] = structured(made)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (1536, 640, "image/png")
    assert Path(image["path"]).exists()
    assert not is_error(edited), text_of(edited)
    [child] = structured(edited)["images"]
    assert (child["width"], child["height"]) == (1536, 640)
    calls = setup.calls()
    assert [c["path"] for c in calls] == ["/v2beta/stable-image/generate/ultra"] * 2
    assert setup.form(0)["aspect_ratio"] == "21:9"
    assert setup.form(1)["strength"] == "0.7" and "aspect_ratio" not in setup.form(1)


def test_mcp_list_models_shows_prices_and_declared_parameters(setup):
    async def body(client):
        return await client.call_tool("list_models", {"provider": "stability"})

    result = run_mcp(setup, body)
    assert not is_error(result), text_of(result)
    models = {m["model"]["id"]: m["model"] for m in structured(result)["models"]}
    assert set(models) == {"stable-image-core", "stable-image-ultra", "sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium"}
    assert models["stable-image-ultra"]["price_per_image_usd"] == pytest.approx(0.08)
    assert models["sd3.5-large"]["parameters"]["properties"]["output_format"]["enum"] == ["png", "jpeg"]
    assert "anime" in models["stable-image-core"]["parameters"]["properties"]["style_preset"]["enum"]
    assert models["stable-image-core"]["operations"] == ["generate"]


def test_mcp_errors_are_tool_results(setup):
    async def body(client):
        filtered = await client.call_tool("generate_image", {"prompt": "x [fake:filtered]", "provider": "stability"})
        invalid = await client.call_tool("generate_image", {"prompt": "x [fake:reject=seed]", "provider": "stability", "seed": 3})
        return filtered, invalid

    filtered, invalid = run_mcp(setup, body)
    assert is_error(filtered) and "safety system" in text_of(filtered), text_of(filtered)
    assert is_error(invalid) and "seed" in text_of(invalid), text_of(invalid)
