"""A local fake of fal.ai's queue API (docs/providers/fal.md), for
testing Easel's fal plugin without the internet. Standard library only.

Run:    python3 tests/fakes/fal_fake.py --port 0 --key test-key
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(key="test-key", port=0)   # serves in a thread
        ...; server.shutdown()

Wire protocol (what the real queue host https://queue.fal.run does):
  POST /{endpoint_id}                       submit; 200 {request_id, response_url, status_url,
                                            cancel_url, status: "IN_QUEUE", queue_position}
  GET  /{owner}/{app}/requests/{id}/status  202 IN_QUEUE (queue_position) -> 202 IN_PROGRESS
                                            (logs with ?logs=1) -> 200 COMPLETED
  GET  /{owner}/{app}/requests/{id}/status/stream
                                            the same status objects as server-sent events
                                            (text/event-stream, `data: <json>` + blank line, flushed
                                            as it goes), one event per state change, each with only
                                            the log lines new since the last; closed after COMPLETED
                                            (fal's "Stream request status", fal-js queue.streamStatus)
  GET  /{owner}/{app}/requests/{id}         the model output {"images":[{url,width,height,
                                            content_type}],"seed",...}, or the failure's status + detail;
                                            fal-ai/clarity-upscaler answers one {"image": {...}, "seed",
                                            "timings"} instead (fal-js ClarityUpscalerOutput)
  PUT  /{owner}/{app}/requests/{id}/cancel  202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
                                            | 404 NOT_FOUND
  GET  /v1/models?endpoint_id=ID&expand=openapi-3.0
                                            the model search (production: https://api.fal.ai): each
                                            endpoint with its OpenAPI document, the input schema behind
                                            its POST body; owner `nobody` is not listed; no key needed
  GET  /files/{name}.png                    output images (production: https://v3.fal.media/...),
                                            real PNGs of the size asked for; no auth, like the CDN
Every queue call needs "Authorization: Key <key>"; otherwise 401 {"detail": ...}.
Status, result and cancel URLs use only owner/app of the endpoint id (docs/providers/fal.md#endpoint-ids); all URLs in
answers are absolute and built from this server's own address.

State machine (deterministic, per status poll or stream step): `queue_polls` steps IN_QUEUE
(default 2), then `run_polls` steps IN_PROGRESS (default 2), then COMPLETED. IN_PROGRESS logs are
"Loading the model" and a tqdm bar per step ("  45%|####      | 9/20", ..., " 100%|##########| 20/20").
The stream takes one step every `stream_interval` seconds (default 0.3), writing an event when the
state or the logs changed and a `: keep-alive` comment otherwise.

Markers in the prompt script errors and timing:
  [fake:validation]    submit -> 422 {"detail":[{"loc":["body","image_size"],...}]}
  [fake:nsfw]          runs, then COMPLETED with error_type content_policy_violation;
                       the result GET -> 422 detail[] of type content_policy_violation
  [fake:rate_limit]    submit -> 429 {"detail": ...} with retry-after: 1
  [fake:server_error]  submit -> 500 {"detail": ..., "error_type": "internal_server_error"} (with
                       x-fal-request-id: it reached fal)
  [fake:gateway_503]   the first submit with this prompt -> 503 with nginx's 7-line HTML page and
                       no x-fal-request-id (fal's ingress, the request never reached fal); then normal
  [fake:upstream_503]  submit -> 503 {"detail": ...} WITH x-fal-request-id (fal itself answered;
                       the run may have started)
  [fake:model_error]   runs, then COMPLETED with an error; the result GET -> 500 detail
  [fake:slow]          stays IN_PROGRESS until cancelled
  [fake:echo_auth]     IN_PROGRESS logs include the Authorization header as received
                       (to prove the host redacts secrets from what the plugin sees)
  [fake:no_stream]     the status stream answers 405 {"detail": "Method Not Allowed"}, like an
                       older gateway or a proxy that does not stream (the plugin polls instead)
A wrong or missing key gives 401. Real validation also applies: a missing prompt,
num_images outside 1..4, a bad image_size, a missing image_url / image_urls on
image-to-image / edit endpoints -> 422 detail[] naming the field.

fal-ai/clarity-upscaler (docs/providers/fal.md#upscaling): prompt optional (fal's default applies),
image_url required, upscale_factor a number 1..4 (default 2) -> else 422 detail[] naming the field;
the output is a real PNG of the input's size x upscale_factor (rounded). The fake reads the input's
size from a PNG data: URI only (any other image_url -> 422 on image_url, a limit of the fake).

Test hooks (no auth):
  GET    /__fake/requests  JSON list of every request: {method, path, headers (names lower-case), body_len, json}
  DELETE /__fake/requests  clears that list
  GET    /__fake/counts    {"status_polls": plain status GETs, "stream_opens": status stream GETs}
                           (also server.state.status_polls / .stream_opens in-process)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakekit import FakeHandler, data_uri_png_size, make_png, serve_in_foreground, serve_in_thread

FLUX_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
BANANA_TIERS = {"0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096}
CLARITY = "fal-ai/clarity-upscaler"
# Clarity's upscale_factor: default and inclusive range (fal's llms.txt for the endpoint).
CLARITY_FACTOR = (2, 1, 4)
MARKERS = ("validation", "nsfw", "rate_limit", "server_error", "model_error", "slow", "echo_auth", "gateway_503", "upstream_503",
           "no_stream")
# Iterations of the fake's tqdm bar.
BAR_STEPS = 20
# Longest a status stream stays open, seconds (a client that went away is noticed sooner, when a write fails).
STREAM_MAX_SECONDS = 300
# What nginx in front of fal's queue serves for a 503 (no x-fal-request-id).
NGINX_503 = (b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
             b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")


def markers(prompt: object) -> set[str]:
    text = prompt if isinstance(prompt, str) else ""
    return {m for m in MARKERS if f"[fake:{m}]" in text}


def app_of(endpoint: str) -> str:
    parts = [p for p in endpoint.split("/") if p]
    keep = 3 if parts and parts[0] in ("workflows", "comfy") else 2
    return "/".join(parts[:keep])


def field_error(field: str, msg: str, kind: str, value: object = None) -> dict:
    return {"loc": ["body", field], "msg": msg, "type": kind, "input": value}


class Job:
    def __init__(self, endpoint: str, body: dict, scripted: set[str], auth: str):
        self.id = str(uuid.uuid4())
        self.endpoint = endpoint
        self.app = app_of(endpoint)
        self.body = body
        self.scripted = scripted
        self.auth = auth
        self.polls = 0
        self.cancelled = False
        self.result: tuple[int, dict] | None = None


class FalState:
    def __init__(self, key: str, queue_polls: int = 2, run_polls: int = 2, stream_interval: float = 0.3):
        self.key = key
        self.queue_polls = queue_polls
        self.run_polls = run_polls
        self.stream_interval = stream_interval
        self.status_polls = 0  # plain GET .../status
        self.stream_opens = 0  # GET .../status/stream
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, bytes] = {}
        self.recorded: list[dict] = []
        self.gateway_failed: set[str] = set()  # prompts whose one gateway 503 was served
        self.base_url = ""

    def finished(self, job: Job) -> bool:
        return job.cancelled or ("slow" not in job.scripted and job.polls > self.queue_polls + self.run_polls)


class Handler(FakeHandler):
    server_version = "fal-fake/1.0"
    state: FalState  # set on the subclass made by make_server

    # -- plumbing -------------------------------------------------------------------------
    def handle_any(self, method: str) -> None:
        raw = self.read_body()
        url = urlsplit(self.path)
        path, query = url.path, url.query
        st = self.state
        if path == "/__fake/requests":
            with st.lock:
                if method == "DELETE":
                    st.recorded.clear()
                    return self.send_json(200, [])
                return self.send_json(200, list(st.recorded))
        if path == "/__fake/counts":
            with st.lock:
                return self.send_json(200, {"status_polls": st.status_polls, "stream_opens": st.stream_opens})
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with st.lock:
            st.recorded.append({
                "method": method,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_len": len(raw),
                "json": parsed,
            })
        if path.startswith("/files/") and method == "GET":
            return self.serve_file(path[len("/files/"):])
        if path == "/v1/models" and method == "GET":
            return self.model_search(parse_qs(query))
        auth = self.headers.get("Authorization", "")
        if auth != f"Key {st.key}":
            detail = "Missing authorization header" if not auth else "Invalid authorization: the key is not valid"
            return self.send_json(401, {"detail": detail})
        match = re.fullmatch(r"/(.+)/requests/([^/]+)(/status/stream|/status|/cancel)?", path)
        if match:
            app, request_id, suffix = match.group(1), match.group(2), match.group(3) or ""
            with st.lock:
                job = st.jobs.get(request_id)
                if job is not None and job.app != app:
                    job = None
            if suffix == "/status" and method == "GET":
                return self.status(job, "logs=1" in query)
            if suffix == "/status/stream" and method == "GET":
                return self.status_stream(job, "logs=1" in query)
            if suffix == "/cancel" and method == "PUT":
                return self.cancel(job)
            if suffix == "" and method == "GET":
                return self.result(job)
            return self.send_json(405, {"detail": f"Method {method} not allowed"})
        if method == "POST":
            return self.submit(path.strip("/"), raw, auth)
        return self.send_json(404, {"detail": "Not found"})

    # -- model search (api.fal.ai) ---------------------------------------------------------
    def model_search(self, query: dict) -> None:
        """`GET /v1/models?endpoint_id=ID&expand=openapi-3.0`: each endpoint asked for, with its
        OpenAPI document when expanded; owner `nobody` is not listed. No key is needed."""
        models = []
        for endpoint in query.get("endpoint_id", []):
            if endpoint.startswith("nobody/"):
                continue
            item = {"endpoint_id": endpoint, "metadata": {"display_name": endpoint, "category": "text-to-image",
                                                          "status": "active"}}
            if "openapi-3.0" in query.get("expand", []):
                name = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", endpoint)) + "Input"
                item["openapi"] = {"openapi": "3.0.4", "info": {"title": endpoint},
                                   "paths": {f"/{endpoint}": {"post": {"requestBody": {"required": True, "content": {
                                       "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}}}},
                                   "components": {"schemas": {name: ENDPOINT_INPUTS.get(endpoint, GENERIC_INPUT)}}}
            models.append(item)
        return self.send_json(200, {"models": models, "next_cursor": None, "has_more": False})

    # -- queue ----------------------------------------------------------------------------
    def submit(self, endpoint: str, raw: bytes, auth: str) -> None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.send_json(422, {"detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]})
        scripted = markers(body.get("prompt"))
        if "rate_limit" in scripted:
            return self.send_json(429, {"detail": "Too many requests: concurrent request limit reached"}, {"retry-after": "1"})
        if "server_error" in scripted:
            return self.send_json(500, {"detail": "Internal server error", "error_type": "internal_server_error"},
                                  {"x-fal-retryable": "true", "x-fal-request-id": str(uuid.uuid4())})
        if "gateway_503" in scripted:
            with self.state.lock:
                first = body.get("prompt") not in self.state.gateway_failed
                self.state.gateway_failed.add(body.get("prompt"))
            if first:
                return self.send(503, NGINX_503, "text/html")
        if "upstream_503" in scripted:
            return self.send_json(503, {"detail": "Service temporarily unavailable"}, {"x-fal-request-id": str(uuid.uuid4())})
        errors = self.validate(endpoint, body)
        if "validation" in scripted:
            errors.append(field_error("image_size", "Input should be 'square_hd', 'square', 'portrait_4_3', "
                                      "'portrait_16_9', 'landscape_4_3' or 'landscape_16_9'", "enum", body.get("image_size")))
        if errors:
            return self.send_json(422, {"detail": errors})
        job = Job(endpoint, body, scripted, auth)
        st = self.state
        with st.lock:
            st.jobs[job.id] = job
        base = f"{st.base_url}/{job.app}/requests/{job.id}"
        self.send_json(200, {
            "request_id": job.id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
            "status": "IN_QUEUE",
            "queue_position": max(0, st.queue_polls - 1),
        }, {"x-fal-request-id": job.id})

    @staticmethod
    def validate(endpoint: str, body: dict) -> list[dict]:
        if endpoint == CLARITY:
            return validate_clarity(body)
        errors = []
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            errors.append(field_error("prompt", "Field required", "missing", prompt))
        n = body.get("num_images", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4:
            errors.append(field_error("num_images", "Input should be less than or equal to 4", "less_than_equal", n))
        size = body.get("image_size")
        if size is not None:
            ok = size in FLUX_PRESETS if isinstance(size, str) else (
                isinstance(size, dict) and all(isinstance(size.get(k), int) and 1 <= size[k] <= 14142 for k in ("width", "height")))
            if not ok:
                errors.append(field_error("image_size", "Input should be a valid image size preset or {width, height}", "enum", size))
        if endpoint.endswith("/image-to-image") and not isinstance(body.get("image_url"), str):
            errors.append(field_error("image_url", "Field required", "missing"))
        if endpoint.endswith("/edit"):
            urls = body.get("image_urls")
            if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
                errors.append(field_error("image_urls", "Field required", "missing", urls))
        return errors

    def status(self, job: Job | None, logs: bool) -> None:
        with self.state.lock:
            self.state.status_polls += 1
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        self.send_json(*self.step(job, logs))

    def status_stream(self, job: Job | None, logs: bool) -> None:
        """Server-sent events: one `data: <status json>` per state change, only new log lines in
        each, written and flushed as they happen; the response ends (connection closed, HTTP/1.0)
        after COMPLETED."""
        st = self.state
        with st.lock:
            st.stream_opens += 1
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        if "no_stream" in job.scripted:
            return self.send_json(405, {"detail": "Method Not Allowed"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-fal-request-id", job.id)
        self.end_headers()
        self.close_connection = True
        sent: set[str] = set()
        shown = None
        deadline = time.monotonic() + STREAM_MAX_SECONDS
        try:
            while time.monotonic() < deadline:
                _, body = self.step(job, logs)
                new = [line for line in body.get("logs") or [] if line["message"] not in sent]
                sent.update(line["message"] for line in new)
                state = (body["status"], body.get("queue_position"))
                if new or state != shown:
                    event = {**body, "logs": new if logs else None}
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    shown = state
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                if body["status"] == "COMPLETED":
                    return
                time.sleep(st.stream_interval)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client closed the stream (its poll's window ended)

    def step(self, job: Job, logs: bool) -> tuple[int, dict]:
        """One step of `job`'s state machine: (HTTP status, status object), as the status call answers."""
        st = self.state
        with st.lock:
            n = job.polls
            job.polls += 1
        response_url = f"{st.base_url}/{job.app}/requests/{job.id}"
        if job.cancelled:
            return 200, {"status": "COMPLETED", "logs": [] if logs else None, "response_url": response_url,
                         "error": "Request was cancelled", "error_type": "request_cancelled"}
        if n < st.queue_polls:
            return 202, {"status": "IN_QUEUE", "queue_position": st.queue_polls - 1 - n, "response_url": response_url}
        step = n - st.queue_polls + 1
        if "slow" in job.scripted or step <= st.run_polls:
            total = max(st.run_polls, 1)
            lines = [log_line("Loading the model")]
            last = total - 1 if "slow" in job.scripted and total > 1 else total  # a slow run never reaches 100%
            lines += [log_line(progress_bar(min(i, last), total)) for i in range(1, step + 1)]
            if "echo_auth" in job.scripted:
                lines.append(log_line(f"authorization header: {job.auth}"))
            return 202, {"status": "IN_PROGRESS", "logs": lines if logs else None, "response_url": response_url}
        body = {"status": "COMPLETED", "logs": [log_line("done")] if logs else None, "metrics": {"inference_time": 0.42},
                "response_url": response_url}
        if "nsfw" in job.scripted:
            body.update(error="The content could not be processed because it contained material flagged by a content checker.",
                        error_type="content_policy_violation")
        elif "model_error" in job.scripted:
            body.update(error="CUDA out of memory while generating", error_type="internal_server_error")
        return 200, body

    def result(self, job: Job | None) -> None:
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        st = self.state
        if not st.finished(job):
            return self.send_json(400, {"detail": "Request is still in progress"})
        if job.cancelled:
            return self.send_json(400, {"detail": "Request was cancelled"})
        if "nsfw" in job.scripted:
            return self.send_json(422, {"detail": [{
                "loc": ["body", "prompt"],
                "msg": "The content could not be processed because it contained material flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
            }]}, {"x-fal-error-type": "content_policy_violation"})
        if "model_error" in job.scripted:
            return self.send_json(500, {"detail": "CUDA out of memory while generating", "error_type": "internal_server_error"})
        with st.lock:
            if job.result is None:
                job.result = (200, self.render(job))
        self.send_json(*job.result)

    def render(self, job: Job) -> dict:
        """Make the output images (called once per job, under the lock)."""
        st, body = self.state, job.body
        if job.endpoint == CLARITY:
            return self.render_clarity(job)
        width, height = output_size(job.endpoint, body)
        seed = body.get("seed") if isinstance(body.get("seed"), int) else int(job.id[:8], 16)
        images = []
        for i in range(body.get("num_images", 1)):
            name = f"{job.id}-{i}.png"
            st.files[name] = make_png(width, height, f"{body.get('prompt')}|{seed}|{i}")
            images.append({"url": f"{st.base_url}/files/{name}", "width": width, "height": height,
                           "content_type": "image/png", "file_name": name, "file_size": len(st.files[name])})
        out = {"images": images, "timings": {"inference": 0.42}, "seed": seed,
               "has_nsfw_concepts": [False] * len(images), "prompt": body.get("prompt")}
        if "nano-banana" in job.endpoint:
            out["description"] = ""
        return out

    def render_clarity(self, job: Job) -> dict:
        """Clarity's output: one `image` object (not `images[]`), the input upscaled by upscale_factor."""
        st, body = self.state, job.body
        width, height = clarity_size(body)
        seed = body.get("seed") if isinstance(body.get("seed"), int) else int(job.id[:8], 16)
        name = f"{job.id}-upscaled.png"
        st.files[name] = make_png(width, height, f"upscaled|{body.get('prompt')}|{seed}")
        image = {"url": f"{st.base_url}/files/{name}", "content_type": "image/png", "file_name": name,
                 "file_size": len(st.files[name]), "width": width, "height": height}
        return {"image": image, "seed": seed, "timings": {"inference": 0.42}}

    def cancel(self, job: Job | None) -> None:
        if job is None:
            return self.send_json(404, {"status": "NOT_FOUND"})
        with self.state.lock:
            if self.state.finished(job):
                return self.send_json(400, {"status": "ALREADY_COMPLETED"})
            job.cancelled = True
        self.send_json(202, {"status": "CANCELLATION_REQUESTED"})

    def serve_file(self, name: str) -> None:
        with self.state.lock:
            data = self.state.files.get(name)
        if data is None:
            return self.send_json(404, {"detail": "File not found"})
        self.send(200, data, "image/png")


