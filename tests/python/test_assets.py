"""Images as assets through the official MCP Python SDK: inputs by every
handle (id, image:// URI, data: URI, allowed path, allowed URL), lineage and
vary, views with transforms, the gallery, deletion with a lineage marker,
HTTP file serving, restarts, and refusals that leave the store untouched."""

import base64
import http.server
import json
import os
import threading
import urllib.request

import pytest

from conftest import HttpServer, easel_args, structured, text_of
from imagebytes import dimensions
from mcpclient import connect, field, stdio_params

pytestmark = pytest.mark.anyio


class Files(http.server.BaseHTTPRequestHandler):
    """Loopback file server: /ok.png, /redirect → /ok.png, /to-metadata and /to-private → private addresses, /huge (claims 200 MB), /stream (2 MiB), /text."""

    png = b""

    def do_GET(self):
        if self.path == "/ok.png":
            self._send(200, Files.png, "image/png")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok.png")
            self.end_headers()
        elif self.path in ("/to-metadata", "/to-private"):
            # An allowed (listed) host redirecting to a private address: refused at that hop.
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/" if self.path == "/to-metadata" else "http://10.0.0.1/x.png")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(200 * 1024 * 1024))
            self.end_headers()
            try:
                self.wfile.write(b"\0" * 65536)
            except OSError:
                pass
        elif self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                for _ in range(32):
                    self.wfile.write(b"\x89PNG" + b"\0" * 65532)
            except OSError:
                pass
        else:
            self._send(200, b"hello, not an image", "text/plain")

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def files_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def deployment(tmp_path, files_server):
    """The shipped default plus an allowed input dir and the loopback file server."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    config = tmp_path / "plugins.toml"
    config.write_text(
        f"""
