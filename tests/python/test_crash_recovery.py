"""Crashes and data (issue 6): `kill -9` of the server during a generation
and during store writes, and two servers writing one store at once.

After a restart every completed image and sidecar must be intact, no partial
file may be visible, and a pending job is either resumed through its provider
job token or reported failed with the reason. Drives the real `easel`
binary over streamable HTTP with the official MCP Python SDK."""

import hashlib
import http.server
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from conftest import HttpServer, easel_args, structured
from imagebytes import dimensions
from mcpclient import connect, generate_many

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import fal_fake  # noqa: E402

pytestmark = pytest.mark.anyio
FAL_KEY = "fal-crash-test-key"


async def wait_for_status(url, job_id, statuses, timeout=30):
    """Poll get_generation_status until the job is in one of `statuses`."""
    deadline = time.monotonic() + timeout
    async with connect(url) as client:
        while True:
            status = structured(await client.call_tool("get_generation_status", {"job_id": job_id}))
            if status["status"] in statuses or time.monotonic() > deadline:
                return status
            await anyio.sleep(0.2)


def assert_store_is_whole(store: Path) -> list[str]:
    """Every sidecar parses and names an image file whose sha256 matches its
    id; nothing but whole images, sidecars and tombstones in images/. Returns
    the ids of the complete images."""
    images = store / "images"
    ids = []
    for entry in sorted(images.iterdir()):
        stem, ext = entry.name.split(".", 1)
        assert ext in ("json", "png", "jpg", "webp", "gif", "deleted"), f"unexpected file in the store: {entry.name}"
        assert len(stem) == 16, f"not an id-named file: {entry.name}"
        if ext != "json":
            continue
        sidecar = json.loads(entry.read_text())
        data = (images / f"{stem}.png").read_bytes()
        assert hashlib.sha256(data).hexdigest() == sidecar["sha256"], f"{stem}: bytes do not match the sidecar's sha256"
        assert sidecar["id"] == stem and sidecar["bytes"] == len(data)
        assert dimensions(data) == (sidecar["width"], sidecar["height"]), f"{stem}: not a whole PNG"
        ids.append(stem)
    return ids


def fal_config(root: Path, base: str) -> Path:
    config = root / "plugins.toml"
    config.write_text(f"""
[defaults]
provider = "fal"

{fal_fake.plugin_toml(base)}""")
    return config


async def test_kill_9_during_a_queued_generation_resumes_the_job_through_its_token(tmp_path, store_dir, cache_dir):
    fake, base = fal_fake.start(key=FAL_KEY, queue_polls=1, run_polls=10_000)
    env = {**os.environ, "FAL_KEY": FAL_KEY}
    args = easel_args(store_dir, cache_dir, fal_config(tmp_path, base))
    try:
        server = HttpServer(args, env=env)
        async with connect(server.url) as client:
            pending = structured(await client.call_tool(
                "generate_image", {"prompt": "a lighthouse in fog", "model": "fal-ai/flux/schnell", "wait_seconds": 1}))
        assert pending["status"] in ("queued", "running"), pending
        job_id = pending["job_id"]
        # The provider holds the job and has been polled at least once.
        deadline = time.monotonic() + 10
        while not any(r["path"].endswith("/status") for r in fake.state.recorded) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.proc.kill()  # SIGKILL: no cleanup runs
        server.proc.wait()
        submits_before = [r for r in fake.state.recorded if r["method"] == "POST"]
        fake.state.run_polls = 0  # the provider finishes while Easel is down

        restarted = HttpServer(args, env=env)
        try:
            done = await wait_for_status(restarted.url, job_id, ("succeeded", "failed"))
            assert done["status"] == "succeeded", done
            [image] = done["images"]
            submits_after = [r for r in fake.state.recorded if r["method"] == "POST"]
            assert len(submits_after) == len(submits_before) == 1, "resumed by polling the token, never submitted twice"
            ids = assert_store_is_whole(store_dir)
            assert image["id"] in ids
            sidecar = json.loads((store_dir / "images" / f"{image['id']}.json").read_text())
            assert sidecar["job_id"] == job_id and sidecar["prompt"] == "a lighthouse in fog"
            assert sidecar["provider"] == "fal" and sidecar["model"] == "fal-ai/flux/schnell"
        finally:
            restarted.stop()
    finally:
        fake.shutdown()


class Hang(http.server.BaseHTTPRequestHandler):
    """An OpenAI-shaped upstream that takes the request and never answers."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(60)

    def log_message(self, *args):
        pass


async def test_kill_9_during_a_blocking_generation_reports_the_job_failed_after_restart(tmp_path, store_dir, cache_dir):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    config = tmp_path / "plugins.toml"
    config.write_text(f"""
[defaults]
provider = "openai"

