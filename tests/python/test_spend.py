"""Spend confirmation (issue 14, part 8) through the official MCP Python SDK in
whichever era is installed: 1.x answers the server's `elicitation/create`
(2025-11-25), 2.x fulfils the `input_required` result and calls again
(2026-07-28). Against the fal fake marked `paid = true` with a price: the user
is asked once, with the estimate, before anything reaches the provider; a
decline sends nothing and stores nothing; a pipeline is asked about once, with
its total; a free provider asks nothing; a client without elicitation goes
ahead over stdio and is refused over HTTP, with the message saying how to allow
it."""

import os
import sys
from pathlib import Path

import anyio
import pytest

from conftest import HttpServer, easel_args, structured, text_of

pytest.importorskip("mcp")
from mcp import types  # noqa: E402
from mcpclient import connect, field, stdio_params  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import fal_fake  # noqa: E402

FAL_KEY = "fal-spend-test-key"
MODEL = "fal-ai/flux/schnell"


def paid_fal(root: Path, base: str, paid="true", server="") -> Path:
    config = root / "plugins.toml"
    extra = f'paid = {paid}\nprices = {{ "{MODEL}" = 0.04 }}'
    config.write_text(f"""
{server}
[defaults]
provider = "fal"

[plugins.placeholder]
builtin = "placeholder"

{fal_fake.plugin_toml(base, extra=extra)}""")
    return config


class User:
    """An elicitation callback that answers `action` and remembers each question."""

    def __init__(self, action="accept", content=None):
        self.action, self.content, self.asked = action, content, []

    async def __call__(self, context, params):
        self.asked.append(params.message)
        content = self.content if self.content is not None else ({"confirm": True} if self.action == "accept" else None)
        return types.ElicitResult(action=self.action, content=content)


@pytest.fixture
def fal():
    fake, base = fal_fake.start(key=FAL_KEY, queue_polls=1, run_polls=1)
    yield fake, base
    fake.shutdown()


def submissions(fake):
    return [r for r in fake.state.recorded if r["method"] == "POST"]


def call(store_dir, cache_dir, config, tool, arguments, user=None):
    params = stdio_params(easel_args(store_dir, cache_dir, config), env={**os.environ, "FAL_KEY": FAL_KEY})

    async def main():
        async with connect(params, elicitation_callback=user) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(main)


def stored(store_dir):
    images = store_dir / "images"
    return sorted(p.name for p in images.glob("*.png")) if images.exists() else []


GENERATE = {"prompt": "a red kite over dunes", "model": MODEL, "width": 256, "height": 256, "count": 2}


