"""Reloading plugins.toml under a live MCP session: `easel serve --watch`
over stdio, spoken to as raw JSON-RPC lines (so the notification itself is
seen, whatever SDK is installed). Adding a provider sends
`notifications/tools/list_changed`, `tools/list` then names it and it
generates at once in the same session; a broken file keeps the running
deployment and logs where it broke; SIGHUP reloads without `--watch`.

Needs EASEL_BIN (the built host)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from conftest import easel_args

if not os.environ.get("EASEL_BIN"):
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

BASE = """[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"
"""
SKETCH = """
[plugins.sketch]
builtin = "placeholder"
"""


class Session:
    """`easel serve` over stdio: JSON-RPC lines in, lines out (read on a thread)."""

    def __init__(self, args):
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(json.loads(l)) for l in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: [self.stderr.append(l) for l in self.proc.stderr], daemon=True).start()
        self.next_id = 0
        self.notifications: list[dict] = []
        self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "reload-test", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method, params=None, timeout=60):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = self.lines.get(timeout=max(0.1, deadline - time.time()))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.notifications.append(message)
        raise AssertionError(f"no answer to {method}")

    def wait_for(self, method, timeout=30):
        """The first notification named `method` (seen before or arriving within `timeout`)."""
        deadline = time.time() + timeout
        while True:
            for message in self.notifications:
                if message.get("method") == method:
                    self.notifications.remove(message)
                    return message
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"no {method}; stderr:\n{''.join(self.stderr)}")
            try:
                self.notifications.append(self.lines.get(timeout=left))
            except queue.Empty:
                pass

    def provider_description(self):
        tools = self.request("tools/list")["tools"]
        generate = next(t for t in tools if t["name"] == "generate_image")
        return generate["inputSchema"]["properties"]["provider"]["description"]

    def generate(self, provider):
        result = self.request("tools/call", {"name": "generate_image", "arguments": {
            "prompt": "a lighthouse", "provider": provider, "width": 64, "height": 64}})
        assert not result.get("isError"), result
        return result

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(BASE)
    return path


def test_watch_adds_a_provider_to_the_open_session_and_a_broken_file_changes_nothing(config, store_dir, cache_dir):
    session = Session(easel_args(store_dir, cache_dir, config) + ["serve", "--watch"])
    try:
        assert "placeholder" in session.provider_description()
        assert "sketch" not in session.provider_description()

        config.write_text(BASE + SKETCH)
        session.wait_for("notifications/tools/list_changed")
        assert "sketch" in session.provider_description(), "tools/list names the new provider"
        result = session.generate("sketch")
        assert result["structuredContent"]["images"], result

        config.write_text(BASE + SKETCH + "\n[plugins.broken]\nbuiltin = \"placeholder\"\ntimeout_secs = \"soon\"\n")
        deadline = time.time() + 30
        while not any("not reloaded" in line for line in session.stderr) and time.time() < deadline:
            time.sleep(0.1)
        log = "".join(session.stderr)
        assert "not reloaded" in log and "plugins.toml:12:16" in log, log
        assert "broken" not in session.provider_description()
        session.generate("sketch")
        session.generate("placeholder")
    finally:
        session.close()


def test_sighup_reloads_and_a_removed_provider_is_refused_by_name(config, store_dir, cache_dir):
    config.write_text(BASE + SKETCH)
    session = Session(easel_args(store_dir, cache_dir, config) + ["serve"])
    try:
        session.generate("sketch")
        config.write_text(BASE)
        session.proc.send_signal(signal.SIGHUP)
        session.wait_for("notifications/tools/list_changed")
        assert "sketch" not in session.provider_description()
        result = session.request("tools/call", {"name": "generate_image", "arguments": {
            "prompt": "a lighthouse", "provider": "sketch"}})
        assert result.get("isError") and "sketch" in json.dumps(result), result
        session.generate("placeholder")
        assert any("reloaded" in line and "removed sketch" in line for line in session.stderr), "".join(session.stderr)
    finally:
        session.close()
