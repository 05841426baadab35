"""Streamable HTTP exposure: bound to loopback unless told otherwise; a
request body over 4 MiB is refused with HTTP 413, whether it declares its
length or streams it chunked; and under a client that opens sessions in a
loop, past `--max-sessions` new sessions get HTTP 503 with the reason,
memory stays flat, open sessions keep working, and closing one makes room."""

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import HttpServer, easel_args
from mcpclient import connect, field

pytestmark = pytest.mark.anyio

INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "loop", "version": "0"}}}).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def open_session(url):
    """POST initialize; (HTTP status, session id or the refusal text)."""
    request = urllib.request.Request(url, data=INITIALIZE, method="POST", headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("mcp-session-id")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def settled_rss_kib(pid, timeout=30.0):
    """RSS once it has not moved for a second (at most `timeout` seconds)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    raise AssertionError(f"the server's memory was still changing after {timeout} s")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_client_opening_sessions_in_a_loop_is_capped_and_memory_stays_flat(store_dir, cache_dir):
    server = HttpServer(easel_args(store_dir, cache_dir), serve_args=["--max-sessions", "64"])
    try:
        opened = [open_session(server.url) for _ in range(64)]
        assert all(status == 200 and sid for status, sid in opened), opened[:3]
        # The server loads its plugins in the background after it starts
        # listening (tens of MiB while they compile); measure once that settles.
        at_cap = settled_rss_kib(server.proc.pid)

        refused = [open_session(server.url) for _ in range(2000)]
        assert {status for status, _ in refused} == {503}
        assert "too many MCP sessions are open (64)" in refused[0][1]
        grown = rss_kib(server.proc.pid) - at_cap
        assert grown < 4 * 1024, f"2000 refused sessions grew the server by {grown} KiB"
        assert server.proc.poll() is None, "the server is still up"

        # Closing one session (HTTP DELETE) makes room for a real client.
        delete = urllib.request.Request(server.url, method="DELETE", headers={"mcp-session-id": opened[0][1]})
        with urllib.request.urlopen(delete, timeout=10) as response:
            assert response.status in (200, 202, 204)
        async with connect(server.url) as client:
            result = await client.call_tool("generate_image", {"prompt": "room again", "width": 64, "height": 64})
            assert field(result, "structuredContent")["images"]
    finally:
        server.stop()


def test_http_listens_on_loopback_only_by_default(http_server):
    assert http_server.base.startswith("http://127.0.0.1:"), http_server.base
    port = int(http_server.base.rsplit(":", 1)[1])
    # /proc/net/tcp lists listening sockets (state 0A) as HEXIP:HEXPORT.
    listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"]
    ours = [addr for addr in listening if int(addr.split(":")[1], 16) == port]
    assert ours == ["0100007F:%04X" % port], f"listening as {ours}, expected 127.0.0.1 only"


def post_status(url, body):
    """POST `body` (bytes, or an iterable of chunks sent chunked); (HTTP status, body text)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def post_chunked_raw(url, body):
    """POST `body` chunked over a raw socket; (HTTP status or None if cut off, bytes sent)."""
    target = urllib.parse.urlsplit(url)
    sent = 0
    with socket.create_connection((target.hostname, target.port), timeout=30) as sock:
        head = f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()) + "\r\n"
        try:
            sock.sendall(head.encode())
            for i in range(0, len(body), 1 << 16):
                chunk = body[i:i + (1 << 16)]
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096).decode(errors="replace")
        except (ConnectionResetError, socket.timeout):
            return None, sent
    parts = answer.split(" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None), sent


def test_a_request_body_over_4_mib_is_refused_with_413_and_the_server_keeps_serving(http_server):
    initialize = json.loads(INITIALIZE)
    initialize["params"]["clientInfo"]["name"] = "x" * (5 << 20)
    oversized = json.dumps(initialize).encode()

    status, text = post_status(http_server.url, oversized)
    assert status == 413, (status, text[:200])
    assert "exceeds 4194304 bytes" in text, text[:200]

    # The same body streamed without a Content-Length is cut off the same way:
    # a 413, or (when the refusal closes the socket while we are still writing,
    # and the kernel's reset overtakes the answer) a connection cut before the
    # whole body could be sent. Either way the server never took the body.
    status, sent = post_chunked_raw(http_server.url, oversized)
    assert status == 413 or (status is None and sent < len(oversized)), (status, sent)

    assert http_server.proc.poll() is None, "the server is still up"
    status, session = open_session(http_server.url)
    assert status == 200 and session, (status, session)
