"""Saved styles through the official MCP Python SDK (either era), offline
with the placeholder: save_style, then generate_image with `style` — the
brief reaches the provider inside the prompt (as the sidecar records it) and
the style's aspect ratio fills the unset size; style://list and
style://{name} show it; it survives a restart (a new server on the same
store); vary_image of a styled image does not apply the brief twice;
delete_style removes it and a later use names the field."""

import json

import anyio
import pytest

from conftest import easel_args, structured, text_of

pytest.importorskip("mcp")
from mcpclient import connect, field, stdio_params  # noqa: E402

BRIEF = "sumi-e ink wash on rice paper, one red accent, generous empty space"


def session(store_dir, cache_dir, body):
    async def main():
        async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
            return await body(client)

    return anyio.run(main)


def test_a_saved_style_shapes_generations_survives_a_restart_and_can_be_deleted(store_dir, cache_dir):
    async def save(client):
        saved = await client.call_tool("save_style", {"name": "ink", "brief": BRIEF, "aspect_ratio": "2:3"})
        assert not field(saved, "isError"), text_of(saved)
        assert structured(saved) == {"name": "ink", "status": "saved"}
        bad = await client.call_tool("save_style", {"name": "Ink Wash", "brief": BRIEF})
        assert field(bad, "isError") and "name" in text_of(bad), text_of(bad)

    session(store_dir, cache_dir, save)

    async def use(client):  # a new server process on the same store
        listed = json.loads((await client.read_resource("style://list")).contents[0].text)
        assert [s["name"] for s in listed["styles"]] == ["ink"], listed
        page = (await client.read_resource("style://ink")).contents[0].text
        assert page.startswith("# ink\n\n" + BRIEF) and "aspect_ratio: 2:3" in page, page
        made = await client.call_tool("generate_image", {"prompt": "a heron in reeds", "style": "ink"})
        assert not field(made, "isError"), text_of(made)
        image = structured(made)["images"][0]
        assert abs(image["width"] / image["height"] - 2 / 3) < 0.01, image  # the style's 2:3
        sidecar = json.loads((await client.read_resource(f"image://{image['id']}/metadata")).contents[0].text)
        assert sidecar["prompt"] == f'a heron in reeds\n\nStyle "ink": {BRIEF}', sidecar["prompt"]
        varied = await client.call_tool("vary_image", {"image": image["id"]})
        assert not field(varied, "isError"), text_of(varied)
        child = structured(varied)["images"][0]
        child_meta = json.loads((await client.read_resource(f"image://{child['id']}/metadata")).contents[0].text)
        assert child_meta["prompt"].count('Style "ink"') == 1, child_meta["prompt"]

        deleted = await client.call_tool("delete_style", {"name": "ink"})
        assert structured(deleted) == {"name": "ink", "status": "deleted"}
        refused = await client.call_tool("generate_image", {"prompt": "a heron", "style": "ink"})
        assert field(refused, "isError") and "style" in text_of(refused) and "no style `ink`" in text_of(refused)

    session(store_dir, cache_dir, use)
