"""run_pipeline and `easel run` (issue 14, part 2) through the official MCP
Python SDK (either era) and the CLI: generate → edit with the same seed →
upscale ×4 → view in one call, offline with the placeholder, each image
stored with its lineage and progress naming the step; a bad pipeline is
refused before anything runs, naming the field; a failing step stops the run
and keeps the images already made; against the fal fake, cancel reaches the
step running and `kill -9` mid-pipeline resumes after a restart, from the
step it had reached, without submitting anything twice."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from conftest import HttpServer, easel_args, outputs, structured, text_of
from imagebytes import png_size

pytest.importorskip("mcp")
from mcpclient import connect, field, stdio_params  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
import fal_fake  # noqa: E402

FAL_KEY = "fal-pipeline-test-key"

LIGHTHOUSE = [
    {"id": "base", "op": "generate", "args": {"prompt": "a lighthouse at dusk", "width": 256, "height": 192, "seed": 7}},
    {"id": "storm", "op": "edit", "args": {"prompt": "add dramatic clouds", "strength": 0.4, "seed": "$base.seed",
                                           "images": [{"image": "$base.images[0]"}]}},
    {"id": "big", "op": "upscale", "args": {"image": "$storm.images[0]", "scale": 4}},
    {"id": "look", "op": "view", "args": {"image": "$big.images[0]"}},
]


def session(store_dir, cache_dir, body, config=None, env=None):
    async def main():
        async with connect(stdio_params(easel_args(store_dir, cache_dir, config), env=env)) as client:
            return await body(client)

    return anyio.run(main)


def sidecar(store_dir, image_id):
    return json.loads((store_dir / "images" / f"{image_id}.json").read_text())


def stored_images(store_dir):
    return sorted(p.name for p in (store_dir / "images").glob("*.png")) if (store_dir / "images").exists() else []


def test_generate_edit_upscale_and_view_run_as_one_job_with_lineage(store_dir, cache_dir):
    events = []

    async def progress(value, total, message):
        events.append((value, message))

    async def body(client):
        result = await client.call_tool("run_pipeline", {"steps": LIGHTHOUSE}, progress_callback=progress)
        assert not field(result, "isError"), text_of(result)
        out = structured(result)
        assert out["status"] == "succeeded" and out["provider"] == "pipeline"
        steps = {s["id"]: s for s in out["steps"]}
        assert [s["id"] for s in out["steps"]] == ["base", "storm", "big", "look"]
        assert all(s["status"] == "succeeded" for s in out["steps"]), out["steps"]
        [base], [storm], [big] = steps["base"]["images"], steps["storm"]["images"], steps["big"]["images"]
        assert steps["look"]["images"] == [big], "the view shows the upscale"
        # The result shows what the view step named.
        assert [i["id"] for i in out["images"]] == [big]
        assert png_size(out["images"][0]["path"]) == (1024, 768), "256×192 upscaled ×4"
        # Each step's image is stored with its lineage and its own job.
        assert sidecar(store_dir, storm)["parents"] == [base]
        assert sidecar(store_dir, big)["parents"] == [storm]
        assert sidecar(store_dir, storm)["seed"] == sidecar(store_dir, base)["seed"] == 7, "$base.seed reached the edit"
        assert sidecar(store_dir, storm)["parameters"]["strength"] == 0.4
        assert len({steps[s]["job_id"] for s in ("base", "storm", "big")}) == 3
        assert "step `storm` (edit): succeeded" in text_of(result)

        # The pipeline is a job like any other: get_generation_status answers for it.
        status = structured(await client.call_tool("get_generation_status", {"job_id": out["job_id"]}))
        assert status["status"] == "succeeded" and [s["id"] for s in status["steps"]] == ["base", "storm", "big", "look"]

    session(store_dir, cache_dir, body)
    messages = [m for _, m in events]
    for step in ("step 1/4 `base` (generate)", "step 2/4 `storm` (edit)", "step 3/4 `big` (upscale)", "step 4/4 `look` (view)"):
        assert any(m and m.startswith(step) for m in messages), f"no progress for {step}: {messages}"
    values = [v for v, _ in events]
    assert values == sorted(values), f"progress must not go backwards: {events}"


def test_a_bad_pipeline_is_refused_naming_the_field_and_nothing_runs(store_dir, cache_dir):
    async def body(client):
        cases = [
            ([], "steps"),
            ([{"id": "a", "op": "generate", "args": {"prompt": "x", "colour": "red"}}], "steps[0].args.colour"),
            ([{"id": "a", "op": "paint", "args": {}}], "steps[0].op"),
            ([{"id": "a", "op": "upscale", "args": {"image": "$b.images[0]"}},
              {"id": "b", "op": "generate", "args": {"prompt": "x"}}], "steps[0].args.image"),
            ([{"id": "a", "op": "generate", "args": {"prompt": "x"}},
              {"id": "b", "op": "edit", "args": {"prompt": "y", "images": [{"image": "$a.image[0]"}]}}],
             "steps[1].args.images[0].image"),
        ]
        for steps, name in cases:
            result = await client.call_tool("run_pipeline", {"steps": steps})
            assert field(result, "isError"), steps
            assert structured(result)["error"]["field"] == name, (steps, text_of(result))
        assert stored_images(store_dir) == [], "a refused pipeline runs no step"

    session(store_dir, cache_dir, body)


def test_a_failing_step_stops_the_run_and_keeps_the_images_made(store_dir, cache_dir):
    steps = [
        {"id": "a", "op": "generate", "args": {"prompt": "a kite", "width": 128, "height": 128}},
        {"id": "b", "op": "upscale", "args": {"image": "$a.images[0]", "scale": 9}},
        {"id": "c", "op": "upscale", "args": {"image": "$a.images[0]"}},
    ]

    async def body(client):
        result = await client.call_tool("run_pipeline", {"steps": steps})
        assert field(result, "isError")
        error = structured(result)["error"]
        assert error["field"] == "steps[1].args.scale", error
        assert "step 2/3 `b` (upscale) failed" in error["message"] and "at most 8" in error["message"], error
        [kept] = stored_images(store_dir)
        assert kept.split(".")[0] in error["message"], "the message names the image kept"

    session(store_dir, cache_dir, body)


def fal_and_placeholder(root: Path, base: str) -> Path:
    config = root / "plugins.toml"
    config.write_text(f"""
