#!/usr/bin/env python3
"""A local fake of the Gemini API's native image generation (docs/providers/gemini.md), stdlib only.

Serves, under /v1beta and /v1:
  POST /{ver}/models/{model}:generateContent   JSON (camelCase or snake_case)
  GET  /{ver}/models                           {"models": [...]} (names, no image capabilities)
  GET  /{ver}/models/{model}                   one model
and for tests:
  GET  /__fake/requests   JSON list of every API request seen:
                          {method, path, headers (lower-case names), body_len, json}
  POST /__fake/reset      forget the recorded requests

Auth: `x-goog-api-key: <key>` (or `?key=<key>`). A wrong key gets Google's real answer,
HTTP **400** INVALID_ARGUMENT with an ErrorInfo detail `reason: API_KEY_INVALID`; no key
gets 403 PERMISSION_DENIED.

Answers carry real PNGs sized from imageConfig (aspectRatio x imageSize; 1K by default;
without aspectRatio an edit takes the offered ratio nearest the first input PNG's shape). Gemini 3 models first
send a `thought: true` text part and a 64x64 `thought: true` interim image, then the
final image with a `thoughtSignature`: clients must skip thought parts.

Scripted outcomes: put a marker in the prompt text.
  [fake:block_reason]   200, no candidates, promptFeedback.blockReason PROHIBITED_CONTENT
  [fake:image_safety]   200, candidate without content, finishReason IMAGE_SAFETY + finishMessage
  [fake:no_image]       200, candidate with a text part only, finishReason NO_IMAGE
  [fake:text_only]      200, candidate with a text part only, finishReason STOP
  [fake:validation]     400 INVALID_ARGUMENT with a google.rpc.BadRequest fieldViolation on
                        generation_config.image_config.aspect_ratio
  [fake:rate_limit]     429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo retryDelay "1s";
                        [fake:rate_limit=N] gives retryDelay "Ns" (e.g. =12 as in Google's answers)
  [fake:permission]     403 PERMISSION_DENIED
  [fake:location]       400 FAILED_PRECONDITION "User location is not supported for the API use."
  [fake:server_error]   500 INTERNAL
  [fake:overloaded]     503 UNAVAILABLE "The model is overloaded. Please try again later."
  [fake:garbage]        200 with a body that is not JSON
  [fake:echo_auth]      the model's text parts echo the x-goog-api-key header (combine with
                        [fake:no_image] to see, in the error, that the plugin got it redacted)
Real validation also applies: unknown JSON fields, aspect ratios and image sizes per model
(upper-case K only), candidateCount > 1, int32 seeds, inline image MIME types and base64,
unknown models and Imagen ids (404 NOT_FOUND). Retired Gemini ids are still accepted.

CLI:    python3 gemini_fake.py --port 0 --key test-key
        prints `LISTENING http://127.0.0.1:<port>` and serves until killed.
Import: server, base_url = start(key="test-key"); ...; server.shutdown()
        (server.requests is the recorded list; server.reset() clears it).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import re
import threading
import uuid
import zlib
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakekit import FakeHandler, make_png, png_size, serve_in_foreground, serve_in_thread

RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
RATIOS_31 = RATIOS + ["1:4", "4:1", "1:8", "8:1"]
# model id -> (aspect ratios, image sizes (None = field not supported), gemini 3 "thinking")
MODELS = {
    "gemini-3.1-flash-image": (RATIOS_31, ["512", "1K", "2K", "4K"], True),
    "gemini-3.1-flash-image-preview": (RATIOS_31, ["512", "1K", "2K", "4K"], True),
    "gemini-3.1-flash-lite-image": (RATIOS_31, ["512", "1K", "2K", "4K"], True),
    "gemini-nano-banana-2.1": (RATIOS_31, ["512", "1K", "2K", "4K"], True),
    "gemini-3-pro-image": (RATIOS, ["1K", "2K", "4K"], True),
    "gemini-3-pro-image-preview": (RATIOS, ["1K", "2K", "4K"], True),
    "nano-banana-pro-preview": (RATIOS, ["1K", "2K", "4K"], True),
    "gemini-2.5-flash-image": (RATIOS, None, False),
    "gemini-2.5-flash-image-preview": (RATIOS, None, False),
}
# 1K output sizes per aspect ratio (Google's docs table); other tiers scale it.
SIZES_1K = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
            "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
            "16:9": (1344, 768), "21:9": (1536, 672)}
TIER_SCALE = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}
TOP_FIELDS = {"contents", "generationConfig", "safetySettings", "systemInstruction", "tools", "toolConfig",
              "cachedContent", "labels"}
GEN_FIELDS = {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "seed",
              "responseModalities", "imageConfig", "responseMimeType", "responseSchema", "responseJsonSchema",
              "presencePenalty", "frequencyPenalty", "thinkingConfig", "mediaResolution", "responseLogprobs",
              "logprobs", "speechConfig"}
IMAGE_FIELDS = {"aspectRatio", "imageSize"}
INPUT_MIMES = {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def normalize(value):
    """Recursively turn snake_case keys into camelCase (the proto-JSON parser accepts both)."""
    if isinstance(value, dict):
        return {camel(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


# ---------------------------------------------------------------- PNG helpers

def output_size(ratio: str | None, tier: str | None, first_input: bytes | None, ratios=RATIOS):
    """Pixels for ratio x tier; without a ratio, the offered ratio nearest the first input PNG."""
    scale = TIER_SCALE.get(tier or "1K", 1)
    if ratio is None and first_input is not None and png_size(first_input):
        w, h = png_size(first_input)
        ratio = min(ratios, key=lambda r: abs(math.log((w / h) / (int(r.split(":")[0]) / int(r.split(":")[1])))))
    if ratio in SIZES_1K:
        w, h = SIZES_1K[ratio]
        return int(w * scale), int(h * scale)
    rw, rh = (int(v) for v in (ratio or "1:1").split(":"))
    r = rw / rh
    w = int(round(math.sqrt(1024 * 1024 * r) * scale / 16)) * 16
    h = int(round(math.sqrt(1024 * 1024 / r) * scale / 16)) * 16
    return max(16, w), max(16, h)


# ---------------------------------------------------------------- errors

class RpcError(Exception):
    def __init__(self, code: int, status: str, message: str, details=None):
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details or []

    def body(self):
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def bad_request(message: str, field: str | None = None):
    details = []
    if field is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})
    return RpcError(400, "INVALID_ARGUMENT", message, details)


def scripted(prompt: str):
    if "[fake:validation]" in prompt:
        raise bad_request("Invalid value at 'generation_config.image_config.aspect_ratio': unsupported aspect "
                          "ratio for this model.", "generation_config.image_config.aspect_ratio")
    limited = re.search(r"\[fake:rate_limit(?:=([0-9.]+))?\]", prompt)
    if limited:
        raise RpcError(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                       "billing details. For more information on this error, head to: "
                       "https://ai.google.dev/gemini-api/docs/rate-limits.", [
                           {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                               "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                               "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                               "quotaDimensions": {"location": "global", "model": "gemini-3.1-flash-image"},
                               "quotaValue": "10"}]},
                           {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                               "description": "Learn more about Gemini API quotas",
                               "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": (limited.group(1) or "1") + "s"}])
    if "[fake:permission]" in prompt:
        raise RpcError(403, "PERMISSION_DENIED", "The caller does not have permission")
    if "[fake:location]" in prompt:
        raise RpcError(400, "FAILED_PRECONDITION", "User location is not supported for the API use.")
    if "[fake:server_error]" in prompt:
        raise RpcError(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                       "https://developers.generativeai.google/guide/troubleshooting")
    if "[fake:overloaded]" in prompt:
        raise RpcError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


# ---------------------------------------------------------------- server

class FakeGemini(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, key: str, verbose: bool = False):
        super().__init__(address, Handler)
        self.key = key
        self.verbose = verbose
        self.requests: list = []
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
    log_prefix = "gemini_fake"

    def headers_for_every_response(self) -> dict:
        return {"vary": "Origin, X-Origin, Referer"}
    server: FakeGemini

    def send_json(self, status: int, value):
        self.send(status, json.dumps(value).encode(), "application/json; charset=UTF-8")

    def record(self, body: bytes, parsed=None):
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body_len": len(body)}
        if parsed is not None:
            entry["json"] = parsed
        with self.server.lock:
            self.server.requests.append(entry)

    def check_key(self):
        query = parse_qs(urlsplit(self.path).query)
        key = self.headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
        if not key:
            raise RpcError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                           "established identity). Please use API Key or other form of API consumer identity to "
                           "call this API.")
        if key != self.server.key:
            raise RpcError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}])

    def route(self):
        """(version, model, method) of an API path, or None."""
        match = re.fullmatch(r"/(v1beta|v1)/models(?:/([^:/?]+))?(?::([A-Za-z]+))?", urlsplit(self.path).path)
        return match.groups() if match else None

    def do_GET(self):
        if self.path == "/__fake/requests":
            with self.server.lock:
                return self.send_json(200, list(self.server.requests))
        self.record(b"")
        try:
            route = self.route()
            if route is None or route[2] is not None:
                raise RpcError(404, "NOT_FOUND", f"Requested entity was not found.")
            self.check_key()
            version, model, _ = route
            entries = [{"name": f"models/{m}", "version": "001", "displayName": m, "description": "image model",
                        "inputTokenLimit": 65536, "outputTokenLimit": 32768,
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2} for m in MODELS]
            if model is None:
                return self.send_json(200, {"models": entries})
            found = [e for e in entries if e["name"] == f"models/{model}"]
            if not found:
                raise RpcError(404, "NOT_FOUND", f"models/{model} is not found for API version {version}.")
            self.send_json(200, found[0])
        except RpcError as e:
            self.send_json(e.code, e.body())

    def do_POST(self):
        body = self.read_body()
        if self.path == "/__fake/reset":
            self.server.reset()
            return self.send_json(200, {"ok": True})
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.record(body, parsed)
        try:
            route = self.route()
            if route is None or route[1] is None or route[2] is None:
                raise RpcError(404, "NOT_FOUND", "Requested entity was not found.")
            self.check_key()
            version, model, method = route
            if method != "generateContent":
                raise RpcError(404, "NOT_FOUND", f"models/{model} is not found for API version {version}, or is "
                               f"not supported for {method}. Call ListModels to see the list of available models "
                               "and their supported methods.")
            if model not in MODELS:
                raise RpcError(404, "NOT_FOUND", f"models/{model} is not found for API version {version}, or is "
                               "not supported for generateContent. Call ListModels to see the list of available "
                               "models and their supported methods.")
            if not isinstance(parsed, dict):
                raise bad_request("Invalid JSON payload received. Expected an object.")
            answer = self.generate(model, parsed)
            if answer == "garbage":
                return self.send(200, b"<html>proxy error</html>", "text/html")
            self.send_json(200, answer)
        except RpcError as e:
            self.send_json(e.code, e.body())

    def generate(self, model: str, raw: dict):
        req = normalize(raw)
        for name in req:
            if name not in TOP_FIELDS:
                raise bad_request(f'Invalid JSON payload received. Unknown name "{snake(name)}": Cannot find field.',
                                  None)
        config = req.get("generationConfig") or {}
        for name in config:
            if name not in GEN_FIELDS:
                raise bad_request(f'Invalid JSON payload received. Unknown name "{snake(name)}" at '
                                  f"'generation_config': Cannot find field.", "generation_config")
        image_config = config.get("imageConfig") or {}
        for name in image_config:
            if name not in IMAGE_FIELDS:
                raise bad_request(f'Invalid JSON payload received. Unknown name "{snake(name)}" at '
                                  f"'generation_config.image_config': Cannot find field.",
                                  "generation_config.image_config")
        texts, images = [], []
        contents = req.get("contents")
        if not isinstance(contents, list) or not contents:
            raise bad_request("* GenerateContentRequest.contents: contents is not specified", "contents")
        for ci, content in enumerate(contents):
            for pi, part in enumerate(content.get("parts") or []):
                if "text" in part:
                    texts.append(part["text"])
                elif "inlineData" in part:
                    inline = part["inlineData"]
                    mime = inline.get("mimeType", "")
                    if mime not in INPUT_MIMES:
                        raise bad_request(f"Unsupported MIME type: {mime}",
                                          f"contents[{ci}].parts[{pi}].inline_data.mime_type")
                    try:
                        images.append(base64.b64decode(inline.get("data", ""), validate=True))
                    except (binascii.Error, ValueError):
                        raise bad_request(f"Invalid value at 'contents[{ci}].parts[{pi}].inline_data.data' "
                                          "(TYPE_BYTES), Base64 decoding failed",
                                          f"contents[{ci}].parts[{pi}].inline_data.data")
        prompt = " ".join(texts)
        if not prompt.strip() and not images:
            raise bad_request("* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.",
                              "contents[0].parts")
        scripted(prompt)
        ratios, sizes, thinking = MODELS[model]
        modalities = config.get("responseModalities", ["TEXT"])
        for i, m in enumerate(modalities):
            if m not in ("TEXT", "IMAGE", "AUDIO"):
                raise bad_request(f"Invalid value at 'generation_config.response_modalities[{i}]' (type.googleapis"
                                  f".com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality), \"{m}\"",
                                  f"generation_config.response_modalities[{i}]")
        if config.get("candidateCount", 1) != 1:
            raise bad_request("Multiple candidates is not enabled for models/" + model, None)
        seed = config.get("seed")
        if seed is not None and (not isinstance(seed, int) or not -2**31 <= seed < 2**31):
            raise bad_request(f"Invalid value at 'generation_config.seed' (TYPE_INT32), {seed}",
                              "generation_config.seed")
        ratio = image_config.get("aspectRatio")
        if ratio is not None and ratio not in ratios:
            raise bad_request(f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(ratios)}.",
                              "generation_config.image_config.aspect_ratio")
        tier = image_config.get("imageSize")
        if tier is not None and (sizes is None or tier not in sizes):
            raise bad_request(f"Unsupported image size: {tier}." + (
                f" Supported: {', '.join(sizes)}." if sizes else " This model does not support image_size."),
                "generation_config.image_config.image_size")
        if "[fake:garbage]" in prompt:
            return "garbage"
        echo = ""
        if "[fake:echo_auth]" in prompt:
            echo = " (x-goog-api-key was " + (self.headers.get("x-goog-api-key") or "") + ")"
        usage = {"promptTokenCount": 9 + 258 * len(images), "totalTokenCount": 9 + 258 * len(images)}
        base = {"modelVersion": model, "responseId": uuid.uuid4().hex[:20]}
        if "[fake:block_reason]" in prompt:
            return {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage, **base}
        if "[fake:image_safety]" in prompt:
            return {"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0,
                                    "finishMessage": "Unable to show the generated image. The image was filtered out "
                                    "because it violated Google's Generative AI Prohibited Use policy."}],
                    "usageMetadata": usage, **base}
        if "[fake:no_image]" in prompt:
            return {"candidates": [{"content": {"role": "model", "parts": [
                {"text": "I can describe a fox for you, but could you tell me more about the scene?" + echo}]},
                "finishReason": "NO_IMAGE", "index": 0}], "usageMetadata": usage, **base}
        if "[fake:text_only]" in prompt or "IMAGE" not in modalities:
            return {"candidates": [{"content": {"role": "model", "parts": [{"text": "Here is a description."}]},
                                    "finishReason": "STOP", "index": 0}], "usageMetadata": usage, **base}
        w, h = output_size(ratio, tier, images[0] if images else None, ratios)
        seed_value = zlib.crc32(prompt.encode()) ^ (seed or 0) ^ (zlib.crc32(images[0]) if images else 0)
        final = base64.b64encode(make_png(w, h, seed_value)).decode()
        parts = []
        if thinking:
            parts.append({"text": "**Composing the scene**\n\nPlanning layout and palette.", "thought": True})
            parts.append({"inlineData": {"mimeType": "image/png",
                                         "data": base64.b64encode(make_png(64, 64, 7)).decode()}, "thought": True})
        if "TEXT" in modalities:
            parts.append({"text": "Here is the image you asked for." + echo})
        parts.append({"inlineData": {"mimeType": "image/png", "data": final},
                      **({"thoughtSignature": base64.b64encode(uuid.uuid4().bytes).decode()} if thinking else {})})
        usage.update({"candidatesTokenCount": 1290, "totalTokenCount": usage["promptTokenCount"] + 1290,
                      "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]})
        return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, **base}


def start(key: str = "test-key", port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = FakeGemini((host, port), key, verbose)
    serve_in_thread(server, "gemini-fake")
    return server, server.base_url


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the API key the fake accepts")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    server = FakeGemini((args.host, args.port), args.key, args.verbose)
    serve_in_foreground(server, server.base_url)


if __name__ == "__main__":
    main()
