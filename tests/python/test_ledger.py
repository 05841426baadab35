"""The cost ledger and its caps (README "Sharing it with a team"): every generation is a row in the store's SQLite
ledger (`ledger.sqlite`), reserved against `[caps]` before it reaches the provider, and `get_usage` reads it back.
The placeholder is given a price (`prices`), so dollars add up offline; over streamable HTTP, 64 requests fired at
once against an image cap of 10 get exactly 10 images."""

from __future__ import annotations

import sqlite3

import anyio
import pytest

from conftest import EASEL_BIN, HttpServer, easel_args, is_error, structured, text_of
from mcpclient import connect, stdio_session

if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

PRICED = '''[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"
prices = { "placeholder-1" = 0.04 }
'''


def config_with(tmp_path, caps: str):
    config = tmp_path / "plugins.toml"
    config.write_text(PRICED + "\n[caps]\n" + caps + "\n")
    return config


def rows(store) -> list[tuple]:
    with sqlite3.connect(store / "ledger.sqlite") as db:
        return db.execute("SELECT user, provider, model, operation, width, height, count, estimated_usd, outcome,"
                          " image_ids FROM generations ORDER BY id").fetchall()


def test_generations_are_recorded_and_a_cap_refuses_before_the_provider_with_what_was_spent(tmp_path, cache_dir):
    store = tmp_path / "store"
    args = easel_args(store, cache_dir, config_with(tmp_path, "user_daily_images = 3\nuser_daily_usd = 1.0"))

    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a fox", "count": 2, "width": 64, "height": 64})
        assert not is_error(made), text_of(made)
        refused = await client.call_tool("generate_image", {"prompt": "two more", "count": 2, "width": 64, "height": 64})
        usage = await client.call_tool("get_usage", {})
        listed = await client.call_tool("list_images", {})
        return made, refused, usage, listed

    made, refused, usage, listed = stdio_session(args, body)
    assert is_error(refused)
    message = text_of(refused)
    assert "local's daily cap is 3 image(s) and 2 are made or reserved today; this call asks for 2" in message, message
    assert "resets at" in message and "UTC" in message
    assert len(structured(listed)["images"]) == 2, "the refused call stored nothing"
    [today] = structured(usage)["users"]
    assert today["user"] == "local" and today["today"]["images"] == 2
    assert today["today"]["usd"] == pytest.approx(0.08)
    assert structured(usage)["caps"]["user_daily_images"] == 3
    ids = sorted(image["id"] for image in structured(made)["images"])
    [row] = rows(store)
    assert row[:9] == ("local", "placeholder", "placeholder-1", "generate", 64, 64, 2, pytest.approx(0.08), "succeeded")
    assert sorted(__import__("json").loads(row[9])) == ids, "the row names the images it made"


def test_the_cli_is_recorded_too(tmp_path, cache_dir):
    import subprocess

    store = tmp_path / "store"
    args = easel_args(store, cache_dir, config_with(tmp_path, ""))
    result = subprocess.run(args + ["generate", "a kite", "--width", "64", "--height", "64"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [row] = rows(store)
    assert row[0] == "local" and row[8] == "succeeded" and row[7] == pytest.approx(0.04)


def test_64_concurrent_requests_never_pass_an_image_cap(tmp_path, cache_dir):
    store = tmp_path / "store"
    server = HttpServer(easel_args(store, cache_dir, config_with(tmp_path, "daily_images = 10")))
    outcomes: list[str] = []

    async def one(n):
        async with connect(server.url) as client:
            result = await client.call_tool("generate_image", {
                "prompt": f"fox {n}", "seed": n, "width": 64, "height": 64, "wait_seconds": 60})
            outcomes.append("error: " + text_of(result) if is_error(result) else "made")

    async def main():
        async with anyio.create_task_group() as group:
            for n in range(64):
                group.start_soon(one, n)

    try:
        anyio.run(main)
    finally:
        server.stop()
    made = [o for o in outcomes if o == "made"]
    refused = [o for o in outcomes if o != "made"]
    assert len(outcomes) == 64
    assert len(made) == 10, refused[:3]
    assert all("this server's daily cap is 10 image(s)" in o for o in refused), refused[:3]
    ledger = rows(store)
    assert len(ledger) == 10 and all(r[8] == "succeeded" for r in ledger), "refused requests leave no row"
