"""A local fake of a self-hosted Potassium server running a diffusers-style image handler, plus
the legacy Banana v4 start/check API (docs/providers/banana.md), for testing Easel's
banana plugin without a GPU. Standard library only.

Run:    python3 tests/fakes/banana_fake.py --port 0 [--api-key KEY] [--shape image_base64|output_url|outputs]
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(port=0, api_key=None, shape="image_base64")   # serves in a thread
        ...; server.shutdown(); server.server_close()
        server.state.shape can be changed between requests; server.state.recorded lists requests.

Potassium (v0.5-style, docs/providers/banana.md#potassium):
  POST /  and  POST /sdxl    handler routes (others: 404; GET on a route: 405). Body must be JSON,
                             else 400 with an empty body. X-Banana-Request-Id is read and echoed.
      input (community template): prompt, negative_prompt, num_inference_steps, guidance_scale,
      height, width, seed, num_images, image (base64 → img2img), mask_image, strength
      output, by shape:  image_base64 -> {"image_base64": "<b64 PNG>", "seed": n}
                         output_url   -> {"output": {"url": "http://<this server>/files/<id>.png"}}
                         outputs      -> {"outputs": ["<b64>", ...], "seeds": [n, ...]}  (num_images of them)
  GET  /__status__, /_k/status  {"gpu_available", "sequence_number", "idle_time", "inference_time"}
  POST /_k/warmup               {"warm": true}
  GET  /files/<id>.png          images of the output_url shape
  With --api-key, handler routes need "X-Banana-Api-Key: KEY" (as a proxy in front would):
  401 {"error": "invalid or missing X-Banana-Api-Key"}.

Legacy v4 (docs/providers/banana.md#v4):
  POST /start/v4/  {"id","created","apiKey","modelKey","modelInputs","startOnly"} ->
        {"id","message","created","apiVersion","callID","finished","modelOutputs"}; finishes inside
        start only for [fake:fast] prompts without startOnly. Model keys: "sd15-key", "sdxl-key".
  POST /check/v4/  {"id","created","longPoll","callID","apiKey"} -> message "running" for the first
        --v4-running-checks checks (default 2), then "success" with modelOutputs [<handler output>].
  Errors are HTTP 200 with "error" in message: a wrong apiKey (with --api-key), an unknown
  modelKey or callID, or a failing handler.
  GET  /  -> 200 {"message": "banana v4 fake"} (the API root).

Markers in the prompt:
  [fake:busy]           the first 2 attempts with this prompt -> 423 with an empty body (Potassium ≤0.4)
  [fake:unavailable]    the first 2 attempts -> 503 {"message": "no replica ready"} + Retry-After: 1
  [fake:busy_forever]   always 423
  [fake:server_error]   500 text/plain Python traceback ending "RuntimeError: CUDA out of memory"
                        (v4: message "error: RuntimeError: CUDA out of memory")
  [fake:slow]           the handler takes 3 s
  [fake:fast]           v4 only: finished inside /start/v4/
Test hooks: GET /__fake/requests (list of {method, path, headers, json}), DELETE /__fake/requests,
            GET /__fake/state (generations, v4 calls).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from fakekit import FakeHandler, make_png, png_size, serve_in_thread

ROUTES = ("/", "/sdxl")
MODEL_KEYS = ("sd15-key", "sdxl-key")
SHAPES = ("image_base64", "output_url", "outputs")
TRACEBACK = """Traceback (most recent call last):
  File "/usr/local/lib/python3.10/site-packages/potassium/potassium.py", line 235, in handle
    out = self._handlers[route](self._context, req)
  File "/app/app.py", line 41, in handler
    images = pipe(**kwargs).images
  File "/usr/local/lib/python3.10/site-packages/diffusers/pipelines/pipeline_utils.py", line 1010, in __call__
    raise RuntimeError("CUDA out of memory")
