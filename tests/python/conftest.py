"""Shared fixtures and helpers for driving the built `easel` binary with independent
MCP clients (the official Python SDK, either its 1.x or 2.x line).

EASEL_BIN must point at the binary (tests/run.sh sets it). Test modules import the
helpers below with `from conftest import ...` (pytest puts this directory on sys.path,
and the `sys.path` line below makes sure of it). The MCP helpers import the SDK only when called,
so the CLI tests of a provider module still run where the SDK is not installed."""

import os
import re
import socket
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

    def __init__(self, args, env=None, serve_args=(), port=0):
        self.proc = subprocess.Popen(
            args + ["serve", "--transport", "http", "--port", str(port), *serve_args],
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


# --- the CLI: `easel generate` and friends as child processes ----------------------------


def closed_port() -> int:
    """A local port that nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outputs(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """The `id<TAB>path` lines of a successful `easel generate`; fails the test otherwise."""
    assert result.returncode == 0, f"exit {result.returncode}\nstderr:\n{result.stderr}"
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert lines and all(len(parts) == 2 for parts in lines), result.stdout
    return [(parts[0], parts[1]) for parts in lines]


def failed(result: subprocess.CompletedProcess, *expected: str) -> str:
    """The stderr of a CLI run that failed, without a panic, naming every `expected` text."""
    assert result.returncode != 0, f"expected a failure, got:\n{result.stdout}"
    for text in expected:
        assert text in result.stderr, f"{text!r} not in stderr:\n{result.stderr}"
    assert "panic" not in result.stderr.lower(), result.stderr
    return result.stderr


# --- MCP: tool results and one stdio session per call -------------------------------------


def run_mcp(setup, body):
    """Run `body(client)` against `easel serve` over stdio and return its result. `setup`
    has the `config` and `store` paths and the `env` of a provider test's Setup; `client`
    is mcpclient's Connected, so it speaks whichever SDK line is installed."""
    anyio = pytest.importorskip("anyio")
    pytest.importorskip("mcp")
    from mcpclient import connect, stdio_params

    params = stdio_params([EASEL_BIN, "--config", str(setup.config), "--store", str(setup.store)], env=setup.env)

    async def main():
        async with connect(params) as client:
            return await body(client)

    return anyio.run(main)


def is_error(result) -> bool:
    """`isError` of a tool result (1.x spells it isError, 2.x is_error)."""
    from mcpclient import field

    return bool(field(result, "isError"))


def structured(result) -> dict:
    """`structuredContent` of a tool result, `{}` when there is none."""
    from mcpclient import field

    return field(result, "structuredContent") or {}


def text_of(result) -> str:
    """The text blocks of a tool result, one per line."""
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
