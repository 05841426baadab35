#!/usr/bin/env python3
"""A local fake of the OpenAI Images API (docs/providers/openai.md), standard library only.

Serves, under /v1:
  POST /v1/images/generations   JSON body (model, prompt, n, size, quality, ...)
  POST /v1/images/edits         multipart/form-data: image[] (or image), mask, prompt, ...
  GET  /v1/models               {"object":"list","data":[{"id":...,"object":"model",...}]}
  GET  /files/<name>.png        images handed out as URLs (dall-e `response_format=url`)
and for tests:
  GET  /__fake/requests         JSON list of every API request seen:
                                {method, path, headers, body_len, json (JSON bodies),
                                 form (multipart: [{name, filename, content_type, size}])}
  POST /__fake/reset            forget the recorded requests

Auth is `Authorization: Bearer <key>`. A missing or wrong key gets OpenAI's real 401
envelope (`invalid_api_key`). Images are real PNGs of the requested size (or
1024x1024 for `auto`); they are PNG even when `output_format` asks for jpeg/webp
(the body still echoes `output_format`).

Scripted outcomes: put a marker in the prompt text.
  [fake:moderation]      400 moderation_blocked (type image_generation_user_error),
                         with moderation_details {moderation_stage, categories}
  [fake:content_policy]  400 content_policy_violation (the dall-e-3 form)
  [fake:validation]      400 invalid_request_error, param "size", code invalid_value
  [fake:not_found]       404 model_not_found
  [fake:rate_limit]      429 rate_limit_exceeded with header `retry-after: 1` (seconds);
                         [fake:rate_limit=N] sends `retry-after: N`
  [fake:rate_limit_ms]   429 rate_limit_exceeded with header `retry-after-ms: 300`
  [fake:quota]           429 insufficient_quota
  [fake:server_error]    500 server_error
  [fake:overloaded]      503 "The engine is currently overloaded"
  [fake:garbage]         200 with a body that is not JSON
  [fake:revised_prompt]  every data[] item carries a revised_prompt
  [fake:echo_auth]       every data[] item's revised_prompt echoes the Authorization header
                         (to show that what reaches the plugin has the key redacted)
Real validation also applies: unknown parameters, sizes per model, n, quality,
output_format, image formats, mask format and size, input_fidelity per model.

CLI:    python3 openai_fake.py --port 0 --key sk-test
        prints `LISTENING http://127.0.0.1:<port>` and serves until killed.
Import: server, base_url = start(key="sk-test"); ...; server.shutdown()
        (server.requests is the recorded list; server.reset() clears it).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import time
import uuid
import zlib
from http.server import ThreadingHTTPServer

from fakekit import FakeHandler, make_png, png_size, serve_in_foreground, serve_in_thread

FIXED_SIZES = ["1024x1024", "1536x1024", "1024x1536"]
GPT_FIXED = {"gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest"}
GPT_FREE = {
    "gpt-image-2", "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst", "gpt-image-2.5-flare",
    "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst", "gpt-image-2.6-flare",
}
DALLE = {"dall-e-2", "dall-e-3"}
ALL_MODELS = sorted(GPT_FIXED | GPT_FREE | DALLE)
NO_INPUT_FIDELITY = {"gpt-image-1-mini", "gpt-image-2", "gpt-image-2-2026-04-21"}

GEN_FIELDS = {"model", "prompt", "n", "size", "quality", "background", "output_format",
              "output_compression", "moderation", "response_format", "style", "stream",
              "partial_images", "user", "safety_identifier"}
EDIT_FIELDS = {"model", "prompt", "n", "size", "quality", "background", "output_format",
               "output_compression", "input_fidelity", "stream", "partial_images",
               "response_format", "user", "markup", "image", "image[]", "mask"}


# ---------------------------------------------------------------- image helpers

def sniff(data: bytes):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


# ---------------------------------------------------------------- multipart

def parse_multipart(body: bytes, content_type: str):
    """[(name, filename or None, content_type or None, data)] of a multipart body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not match:
        return None
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="((?:[^"\\]|\\.)*)"', disposition)
        filename = re.search(r'\bfilename="((?:[^"\\]|\\.)*)"', disposition)
        parts.append((name.group(1) if name else "", filename.group(1) if filename else None,
                      headers.get("content-type"), data))
    return parts


