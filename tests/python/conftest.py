"""Shared fixtures for driving the built `easel` binary with independent MCP
clients (the official Python SDK, either its 1.x or 2.x line).

EASEL_BIN must point at the binary (tests/run.sh sets it)."""

import os
import re
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

EASEL_BIN = os.environ.get("EASEL_BIN")


def pytest_collection_modifyitems(config, items):
    if not EASEL_BIN or not Path(EASEL_BIN).exists():
        skip = pytest.mark.skip(reason="EASEL_BIN is not set to a built easel binary (run tests/run.sh)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One compile cache for the whole session (cold compile once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"


def easel_args(store_dir, cache_dir, config=None):
    args = [EASEL_BIN, "--store", str(store_dir), "--cache", str(cache_dir)]
    if config:
        args += ["--config", str(config)]
    return args


class HttpServer:
    """`easel serve --transport http --port 0` as a child process."""

    def __init__(self, args, env=None, serve_args=()):
        self.proc = subprocess.Popen(
            args + ["serve", "--transport", "http", "--port", "0", *serve_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.time() + 30
        self.url = None
        lines = []
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"(http://[\d.:]+)/mcp", line)
            if match:
                self.base = match.group(1)
                self.url = self.base + "/mcp"
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("easel serve --transport http did not start:\n" + "".join(lines))
        # Keep draining stderr so that a chatty server never blocks on a full pipe.
        self.log = lines
        threading.Thread(target=lambda: [lines.append(line) for line in self.proc.stderr], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def http_server(store_dir, cache_dir):
    server = HttpServer(easel_args(store_dir, cache_dir))
    yield server
    server.stop()
