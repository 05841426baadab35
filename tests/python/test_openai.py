"""End-to-end tests of the OpenAI plugin: the `easel` binary (CLI and MCP over stdio)
driving the sandboxed openai component against tests/fakes/openai_fake.py, which speaks
OpenAI's Images wire protocol (docs/providers/openai.md).

Needs EASEL_BIN (the built host). The plugin comes from `builtin = "openai"`, or from
EASEL_OPENAI_WASM (a path to easel_openai.wasm) while it is not built in yet.
MCP tests use the official `mcp` Python SDK (through tests/python/mcpclient.py, which
speaks to both SDK lines).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import openai_fake  # noqa: E402
from conftest import failed, is_error, outputs, run_mcp, structured, text_of  # noqa: E402
from imagebytes import png_size  # noqa: E402

KEY = "sk-test-4f9a2c7e1b83d5"
WASM = os.environ.get("EASEL_OPENAI_WASM")


class Setup:
    """One fake OpenAI plus a plugins.toml, store and cache pointing at it."""

    def __init__(self, root: Path, cache: Path, base: str, server):
        self.root, self.base, self.server = root, base, server
        self.config = root / "plugins.toml"
        self.store = root / "store"
        source = f'path = "{WASM}"' if WASM else 'builtin = "openai"'
        self.config.write_text(f"""
[defaults]
provider = "openai"
wait_secs = 30