# ---------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, status, message, kind="invalid_request_error", param=None, code=None,
                 headers=None, extra=None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self):
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}


def invalid(param, message, code="invalid_value"):
    return ApiError(400, message, param=param, code=code)


def scripted(prompt: str):
    """Raise the outcome a [fake:...] marker in the prompt asks for."""
    if "[fake:moderation]" in prompt:
        raise ApiError(400, "Your request was rejected by the safety system. If you believe this is an error, "
                       "contact us at help.openai.com and include the request ID req_fake. safety_violations=[violence].",
                       kind="image_generation_user_error", code="moderation_blocked",
                       extra={"moderation_details": {"moderation_stage": "input", "categories": ["violence"]}})
    if "[fake:content_policy]" in prompt:
        raise ApiError(400, "Your request was rejected as a result of our safety system. Your prompt may contain "
                       "text that is not allowed by our safety system.", code="content_policy_violation")
    if "[fake:validation]" in prompt:
        raise invalid("size", "Invalid value: '999x999'. Supported values are: '1024x1024', '1024x1536', "
                      "'1536x1024', and 'auto'.")
    if "[fake:not_found]" in prompt:
        raise ApiError(404, "The model `gpt-image-x` does not exist or you do not have access to it.",
                       code="model_not_found")
    if "[fake:rate_limit_ms]" in prompt:
        raise ApiError(429, "Rate limit reached for gpt-image-1.5 in organization org-fake on images per minute "
                       "(IPM): Limit 5, Used 5, Requested 1.", kind="requests", code="rate_limit_exceeded",
                       headers={"retry-after-ms": "300"})
    limited = re.search(r"\[fake:rate_limit(?:=([0-9.]+))?\]", prompt)
    if limited:
        after = limited.group(1) or "1"
        raise ApiError(429, "Rate limit reached for gpt-image-1.5 in organization org-fake on images per minute "
                       f"(IPM): Limit 5, Used 5, Requested 1. Please try again in {after}s.", kind="requests",
                       code="rate_limit_exceeded", headers={"retry-after": after})
    if "[fake:quota]" in prompt:
        raise ApiError(429, "You exceeded your current quota, please check your plan and billing details.",
                       kind="insufficient_quota", code="insufficient_quota")
    if "[fake:server_error]" in prompt:
        raise ApiError(500, "The server had an error processing your request. Sorry about that! You can retry "
                       "your request, or contact us through our help center at help.openai.com if you keep "
                       "seeing this error.", kind="server_error")
    if "[fake:overloaded]" in prompt:
        raise ApiError(503, "The engine is currently overloaded, please try again later", kind="server_error")


# ---------------------------------------------------------------- validation