[plugins.openai]
builtin = "openai"
allowed_hosts = ["{base}"]
timeout_secs = 120
[plugins.openai.secrets.OPENAI_API_KEY]
env = "OPENAI_API_KEY"
hosts = ["{base}"]
[plugins.openai.config]
base_url = "{base}/v1"
""")
    env = {**os.environ, "OPENAI_API_KEY": "sk-crash-test"}
    args = easel_args(store_dir, cache_dir, config)
    try:
        server = HttpServer(args, env=env)
        async with connect(server.url) as client:
            pending = structured(await client.call_tool("generate_image", {"prompt": "a red kite", "wait_seconds": 1}))
        job_id = pending["job_id"]
        server.proc.kill()
        server.proc.wait()

        restarted = HttpServer(args, env=env)
        try:
            status = await wait_for_status(restarted.url, job_id, ("failed", "succeeded"))
            assert status["status"] == "failed", status
            assert "server stopped while this job was running" in status["error"]
            assert "run it again" in status["error"], status["error"]
            # The restarted server still generates.
            async with connect(restarted.url) as client:
                models = structured(await client.call_tool("list_providers"))
                assert any(p["id"] == "openai" for p in models["providers"])
        finally:
            restarted.stop()
    finally:
        upstream.shutdown()


async def test_kill_9_during_store_writes_leaves_only_whole_images(store_dir, cache_dir):
    rng = random.Random(6)
    args = easel_args(store_dir, cache_dir)
    interrupted = 0
    for round_ in range(5):
        server = HttpServer(args)
        before = len(list((store_dir / "images").glob("*")))

        def killer():
            # Once this round's first image lands, images are being written: kill in that window.
            deadline = time.monotonic() + 30
            while len(list((store_dir / "images").glob("*"))) == before and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.4))
            server.proc.kill()

        threading.Thread(target=killer, daemon=True).start()
        with anyio.move_on_after(40):
            await generate_many(server.url, f"round {round_}", 6, size=1536)
        server.proc.wait()
        ids = assert_store_is_whole(store_dir)
        records = [json.loads(p.read_text()) for p in (store_dir / "jobs").glob("job_*.json")]
        interrupted += sum(r["status"] == "running" for r in records)

        # What a restarted server lists is exactly what is whole on disk, it
        # reports the interrupted jobs failed, and it still writes.
        check = HttpServer(args)
        try:
            async with connect(check.url) as client:
                listed = structured(await client.call_tool("list_images", {"limit": 100}))
                assert sorted(i["id"] for i in listed["images"]) == sorted(ids)
                fresh = structured(await client.call_tool("generate_image", {"prompt": f"after crash {round_}", "provider": "placeholder", "width": 64, "height": 64}))
                assert fresh["images"], fresh
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    records = [json.loads(p.read_text()) for p in (store_dir / "jobs").glob("job_*.json")]
                    if all(r["status"] in ("succeeded", "failed") for r in records):
                        break
                    await anyio.sleep(0.1)
                stuck = [r["id"] for r in records if r["status"] not in ("succeeded", "failed")]
                assert not stuck, f"jobs left running after a restart: {stuck}"
                failed = [r for r in records if r["status"] == "failed"]
                assert all("server stopped while this job was running" in r["error"] for r in failed)
        finally:
            check.stop()
    assert interrupted > 0, "no kill landed while jobs were still writing"
    assert len(assert_store_is_whole(store_dir)) >= 5, "each round stored at least its check image"


async def test_two_servers_writing_one_store_concurrently_do_not_corrupt_it(store_dir, cache_dir):
    args = easel_args(store_dir, cache_dir)
    first, second = HttpServer(args), HttpServer(args)
    try:
        async with anyio.create_task_group() as group:
            # Different prompts, and the same seeds on both: identical bytes race for one id.
            group.start_soon(generate_many, first.url, "shared", 8, 256)
            group.start_soon(generate_many, second.url, "shared", 8, 256)
            group.start_soon(generate_many, first.url, "first only", 6, 256)
            group.start_soon(generate_many, second.url, "second only", 6, 256)
        ids = assert_store_is_whole(store_dir)
        # "shared n" gives the same two images on both servers: 8×2 + 6×2 + 6×2 distinct images.
        assert len(ids) == 40, len(ids)
        for server in (first, second):
            async with connect(server.url) as client:
                listed = structured(await client.call_tool("list_images", {"limit": 100}))
                assert sorted(i["id"] for i in listed["images"]) == sorted(ids)
        jobs = list((store_dir / "jobs").glob("job_*.json"))
        assert len(jobs) == 40 // 2 + 8, "one record per job, none lost"
        assert all(json.loads(j.read_text())["status"] == "succeeded" for j in jobs)
        assert not list((store_dir / "jobs").glob("*.tmp")) and not list((store_dir / "tmp").iterdir())
    finally:
        first.stop()
        second.stop()
