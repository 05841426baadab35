#!/usr/bin/env python3
"""A fake upstream that misbehaves on command, for testing how Easel's host and
its builtin plugins cope with faulty providers. Standard library only.

Run:    python3 tests/fakes/faulty_fake.py --port 0 --key test-key
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(key="test-key")     # serves in a daemon thread
        server.state.script("openai", "status", times=2, code=429, retry_after="0.5")
        ...; server.shutdown(); server.server_close()

Wire protocols imitated (just enough of each for a successful generation; see
docs/providers/openai.md, gemini.md, fal.md for the real thing). One server speaks all of them,
so a plugins.toml can point the builtin `openai`, `gemini` and `fal` plugins at it:
  stage "openai"      POST /v1/images/generations          OpenAI Images (docs/providers/openai.md): `Authorization:
                      Bearer <key>`; answers {"created", "data": [{"b64_json"}]}, or
                      [{"url"}] pointing at /files/ after set_options(openai_output="url")
  stage "gemini"      POST /v1beta/models/{m}:generateContent  Gemini (docs/providers/gemini.md): `x-goog-api-key`;
                      answers one candidate whose last part is an inlineData PNG
  stage "fal_submit"  POST /{endpoint_id}                   fal queue (docs/providers/fal.md): `Authorization: Key
                      <key>`; 200 {request_id, status_url, response_url, cancel_url, IN_QUEUE}
  stage "fal_status"  GET  /{owner}/{app}/requests/{id}/status   200 COMPLETED on the first
                      answered poll (so a test controls the poll count with faults alone)
  stage "fal_result"  GET  /{owner}/{app}/requests/{id}     {"images": [{url, width, height,
                      content_type}], "seed"}
  stage "fal_cancel"  PUT  /{owner}/{app}/requests/{id}/cancel   202 CANCELLATION_REQUESTED
  stage "file"        GET  /files/{name}                    output images (the CDN: no auth)
A wrong or missing key gets each protocol's 401. Images are small real PNGs (32x24).

Choosing faults. Faults are rules, matched by stage in the order they were added; each
request of that stage takes the first rule with attempts left (`times`; None = every
request) and gets that fault instead of the normal answer. With no rule left, it is
answered normally. Set rules from Python (server.state.script / clear / set_options)
or over HTTP (no auth):
  POST   /__fake/faults    {"stage": "fal_status", "fault": "status", "times": 2, "code": 503}
                           (or a list of such objects); answers the current rules
  DELETE /__fake/faults    removes every rule
  POST   /__fake/options   {"openai_output": "url" | "b64_json"}
  GET    /__fake/requests  every request: {stage, method, path, t (monotonic seconds),
                           headers (lower-case names), json, fault, sent, hung_up}
  DELETE /__fake/requests  forget them
Stage "*" matches every stage.

Faults (parameters in brackets, with defaults):
  status         an error in the stage's own format: OpenAI {"error": {...}}, Google RPC
                 {"error": {code, status, details}}, fal {"detail": ...}, plain text for files
                 [code=500, message=<typical text>, retry_after=<`retry-after` header>,
                 retry_delay=<Gemini google.rpc.RetryInfo retryDelay, e.g. "0.4s">]
  reset          reads the request, then closes the socket with a TCP RST, answering nothing
  drip           the normal answer with its full Content-Length, one byte every
                 [interval=1.0] seconds, until the client hangs up
  truncate       the normal answer's headers with its full Content-Length, half its body,
                 then close
  invalid_json   200 application/json whose body is cut-off JSON
  html           200 text/html: a login page where JSON or an image belongs
  huge           200 with a [mib=16] MiB body, streamed in 64 KiB chunks until the client
                 hangs up; Content-Length is declared only if [declared=false] is true
  redirect_loop  302 to the same path with ?hop=N+1, forever (on every matching request)
The fake notes what happened on each faulted request: `sent` (body bytes written) and
`hung_up` (true when the client closed the connection before the body was complete).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakekit import FakeHandler, make_png, serve_in_foreground, serve_in_thread

STAGES = ("openai", "gemini", "fal_submit", "fal_status", "fal_result", "fal_cancel", "file")
FAULTS = ("status", "reset", "drip", "truncate", "invalid_json", "html", "huge", "redirect_loop")

OPENAI_ERRORS = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    429: ("Rate limit reached for gpt-image-1.5 on images per minute. Please try again in 500ms.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
GOOGLE_ERRORS = {
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    404: ("NOT_FOUND", "models/x is not found for API version v1beta, or is not supported for generateContent."),
    429: ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
               "https://developers.generativeai.google/guide/troubleshooting"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}
FAL_ERRORS = {
    401: "Invalid authorization: the key is not valid",
    404: "Request not found",
    429: "Too many requests: concurrent request limit reached",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable, please retry",
}
REASONS = {401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}
LOGIN_PAGE = (b"<!doctype html><html><head><title>Sign in</title></head>"
              b"<body><h1>Please sign in to continue</h1><form action=\"/login\"></form></body></html>")


def stage_of(method: str, path: str) -> str:
    if method == "POST" and path == "/v1/images/generations":
        return "openai"
    if method == "POST" and re.fullmatch(r"/v1(beta)?/models/[^/:]+:generateContent", path):
        return "gemini"
    if path.startswith("/files/"):
        return "file" if method == "GET" else "other"
    match = re.fullmatch(r"/.+/requests/[^/]+(/status|/cancel)?", path)
    if match:
        return {"/status": "fal_status", "/cancel": "fal_cancel", None: "fal_result"}[match.group(1)]
    return "fal_submit" if method == "POST" else "other"


class FaultState:
    def __init__(self, key: str):
        self.key = key
        self.lock = threading.Lock()
        self.rules: list[dict] = []
        self.requests: list[dict] = []
        self.jobs: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}
        self.openai_output = "b64_json"
        self.base_url = ""

    def script(self, stage: str, fault: str, times: int | None = None, **params) -> None:
        """Give the next `times` requests of `stage` (None: all of them) this fault."""
        if stage not in STAGES + ("*",):
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)} or *")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self.lock:
            self.rules.append({"stage": stage, "fault": fault, "times": times, **params})

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def set_options(self, openai_output: str | None = None) -> None:
        if openai_output is not None:
            if openai_output not in ("b64_json", "url"):
                raise ValueError("openai_output is b64_json or url")
            self.openai_output = openai_output

    def take(self, stage: str) -> dict | None:
        with self.lock:
            for rule in self.rules:
                if rule["stage"] in (stage, "*") and (rule["times"] is None or rule["times"] > 0):
                    if rule["times"] is not None:
                        rule["times"] -= 1
                    return dict(rule)
        return None

    def recorded(self, stage: str | None = None) -> list[dict]:
        """A snapshot of the recorded requests (of one stage, if given)."""
        with self.lock:
            return [dict(r) for r in self.requests if stage is None or r["stage"] == stage]


class Handler(FakeHandler):
    server_version = "faulty-fake/1.0"
    state: FaultState  # set on the subclass made by make_server

    # -- plumbing -------------------------------------------------------------------------
    def send(self, status: int, body: bytes, content_type: str = "application/json",
             headers: dict | None = None, length: int | None = None) -> None:
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def handle_any(self, method: str) -> None:
        raw = self.read_body()
        url = urlsplit(self.path)
        st = self.state
        if url.path.startswith("/__fake/"):
            return self.hook(method, url.path, raw)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        stage = stage_of(method, url.path)
        record = {"stage": stage, "method": method, "path": self.path, "t": time.monotonic(),
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "json": parsed,
                  "fault": None, "sent": None, "hung_up": False}
        with st.lock:
            st.requests.append(record)
        rule = st.take(stage)
        if rule is None:
            status, content_type, body, headers = self.normal(stage, method, url.path, parsed)
            return self.send(status, body, content_type, headers)
        record["fault"] = rule["fault"]
        try:
            self.fault(rule, stage, method, url, parsed, record)
        except OSError:  # the client went away mid-answer: that is what some faults are for
            record["hung_up"] = True
            self.close_connection = True

    def hook(self, method: str, path: str, raw: bytes) -> None:
        st = self.state
        try:
            body = json.loads(raw) if raw else {}
            if path == "/__fake/requests" and method == "GET":
                return self.send_json(200, st.recorded())
            if path == "/__fake/requests" and method == "DELETE":
                with st.lock:
                    st.requests.clear()
                return self.send_json(200, [])
            if path == "/__fake/faults" and method == "POST":
                for rule in body if isinstance(body, list) else [body]:
                    st.script(**rule)
            elif path == "/__fake/faults" and method == "DELETE":
                st.clear()
            elif path == "/__fake/options" and method == "POST":
                st.set_options(**body)
                return self.send_json(200, {"openai_output": st.openai_output})
            else:
                return self.send_json(404, {"error": f"no test hook {method} {path}"})
        except (TypeError, ValueError) as e:
            return self.send_json(400, {"error": str(e)})
        with st.lock:
            return self.send_json(200, list(st.rules))

    # -- faults ---------------------------------------------------------------------------
    def fault(self, rule: dict, stage: str, method: str, url, parsed, record: dict) -> None:
        kind = rule["fault"]
        api_type = "image/png" if stage == "file" else "application/json"
        if kind == "status":
            return self.error(stage, int(rule.get("code", 500)), rule)
        if kind == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if kind == "redirect_loop":
            hop = int((parse_qs(url.query).get("hop") or ["0"])[0]) + 1
            return self.send(302, b"", "text/plain", {"Location": f"{url.path}?hop={hop}"})
        if kind == "invalid_json":
            return self.send(200, b'{"data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA', "application/json")
        if kind == "html":
            return self.send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        if kind == "huge":
            total = int(float(rule.get("mib", 16)) * (1 << 20))
            declared = bool(rule.get("declared", False))
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", api_type)
            if declared:
                self.send_header("Content-Length", str(total))
            self.end_headers()
            chunk = (b"A" * 65536) if stage != "file" else (b"\x00" * 65536)
            record["sent"] = 0
            while record["sent"] < total:
                self.wfile.write(chunk)
                record["sent"] += len(chunk)
            return
        status, content_type, body, headers = self.normal(stage, method, url.path, parsed)
        record["sent"] = 0
        self.close_connection = True
        if kind == "truncate":
            self.send(status, b"", content_type, headers, length=len(body))
            self.wfile.write(body[: len(body) // 2])
            record["sent"] = len(body) // 2
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "drip":
            interval = float(rule.get("interval", 1.0))
            self.send(status, b"", content_type, headers, length=len(body))
            for byte in body:
                self.wfile.write(bytes([byte]))
                record["sent"] += 1
                time.sleep(interval)
            return

    def error(self, stage: str, code: int, rule: dict) -> None:
        headers = {}
        if rule.get("retry_after") is not None:
            headers["retry-after"] = str(rule["retry_after"])
        message = rule.get("message")
        if stage == "openai":
            text, kind, err_code = OPENAI_ERRORS.get(code, (f"HTTP {code}", "server_error", None))
            return self.send_json(code, {"error": {"message": message or text, "type": kind, "param": None, "code": err_code}},
                                  {**headers, "x-request-id": "req_" + uuid.uuid4().hex[:16]})
        if stage == "gemini":
            status, text = GOOGLE_ERRORS.get(code, ("UNKNOWN", f"HTTP {code}"))
            details = []
            if code == 429:
                details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]})
            if rule.get("retry_delay") is not None:
                details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": str(rule["retry_delay"])})
            error = {"code": code, "message": message or text, "status": status}
            if details:
                error["details"] = details
            return self.send_json(code, {"error": error}, headers)
        if stage == "file":
            return self.send(code, (message or REASONS.get(code, "Error")).encode(), "text/plain", headers)
        return self.send_json(code, {"detail": message or FAL_ERRORS.get(code, f"HTTP {code}")}, headers)

    # -- normal answers -------------------------------------------------------------------
    def normal(self, stage: str, method: str, path: str, body) -> tuple[int, str, bytes, dict]:
        """The well-behaved answer: (status, content type, body, extra headers)."""
        st = self.state
        as_json = lambda status, value: (status, "application/json", json.dumps(value).encode(), {})  # noqa: E731
        if stage == "file":
            with st.lock:
                data = st.files.get(path[len("/files/"):])
            return (200, "image/png", data, {}) if data is not None else (404, "text/plain", b"Not Found", {})
        if stage == "openai":
            if self.headers.get("Authorization") != f"Bearer {st.key}":
                return as_json(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                               "param": None, "code": "invalid_api_key"}})
            prompt = (body or {}).get("prompt", "")
            data = []
            for i in range(int((body or {}).get("n", 1))):
                png = make_png(32, 24, f"openai|{prompt}|{i}|{uuid.uuid4()}")
                if st.openai_output == "url":
                    name = f"{uuid.uuid4().hex}.png"
                    with st.lock:
                        st.files[name] = png
                    data.append({"url": f"{st.base_url}/files/{name}"})
                else:
                    data.append({"b64_json": base64.b64encode(png).decode()})
            return as_json(200, {"created": int(time.time()), "data": data, "output_format": "png"})
        if stage == "gemini":
            if self.headers.get("x-goog-api-key") != st.key:
                _, text = GOOGLE_ERRORS[401]
                return as_json(400, {"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT", "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
            png = make_png(32, 24, f"gemini|{json.dumps(body)}|{uuid.uuid4()}")
            part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}
            return as_json(200, {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP",
                                                 "index": 0}], "modelVersion": path.split("/")[-1].split(":")[0]})
        if self.headers.get("Authorization") != f"Key {st.key}":
            return as_json(401, {"detail": FAL_ERRORS[401]})
        if stage == "fal_submit":
            endpoint = path.strip("/")
            parts = endpoint.split("/")
            app = "/".join(parts[:2])
            request_id = str(uuid.uuid4())
            with st.lock:
                st.jobs[request_id] = {"endpoint": endpoint, "body": body or {}, "images": None}
            base = f"{st.base_url}/{app}/requests/{request_id}"
            return as_json(200, {"request_id": request_id, "response_url": base, "status_url": f"{base}/status",
                                 "cancel_url": f"{base}/cancel", "status": "IN_QUEUE", "queue_position": 0})
        request_id = path.split("/requests/")[1].split("/")[0]
        with st.lock:
            job = st.jobs.get(request_id)
        if job is None:
            return as_json(404, {"detail": FAL_ERRORS[404]})
        response_url = f"{st.base_url}{path.rsplit('/requests/', 1)[0]}/requests/{request_id}"
        if stage == "fal_status":
            return as_json(200, {"status": "COMPLETED", "logs": [], "response_url": response_url})
        if stage == "fal_cancel":
            return as_json(202, {"status": "CANCELLATION_REQUESTED"})
        with st.lock:
            if job["images"] is None:
                job["images"] = []
                for i in range(int(job["body"].get("num_images", 1))):
                    name = f"{request_id}-{i}.png"
                    st.files[name] = make_png(32, 24, f"fal|{request_id}|{i}")
                    job["images"].append({"url": f"{st.base_url}/files/{name}", "width": 32, "height": 24,
                                          "content_type": "image/png"})
            images = list(job["images"])
        return as_json(200, {"images": images, "seed": 42, "has_nsfw_concepts": [False] * len(images),
                             "prompt": job["body"].get("prompt")})


class FaultyServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # broken pipes are the point here
        if getattr(self, "verbose", False):
            super().handle_error(request, client_address)


def make_server(key: str = "test-key", port: int = 0, host: str = "127.0.0.1") -> FaultyServer:
    state = FaultState(key)
    handler = type("FaultyHandler", (Handler,), {"state": state})
    server = FaultyServer((host, port), handler)
    state.base_url = f"http://{host}:{server.server_address[1]}"
    server.state = state  # type: ignore[attr-defined]
    return server


def start(key: str = "test-key", port: int = 0, **options) -> tuple[FaultyServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(key, port, **options)
    serve_in_thread(server, "faulty-fake", poll_interval=0.05)
    return server, server.state.base_url  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the API key every protocol accepts")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = make_server(args.key, args.port, args.host)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    serve_in_foreground(server, server.state.base_url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