def parse_size(model: str, size, edit: bool):
    """(width, height) to render, validating `size` per model (docs/providers/openai.md#generations, #edits)."""
    if size in (None, "", "auto"):
        if model in DALLE and size == "auto":
            raise invalid("size", f"Invalid value: 'auto'. Supported values are: {', '.join(dalle_sizes(model))}.")
        return (1024, 1024)
    if not isinstance(size, str) or not re.fullmatch(r"\d+x\d+", size):
        raise invalid("size", f"Invalid value: '{size}'. Expected WIDTHxHEIGHT or 'auto'.")
    w, h = (int(v) for v in size.split("x"))
    if model in DALLE:
        allowed = dalle_sizes(model)
    elif model in GPT_FREE and not edit:
        if w % 16 or h % 16:
            raise invalid("size", f"Invalid value: '{size}'. Width and height must be multiples of 16.")
        if w > 3 * h or h > 3 * w:
            raise invalid("size", f"Invalid value: '{size}'. The aspect ratio must be between 1:3 and 3:1.")
        if w * h > 3840 * 2160 or max(w, h) > 3840:
            raise invalid("size", f"Invalid value: '{size}'. The image may have at most 3840x2160 pixels.")
        return (w, h)
    elif model in GPT_FREE:
        if w % 16 or h % 16 or w * h > 3840 * 2160:
            raise invalid("size", f"Invalid value: '{size}'.")
        return (w, h)
    else:
        allowed = FIXED_SIZES
    if size not in allowed:
        raise invalid("size", f"Invalid value: '{size}'. Supported values are: "
                      + ", ".join(f"'{s}'" for s in allowed) + ", and 'auto'.")
    return (w, h)


def dalle_sizes(model):
    return ["1024x1024", "1792x1024", "1024x1792"] if model == "dall-e-3" else ["256x256", "512x512", "1024x1024"]


def check_common(fields: dict, model: str, allowed_fields: set, edit: bool):
    for name in fields:
        if name not in allowed_fields:
            raise invalid(name, f"Unknown parameter: '{name}'.", code="unknown_parameter")
    if model not in ALL_MODELS:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                       code="model_not_found")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("prompt", "Missing required parameter: 'prompt'.", code="missing_required_parameter")
    limit = 32000 if model not in DALLE else (4000 if model == "dall-e-3" else 1000)
    if len(prompt) > limit:
        raise invalid("prompt", f"Invalid 'prompt': string too long. Expected a string with maximum length "
                      f"{limit}, but got a string with length {len(prompt)} instead.", code="string_above_max_length")
    try:
        n = int(fields.get("n", 1))
    except (TypeError, ValueError):
        raise invalid("n", f"Invalid value for 'n': expected an integer.", code="invalid_type")
    max_n = 1 if model == "dall-e-3" else 10
    if not 1 <= n <= max_n:
        raise invalid("n", f"Invalid 'n': integer {'below minimum' if n < 1 else 'above maximum'} value. "
                      f"Expected a value between 1 and {max_n}, but got {n} instead.", code="integer_out_of_range")
    gpt = model not in DALLE
    for name in ("response_format", "style"):
        if gpt and name in fields:
            raise invalid(name, f"Unknown parameter: '{name}'.", code="unknown_parameter")
    if not gpt:
        for name in ("background", "output_format", "output_compression", "moderation", "input_fidelity"):
            if name in fields:
                raise invalid(name, f"Unknown parameter: '{name}'.", code="unknown_parameter")
    quality = fields.get("quality")
    if quality is not None:
        allowed = {"dall-e-3": {"standard", "hd"}, "dall-e-2": {"standard"}}.get(
            model, {"low", "medium", "high", "auto"} | ({"xhigh", "max"} if "2.5" in model or "2.6" in model else set()))
        if quality not in allowed:
            raise invalid("quality", f"Invalid value: '{quality}'. Supported values are: {', '.join(sorted(allowed))}.")
    fmt = fields.get("output_format", "png")
    if fmt not in ("png", "jpeg", "webp", "gif", "svg"):
        raise invalid("output_format", f"Invalid value: '{fmt}'. Supported values are: 'png', 'jpeg' and 'webp'.")
    if fields.get("background") == "transparent" and fmt not in ("png", "webp"):
        raise invalid("background", "Transparent background requires output_format png or webp.")
    if fields.get("background") not in (None, "transparent", "opaque", "auto"):
        raise invalid("background", f"Invalid value: '{fields['background']}'.")
    if "input_fidelity" in fields:
        if model in NO_INPUT_FIDELITY:
            raise invalid("input_fidelity", f"input_fidelity is not supported for model {model}.",
                          code="unsupported_parameter")
        if fields["input_fidelity"] not in ("high", "low"):
            raise invalid("input_fidelity", f"Invalid value: '{fields['input_fidelity']}'.")
    return n, parse_size(model, fields.get("size"), edit)