def test_a_paid_call_asks_once_with_the_estimate_and_runs_when_accepted(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    user = User("accept")
    result = call(store_dir, cache_dir, paid_fal(tmp_path, base), "generate_image", GENERATE, user)
    assert not field(result, "isError"), text_of(result)
    assert user.asked == [f"Spend ~$0.08 for 2 images with `{MODEL}` on fal? "
                          "Nothing is sent to the provider until you accept."], user.asked
    assert len(structured(result)["images"]) == 2
    assert len(submissions(fake)) == 1, "submitted once, after the answer"


@pytest.mark.parametrize("action,content", [("decline", None), ("cancel", None), ("accept", {"confirm": False})])
def test_a_declined_call_sends_nothing_and_stores_nothing(tmp_path, store_dir, cache_dir, fal, action, content):
    fake, base = fal
    user = User(action, content)
    result = call(store_dir, cache_dir, paid_fal(tmp_path, base), "generate_image", GENERATE, user)
    assert field(result, "isError"), text_of(result)
    assert "declined to spend ~$0.08" in text_of(result) and "Nothing was sent" in text_of(result), text_of(result)
    assert len(user.asked) == 1
    assert submissions(fake) == [] and stored(store_dir) == []


def test_a_pipeline_is_confirmed_once_with_its_total(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    steps = [
        {"id": "art", "op": "generate", "args": {"prompt": "a kite", "model": MODEL, "width": 256, "height": 256}},
        {"id": "again", "op": "vary", "args": {"image": "$art.images[0]"}},
        {"id": "big", "op": "upscale", "provider": "placeholder", "args": {"image": "$again.images[0]", "scale": 2}},
    ]
    user = User("accept")
    result = call(store_dir, cache_dir, paid_fal(tmp_path, base), "run_pipeline", {"steps": steps}, user)
    assert not field(result, "isError"), text_of(result)
    assert len(user.asked) == 1, user.asked
    assert user.asked[0].startswith(f"Spend ~$0.08 in all: ~$0.04 for 1 image with `{MODEL}` on fal; "), user.asked
    assert "placeholder" not in user.asked[0], "the free upscale is not in the bill"
    assert len(submissions(fake)) == 2, "the generate and the vary, each once"


def test_a_free_provider_asks_nothing(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    user = User("decline")
    # The fake is on loopback, so fal counts as self-hosted (free) unless marked paid.
    config = paid_fal(tmp_path, base, paid="false")
    result = call(store_dir, cache_dir, config, "generate_image", GENERATE, user)
    assert not field(result, "isError"), text_of(result)
    placeholder = call(store_dir, cache_dir, config, "generate_image", {"prompt": "x", "provider": "placeholder"}, user)
    assert not field(placeholder, "isError"), text_of(placeholder)
    assert user.asked == []
    listed = structured(call(store_dir, cache_dir, paid_fal(tmp_path, base), "list_providers", {}))
    assert {p["id"]: p["paid"] for p in listed["providers"]} == {"fal": True, "placeholder": False}


def test_a_client_without_elicitation_proceeds_over_stdio(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    result = call(store_dir, cache_dir, paid_fal(tmp_path, base), "generate_image", GENERATE)
    assert not field(result, "isError"), text_of(result)
    assert len(submissions(fake)) == 1


def test_a_client_without_elicitation_is_refused_over_http_saying_how_to_allow_it(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    env = {**os.environ, "FAL_KEY": FAL_KEY}

    async def generate(url):
        async with connect(url) as client:
            return await client.call_tool("generate_image", GENERATE)

    server = HttpServer(easel_args(store_dir, cache_dir, paid_fal(tmp_path, base)), env=env)
    try:
        refused = anyio.run(generate, server.url)
    finally:
        server.stop()
    assert field(refused, "isError")
    assert "cannot ask the user to confirm it" in text_of(refused), text_of(refused)
    assert 'unconfirmed_spend = "proceed"' in text_of(refused), "it says how to allow it"
    assert submissions(fake) == [] and stored(store_dir) == []

    allowed = paid_fal(tmp_path, base, server='[server]\nunconfirmed_spend = "proceed"')
    server = HttpServer(easel_args(store_dir, cache_dir, allowed), env=env)
    try:
        result = anyio.run(generate, server.url)
    finally:
        server.stop()
    assert not field(result, "isError"), text_of(result)
    assert len(submissions(fake)) == 1


def test_over_http_the_user_is_asked_too(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    user = User("accept")

    async def generate(url):
        async with connect(url, elicitation_callback=user) as client:
            return await client.call_tool("generate_image", GENERATE)

    server = HttpServer(easel_args(store_dir, cache_dir, paid_fal(tmp_path, base)), env={**os.environ, "FAL_KEY": FAL_KEY})
    try:
        result = anyio.run(generate, server.url)
    finally:
        server.stop()
    assert not field(result, "isError"), text_of(result)
    assert len(user.asked) == 1 and len(submissions(fake)) == 1


def test_a_pipeline_step_moved_to_a_paid_provider_is_asked_about(tmp_path, store_dir, cache_dir, fal):
    fake, base = fal
    steps = [
        {"id": "sketch", "op": "generate", "provider": "placeholder", "args": {"prompt": "a kite", "width": 256, "height": 256}},
        {"id": "real", "op": "vary", "provider": "fal", "model": MODEL, "args": {"image": "$sketch.images[0]"}},
    ]
    user = User("decline")
    result = call(store_dir, cache_dir, paid_fal(tmp_path, base), "run_pipeline", {"steps": steps}, user)
    assert field(result, "isError"), text_of(result)
    assert user.asked == [f"Spend ~$0.04 for 1 image with `{MODEL}` on fal? "
                          "Nothing is sent to the provider until you accept."], user.asked
    assert submissions(fake) == [] and stored(store_dir) == [], "declined before even the free step ran"