def progress_bar(step: int, total: int) -> str:
    """tqdm's line after `step` of `total` steps, e.g. "  45%|####      | 9/20" for 1 of 2."""
    done = BAR_STEPS if step >= total else max(1, BAR_STEPS * step // total - 1)
    bar = "#" * (10 * done // BAR_STEPS)
    return f"{100 * done // BAR_STEPS:>4}%|{bar:<10}| {done}/{BAR_STEPS}"


def log_line(message: str) -> dict:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"message": message, "level": "INFO", "source": "USER", "timestamp": stamp}


def output_size(endpoint: str, body: dict) -> tuple[int, int]:
    """Pixel size of the output, from the input the way fal's endpoints read it."""
    first_input = body.get("image_url") or (body.get("image_urls") or [None])[0]
    if "nano-banana" in endpoint:
        ratio = body.get("aspect_ratio") or "1:1"
        if ratio == "auto":
            w, h = data_uri_png_size(first_input) or (1, 1)
        else:
            w, h = (int(x) for x in ratio.split(":"))
        edge = BANANA_TIERS.get(str(body.get("resolution", "1K")).upper(), 1024)
        return (edge, max(1, round(edge * h / w))) if w >= h else (max(1, round(edge * w / h)), edge)
    size = body.get("image_size")
    if isinstance(size, str):
        return FLUX_PRESETS[size]
    if isinstance(size, dict):
        return size["width"], size["height"]
    return data_uri_png_size(first_input) or FLUX_PRESETS["landscape_4_3"]


def validate_clarity(body: dict) -> list[dict]:
    """fal's checks for fal-ai/clarity-upscaler's input, as 422 detail[] items."""
    errors = []
    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        errors.append(field_error("prompt", "Input should be a valid string", "string_type", prompt))
    if data_uri_png_size(body.get("image_url")) is None:
        errors.append(field_error("image_url", "Field required (the fake reads PNG data: URIs only)", "missing",
                                  body.get("image_url")))
    default, low, high = CLARITY_FACTOR
    factor = body.get("upscale_factor", default)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        errors.append(field_error("upscale_factor", "Input should be a valid number", "float_type", factor))
    elif factor < low:
        errors.append(field_error("upscale_factor", f"Input should be greater than or equal to {low}", "greater_than_equal", factor))
    elif factor > high:
        errors.append(field_error("upscale_factor", f"Input should be less than or equal to {high}", "less_than_equal", factor))
    return errors


def clarity_size(body: dict) -> tuple[int, int]:
    """Clarity's output size: the input PNG's size times upscale_factor, rounded."""
    width, height = data_uri_png_size(body["image_url"])
    factor = body.get("upscale_factor", CLARITY_FACTOR[0])
    return max(1, round(width * factor)), max(1, round(height * factor))


# Input schemas the model search serves: fal-ai/flux-lora's (abridged from its OpenAPI document:
# no steps mapping beyond num_inference_steps, LoRAs as [{path, scale}]), and a broad one for
# every other endpoint so that the plugin's generic mapping passes.
ENDPOINT_INPUTS = {
    "fal-ai/flux-lora": {"type": "object", "required": ["prompt"], "properties": {
        "prompt": {"type": "string"},
        "image_size": {"anyOf": [{"enum": ["square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3",
                                           "landscape_16_9"], "type": "string"}, {"type": "object"}]},
        "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50},
        "seed": {"type": "integer"},
        "loras": {"type": "array", "items": {"type": "object"}},
        "guidance_scale": {"type": "number", "minimum": 0, "maximum": 35},
        "num_images": {"type": "integer", "minimum": 1, "maximum": 4},
        "enable_safety_checker": {"type": "boolean"},
        "output_format": {"enum": ["jpeg", "png"], "type": "string"},
        "sync_mode": {"type": "boolean"},
    }},
}
GENERIC_INPUT = {"type": "object", "properties": {key: {} for key in (
    "prompt", "negative_prompt", "image_size", "aspect_ratio", "resolution", "num_images", "seed",
    "num_inference_steps", "guidance_scale", "strength", "image_url", "image_urls", "mask_url",
    "output_format", "enable_safety_checker", "sync_mode", "loras", "upscale_factor")}}


def make_server(key: str = "test-key", port: int = 0, host: str = "127.0.0.1",
                queue_polls: int = 2, run_polls: int = 2, stream_interval: float = 0.3) -> ThreadingHTTPServer:
    state = FalState(key, queue_polls, run_polls, stream_interval)
    handler = type("FalHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    state.base_url = f"http://{host}:{server.server_address[1]}"
    server.state = state  # type: ignore[attr-defined]
    return server


def start(key: str = "test-key", port: int = 0, **options) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(key, port, **options)
    serve_in_thread(server, "fal-fake")
    return server, server.state.base_url  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the FAL_KEY this fake accepts")
    parser.add_argument("--queue-polls", type=int, default=2)
    parser.add_argument("--run-polls", type=int, default=2)
    parser.add_argument("--stream-interval", type=float, default=0.3, help="seconds between status stream steps")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = make_server(args.key, args.port, args.host, args.queue_polls, args.run_polls, args.stream_interval)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    serve_in_foreground(server, server.state.base_url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())


def plugin_toml(base: str, source: str = 'builtin = "fal"', extra: str = "") -> str:
    """The `[plugins.fal]` table that points the fal plugin at this fake at `base`, the
    key read from $FAL_KEY and bound to the fake; `extra` lines go into the table."""
    return f"""
[plugins.fal]
{source}
allowed_hosts = ["{base}"]
{extra}
[plugins.fal.secrets.FAL_KEY]
env = "FAL_KEY"
hosts = ["{base}"]
[plugins.fal.config]
queue_url = "{base}"
api_url = "{base}"
"""
