"""The MCP Inspector's CLI, a JavaScript client like Claude Desktop, against
`easel` over stdio and streamable HTTP: it lists the tools, generates an
image, and the seed it reads back (through JavaScript's doubles) reproduces
that image."""

import json
import os
import subprocess

import pytest

from conftest import HttpServer, easel_args

INSPECTOR = os.environ.get("EASEL_INSPECTOR")
if not INSPECTOR:
    pytest.skip("EASEL_INSPECTOR is not set: tests/run.sh installs @modelcontextprotocol/inspector and sets it",
                allow_module_level=True)

TOOLS = {"generate_image", "edit_image", "upscale_image", "run_pipeline", "get_generation_status", "cancel_generation", "list_providers", "list_models",
         "show_image", "list_images", "vary_image", "delete_image", "save_style", "delete_style", "get_usage"}


def inspect(target, *method):
    """Run `mcp-inspector --cli TARGET... METHOD...`; the JSON it prints."""
    done = subprocess.run([INSPECTOR, "--cli", *target, *method], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"inspector failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(done.stdout[done.stdout.index("{"):])


def generate(target, *tool_args):
    args = ["--method", "tools/call", "--tool-name", "generate_image"]
    for arg in ("prompt=a lighthouse at dusk", "width=128", "height=96", *tool_args):
        args += ["--tool-arg", arg]
    result = inspect(target, *args)
    assert not result.get("isError"), result["content"][0].get("text")
    return result["structuredContent"]["images"][0]


def test_the_inspector_lists_every_tool_with_a_description_over_stdio(store_dir, cache_dir):
    listed = inspect(easel_args(store_dir, cache_dir) + ["serve"], "--method", "tools/list")["tools"]
    assert {tool["name"] for tool in listed} == TOOLS
    assert all(tool.get("description") for tool in listed)
    seed = next(t for t in listed if t["name"] == "generate_image")["inputSchema"]["properties"]["seed"]
    assert seed["maximum"] == 2**53 - 1, seed


def test_a_seed_read_back_by_a_javascript_client_reproduces_the_image(store_dir, cache_dir):
    target = easel_args(store_dir, cache_dir) + ["serve"]
    first = generate(target)
    assert 0 <= first["seed"] <= 2**53 - 1, first["seed"]
    again = generate(target, f"seed={first['seed']}")
    assert (again["seed"], again["id"]) == (first["seed"], first["id"]), "the seed the client saw gives the same image"


def test_the_inspector_generates_over_streamable_http(store_dir, cache_dir):
    server = HttpServer(easel_args(store_dir, cache_dir))
    try:
        image = generate([server.url, "--transport", "http"])
        assert (image["width"], image["height"]) == (128, 96)
        assert image["uri"] == f"image://{image['id']}"
    finally:
        server.stop()
