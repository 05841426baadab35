"""Easel through the official MCP Python SDK, over stdio and streamable HTTP:
handshake and protocol era, tool listing, generation with the placeholder,
edit by id with lineage, resources, prompts, progress, and errors a model
can act on."""

import base64
import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import easel_args, structured, text_of
from imagebytes import dimensions
from mcpclient import EXPECTED_PROTOCOL, connect, field, stdio_params

pytestmark = pytest.mark.anyio

EXPECTED_TOOLS = {
    "generate_image",
    "edit_image",
    "get_generation_status",
    "cancel_generation",
    "list_providers",
    "list_models",
    "show_image",
}


@pytest.fixture(params=["stdio", "http"])
def target(request, store_dir, cache_dir):
    if request.param == "stdio":
        yield stdio_params(easel_args(store_dir, cache_dir))
    else:
        server = request.getfixturevalue("http_server")
        yield server.url


async def test_handshake_negotiates_the_sdk_protocol_era(target):
    async with connect(target) as client:
        assert client.protocol_version == EXPECTED_PROTOCOL


async def test_tools_have_descriptions_and_truthful_annotations(target):
    async with connect(target) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert EXPECTED_TOOLS <= set(tools)
        for tool in tools.values():
            assert tool.description, f"{tool.name} has no description"
        generate = tools["generate_image"].annotations
        # Hints equal to MCP's defaults are left out (readOnlyHint false,
        # openWorldHint true); a generation is not destructive.
        assert field(generate, "readOnlyHint") in (False, None) and field(generate, "openWorldHint") in (True, None)
        assert field(generate, "destructiveHint") is False
        assert field(tools["list_providers"].annotations, "readOnlyHint") is True
        schema = field(tools["generate_image"], "inputSchema")
        for name in ["prompt", "provider", "model", "width", "height", "aspect_ratio", "count", "seed", "negative_prompt", "steps", "guidance"]:
            assert name in schema["properties"], name


async def test_generate_512x384_with_the_placeholder(target):
    async with connect(target) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse at dusk", "width": 512, "height": 384, "seed": 3})
        assert not field(result, "isError"), text_of(result)
        image = structured(result)["images"][0]
        assert (image["width"], image["height"]) == (512, 384)
        with open(image["path"], "rb") as f:
            assert dimensions(f.read()) == (512, 384)
        previews = [c for c in result.content if c.type == "image"]
        assert previews and field(previews[0], "mimeType") in ("image/png", "image/jpeg", "image/webp")
        assert dimensions(base64.b64decode(previews[0].data)) == (512, 384)
        links = [c for c in result.content if c.type == "resource_link"]
        assert [str(l.uri) for l in links] == [f"image://{image['id']}"]
        assert len(result.model_dump_json()) < 1024 * 1024 // 2, "the whole result stays well under 1 MiB"


async def test_the_same_request_gives_the_same_image(target):
    async with connect(target) as client:
        args = {"prompt": "deterministic", "width": 64, "height": 64, "seed": 11}
        first = structured(await client.call_tool("generate_image", args))["images"][0]["id"]
        second = structured(await client.call_tool("generate_image", args))["images"][0]["id"]
        other = structured(await client.call_tool("generate_image", {**args, "seed": 12}))["images"][0]["id"]
        assert first == second != other


async def test_edit_by_id_records_lineage_in_metadata(target):
    async with connect(target) as client:
        parent = structured(await client.call_tool("generate_image", {"prompt": "a fox", "width": 96, "height": 64}))["images"][0]
        edited = await client.call_tool(
            "edit_image", {"prompt": "same fox at night", "images": [{"image": parent["id"], "role": "reference"}], "strength": 0.7}
        )
        assert not field(edited, "isError"), text_of(edited)
        child = structured(edited)["images"][0]
        assert child["id"] != parent["id"] and (child["width"], child["height"]) == (96, 64)
        meta = await client.read_resource(f"image://{child['id']}/metadata")
        sidecar = json.loads(meta.contents[0].text)
        assert sidecar["parents"] == [parent["id"]]
        assert sidecar["origin"] == "edited" and sidecar["prompt"] == "same fox at night"
        original = await client.read_resource(f"image://{parent['id']}")
        assert dimensions(base64.b64decode(original.contents[0].blob)) == (96, 64)
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        assert f"image://{child['id']}" in listed