RuntimeError: CUDA out of memory
"""


class HandlerFailed(Exception):
    pass


class State:
    def __init__(self, api_key: str | None, shape: str, v4_running_checks: int):
        self.api_key, self.shape, self.v4_running_checks = api_key, shape, v4_running_checks
        self.lock = threading.Lock()
        self.recorded: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.files: dict[str, bytes] = {}
        self.generations: list[dict] = []
        self.calls: dict[str, dict] = {}
        self.sequence = 0
        self.busy = False
        self.inference_ms = 0
        self.last_done = time.time()

    def attempt(self, prompt: str) -> int:
        with self.lock:
            self.attempts[prompt] = self.attempts.get(prompt, 0) + 1
            return self.attempts[prompt]


def run_handler(state: State, route: str, inputs: dict, base: str, request_id: str | None) -> dict:
    """The image handler: community diffusers inputs in, the configured output shape out."""
    prompt = str(inputs.get("prompt", ""))
    if "[fake:server_error]" in prompt:
        raise HandlerFailed()
    started = time.time()
    with state.lock:
        state.busy = True
    try:
        if "[fake:slow]" in prompt:
            time.sleep(3)
        init = None
        if isinstance(inputs.get("image"), str):
            init = base64.b64decode(inputs["image"])
        size = png_size(init) if init else None
        width = int(inputs.get("width") or (size[0] if size else 512))
        height = int(inputs.get("height") or (size[1] if size else 512))
        count = max(1, int(inputs.get("num_images") or 1))
        seed = inputs.get("seed")
        seed = random.randrange(2**31) if seed is None else int(seed)
        seeds = [seed + i for i in range(count)]
        pngs = [make_png(width, height, f"{route}|{prompt}|{s}|{bool(init)}") for s in seeds]
    finally:
        with state.lock:
            state.busy = False
            state.sequence += 1
            state.inference_ms = int((time.time() - started) * 1000)
            state.last_done = time.time()
    with state.lock:
        state.generations.append({"route": route, "prompt": prompt, "seeds": seeds, "width": width, "height": height,
                                  "img2img": init is not None, "init_size": size, "mask": "mask_image" in inputs,
                                  "strength": inputs.get("strength"), "request_id": request_id})
        shape = state.shape
    encoded = [base64.b64encode(p).decode() for p in pngs]
    if shape == "output_url":
        name = uuid.uuid4().hex
        with state.lock:
            state.files[name] = pngs[0]
        return {"output": {"url": f"{base}/files/{name}.png"}}
    if shape == "outputs":
        return {"outputs": encoded, "seeds": seeds}
    return {"image_base64": encoded[0], "seed": seeds[0]}


class Handler(FakeHandler):
    server_version = "Werkzeug/3.0.1"
    sys_version = "Python/3.10"

    @property
    def state(self) -> State:
        return self.server.state

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(status)
        if body or status != 423:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method: str) -> None:
        path = urlsplit(self.path).path
        raw = self.read_body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if not path.startswith("/__fake/"):
            with self.state.lock:
                self.state.recorded.append({"method": self.command, "path": self.path,
                                            "headers": {k.lower(): v for k, v in self.headers.items()}, "json": parsed})
        try:
            self.route(path, raw, parsed)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, path: str, raw: bytes, parsed) -> None:
        s, method = self.state, self.command
        if path == "/__fake/requests":
            if method == "DELETE":
                with s.lock:
                    s.recorded.clear()
                return self.send_json(200, {})
            with s.lock:
                return self.send_json(200, list(s.recorded))
        if path == "/__fake/state":
            with s.lock:
                return self.send_json(200, {"generations": s.generations, "calls": s.calls, "shape": s.shape})
        if path in ("/__status__", "/_k/status") and method == "GET":
            with s.lock:
                idle = 0 if s.busy else int((time.time() - s.last_done) * 1000)
                return self.send_json(200, {"gpu_available": not s.busy, "sequence_number": s.sequence,
                                            "idle_time": idle, "inference_time": s.inference_ms})
        if path == "/_k/warmup" and method == "POST":
            return self.send_json(200, {"warm": True})
        if path.startswith("/files/") and method == "GET":
            with s.lock:
                data = s.files.get(path[len("/files/"):].removesuffix(".png"))
            return self.send(200, data, "image/png") if data else self.send(404, b"Not Found", "text/plain")
        if path == "/start/v4/" and method == "POST":
            return self.send_json(200, self.v4_start(parsed if isinstance(parsed, dict) else {}))
        if path == "/check/v4/" and method == "POST":
            return self.send_json(200, self.v4_check(parsed if isinstance(parsed, dict) else {}))
        if path == "/" and method == "GET":
            return self.send_json(200, {"message": "banana v4 fake"})
        if path in ROUTES:
            if method != "POST":
                return self.send(405, b"<!doctype html><title>405 Method Not Allowed</title>", "text/html")
            return self.potassium(path, raw, parsed)
        return self.send(404, b"<!doctype html><title>404 Not Found</title>", "text/html")

    def potassium(self, route: str, raw: bytes, parsed) -> None:
        s = self.state
        if s.api_key and self.headers.get("X-Banana-Api-Key") != s.api_key:
            return self.send_json(401, {"error": "invalid or missing X-Banana-Api-Key"})
        if not isinstance(parsed, dict):
            return self.send(400, b"", "text/html")
        request_id = self.headers.get("X-Banana-Request-Id")
        echo = {"X-Banana-Request-Id": request_id} if request_id else {}
        prompt = str(parsed.get("prompt", ""))
        if "[fake:busy_forever]" in prompt:
            return self.send(423, b"", headers=echo)
        if "[fake:busy]" in prompt and s.attempt(prompt) <= 2:
            return self.send(423, b"", headers=echo)
        if "[fake:unavailable]" in prompt and s.attempt(prompt) <= 2:
            return self.send_json(503, {"message": "no replica ready"}, {**echo, "Retry-After": "1"})
        try:
            out = run_handler(s, route, parsed, self.base, request_id)
        except HandlerFailed:
            return self.send(500, TRACEBACK.encode(), "text/plain; charset=utf-8", echo)
        self.send_json(200, out, echo)

    def v4_answer(self, message: str, call_id: str = "", finished: bool = False, outputs=None) -> dict:
        return {"id": str(uuid.uuid4()), "message": message, "created": int(time.time()), "apiVersion": "January 11, 2023",
                "callID": call_id, "finished": finished, "modelOutputs": outputs}

    def v4_start(self, body: dict) -> dict:
        s = self.state
        if s.api_key and body.get("apiKey") != s.api_key:
            return self.v4_answer("error: invalid apiKey")
        if body.get("modelKey") not in MODEL_KEYS:
            return self.v4_answer(f"error: model key {body.get('modelKey')!r} not found")
        inputs = body.get("modelInputs") if isinstance(body.get("modelInputs"), dict) else {}
        call_id = str(uuid.uuid4())
        try:
            output, error = run_handler(s, "/", inputs, self.base, body.get("id")), None
        except HandlerFailed:
            output, error = None, "error: RuntimeError: CUDA out of memory"
        with s.lock:
            s.calls[call_id] = {"checks": 0, "output": output, "error": error, "modelKey": body.get("modelKey")}
        if "[fake:fast]" in str(inputs.get("prompt", "")) and not body.get("startOnly") and output is not None:
            return self.v4_answer("success", call_id, True, [output])
        return self.v4_answer("", call_id)

    def v4_check(self, body: dict) -> dict:
        s = self.state
        if s.api_key and body.get("apiKey") != s.api_key:
            return self.v4_answer("error: invalid apiKey")
        with s.lock:
            call = s.calls.get(body.get("callID"))
            if call is None:
                return self.v4_answer(f"error: callID {body.get('callID')!r} not found")
            call["checks"] += 1
            checks = call["checks"]
        if checks <= s.v4_running_checks:
            return self.v4_answer("running", body["callID"])
        if call["error"]:
            return self.v4_answer(call["error"], body["callID"])
        return self.v4_answer("success", body["callID"], True, [call["output"]])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start(port: int = 0, api_key: str | None = None, shape: str = "image_base64", v4_running_checks: int = 2,
          host: str = "127.0.0.1"):
    """Serve in a background thread; returns (server, base_url)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}")
    server = Server((host, port), Handler)
    server.state = State(api_key, shape, v4_running_checks)
    serve_in_thread(server, "banana-fake")
    return server, f"http://{host}:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", help="require this key (X-Banana-Api-Key header; apiKey in v4 bodies)")
    parser.add_argument("--shape", choices=SHAPES, default="image_base64", help="how the handler returns images")
    parser.add_argument("--v4-running-checks", type=int, default=2, help="v4 checks answered 'running' before success")
    args = parser.parse_args()
    server, base = start(args.port, args.api_key, args.shape, args.v4_running_checks, args.host)
    print(f"LISTENING {base}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        sys.exit(0)


if __name__ == "__main__":
    main()
