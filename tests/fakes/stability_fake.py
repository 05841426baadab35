#!/usr/bin/env python3
"""A local fake of Stability AI's v2beta Stable Image API (docs/providers/stability.md),
standard library only, built on fakekit.

Serves:
  POST /v2beta/stable-image/generate/ultra   multipart/form-data: prompt, negative_prompt, aspect_ratio,
                                             seed, output_format, style_preset, image + strength
  POST /v2beta/stable-image/generate/core    the same without image/strength
  POST /v2beta/stable-image/generate/sd3     the same plus model, mode (text-to-image | image-to-image),
                                             cfg_scale
and for tests:
  GET  /__fake/requests   JSON list of every API request: {method, path, headers, body_len,
                          form: [{name, filename, content_type, size, value (text parts)}] or null}
  POST /__fake/reset      forget them

Auth is `authorization: Bearer <key>`; a missing or wrong key gets 401. `accept: image/*` (or no
accept) answers the raw image with `finish-reason` and `seed` headers; `accept: application/json`
answers {"image": base64, "finish_reason", "seed"}. Errors are {"id", "name", "errors": [...]}.
The body is parsed as multipart for real: a missing boundary, a part without headers, a missing
closing delimiter, a field given twice, an unknown field or a text field sent as a file is a 400.
Images are real PNGs of the size Stability would pick for the aspect ratio (the input's size for
image-to-image); they are PNG even when output_format asks for jpeg or webp (the content type says png).

Scripted outcomes, by a marker in the prompt:
  [fake:filtered]            200, finish-reason CONTENT_FILTERED (a grey, "blurred" image)
  [fake:moderation]          403 content_moderation
  [fake:rate_limit]          429 without retry-after; [fake:rate_limit=N] with `retry-after: N`
  [fake:rate_limit_once=N]   the first request with this prompt gets 429 (retry-after N), later ones succeed
  [fake:reject=FIELD]        400 bad_request, errors ["FIELD: ..."]
  [fake:language]            422 invalid_language (no field named)
  [fake:no_credits]          402 payment_required
  [fake:server_error]        500 internal_error
  [fake:garbage]             200 with an HTML body
  [fake:echo_auth]           400 whose error text echoes the authorization header (to show that what
                             reaches the plugin has the key redacted)

CLI:    python3 stability_fake.py --port 0 --key sk-test   (prints `LISTENING http://127.0.0.1:<port>`)
Import: server, base_url = start(key="sk-test"); ...; server.shutdown()
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import threading
import uuid
import zlib
from http.server import ThreadingHTTPServer

from fakekit import FakeHandler, make_png, png_size, serve_in_foreground, serve_in_thread

ASPECT_SIZES = {  # what the fake renders per aspect ratio (about one megapixel)
    "1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "21:9": (1536, 640), "9:21": (640, 1536),
    "3:2": (1216, 832), "2:3": (832, 1216), "5:4": (1088, 896), "4:5": (896, 1088),
}
STYLE_PRESETS = {
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art", "isometric",
    "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic", "pixel-art", "tile-texture",
}
COMMON = {"prompt", "negative_prompt", "aspect_ratio", "seed", "output_format", "style_preset"}
FIELDS = {
    "core": COMMON,
    "ultra": COMMON | {"image", "strength"},
    "sd3": COMMON | {"image", "strength", "mode", "model", "cfg_scale"},
}
FORMATS = {"core": {"png", "jpeg", "webp"}, "ultra": {"png", "jpeg", "webp"}, "sd3": {"png", "jpeg"}}
SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium"}
MAX_SEED = 4294967294
MAX_BODY = 10 * 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, name: str, errors: list[str], headers: dict | None = None):
        super().__init__(errors[0] if errors else name)
        self.status, self.name, self.errors, self.headers = status, name, errors, headers or {}

    def body(self) -> dict:
        return {"id": uuid.uuid4().hex, "name": self.name, "errors": self.errors}


def bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", [message])


def sniff(data: bytes):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


# ---------------------------------------------------------------- multipart

def parse_form(body: bytes, content_type: str) -> list[tuple[str, str | None, str | None, bytes]]:
    """[(name, filename, content_type, data)] of a multipart/form-data body; ApiError if malformed."""
    match = re.fullmatch(r'\s*multipart/form-data\s*;\s*boundary=("?)([^";\s]+)\1\s*', content_type or "", re.I)
    if not match:
        raise bad("content-type: must be multipart/form-data with a boundary")
    delimiter = b"--" + match.group(2).encode()
    if not body.startswith(delimiter + b"\r\n"):
        raise bad("body: malformed multipart: it does not start with the boundary")
    rest = body[len(delimiter) + 2:]
    separator = b"\r\n" + delimiter
    parts = []
    while True:
        at = rest.find(separator)
        if at < 0:
            raise bad("body: malformed multipart: no closing boundary")
        chunk, rest = rest[:at], rest[at + len(separator):]
        head, found, data = chunk.partition(b"\r\n\r\n")
        if not found:
            raise bad("body: malformed multipart: a part has no header block")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" not in line:
                raise bad(f"body: malformed multipart header line {line!r}")
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        if not disposition.lower().startswith("form-data") or not name:
            raise bad("body: malformed multipart: a part has no Content-Disposition: form-data; name=...")
        filename = re.search(r';\s*filename="([^"]*)"', disposition)
        parts.append((name.group(1), filename.group(1) if filename else None, headers.get("content-type"), data))
        if rest.startswith(b"--"):
            if rest[2:] not in (b"", b"\r\n"):
                raise bad("body: malformed multipart: data after the closing boundary")
            return parts
        if not rest.startswith(b"\r\n"):
            raise bad("body: malformed multipart: boundary not followed by CRLF")
        rest = rest[2:]


# ---------------------------------------------------------------- validation

def number(fields: dict, name: str, low: float, high: float, integer: bool = False):
    text = fields.get(name)
    if text is None:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise bad(f"{name}: expected {'an integer' if integer else 'a number'}, got {text!r}")
    if not low <= value <= high:
        raise bad(f"{name}: must be between {low} and {high} (got {text})")
    return value


def validate(service: str, form) -> tuple[dict, bytes | None]:
    """The text fields and the image bytes of a form, checked the way the API checks them."""
    fields, image = {}, None
    for name, filename, _ctype, data in form:
        if name not in FIELDS[service]:
            raise bad(f"{name}: unknown field for the {service} service")
        if name in fields or (name == "image" and image is not None):
            raise bad(f"{name}: given more than once")
        if name == "image":
            if filename is None:
                raise bad("image: must be a file part")
            image = data
            continue
        if filename is not None:
            raise bad(f"{name}: must be a text field, not a file")
        try:
            fields[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad(f"{name}: is not UTF-8 text")
    prompt = fields.get("prompt", "")
    if not prompt.strip():
        raise bad("prompt: cannot be empty")
    if len(prompt) > 10000 or len(fields.get("negative_prompt", "")) > 10000:
        raise bad("prompt: must be at most 10000 characters")
    if "aspect_ratio" in fields and fields["aspect_ratio"] not in ASPECT_SIZES:
        raise bad(f"aspect_ratio: must be one of {', '.join(ASPECT_SIZES)}")
    number(fields, "seed", 0, MAX_SEED, integer=True)
    if fields.get("output_format", "png") not in FORMATS[service]:
        raise bad(f"output_format: must be one of {', '.join(sorted(FORMATS[service]))}")
    if "style_preset" in fields and fields["style_preset"] not in STYLE_PRESETS:
        raise bad("style_preset: is not a known style preset")
    number(fields, "strength", 0, 1)
    if service == "sd3":
        model = fields.get("model", "sd3.5-large")
        if model not in SD3_MODELS:
            raise bad(f"model: must be one of {', '.join(sorted(SD3_MODELS))}")
        number(fields, "cfg_scale", 1, 10)
        if model == "sd3.5-large-turbo" and "negative_prompt" in fields:
            raise bad("negative_prompt: is not supported by sd3.5-large-turbo")
        mode = fields.get("mode", "text-to-image")
        if mode not in ("text-to-image", "image-to-image"):
            raise bad("mode: must be text-to-image or image-to-image")
        if mode == "text-to-image" and (image is not None or "strength" in fields):
            raise bad("image: is only accepted with mode image-to-image")
        if mode == "image-to-image" and image is None:
            raise bad("image: is required with mode image-to-image")
        if mode == "image-to-image" and "aspect_ratio" in fields:
            raise bad("aspect_ratio: is not accepted with mode image-to-image")
    if image is not None:
        if "strength" not in fields:
            raise bad("strength: is required when image is provided")
        if sniff(image) is None:
            raise bad("image: must be a jpeg, png or webp image")
        size = png_size(image)
        if size and not (64 <= size[0] <= 16384 and 64 <= size[1] <= 16384 and size[0] * size[1] >= 4096):
            raise bad("image: width and height must be between 64 and 16384 pixels")
    elif "strength" in fields:
        raise bad("strength: is only accepted with image")
    return fields, image


def grey_png(width: int, height: int) -> bytes:
    """A flat grey PNG: what a 'blurred' filtered result looks like here."""
    rows = (b"\x00" + b"\x80\x80\x80" * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- server

class FakeStability(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, key: str, verbose: bool = False):
        super().__init__(address, Handler)
        self.key, self.verbose = key, verbose
        self.requests: list = []
        self.seen_prompts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.seen_prompts.clear()


class Handler(FakeHandler):
    protocol_version = "HTTP/1.1"
    log_prefix = "stability_fake"
    server: FakeStability

    def headers_for_every_response(self) -> dict:
        return {"x-request-id": uuid.uuid4().hex}

    def do_GET(self):
        if self.path == "/__fake/requests":
            with self.server.lock:
                return self.send_json(200, list(self.server.requests))
        self.send_json(404, ApiError(404, "not_found", [f"path: {self.path} does not exist"]).body())

    def do_POST(self):
        body = self.read_body()
        if self.path == "/__fake/reset":
            self.server.reset()
            return self.send_json(200, {"ok": True})
        entry = {"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body_len": len(body), "form": None}
        with self.server.lock:
            self.server.requests.append(entry)
        try:
            self.check_auth()
            match = re.fullmatch(r"/v2beta/stable-image/generate/(ultra|core|sd3)", self.path.split("?")[0])
            if not match:
                raise ApiError(404, "not_found", [f"path: POST {self.path} does not exist"])
            if len(body) > MAX_BODY:
                raise ApiError(413, "payload_too_large", ["body: payloads cannot be larger than 10MiB in size"])
            accept = self.headers.get("accept", "image/*")
            if accept not in ("image/*", "application/json"):
                raise bad("accept: must be image/* or application/json")
            form = parse_form(body, self.headers.get("content-type", ""))
            entry["form"] = [{"name": n, "filename": f, "content_type": c, "size": len(d),
                              "value": d.decode("utf-8", "replace")[:200] if f is None else None} for n, f, c, d in form]
            fields, image = validate(match.group(1), form)
            self.answer(fields, image, accept)
        except ApiError as e:
            self.send_json(e.status, e.body(), e.headers)

    def check_auth(self):
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, "unauthorized", ["authorization: missing or malformed Bearer API key"])
        if auth[7:].strip() != self.server.key:
            raise ApiError(401, "unauthorized", ["authorization: invalid API key"])

    def scripted(self, prompt: str):
        if "[fake:moderation]" in prompt:
            raise ApiError(403, "content_moderation", [
                "Your request was flagged by our content moderation system, as a result your request was denied "
                "and you were not charged."])
        once = re.search(r"\[fake:rate_limit_once=([0-9.]+)\]", prompt)
        if once:
            with self.server.lock:
                seen = self.server.seen_prompts.get(prompt, 0)
                self.server.seen_prompts[prompt] = seen + 1
            if seen == 0:
                raise ApiError(429, "rate_limit_exceeded", ["You have exceeded the rate limit of 150 requests "
                               "within a 10 second period."], {"retry-after": once.group(1)})
        limited = re.search(r"\[fake:rate_limit(?:=([0-9.]+))?\]", prompt)
        if limited:
            headers = {"retry-after": limited.group(1)} if limited.group(1) else {}
            raise ApiError(429, "rate_limit_exceeded", ["You have exceeded the rate limit of 150 requests within "
                           "a 10 second period, and have been timed out for 60 seconds."], headers)
        rejected = re.search(r"\[fake:reject=([a-z_]+)\]", prompt)
        if rejected:
            raise bad(f"{rejected.group(1)}: rejected by the fake for this test")
        if "[fake:language]" in prompt:
            raise ApiError(422, "invalid_language", ["English is the only supported language for this service."])
        if "[fake:no_credits]" in prompt:
            raise ApiError(402, "payment_required", ["You lack sufficient credits to make this request. Please "
                           "purchase more credits at https://platform.stability.ai/account/credits and try again."])
        if "[fake:server_error]" in prompt:
            raise ApiError(500, "internal_error", ["An unexpected server error has occurred, please try again later."])
        if "[fake:echo_auth]" in prompt:
            raise bad("authorization: the fake received " + self.headers.get("authorization", ""))

    def answer(self, fields: dict, image: bytes | None, accept: str):
        prompt = fields["prompt"]
        self.scripted(prompt)
        if "[fake:garbage]" in prompt:
            return self.send(200, b"<html><head><title>502 upstream hiccup</title></head></html>", "text/html")
        seed = int(fields.get("seed", "0")) or (zlib.crc32(prompt.encode()) % MAX_SEED) + 1
        size = png_size(image) if image is not None else None
        width, height = size or ASPECT_SIZES[fields.get("aspect_ratio", "1:1")]
        filtered = "[fake:filtered]" in prompt
        png = grey_png(width, height) if filtered else make_png(width, height, f"{seed}:{prompt}")
        reason = "CONTENT_FILTERED" if filtered else "SUCCESS"
        if accept == "application/json":
            body = json.dumps({"image": base64.b64encode(png).decode(), "finish_reason": reason, "seed": seed}).encode()
            return self.send(200, body, "application/json; type=image/png")
        self.send(200, png, "image/png", {"finish-reason": reason, "seed": str(seed)})


def start(key: str = "sk-test", port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = FakeStability((host, port), key, verbose)
    serve_in_thread(server, "stability-fake")
    return server, server.base_url


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="sk-test", help="the API key the fake accepts")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    server = FakeStability((args.host, args.port), args.key, args.verbose)
    serve_in_foreground(server, server.base_url)


if __name__ == "__main__":
    main()
