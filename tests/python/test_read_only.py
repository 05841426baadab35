"""Read-only mode through the official MCP Python SDK (either era): with
`easel serve --read-only` or `[server] read_only = true`, tools/list offers
only the tools that change nothing and no prompts, a call to a hidden tool
is refused saying why, and the stored images stay browsable.

Needs EASEL_BIN (the built host)."""

from __future__ import annotations

import os
import subprocess

import anyio
import pytest

from conftest import EASEL_BIN, structured

pytest.importorskip("mcp")
from mcp import StdioServerParameters  # noqa: E402

from mcpclient import connect  # noqa: E402

if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

BASE = '[defaults]\nprovider = "placeholder"\n\n[plugins.placeholder]\nbuiltin = "placeholder"\n'
READ_ONLY_TOOLS = {"get_generation_status", "get_usage", "list_images", "list_models", "list_providers", "show_image"}


@pytest.mark.parametrize("how", ["flag", "config"])
def test_read_only_offers_only_tools_that_change_nothing_and_refuses_the_rest(tmp_path, how):
    store = tmp_path / "store"
    config = tmp_path / "plugins.toml"
    config.write_text(BASE + ("\n[server]\nread_only = true\n" if how == "config" else ""))
    common = ["--config", str(config), "--store", str(store), "--cache", str(tmp_path / "cache")]
    # An image made before, by the command line (not read-only).
    made = subprocess.run([EASEL_BIN, *common, "generate", "a red kite", "--width", "64", "--height", "64"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    image_id = made.stdout.split("\t")[0]
    serve = ["serve", "--read-only"] if how == "flag" else ["serve"]
    params = StdioServerParameters(command=EASEL_BIN, args=common + serve, env=dict(os.environ))

    async def main():
        async with connect(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == READ_ONLY_TOOLS, tools
            assert (await client.list_prompts()).prompts == []
            with pytest.raises(Exception) as refused:
                await client.call_tool("generate_image", {"prompt": "a boat"})
            assert "serves read-only" in str(refused.value) and "list_images" in str(refused.value), refused.value
            listed = structured(await client.call_tool("list_images", {}))
            assert [image["id"] for image in listed["images"]] == [image_id], listed
            shown = await client.call_tool("show_image", {"image": image_id})
            assert any(getattr(block, "type", "") == "image" for block in shown.content), shown.content

    anyio.run(main)
