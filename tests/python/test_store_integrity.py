"""The image store under attack and after faults (hardening items 14-17),
driving the real `easel` binary with the official MCP Python SDK:

- a sidecar whose `id` points outside the store is damaged; nothing outside
  is read, served or deleted;
- a truncated image, from a `data:` input or from a plugin, never enters the
  store, and a request refused for one input imports none of them;
- damaged entries are listed with why, refused by show_image and `GET /i/`,
  and removed by delete_image;
- what a writer killed mid-put leaves (temp files, an image without its
  sidecar) is gone after the next start, while a live writer's stays."""

import base64
import fcntl
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import pytest

from conftest import HttpServer, easel_args, structured, text_of
from mcpclient import connect, field, generate_many, stdio_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fakekit import make_png  # noqa: E402

pytestmark = pytest.mark.anyio


def id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def store_files(store: Path) -> dict:
    """Every file under images/ and tmp/, by relative path."""
    return {str(p.relative_to(store)): p.stat().st_size for sub in ("images", "tmp") for p in (store / sub).glob("*")}


async def generate(client, **args):
    result = await client.call_tool("generate_image", {"prompt": "a fox", "provider": "placeholder", "width": 96, "height": 64, **args})
    assert not field(result, "isError"), text_of(result)
    return structured(result)["images"][0]


def http_get(url):
    """(status, body) of a GET, HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_a_sidecar_whose_id_points_outside_the_store_never_reads_serves_or_deletes_outside(tmp_path, store_dir, cache_dir):
    server = HttpServer(easel_args(store_dir, cache_dir))
    try:
        async with connect(server.url) as client:
            image = await generate(client, seed=1)
            other = await generate(client, seed=2)
            # images/../../victim.png is tmp_path/victim.png, outside the store.
            victim = tmp_path / "victim.png"
            victim_bytes = Path(other["path"]).read_bytes()
            victim.write_bytes(victim_bytes)
            sidecar_path = store_dir / "images" / f"{image['id']}.json"
            sidecar = json.loads(sidecar_path.read_text())
            sidecar["id"] = "../../victim"
            sidecar_path.write_text(json.dumps(sidecar))
            os.remove(image["path"])  # only the victim could answer for this id now

            shown = await client.call_tool("show_image", {"image": image["id"]})
            assert field(shown, "isError"), "show_image served a file outside the store"
            assert "damaged" in text_of(shown) and "../../victim" in text_of(shown), text_of(shown)
            status, body = http_get(f"{server.base}/i/{image['id']}.png")
            assert status != 200 and body != victim_bytes, f"GET /i/ answered {status}"

            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert image["id"] not in [i["id"] for i in listed["images"]]
            [damaged] = [d for d in listed["damaged"] if d["id"] == image["id"]]
            assert "its id field says" in damaged["problem"], damaged

            deleted = await client.call_tool("delete_image", {"image": image["id"]})
            assert not field(deleted, "isError"), text_of(deleted)
            assert victim.read_bytes() == victim_bytes, "delete_image touched a file outside the store"
            assert not sidecar_path.exists()
            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert [i["id"] for i in listed["images"]] == [other["id"]] and listed["damaged"] == []
    finally:
        server.stop()


async def test_a_truncated_png_from_a_data_uri_is_refused_and_leaves_nothing_in_the_store(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        parent = await generate(client)
        whole = make_png(80, 60, "truncated input")
        before = store_files(store_dir)
        for cut in (len(whole) // 2, len(whole) - 12):
            result = await client.call_tool("edit_image", {"prompt": "at night", "images": [{"image": data_uri(whole[:cut])}]})
            assert field(result, "isError"), f"a PNG cut at {cut} of {len(whole)} bytes was accepted"
            assert "images[0].image" in text_of(result) and "truncated" in text_of(result), text_of(result)
            assert store_files(store_dir) == before, "a refused input left files in the store"
        # The whole image is accepted, so the refusal was about the truncation.
        result = await client.call_tool("edit_image", {"prompt": "at night", "images": [{"image": data_uri(whole)}]})
        assert not field(result, "isError"), text_of(result)
        assert (store_dir / "images" / f"{id_of(whole)}.json").exists()
        assert parent["id"] != id_of(whole)


async def test_a_request_refused_for_one_input_imports_none_of_them(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        await generate(client)
        fresh = make_png(64, 64, "never stored")
        before = store_files(store_dir)
        result = await client.call_tool("edit_image", {"prompt": "blend", "images": [{"image": data_uri(fresh)}, {"image": "no-such-handle"}]})
        assert field(result, "isError") and "images[1].image" in text_of(result), text_of(result)
        assert store_files(store_dir) == before, "the first input was imported although the request was refused"
        assert not (store_dir / "images" / f"{id_of(fresh)}.png").exists()


class TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """A Potassium handler (the banana backend) answering with `png` as base64."""

    png = b""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"image_base64": base64.b64encode(TruncatingHandler.png).decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def test_a_truncated_png_from_a_plugin_is_refused_and_nothing_is_stored(tmp_path, store_dir, cache_dir):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TruncatingHandler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    config = tmp_path / "plugins.toml"
    config.write_text(f"""