# ---------------------------------------------------------------- server

class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, key: str, verbose: bool = False):
        super().__init__(address, Handler)
        self.key = key
        self.verbose = verbose
        self.requests: list = []
        self.files: dict = {}
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self):
        with self.lock:
            self.requests.clear()


class Handler(FakeHandler):
    protocol_version = "HTTP/1.1"
    log_prefix = "openai_fake"

    def headers_for_every_response(self) -> dict:
        return {"x-request-id": "req_" + uuid.uuid4().hex[:24], "openai-processing-ms": "42"}
    server: FakeOpenAI

    # -- plumbing

    def record(self, body: bytes, parsed_json=None, form=None):
        entry = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body_len": len(body)}
        if parsed_json is not None:
            entry["json"] = parsed_json
        if form is not None:
            entry["form"] = [{"name": n, "filename": f, "content_type": c, "size": len(d)} for n, f, c, d in form]
        with self.server.lock:
            self.server.requests.append(entry)

    def check_auth(self):
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                           "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the "
                           "password field (with blank username) if you're accessing the API from your browser and "
                           "are prompted for a username and password. You can obtain an API key from "
                           "https://platform.openai.com/account/api-keys.")
        given = auth[7:].strip()
        if given != self.server.key:
            masked = given[:3] + "*" * max(0, len(given) - 7) + given[-4:] if len(given) > 8 else "*" * len(given)
            raise ApiError(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                           "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    # -- routes

    def do_GET(self):
        if self.path == "/__fake/requests":
            with self.server.lock:
                return self.send_json(200, list(self.server.requests))
        if self.path.startswith("/files/"):
            data = self.server.files.get(self.path[len("/files/"):])
            if data is None:
                return self.send(404, b"not found", "text/plain")
            return self.send(200, data, "image/png")
        self.record(b"")
        try:
            if self.path.split("?")[0] in ("/v1/models", "/v1/models/"):
                self.check_auth()
                return self.send_json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 1765843200, "owned_by": "system"} for m in ALL_MODELS]})
            raise ApiError(404, f"Invalid URL (GET {self.path})")
        except ApiError as e:
            self.send_json(e.status, e.body(), e.headers)

    def do_POST(self):
        body = self.read_body()
        if self.path == "/__fake/reset":
            self.server.reset()
            return self.send_json(200, {"ok": True})
        path = self.path.split("?")[0]
        content_type = self.headers.get("content-type", "")
        parsed, form = None, None
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(body or b"null")
            except ValueError:
                parsed = None
        elif content_type.startswith("multipart/form-data"):
            form = parse_multipart(body, content_type)
        self.record(body, parsed, form)
        try:
            self.check_auth()
            if path == "/v1/images/generations":
                result = self.generations(parsed, content_type)
            elif path == "/v1/images/edits":
                result = self.edits(form)
            else:
                raise ApiError(404, f"Invalid URL (POST {self.path})")
            if result == "garbage":
                return self.send(200, b"<html>upstream proxy hiccup</html>", "text/html")
            self.send_json(200, result)
        except ApiError as e:
            self.send_json(e.status, e.body(), e.headers)

    # -- endpoints

    def generations(self, fields, content_type):
        if not content_type.startswith("application/json") or not isinstance(fields, dict):
            raise ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                           "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
        model = fields.get("model", "dall-e-2")
        prompt = fields.get("prompt") if isinstance(fields.get("prompt"), str) else ""
        scripted(prompt)
        n, (w, h) = check_common(fields, model, GEN_FIELDS, edit=False)
        if "[fake:garbage]" in prompt:
            return "garbage"
        return self.result(model, prompt, fields, n, w, h)

    def edits(self, form):
        if form is None:
            raise ApiError(400, "Invalid Content-Type header (expected multipart/form-data).")
        fields, images, mask = {}, [], None
        for name, filename, ctype, data in form:
            if name in ("image", "image[]"):
                images.append((filename, ctype, data))
            elif name == "mask":
                mask = (filename, ctype, data)
            else:
                fields[name] = data.decode("utf-8", "replace")
        model = fields.get("model", "gpt-image-1.5")
        prompt = fields.get("prompt", "")
        scripted(prompt)
        n, (w, h) = check_common(fields, model, EDIT_FIELDS, edit=True)
        if not images:
            raise invalid("image", "Missing required parameter: 'image'.", code="missing_required_parameter")
        limit = 1 if model == "dall-e-2" else 16
        if len(images) > limit:
            raise invalid("image", f"Too many images: at most {limit} may be given, got {len(images)}.")
        for index, (_, _, data) in enumerate(images):
            kind = sniff(data)
            if kind is None or (model == "dall-e-2" and kind != "png"):
                raise invalid("image", f"Invalid image file or mode for image {index + 1}, please check your "
                              "image file.", code="invalid_image_format")
        if mask is not None:
            if sniff(mask[2]) != "png":
                raise invalid("mask", "Invalid mask image format - mask must be a PNG.", code="invalid_image_format")
            first = png_size(images[0][2])
            if first is not None and png_size(mask[2]) != first:
                raise invalid("mask", "Invalid mask image format - mask size does not match image size.",
                              code="invalid_image_format")
        if "[fake:garbage]" in prompt:
            return "garbage"
        fields["_seed"] = zlib.crc32(images[0][2]) ^ zlib.crc32(prompt.encode())
        if fields.get("size") in (None, "", "auto"):
            first = png_size(images[0][2])
            if first is not None and first[0] <= 4096 and first[1] <= 4096:
                w, h = first
        return self.result(model, prompt, fields, n, w, h)

    def result(self, model, prompt, fields, n, w, h):
        seed = fields.get("_seed", zlib.crc32(prompt.encode()))
        revised = "[fake:revised_prompt]" in prompt or model == "dall-e-3"
        data = []
        for i in range(n):
            png = make_png(w, h, seed + i)
            item = {}
            if model in DALLE and fields.get("response_format", "url") == "url":
                name = f"img_{uuid.uuid4().hex[:12]}.png"
                self.server.files[name] = png
                item["url"] = f"{self.server.base_url}/files/{name}"
            else:
                item["b64_json"] = base64.b64encode(png).decode()
            if revised:
                item["revised_prompt"] = "A detailed rendering of: " + prompt
            if "[fake:echo_auth]" in prompt:
                item["revised_prompt"] = "echo: Authorization: " + self.headers.get("authorization", "")
            data.append(item)
        body = {"created": int(time.time()), "data": data}
        if model not in DALLE:
            tokens = 1056 * n
            body.update({
                "background": fields.get("background", "opaque") if fields.get("background") != "auto" else "opaque",
                "output_format": fields.get("output_format", "png"),
                "quality": fields.get("quality", "medium") if fields.get("quality") != "auto" else "medium",
                "size": f"{w}x{h}",
                "usage": {"input_tokens": 14, "input_tokens_details": {"text_tokens": 14, "image_tokens": 0},
                          "output_tokens": tokens,
                          "output_tokens_details": {"text_tokens": 0, "image_tokens": tokens},
                          "total_tokens": 14 + tokens},
            })
        return body


def start(key: str = "sk-test", port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = FakeOpenAI((host, port), key, verbose)
    serve_in_thread(server, "openai-fake")
    return server, server.base_url


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="sk-test", help="the API key the fake accepts")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    server = FakeOpenAI((args.host, args.port), args.key, args.verbose)
    serve_in_foreground(server, server.base_url)


if __name__ == "__main__":
    main()
