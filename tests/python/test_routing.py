"""`provider: "auto"` (issue 14, part 6) through the official MCP Python SDK,
against the fal fake and the placeholder: the preference order of `[routing]
prefer` is followed, an unconfigured provider is passed over, exact text goes
to a model that renders it, the price ceiling passes over a model priced above
it, a request one provider cannot take goes to the next, every result says in
one sentence what was chosen and why, vary_image reproduces the choice, and a
bad `[routing]` names file, line and fix."""

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from conftest import EASEL_BIN, easel_args, failed, structured, text_of

pytest.importorskip("mcp")
from mcpclient import connect, field, stdio_params  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import fal_fake  # noqa: E402

FAL_KEY = "fal-routing-test-key"
FAL_PRICES = 'prices = { "fal-ai/flux/dev" = 0.025 }'


def routed(root: Path, base: str, routing: str) -> Path:
    config = root / "plugins.toml"
    config.write_text(f"""
[routing]
{routing}

[plugins.placeholder]
builtin = "placeholder"

[plugins.openai]
builtin = "openai"
allowed_hosts = ["https://api.openai.com"]
[plugins.openai.secrets.OPENAI_API_KEY]
env = "EASEL_TEST_UNSET_OPENAI_KEY"
hosts = ["https://api.openai.com"]

{fal_fake.plugin_toml(base, extra=FAL_PRICES)}""")
    return config


@pytest.fixture
def fal():
    fake, base = fal_fake.start(key=FAL_KEY, queue_polls=1, run_polls=1)
    yield fake, base
    fake.shutdown()


def calls(store_dir, cache_dir, config, *requests):
    """Each (tool, arguments) in one stdio session; the results."""
    env = {k: v for k, v in os.environ.items() if k != "EASEL_TEST_UNSET_OPENAI_KEY"}
    params = stdio_params(easel_args(store_dir, cache_dir, config), env={**env, "FAL_KEY": FAL_KEY})

    async def main():
        async with connect(params) as client:
            return [await client.call_tool(tool, arguments) for tool, arguments in requests]

    return anyio.run(main)


def submitted(fake):
    return [r["path"] for r in fake.state.recorded if r["method"] == "POST"]


PREFER = 'prefer = ["openai", "fal", "placeholder"]'


def test_auto_follows_the_preference_order_and_says_why(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    [result] = calls(store_dir, cache_dir, routed(tmp_path, base, PREFER),
                     ("generate_image", {"prompt": "a kite over dunes", "provider": "auto", "width": 512, "height": 512}))
    assert not field(result, "isError"), text_of(result)
    out = structured(result)
    assert (out["provider"], out["model"]) == ("fal", "fal-ai/flux/dev")
    assert out["routing"].startswith("auto chose `fal-ai/flux/dev` on fal: the first in the preference order "
                                     "(openai, fal, placeholder) that can generate it"), out["routing"]
    assert "passed over openai (not configured)" in out["routing"]
    assert out["routing"] in text_of(result), "the sentence is in the text the model reads"
    assert submitted(fake) == ["/fal-ai/flux/dev"]
    first = out["images"][0]["id"]
    [again] = calls(store_dir, cache_dir, routed(tmp_path, base, PREFER), ("vary_image", {"image": first}))
    assert not field(again, "isError"), text_of(again)
    assert (structured(again)["provider"], structured(again)["model"]) == ("fal", "fal-ai/flux/dev"), \
        "the recipe names what auto chose, so a variation runs there again"
    assert "routing" not in structured(again)


def test_exact_text_goes_to_a_model_that_renders_it(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    prompt = {"subject": "a shop sign", "text": [{"content": "OPEN LATE"}]}
    [result] = calls(store_dir, cache_dir, routed(tmp_path, base, PREFER),
                     ("generate_image", {"prompt": "", "structured_prompt": prompt, "provider": "auto"}))
    assert not field(result, "isError"), text_of(result)
    out = structured(result)
    assert out["provider"] == "fal" and "nano-banana" in out["model"], out
    assert "renders the exact text asked for, so it goes ahead of `fal/fal-ai/flux/dev`" in out["routing"], out["routing"]
    assert submitted(fake) == [f"/{out['model']}"]


def test_the_price_ceiling_and_the_request_itself_pass_models_over(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    config = routed(tmp_path, base, PREFER + "\nmax_usd_per_image = 0.01")
    cheap, huge = calls(store_dir, cache_dir, config,
                        ("generate_image", {"prompt": "a kite", "provider": "auto", "width": 512, "height": 512}),
                        ("generate_image", {"prompt": "a kite", "provider": "auto", "width": 4096, "height": 4096,
                                             "steps": 30}))
    assert not field(cheap, "isError"), text_of(cheap)
    assert structured(cheap)["model"] == "fal-ai/flux/schnell", "flux/dev costs $0.025, over the $0.01 ceiling"
    assert "within $0.01 an image" in structured(cheap)["routing"]
    assert not field(huge, "isError"), text_of(huge)
    # FLUX stops at 2048 a side, nano-banana takes no steps: the placeholder does both.
    assert structured(huge)["provider"] == "placeholder", structured(huge)["routing"]
    assert "fal (" in structured(huge)["routing"], structured(huge)["routing"]
    assert submitted(fake) == ["/fal-ai/flux/schnell"]


def test_auto_refuses_a_model_and_a_request_nothing_takes(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    with_model, nothing = calls(store_dir, cache_dir, routed(tmp_path, base, PREFER),
                                ("generate_image", {"prompt": "x", "provider": "auto", "model": "fal-ai/flux/dev"}),
                                ("generate_image", {"prompt": "x", "provider": "auto", "width": 9000, "height": 64}))
    assert field(with_model, "isError") and structured(with_model)["error"]["field"] == "model"
    assert field(nothing, "isError") and structured(nothing)["error"]["field"] == "provider"
    message = structured(nothing)["error"]["message"]
    assert "found no provider" in message and "openai (not configured)" in message and "placeholder (" in message, message
    assert submitted(fake) == []
    assert not list(store_dir.glob("images/*.png")), "a refused request stores nothing"


def test_a_routing_entry_that_names_no_plugin_is_refused_with_file_and_line(tmp_path, store_dir, cache_dir):
    config = routed(tmp_path, "http://127.0.0.1:9", 'prefer = ["fal", "midjourney"]')
    result = subprocess.run([EASEL_BIN, "--config", str(config), "--store", str(store_dir), "generate", "x"],
                            capture_output=True, text=True, timeout=60)
    stderr = failed(result, "midjourney", "not a plugin in this file", "plugins.toml:3")
    assert "[plugins.*]" in stderr, stderr