[plugins.openai]
{source}
allowed_hosts = ["{base}"]
[plugins.openai.secrets.OPENAI_API_KEY]
env = "OPENAI_API_KEY"
hosts = ["{base}"]
[plugins.openai.config]
base_url = "{base}/v1"
""")
        self.env = {**os.environ, "OPENAI_API_KEY": KEY, "EASEL_CACHE": str(cache), "RUST_LOG": "easel=debug"}

    def cli(self, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if key is None:
            env.pop("OPENAI_API_KEY", None)
        else:
            env["OPENAI_API_KEY"] = key
        return subprocess.run([EASEL_BIN, "--config", str(self.config), "--store", str(self.store), *args],
                              env=env, capture_output=True, text=True, timeout=180)

    def generate(self, prompt: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
        return self.cli("generate", prompt, "--provider", "openai", *args, key=key)

    def api_calls(self) -> list[dict]:
        with self.server.lock:
            return [r for r in self.server.requests if r["path"].startswith("/v1/")]


@pytest.fixture
def setup(tmp_path, cache_dir):
    server, base = openai_fake.start(key=KEY)
    yield Setup(tmp_path, cache_dir, base, server)
    server.shutdown()
    server.server_close()


# -- generation ---------------------------------------------------------------------------------

def test_generate_maps_size_and_count_to_openai_names(setup):
    images = outputs(setup.generate("a red fox in snow", "--width", "1536", "--height", "1024", "--count", "2"))
    assert len(images) == 2
    for _, path in images:
        assert png_size(path) == (1536, 1024)
    [call] = setup.api_calls()
    assert (call["method"], call["path"]) == ("POST", "/v1/images/generations")
    assert call["headers"]["content-type"].startswith("application/json")
    assert call["json"] == {"model": "gpt-image-1.5", "prompt": "a red fox in snow", "n": 2, "size": "1536x1024"}


def test_no_size_leaves_the_choice_to_openai(setup):
    [(_, path)] = outputs(setup.generate("a lighthouse"))
    assert png_size(path) == (1024, 1024)
    [call] = setup.api_calls()
    assert "size" not in call["json"] and call["json"]["model"] == "gpt-image-1.5"


def test_aspect_ratio_picks_the_matching_fixed_size(setup):
    [(_, path)] = outputs(setup.generate("a tall tower", "--aspect-ratio", "2:3"))
    assert png_size(path) == (1024, 1536)
    assert setup.api_calls()[0]["json"]["size"] == "1024x1536"


def test_gpt_image_2_takes_free_sizes_from_ratio_and_tier(setup):
    [(_, path)] = outputs(setup.generate("a wide valley", "--model", "gpt-image-2", "--aspect-ratio", "16:9", "--size-tier", "2K"))
    assert png_size(path) == (2048, 1152)
    call = setup.api_calls()[0]["json"]
    assert (call["model"], call["size"]) == ("gpt-image-2", "2048x1152")


def test_revised_prompt_is_kept_in_the_sidecar(setup):
    [(image_id, path)] = outputs(setup.generate("a fox [fake:revised_prompt]"))
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["id"] == image_id
    assert sidecar["revised_prompt"].startswith("A detailed rendering of: a fox")
    assert sidecar["model"] == "gpt-image-1.5" and sidecar["provider"] == "openai"


# -- auth and secrets ---------------------------------------------------------------------------

def test_auth_header_arrives_as_bearer_and_the_plugin_never_sees_the_key(setup):
    result = setup.generate("a lighthouse [fake:echo_auth]")
    [(_, path)] = outputs(result)
    [call] = setup.api_calls()
    assert call["headers"]["authorization"] == f"Bearer {KEY}"
    assert "{{secret" not in json.dumps(call["headers"]), "the host substitutes the secret reference"
    # The fake echoed the header into revised_prompt; what the plugin received and passed
    # on has the key redacted by the host.
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert "[redacted:OPENAI_API_KEY]" in sidecar["revised_prompt"], sidecar["revised_prompt"]
    assert KEY not in sidecar["revised_prompt"]
    assert KEY not in result.stderr and KEY not in result.stdout  # debug logs included (RUST_LOG=easel=debug)


def test_wrong_key_is_unauthorized_and_names_the_variable(setup):
    stderr = failed(setup.generate("a cat", key="sk-wrong-key-0000000"), "unauthorized", "OPENAI_API_KEY", "invalid_api_key")
    assert "sk-wrong-key-0000000" not in stderr
    [call] = setup.api_calls()
    assert call["headers"]["authorization"] == "Bearer sk-wrong-key-0000000"


def test_missing_key_fails_before_any_request(setup):
    failed(setup.generate("a cat", key=None), "OPENAI_API_KEY")
    assert setup.api_calls() == []


# -- edits --------------------------------------------------------------------------------------

def test_edit_by_id_sends_multipart_with_image_parts(setup):
    [(parent, parent_path)] = outputs(setup.generate("a plain house", "--width", "1024", "--height", "1536"))
    parent_bytes = Path(parent_path).read_bytes()
    [(child, path)] = outputs(setup.generate("paint the door red", "--image", parent, "--strength", "0.3"))
    assert child != parent
    assert png_size(path) == (1024, 1536), "the fake keeps the input's size for size=auto"
    edit = setup.api_calls()[-1]
    assert (edit["method"], edit["path"]) == ("POST", "/v1/images/edits")
    assert edit["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert edit["headers"]["authorization"] == f"Bearer {KEY}"
    parts = {p["name"]: p for p in edit["form"]}
    assert parts["image[]"]["content_type"] == "image/png" and parts["image[]"]["size"] == len(parent_bytes)
    assert parts["image[]"]["filename"].endswith(".png")
    assert {"model", "prompt", "n", "input_fidelity"} <= set(parts)
    assert "mask" not in parts
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["parents"] == [parent] and sidecar["origin"] == "edited"


def test_inpaint_sends_the_mask_part(setup):
    [(parent, _)] = outputs(setup.generate("a room"))
    outputs(setup.generate("add a window", "--image", parent, "--mask", parent))
    edit = setup.api_calls()[-1]
    names = [p["name"] for p in edit["form"]]
    assert names.count("image[]") == 1 and names.count("mask") == 1, names


def test_strength_is_refused_where_the_model_has_no_input_fidelity(setup):
    [(parent, _)] = outputs(setup.generate("a room"))
    failed(setup.generate("add a window", "--image", parent, "--strength", "0.5", "--model", "gpt-image-1-mini"), "strength")
    assert len(setup.api_calls()) == 1, "refused before calling OpenAI"


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("marker, expected", [
    ("moderation", ["safety system", "moderation_blocked", "violence"]),
    ("content_policy", ["safety system", "content_policy_violation"]),
    ("validation", ["size", "Supported values"]),
    ("rate_limit", ["rate limited", "retry after 1.0 s", "rate_limit_exceeded"]),
    ("rate_limit=0.5", ["rate limited", "retry after 0.5 s"]),
    ("rate_limit_ms", ["rate limited", "retry after 0.3 s"]),
    ("quota", ["insufficient_quota"]),
    ("server_error", ["HTTP 500", "The server had an error"]),
    ("overloaded", ["HTTP 503", "overloaded"]),
    ("garbage", ["not JSON"]),
])
def test_provider_errors_are_readable(setup, marker, expected):
    failed(setup.generate(f"a cat [fake:{marker}]"), *expected)


def test_validation_error_names_the_field(setup):
    failed(setup.generate("a cat [fake:validation]"), "invalid", "width", "`size`")


def test_retired_model_names_its_replacement(setup):
    failed(setup.generate("a cat", "--model", "dall-e-3"), "dall-e-3", "retired", "gpt-image-1.5")
    failed(setup.generate("a cat", "--model", "gpt-image-1"), "gpt-image-2.5-sunburst")
    assert setup.api_calls() == [], "retired models are refused before any request"


def test_parameters_openai_lacks_are_refused_by_name(setup):
    failed(setup.generate("a cat", "--seed", "3"), "seed")
    failed(setup.generate("a cat", "--negative-prompt", "dogs"), "negative_prompt")
    failed(setup.generate("a cat", "--width", "1536", "--height", "1536"), "width", "1536x1536")
    assert setup.api_calls() == []


def test_declared_params_are_checked_before_any_request_and_valid_ones_reach_the_body(setup):
    # gpt-image models declare their parameters (WIT 0.2.0): a wrong value is
    # refused by the host naming the key; an undeclared key passes through.
    failed(setup.generate("a cat", "--param", "background=sideways"), "--param background", "sideways")
    failed(setup.generate("a cat", "--param", "output_compression=400"), "--param output_compression")
    assert setup.api_calls() == [], "refused before any request"
    outputs(setup.generate("a cat", "--param", "background=transparent", "--param", "user=tester"))
    [call] = setup.api_calls()
    assert call["json"]["background"] == "transparent" and call["json"]["user"] == "tester"


# -- MCP ----------------------------------------------------------------------------------------

def test_mcp_generate_and_edit_by_id(setup):
    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a house", "provider": "openai", "width": 1536, "height": 1024})
        assert not is_error(made), text_of(made)
        reference = structured(made)["images"][0]["id"]
        edited = await client.call_tool("edit_image", {"prompt": "paint it blue", "provider": "openai",
                                                       "images": [{"image": reference, "role": "reference"}]})
        return made, edited

    made, edited = run_mcp(setup, body)
    [image] = structured(made)["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (1536, 1024, "image/png")
    assert Path(image["path"]).exists()
    assert not is_error(edited), text_of(edited)
    [child] = structured(edited)["images"]
    assert (child["width"], child["height"]) == (1536, 1024)
    calls = setup.api_calls()
    assert [c["path"] for c in calls] == ["/v1/images/generations", "/v1/images/edits"]
    assert calls[0]["json"]["size"] == "1536x1024"


def test_mcp_errors_are_tool_results(setup):
    async def body(client):
        blocked = await client.call_tool("generate_image", {"prompt": "x [fake:moderation]", "provider": "openai"})
        retired = await client.call_tool("generate_image", {"prompt": "x", "provider": "openai", "model": "dall-e-3"})
        return blocked, retired

    blocked, retired = run_mcp(setup, body)
    assert is_error(blocked) and "safety system" in text_of(blocked), text_of(blocked)
    assert is_error(retired) and "gpt-image-1.5" in text_of(retired), text_of(retired)


def test_expand_sends_the_grown_canvas_with_a_mask_of_the_same_size(setup):
    [(parent, _)] = outputs(setup.generate("a room", "--width", "1024", "--height", "1024"))
    [(child, path)] = outputs(setup.generate("more room", "--image", parent, "--expand", "0,0,512,0"))
    assert png_size(path) == (1536, 1024), "gpt-image's 1536x1024: the canvas the margins make"
    edit = setup.api_calls()[-1]
    names = [p["name"] for p in edit["form"]]
    # The fake refuses a mask whose size differs from the image's.
    assert names.count("image[]") == 1 and names.count("mask") == 1, names
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert sidecar["parents"] == [parent]