[defaults]
provider = "placeholder"
[inputs]
allowed_dirs = ["{allowed}"]
allowed_hosts = ["{files_server}"]
max_mib = 1
[plugins.placeholder]
builtin = "placeholder"
"""
    )
    return config, allowed


async def generate(client, **args):
    result = await client.call_tool("generate_image", {"prompt": "a fox", "width": 96, "height": 64, **args})
    assert not field(result, "isError"), text_of(result)
    return structured(result)["images"][0]


async def edit_with(client, handle):
    return await client.call_tool("edit_image", {"prompt": "at night", "images": [{"image": handle}]})


async def count_images(client):
    listed = structured(await client.call_tool("list_images", {"limit": 100}))
    return len(listed["images"])


async def test_inputs_by_every_accepted_handle(store_dir, cache_dir, deployment, files_server):
    config, allowed = deployment
    async with connect(stdio_params(easel_args(store_dir, cache_dir, config))) as client:
        parent = await generate(client)
        with open(parent["path"], "rb") as f:
            png = f.read()
        Files.png = png
        (allowed / "fox.png").write_bytes(png)
        data_uri = "data:image/png;base64," + base64.b64encode(png).decode()
        for handle in [parent["id"], f"image://{parent['id']}", data_uri, str(allowed / "fox.png"), f"{files_server}/ok.png", f"{files_server}/redirect"]:
            result = await edit_with(client, handle)
            assert not field(result, "isError"), (handle[:60], text_of(result))
            child = structured(result)["images"][0]
            meta = json.loads((await client.read_resource(f"image://{child['id']}/metadata")).contents[0].text)
            assert len(meta["parents"]) == 1
            # The same bytes always import to the same id as the original.
            assert meta["parents"] == [parent["id"]], handle[:60]


@pytest.mark.parametrize(
    "handle, words",
    [
        ("/etc/passwd", "outside the directories"),
        ("{allowed}/../plugins.toml", "outside the directories"),
        ("http://10.0.0.1/x.png", "private or loopback"),
        ("{files}/to-metadata", "http://169.254.169.254 is a private or loopback address"),
        ("{files}/to-private", "http://10.0.0.1 is a private or loopback address"),
        ("{files}/huge", "input limit"),
        ("{files}/stream", "input limit"),
        ("{files}/text", "not an image"),
        ("ftp://example.com/x.png", "unsupported scheme"),
        ("no-such-handle", "not a stored image id"),
    ],
)
async def test_bad_handles_are_refused_and_leave_nothing_behind(store_dir, cache_dir, deployment, files_server, handle, words):
    config, allowed = deployment
    handle = handle.format(allowed=allowed, files=files_server)
    async with connect(stdio_params(easel_args(store_dir, cache_dir, config))) as client:
        await generate(client)
        before = await count_images(client)
        result = await edit_with(client, handle)
        assert field(result, "isError")
        assert words in text_of(result), text_of(result)
        assert "images[0].image" in text_of(result)
        assert await count_images(client) == before


async def test_private_urls_need_an_explicit_entry(store_dir, cache_dir, files_server):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        result = await edit_with(client, f"{files_server}/ok.png")
        assert field(result, "isError")
        assert f'[inputs] allowed_hosts lists "{files_server}"' in text_of(result)


async def test_views_transform_pixels_and_formats(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        image = await generate(client, width=400, height=200)
        for query, size, magic in [
            ("width=100", (100, 50), b"\x89PNG"),
            ("format=jpeg&quality=60", (400, 200), b"\xff\xd8"),
            ("crop_x=10&crop_y=20&crop_w=50&crop_h=30&rotate=90", (30, 50), b"\x89PNG"),
            ("format=webp&width=40", (40, 20), b"RIFF"),
            ("format=gif&height=20", (40, 20), b"GIF8"),
        ]:
            view = await client.read_resource(f"image://{image['id']}/view?{query}")
            data = base64.b64decode(view.contents[0].blob)
            assert data.startswith(magic), query
            if magic in (b"\x89PNG", b"\xff\xd8"):
                assert dimensions(data) == size, query
        flipped = structured(await client.call_tool("show_image", {"image": image["id"], "flip": "h", "width": 64}))
        assert flipped["view"]["width"] == 64
        bad = await client.call_tool("show_image", {"image": image["id"], "rotate": 45})
        assert field(bad, "isError") and "rotate" in text_of(bad)


async def test_every_result_respects_the_preview_budget(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        result = await client.call_tool("generate_image", {"prompt": "big", "width": 2048, "height": 2048, "count": 4})
        previews = [base64.b64decode(c.data) for c in result.content if c.type == "image"]
        assert len(previews) == 4
        assert sum(len(p) for p in previews) <= 400 * 1024
        assert all(max(dimensions(p)) <= 512 for p in previews)
        full = await client.call_tool("show_image", {"image": structured(result)["images"][0]["id"], "full_resolution": True})
        assert len(full.model_dump_json()) < 1024 * 1024


async def test_vary_reruns_with_a_new_seed_and_overrides(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        original = await generate(client, seed=1)
        varied = await client.call_tool("vary_image", {"image": original["id"], "seed": 2})
        assert not field(varied, "isError"), text_of(varied)
        new = structured(varied)["images"][0]
        assert new["id"] != original["id"] and (new["width"], new["height"]) == (96, 64) and new["seed"] == 2
        wider = structured(await client.call_tool("vary_image", {"image": original["id"], "width": 128, "height": 64}))["images"][0]
        assert (wider["width"], wider["height"]) == (128, 64)


async def test_gallery_filters_and_pages(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        for i in range(5):
            await generate(client, prompt=f"lighthouse {i}", seed=i)
        await generate(client, prompt="a cat", seed=99)
        page = structured(await client.call_tool("list_images", {"text": "lighthouse", "limit": 3}))
        assert len(page["images"]) == 3 and page["next_cursor"]
        rest = structured(await client.call_tool("list_images", {"text": "lighthouse", "limit": 3, "cursor": page["next_cursor"]}))
        assert len(rest["images"]) == 2 and rest["next_cursor"] is None
        assert structured(await client.call_tool("list_images", {"provider": "nobody"}))["images"] == []
        gallery = json.loads((await client.read_resource("image://list")).contents[0].text)
        assert gallery["images"][0]["prompt"] == "a cat", "newest first"


async def test_delete_marks_children_lineage_and_survives_restart(store_dir, cache_dir):
    args = easel_args(store_dir, cache_dir)
    async with connect(stdio_params(args)) as client:
        parent = await generate(client)
        child = structured(await edit_with(client, parent["id"]))["images"][0]
        deleted = await client.call_tool("delete_image", {"image": parent["id"]})
        assert not field(deleted, "isError"), text_of(deleted)
        assert not os.path.exists(parent["path"])
    async with connect(stdio_params(args)) as client:
        meta = json.loads((await client.read_resource(f"image://{child['id']}/metadata")).contents[0].text)
        assert meta["parents"] == [parent["id"]]
        assert meta["lineage"][0]["status"] == "deleted"
        view = await client.read_resource(f"image://{child['id']}/view?width=48")
        assert dimensions(base64.b64decode(view.contents[0].blob)) == (48, 32)
        gone = await client.call_tool("show_image", {"image": parent["id"]})
        assert field(gone, "isError")


def test_http_serves_originals_and_views(store_dir, cache_dir):
    import anyio

    server = HttpServer(easel_args(store_dir, cache_dir))
    try:

        async def make():
            async with connect(server.url) as client:
                return await generate(client, width=200, height=100)

        image = anyio.run(make)
        assert image["url"].startswith(server.base + "/i/")
        with urllib.request.urlopen(image["url"], timeout=10) as r:
            assert r.headers["Content-Type"] == "image/png" and dimensions(r.read()) == (200, 100)
        with urllib.request.urlopen(f"{server.base}/i/{image['id']}.jpg?width=50", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/jpeg" and dimensions(r.read()) == (50, 25)
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.base}/i/0123456789abcdef.png", timeout=10)
        assert missing.value.code == 404
    finally:
        server.stop()