[defaults]
provider = "fal"

[plugins.placeholder]
builtin = "placeholder"

{fal_fake.plugin_toml(base)}""")
    return config


def fal_then_upscale(prompt):
    return [
        {"id": "art", "op": "generate", "provider": "fal", "model": "fal-ai/flux/schnell",
         "args": {"prompt": prompt, "width": 256, "height": 256}},
        {"id": "big", "op": "upscale", "provider": "placeholder", "args": {"image": "$art.images[0]", "scale": 2}},
    ]


async def wait_for_status(url, job_id, statuses, timeout=30):
    deadline = time.monotonic() + timeout
    async with connect(url) as client:
        while True:
            status = structured(await client.call_tool("get_generation_status", {"job_id": job_id}))
            if status.get("status") in statuses or time.monotonic() > deadline:
                return status
            await anyio.sleep(0.2)


def test_cancel_reaches_the_step_running_and_no_later_step_runs(tmp_path, store_dir, cache_dir):
    fake, base = fal_fake.start(key=FAL_KEY)
    env = {**os.environ, "FAL_KEY": FAL_KEY}
    try:
        async def body(client):
            pending = structured(await client.call_tool(
                "run_pipeline", {"steps": fal_then_upscale("a harbour [fake:slow]"), "wait_seconds": 1}))
            assert pending["status"] == "running", pending
            deadline = time.monotonic() + 10
            while not any(r["path"].endswith("/status") for r in fake.state.recorded) and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            canceled = structured(await client.call_tool("cancel_generation", {"job_id": pending["job_id"]}))
            assert canceled["status"] == "canceled", canceled
            assert [s["status"] for s in canceled["steps"]] == ["canceled"], "step `big` never ran"
            assert any(r["method"] == "PUT" and r["path"].endswith("/cancel") for r in fake.state.recorded), \
                "the provider was told to stop the step's job"
            assert stored_images(store_dir) == []

        session(store_dir, cache_dir, body, fal_and_placeholder(tmp_path, base), env)
    finally:
        fake.shutdown()


@pytest.mark.anyio
async def test_kill_9_mid_pipeline_resumes_from_the_step_it_had_reached(tmp_path, store_dir, cache_dir):
    fake, base = fal_fake.start(key=FAL_KEY, queue_polls=1, run_polls=10_000)
    env = {**os.environ, "FAL_KEY": FAL_KEY}
    args = easel_args(store_dir, cache_dir, fal_and_placeholder(tmp_path, base))
    try:
        server = HttpServer(args, env=env)
        async with connect(server.url) as client:
            pending = structured(await client.call_tool(
                "run_pipeline", {"steps": fal_then_upscale("a lighthouse in fog"), "wait_seconds": 1}))
        assert pending["status"] == "running", pending
        deadline = time.monotonic() + 10
        while not any(r["path"].endswith("/status") for r in fake.state.recorded) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.proc.kill()  # SIGKILL: no cleanup runs
        server.proc.wait()
        fake.state.run_polls = 0  # the provider finishes while Easel is down

        restarted = HttpServer(args, env=env)
        try:
            done = await wait_for_status(restarted.url, pending["job_id"], ("succeeded", "failed", "canceled"))
            assert done["status"] == "succeeded", done
            art, big = done["steps"]
            assert (art["status"], big["status"]) == ("succeeded", "succeeded"), done["steps"]
            assert len([r for r in fake.state.recorded if r["method"] == "POST"]) == 1, "step 1 resumed, not resubmitted"
            assert sidecar(store_dir, big["images"][0])["parents"] == art["images"]
            assert png_size(done["images"][0]["path"]) == (512, 512)
        finally:
            restarted.stop()
    finally:
        fake.shutdown()


def test_easel_run_prints_each_step_and_the_images_and_names_a_bad_file(tmp_path, store_dir, cache_dir):
    pipeline = tmp_path / "lighthouse.json"
    pipeline.write_text(json.dumps({"steps": LIGHTHOUSE}))
    base = easel_args(store_dir, cache_dir)
    done = subprocess.run([*base, "run", str(pipeline), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [(image_id, path)] = outputs(done)
    assert Path(path).parent == tmp_path / "out" and png_size(path) == (1024, 768)
    assert "step `storm` (edit)" in done.stderr and "step 3/4 `big` (upscale)" in done.stderr

    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": [\n  {"id": "a",}\n]}')
    bad = subprocess.run([*base, "run", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0 and f"{broken}: trailing comma at line 2" in bad.stderr, bad.stderr

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"steps": [{"id": "a", "op": "generate", "args": {"prompt": "x", "hue": 1}}]}))
    bad = subprocess.run([*base, "run", str(wrong)], capture_output=True, text=True)
    assert bad.returncode != 0 and "steps[0].args.hue: unknown field `hue`" in bad.stderr, bad.stderr
