"""Plumbing every protocol fake shares: real PNGs without an imaging library,
a request handler that routes every method to one place, and serving in a
thread (for tests) or in the foreground (`python x_fake.py`).

The fakes keep what makes each provider's wire look real (status texts,
headers, error bodies); only what is the same everywhere lives here."""

from __future__ import annotations

import base64
import hashlib
import json
import select
import struct
import sys
import threading
import zlib
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@lru_cache(maxsize=32)
def make_png(width: int, height: int, seed: str | int) -> bytes:
    """A real RGB PNG of width x height: a vertical gradient whose colours
    come from `seed`, so different seeds give different images."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    span = max(1, height - 1)
    rows = bytearray()
    for y in range(height):
        pixel = bytes(a + (b - a) * y // span for a, b in zip(top, bottom))
        rows += b"\x00" + pixel * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None for anything else."""
    if isinstance(data, (bytes, bytearray)) and data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def data_uri_png_size(data_uri: object) -> tuple[int, int] | None:
    """(width, height) of a PNG given as a `data:` URI, or None for anything else."""
    if not isinstance(data_uri, str) or not data_uri.startswith("data:") or "," not in data_uri:
        return None
    try:
        head = base64.b64decode(data_uri.split(",", 1)[1][:64] + "==")
    except ValueError:
        return None
    return png_size(head)


# RFC 6455 section 1.3 (its example key gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=).
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeHandler(BaseHTTPRequestHandler):
    """Every method goes to `handle_any(method)`; quiet unless the server
    has `verbose` set. Subclasses add `headers_for_every_response()` for
    what their real server always sends."""

    log_prefix = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        if getattr(self.server, "verbose", False):
            sys.stderr.write(f"{self.log_prefix or type(self).__name__}: {format % args}\n")

    def handle_any(self, method: str) -> None:
        """Answer every request; a fake that routes per `do_*` overrides those instead."""
        self.send_json(405, {"error": f"method {method} not allowed"})

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_PUT(self) -> None:
        self.handle_any("PUT")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def headers_for_every_response(self) -> dict:
        return {}

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.headers_for_every_response(), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, value: object, headers: dict | None = None) -> None:
        self.send(status, json.dumps(value).encode(), headers=headers)

    # --- a websocket server side (RFC 6455), for fakes whose upstream has one ---

    def ws_accept(self) -> bool:
        """Answer a websocket upgrade with 101 (section 4.2.2); False (after a 400) when it is not one."""
        key = self.headers.get("Sec-WebSocket-Key") or ""
        if "websocket" not in (self.headers.get("Upgrade") or "").lower() or not key:
            self.send(400, b"400: Bad Request", "text/plain")
            return False
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        for name, value in (("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)):
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True
        return True

    def ws_send(self, opcode: int, payload: bytes) -> None:
        """One unmasked, final frame (RFC 6455 section 5.2)."""
        n = len(payload)
        size = bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n) if n < 65536 else bytes([127]) + struct.pack(">Q", n)
        self.wfile.write(bytes([0x80 | opcode]) + size + payload)

    def ws_closed(self, wait: float) -> bool:
        """Whether the client closed (a close frame, or EOF) within `wait` s; reads its masked frames, answers pings."""
        if not select.select([self.connection], [], [], wait)[0]:
            return False
        head = self.rfile.read(2)
        if len(head) < 2:
            return True
        n = head[1] & 0x7F
        n = struct.unpack(">H", self.rfile.read(2))[0] if n == 126 else struct.unpack(">Q", self.rfile.read(8))[0] if n == 127 else n
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
        if head[0] & 0x0F in (0x8, 0x9):  # close: echo it; ping: pong
            self.ws_send(0x8 if head[0] & 0x0F == 0x8 else 0xA, payload[:2] if head[0] & 0x0F == 0x8 else payload)
        return head[0] & 0x0F == 0x8


def serve_in_thread(server: ThreadingHTTPServer, name: str, poll_interval: float = 0.5) -> None:
    """Serve on a daemon thread; stop with server.shutdown() (which waits up
    to `poll_interval` seconds)."""
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(poll_interval,), name=name, daemon=True).start()


def serve_in_foreground(server: ThreadingHTTPServer, base_url: str) -> None:
    """Print `LISTENING <base_url>` (what scripts wait for) and serve until ctrl-c."""
    print(f"LISTENING {base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