@pytest.mark.parametrize(
    "arguments, bad_field",
    [
        ({"prompt": "x", "width": 0, "height": 64}, "width"),
        ({"prompt": "x", "provider": "no-such-provider"}, "provider"),
        ({"prompt": "x", "count": 9}, "count"),
        ({"prompt": "x", "aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "seed": 2**53}, "seed"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_the_field(target, arguments, bad_field):
    async with connect(target) as client:
        result = await client.call_tool("generate_image", arguments)
        assert field(result, "isError")
        assert f"`{bad_field}`" in text_of(result)
        assert structured(result)["error"]["field"] == bad_field


async def test_edit_with_an_unknown_id_says_which_image(target):
    async with connect(target) as client:
        result = await client.call_tool("edit_image", {"prompt": "x", "images": [{"image": "0123456789abcdef"}]})
        assert field(result, "isError") and "images[0].image" in text_of(result)


async def test_list_providers_shows_the_placeholder_ready(target):
    async with connect(target) as client:
        providers = structured(await client.call_tool("list_providers"))["providers"]
        placeholder = next(p for p in providers if p["id"] == "placeholder")
        assert placeholder["status"] == "ready" and placeholder["is_default"]
        assert placeholder["models"][0]["id"] == "placeholder-1"


async def test_prompts_have_descriptions_and_render(target):
    async with connect(target) as client:
        prompts = (await client.list_prompts()).prompts
        assert prompts and all(p.description for p in prompts)
        rendered = await client.get_prompt("iterate-on-image", {"image_id": "0123456789abcdef", "change": "add snow"})
        assert "edit_image" in rendered.messages[0].content.text


async def test_progress_notifications_arrive_in_order(target):
    seen = []

    async def on_progress(progress, total, message):
        seen.append(progress)

    async with connect(target) as client:
        result = await client.call_tool("generate_image", {"prompt": "progress please", "width": 256, "height": 256}, progress_callback=on_progress)
        assert not field(result, "isError"), text_of(result)
    assert seen, "at least one progress notification"
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_foreign_host_and_origin_are_refused(http_server):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    for header, value in [("Host", "evil.example.com"), ("Origin", "http://evil.example.com")]:
        request = urllib.request.Request(
            http_server.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", header: value},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert 400 <= refused.value.code < 500, (header, refused.value.code)


def test_health_endpoint_answers(http_server):
    with urllib.request.urlopen(http_server.base + "/health", timeout=10) as response:
        assert json.load(response)["status"] == "ok"


def test_bearer_token_is_required_when_configured(store_dir, cache_dir, tmp_path):
    from conftest import HttpServer

    tokens = tmp_path / "tokens"
    tokens.write_text("# one per line\ns3cret-token-1\n")
    server = HttpServer(easel_args(store_dir, cache_dir), serve_args=["--tokens-file", str(tokens)])
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        for auth in [None, "Bearer wrong", "s3cret-token-1"]:
            request = urllib.request.Request(server.url, data=body, method="POST", headers=dict(headers, **({"Authorization": auth} if auth else {})))
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401, auth
        ok = urllib.request.Request(server.url, data=body, method="POST", headers=dict(headers, Authorization="Bearer s3cret-token-1"))
        with urllib.request.urlopen(ok, timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(server.base + "/health", timeout=10) as response:
            assert response.status == 200, "health checks need no token"
    finally:
        server.stop()


def test_bearer_tokens_can_come_from_the_environment(store_dir, cache_dir):
    from conftest import HttpServer

    env = {**os.environ, "EASEL_HTTP_TOKENS": "env-token-a, env-token-b"}
    server = HttpServer(easel_args(store_dir, cache_dir), env=env)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        for auth, expected in [(None, 401), ("Bearer env-token-c", 401), ("Bearer env-token-b", 200)]:
            request = urllib.request.Request(server.url, data=body, method="POST", headers=dict(headers, **({"Authorization": auth} if auth else {})))
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as refused:
                status = refused.code
            assert status == expected, (auth, status)
    finally:
        server.stop()
