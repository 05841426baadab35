"""One way to talk to Easel from either line of the official MCP Python SDK:
2.x (`mcp.Client`, negotiates 2026-07-28 against rmcp) or 1.x
(`ClientSession`, 2025-11-25)."""

from contextlib import asynccontextmanager

import anyio

import mcp
from mcp import StdioServerParameters

SDK_V2 = hasattr(mcp, "Client")
EXPECTED_PROTOCOL = "2026-07-28" if SDK_V2 else "2025-11-25"


class Connected:
    def __init__(self, session, protocol_version):
        self.session = session
        self.protocol_version = protocol_version

    async def call_tool(self, name, arguments=None, progress_callback=None):
        return await self.session.call_tool(name, arguments or {}, progress_callback=progress_callback)

    async def list_tools(self):
        return await self.session.list_tools()

    async def list_resources(self):
        return await self.session.list_resources()

    async def read_resource(self, uri):
        return await self.session.read_resource(uri)

    async def list_prompts(self):
        return await self.session.list_prompts()

    async def get_prompt(self, name, arguments):
        return await self.session.get_prompt(name, arguments)


def stdio_params(args, env=None):
    return StdioServerParameters(command=args[0], args=args[1:] + ["serve"], env=env)


@asynccontextmanager
async def connect(target, elicitation_callback=None, headers=None, auth=None):
    """`target`: StdioServerParameters (stdio) or an http URL (streamable HTTP).
    With `elicitation_callback(context, params)` the client offers elicitation:
    on 2025-11-25 it answers `elicitation/create`, on 2026-07-28 the SDK fulfils
    `input_required` results with it and retries the call. `headers` go with every
    HTTP request (e.g. an `Authorization` bearer token); `auth` is an httpx(2) `Auth`
    such as the SDK's `OAuthClientProvider`."""
    if SDK_V2:
        if (headers or auth) and isinstance(target, str):
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            target = streamable_http_client(target, http_client=create_mcp_http_client(headers=headers, auth=auth))
        async with mcp.Client(target, mode="auto", elicitation_callback=elicitation_callback) as client:
            yield Connected(client, str(client.protocol_version))
        return
    from mcp import ClientSession

    if isinstance(target, str):
        from mcp.client.streamable_http import streamablehttp_client

        async with streamablehttp_client(target, headers=headers, auth=auth) as (read, write, _):
            async with ClientSession(read, write, elicitation_callback=elicitation_callback) as session:
                init = await session.initialize()
                yield Connected(session, str(init.protocolVersion))
    else:
        from mcp.client.stdio import stdio_client

        async with stdio_client(target) as (read, write):
            async with ClientSession(read, write, elicitation_callback=elicitation_callback) as session:
                init = await session.initialize()
                yield Connected(session, str(init.protocolVersion))


def field(obj, name):
    """`obj.name` for a camelCase protocol field, whichever spelling this SDK uses
    (1.x keeps camelCase attributes, 2.x snake_case)."""
    if hasattr(obj, name):
        return getattr(obj, name)
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return getattr(obj, snake)


async def generate_many(url, prefix, count, size=1024):
    """Fire `count` placeholder generations at once; errors are fine (a killed server)."""
    async def one(n):
        try:
            async with connect(url) as client:
                await client.call_tool("generate_image", {
                    "prompt": f"{prefix} {n}", "provider": "placeholder", "seed": n,
                    "width": size, "height": size, "count": 2, "wait_seconds": 60})
        except Exception:
            pass

    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(one, n)


def stdio_session(args, body):
    """Run `body(client)` against `easel serve` with `args` (see conftest.easel_args) over stdio."""
    async def main():
        async with connect(stdio_params(args)) as client:
            return await body(client)

    return anyio.run(main)


async def sidecar(client, image_id):
    """An image's sidecar, read through the `image://{id}/metadata` resource."""
    import json

    return json.loads((await client.read_resource(f"image://{image_id}/metadata")).contents[0].text)