[defaults]
provider = "banana"
[plugins.banana]
builtin = "banana"
allowed_hosts = ["{base}"]
[plugins.banana.config]
base_url = "{base}"
""")
    whole = make_png(64, 64, "from the plugin")
    try:
        async with connect(stdio_params(easel_args(store_dir, cache_dir, config))) as client:
            TruncatingHandler.png = whole[: len(whole) * 2 // 3]
            result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "width": 64, "height": 64})
            assert field(result, "isError"), "a truncated PNG from the plugin was stored"
            assert "banana" in text_of(result) and "truncated" in text_of(result), text_of(result)
            assert not list((store_dir / "images").glob("*")), "nothing of it is stored"
            TruncatingHandler.png = whole
            result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "width": 64, "height": 64})
            assert not field(result, "isError"), text_of(result)
            assert structured(result)["images"][0]["id"] == id_of(whole)
    finally:
        upstream.shutdown()


async def test_damaged_entries_are_listed_with_why_refused_everywhere_and_removed_by_delete_image(store_dir, cache_dir):
    server = HttpServer(easel_args(store_dir, cache_dir))
    try:
        async with connect(server.url) as client:
            garbled, missing, truncated, whole = [await generate(client, seed=n) for n in range(4)]
            (store_dir / "images" / f"{garbled['id']}.json").write_text("{ not json")
            os.remove(missing["path"])
            data = Path(truncated["path"]).read_bytes()
            Path(truncated["path"]).write_bytes(data[: len(data) // 2])

            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert [i["id"] for i in listed["images"]] == [whole["id"]]
            problems = {d["id"]: d["problem"] for d in listed["damaged"]}
            assert sorted(problems) == sorted(i["id"] for i in (garbled, missing, truncated)), listed
            assert "not valid JSON" in problems[garbled["id"]]
            assert "is missing" in problems[missing["id"]]
            assert "truncated" in problems[truncated["id"]]
            assert listed["damaged_total"] == 3

            shown = await client.call_tool("show_image", {"image": truncated["id"]})
            assert field(shown, "isError") and "damaged" in text_of(shown), text_of(shown)
            status, _ = http_get(f"{server.base}/i/{truncated['id']}.png")
            assert status != 200, "GET /i/ served a truncated original"

            for image in (garbled, missing, truncated):
                deleted = await client.call_tool("delete_image", {"image": image["id"]})
                assert not field(deleted, "isError"), text_of(deleted)
                assert "deleted damaged image" in text_of(deleted), text_of(deleted)
            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert [i["id"] for i in listed["images"]] == [whole["id"]] and listed["damaged"] == []
            left = sorted(p.name for p in (store_dir / "images").iterdir() if not p.name.endswith(".deleted"))
            assert left == sorted([f"{whole['id']}.json", f"{whole['id']}.png"]), left
            again = await client.call_tool("delete_image", {"image": garbled["id"]})
            assert "already deleted" in text_of(again), text_of(again)
    finally:
        server.stop()


async def test_an_image_made_again_after_its_delete_can_be_deleted_again(store_dir, cache_dir):
    async with connect(stdio_params(easel_args(store_dir, cache_dir))) as client:
        first = await generate(client, seed=7)
        assert not field(await client.call_tool("delete_image", {"image": first["id"]}), "isError")
        again = await generate(client, seed=7)
        assert again["id"] == first["id"] and os.path.exists(again["path"])
        deleted = await client.call_tool("delete_image", {"image": again["id"]})
        assert not field(deleted, "isError") and "already deleted" not in text_of(deleted), text_of(deleted)
        assert not os.path.exists(again["path"]), "delete_image left the image in place"
        gone = await client.call_tool("delete_image", {"image": "0123456789abcdef"})
        assert field(gone, "isError") and "no image with id" in text_of(gone), text_of(gone)


def half_put(store: Path, data: bytes, tag: str):
    """What a writer of `data` leaves when it stops after renaming the image
    and before writing its sidecar: its lock file, an 824-byte temp file and
    the image. Returns their paths."""
    image_id = id_of(data)
    files = [store / "tmp" / f"{image_id}.lock", store / "tmp" / f"{image_id}.{tag}.part", store / "images" / f"{image_id}.png"]
    files[0].write_bytes(b"")
    files[1].write_bytes(data[:824])
    files[2].write_bytes(data)
    return files


async def test_what_a_dead_writer_left_goes_at_the_next_start_and_a_live_writers_files_stay(store_dir, cache_dir):
    args = easel_args(store_dir, cache_dir)
    async with connect(stdio_params(args)) as client:
        kept = await generate(client)
    dead = half_put(store_dir, make_png(120, 90, "dead writer") + b"\0" * 1200, "9d1e")
    # An old-style temp file (a bare uuid name) a minute old: its writer may be alive.
    legacy = store_dir / "tmp" / "5b0c2d4e-6f70-4a1b-9c2d-3e4f5a6b7c8d"
    legacy.write_bytes(b"\x89PNG partial")
    live = half_put(store_dir, make_png(120, 90, "live writer"), "41aa")
    with open(live[0], "r+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the live writer holds its id's write lock
        async with connect(stdio_params(args)) as client:
            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert [i["id"] for i in listed["images"]] == [kept["id"]] and listed["damaged"] == []
        gone = [str(p.relative_to(store_dir)) for p in dead if p.exists()]
        assert not gone, f"a dead writer's leftovers survived the start: {gone}"
        assert all(p.exists() for p in live), "a live writer's files were removed under it"
        assert legacy.exists(), "a young temp file of an older version stays"
    # The live writer dies too (its lock file stays): the next start removes its files.
    async with connect(stdio_params(args)) as client:
        await client.list_tools()
    assert not any(p.exists() for p in live), [str(p) for p in live if p.exists()]
    assert [p.name for p in (store_dir / "tmp").iterdir()] == [legacy.name]


def leftovers(store: Path):
    """Files in tmp/, and images without a sidecar."""
    images = store / "images"
    orphans = [p.name for p in images.glob("*") if p.suffix in (".png", ".jpg", ".webp", ".gif") and not (images / f"{p.stem}.json").exists()]
    return [p.name for p in (store / "tmp").iterdir()] + orphans


async def test_kill_9_inside_the_write_window_leaves_nothing_after_the_next_start(store_dir, cache_dir):
    args = easel_args(store_dir, cache_dir)
    left = []
    for round_ in range(6):
        server = HttpServer(args)

        def killer():
            # Kill the moment a put is under way (something in tmp/).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any((store_dir / "tmp").iterdir()):
                time.sleep(0.0005)
            server.proc.kill()

        threading.Thread(target=killer, daemon=True).start()
        with anyio.move_on_after(40):
            await generate_many(server.url, f"round {round_}", 6, 1536)
        server.proc.wait()
        left = leftovers(store_dir)
        if left:
            break
    assert left, "no kill landed inside a store write in 6 rounds"

    restarted = HttpServer(args)
    try:
        assert leftovers(store_dir) == [], f"left after a restart: {leftovers(store_dir)}"
        async with connect(restarted.url) as client:
            listed = structured(await client.call_tool("list_images", {"limit": 100}))
            assert listed["damaged"] == []
            for image in listed["images"]:
                meta = json.loads((store_dir / "images" / f"{image['id']}.json").read_text())
                data = (store_dir / "images" / f"{image['id']}.png").read_bytes()
                assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    finally:
        restarted.stop()
