"""A local fake of Replicate's predictions API (docs/providers/replicate.md), for
testing Easel's Replicate plugin without the internet. Standard library only.

Run:    python3 tests/fakes/replicate_fake.py --port 0 --key test-key
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
        Point the plugin's base_url at that address (with or without /v1).
Import: server, base_url = start(key="test-key", port=0)   # serves in a thread
        ...; server.shutdown()

Wire protocol (what https://api.replicate.com does):
  POST /v1/models/{owner}/{name}/predictions  {"input": {...}} -> 201 prediction ("version": "hidden")
  POST /v1/predictions                        {"version": "<64 hex>" | "owner/name[:<64 hex>]", "input"}
  GET  /v1/models/{owner}/{name}              the model, with latest_version.openapi_schema (components.schemas.Input:
                                              SDXL's inputs for every model here); owner "nobody" -> 404
  GET  /v1/models/{owner}/{name}/versions/{id} the version, with its openapi_schema
  GET  /v1/predictions/{id}                   the prediction object
  POST /v1/predictions/{id}/cancel            -> 200 the prediction, now "canceled"
  GET  /stream/v1/files/bcwr-{id}             the prediction's server-sent-event stream, its urls.stream
                                              (production: https://stream.replicate.com/v1/files/bcwr-...)
  GET  /files/{name}.png                      output files (production: https://replicate.delivery/...),
                                              real PNGs of the size asked for (no auth unless
                                              --file-auth, since the docs advise sending it)
The prediction object carries id, model, version, input, logs, output, error, status,
created_at/started_at/completed_at, metrics (when terminal) and absolute
urls.get/urls.cancel/urls.web/urls.stream built from this server's own address (urls.stream
only for models that stream: every prediction here but those with [fake:no_stream]).

The stream (Accept: text/event-stream; auth as for the API, else 401 JSON; unknown -> 404 JSON)
answers 200 text/event-stream and, flushed event by event every --stream-interval seconds
(default 0.25): `event: logs` "Using seed: N" (the prediction goes "processing"), then
`stream_steps` (default 4) tqdm lines " 25%|██▌       | 1/4 [...]" ... "100%|...", then finishes it:
`event: output` (each output URL) and `event: done` `{}`; failed -> `event: error`
`{"detail": ...}` then `event: done` `{"reason": "error"}`; canceled -> `event: done`
`{"reason": "canceled"}`; then the stream ends. [fake:slow] sends `logs` "still generating"
until cancelled. A stream ends after --stream-max seconds (default 30) without `done`.
A prediction whose stream was opened is driven by its stream (as by the clock at Replicate):
plain GETs no longer step it. Stream ids look like Replicate's ("1690212292:0").
Auth: "Authorization: Bearer <key>" (the older "Token <key>" also works); otherwise
401 {"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}.

State machine (deterministic, per GET poll): `starting_polls` polls "starting" (default 2),
`processing_polls` polls "processing" with tqdm-style logs (default 2), then "succeeded" with
`output` = a list of URLs (one per num_outputs), or one URL string for google/nano-banana*.
"Cancel-After: <duration>" on create (`30s`, `5m`, `1h30m`, bare seconds; at least 5 s): a
prediction still unfinished that long after its creation is "canceled" by the fake itself
(Prediction.canceled_by = "cancel-after"; a cancel call sets "request"); a malformed or too
short value -> 400 [M: Replicate's exact answer to a bad value is not documented].
"Prefer: wait[=N]" on create: a prompt with [fake:fast] finishes inside the create call
(status succeeded/failed in the 201); any other prediction "outlives the wait", which the
fake shortens to --wait-cap seconds (default 0.2), and comes back "starting".

Markers in input.prompt script errors and timing:
  [fake:validation]    create -> 422 RFC 7807 body with invalid_fields on input.aspect_ratio
  [fake:nsfw]          runs, then "failed" with cog-flux's NSFW error string
  [fake:rate_limit]    create -> 429 {"detail": "Request was throttled..."} with retry-after: 1
  [fake:server_error]  create -> 500 {"title","detail","status"}
  [fake:model_error]   runs, then "failed" with "CUDA out of memory"
  [fake:slow]          stays "processing" until cancelled
  [fake:fast]          finishes at once when the create call has Prefer: wait
  [fake:echo_auth]     processing logs (and the stream's) end with the Authorization header as received
  [fake:no_stream]     a model without streaming: no urls.stream, progress only through GETs
A wrong or missing token gives 401. Real validation also applies: a missing prompt,
num_outputs outside 1..4, an unknown aspect_ratio or output_format -> 422 invalid_fields;
a malformed version -> 422 "Invalid version or not permitted".

nightmareai/real-esrgan (docs/providers/replicate.md#upscaling), a community model: created through
POST /v1/predictions with "version": ESRGAN_VERSION (or "nightmareai/real-esrgan:<that version>");
the fake knows that version's model. Its input: image required (the fake reads PNG data: URIs only),
scale a number 0..10 (default 4), face_enhance a boolean; no prompt. Output: one URL string (not a
list) to a real PNG of int(width * scale) x int(height * scale), as Real-ESRGAN sizes it.

Test hooks (no auth):
  GET    /__fake/requests  JSON list of every request: {method, path, headers (names lower-case), body_len, json}
  DELETE /__fake/requests  clears that list
  GET    /__fake/counts    {"prediction_gets": N, "stream_opens": M}: plain GETs of predictions
                           (not cancels) and streams opened, over all predictions (each Prediction
                           also counts its own .gets and .stream_opens)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import string
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from fakekit import FakeHandler, data_uri_png_size, make_png, serve_in_foreground, serve_in_thread

RATIOS = {"1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21", "4:3", "3:4", "match_input_image"}
FORMATS = {"webp", "jpg", "png"}
TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
MARKERS = ("validation", "nsfw", "rate_limit", "server_error", "model_error", "slow", "fast", "echo_auth", "no_stream")
TERMINAL = ("succeeded", "failed", "canceled")
NSFW_ERROR = "All generated images contained NSFW content. Try running it again with a different prompt."
# nightmareai/real-esrgan's pinned version (plugins/replicate/src/upscale.rs) and its model.
ESRGAN = "nightmareai/real-esrgan"
ESRGAN_VERSION = "b3ef194191d13140337468c916c2c5b96dd0cb06dffc032a022a31807f6a5ea8"
KNOWN_VERSIONS = {ESRGAN_VERSION: ESRGAN}
VERSION = re.compile(r"^(?:[a-z0-9_.-]+/[a-z0-9_.-]+(?::[0-9a-f]{64})?|[0-9a-f]{64})$")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def problem(status: int, title: str, detail: str, **extra: object) -> dict:
    return {"title": title, "detail": detail, "status": status, **extra}


def invalid(fields: list[dict]) -> dict:
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return problem(422, "Input validation failed", detail, invalid_fields=fields)


class Prediction:
    def __init__(self, model: str, version: str, inp: dict, scripted: set[str], auth: str):
        self.id = "".join(random.choices(string.ascii_lowercase + string.digits, k=26))
        self.model, self.version, self.input = model, version, inp
        self.scripted, self.auth = scripted, auth
        self.polls = 0
        self.status = "starting"
        self.logs = ""
        self.output: object = None
        self.error: str | None = None
        self.created_at, self.started_at, self.completed_at = now(), None, None
        self.created = time.monotonic()
        self.cancel_after: float | None = None  # seconds, from the Cancel-After header
        self.canceled_by: str | None = None  # "request" (POST .../cancel) or "cancel-after"
        self.streams = "no_stream" not in scripted  # whether it has urls.stream
        self.streamed = False  # a stream was opened: the stream drives it, not GETs
        self.stream_step = 0  # tqdm steps the stream has shown
        self.gets = 0  # plain GETs of this prediction
        self.stream_opens = 0


def parse_duration(text: str) -> float | None:
    """Seconds in a Cancel-After value (`30s`, `5m`, `1h30m`, `90`), or None."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or not parts:
        return None
    h, m, s = (int(g or 0) for g in parts.groups())
    return float(h * 3600 + m * 60 + s)


class ReplicateState:
    def __init__(self, key: str, starting_polls: int = 2, processing_polls: int = 2,
                 wait_cap: float = 0.2, file_auth: bool = False, stream_steps: int = 4,
                 stream_interval: float = 0.25, stream_max: float = 30.0):
        self.key = key
        self.starting_polls, self.processing_polls = starting_polls, processing_polls
        self.wait_cap, self.file_auth = wait_cap, file_auth
        self.stream_steps, self.stream_interval, self.stream_max = max(1, stream_steps), stream_interval, stream_max
        self.counts = {"prediction_gets": 0, "stream_opens": 0}
        self.lock = threading.Lock()
        self.predictions: dict[str, Prediction] = {}
        self.files: dict[str, bytes] = {}
        self.recorded: list[dict] = []
        self.base_url = ""

    def as_json(self, p: Prediction) -> dict:
        base = f"{self.base_url}/v1/predictions/{p.id}"
        body = {
            "id": p.id, "model": p.model, "version": p.version, "input": p.input, "logs": p.logs,
            "output": p.output, "data_removed": False, "error": p.error, "status": p.status, "source": "api",
            "created_at": p.created_at, "started_at": p.started_at, "completed_at": p.completed_at,
            "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"{self.base_url}/p/{p.id}"},
        }
        if p.streams:
            body["urls"]["stream"] = self.stream_url(p)
        if p.status in ("succeeded", "failed", "canceled"):
            body["metrics"] = {"predict_time": 0.42, "total_time": 0.5}
        return body

    def stream_url(self, p: Prediction) -> str:
        return f"{self.base_url}/stream/v1/files/bcwr-{p.id}"

    def expire(self, p: Prediction) -> None:
        """Cancel `p` if its Cancel-After has passed and it is unfinished (under the lock)."""
        if p.status in ("succeeded", "failed", "canceled") or p.cancel_after is None:
            return
        if time.monotonic() - p.created >= p.cancel_after:
            p.status, p.completed_at, p.canceled_by = "canceled", now(), "cancel-after"

    def advance(self, p: Prediction) -> None:
        """One poll's worth of progress (under the lock)."""
        self.expire(p)
        if p.status in TERMINAL or p.streamed:
            return
        n = p.polls
        p.polls += 1
        if n < self.starting_polls:
            p.status = "starting"
            return
        step = n - self.starting_polls + 1
        if "slow" in p.scripted or step <= self.processing_polls:
            p.status, p.started_at = "processing", p.started_at or now()
            total = max(self.processing_polls, 1)
            lines = [f"Using seed: {self.seed(p)}"]
            for i in range(1, min(step, total) + 1):
                pct = round(100 * i / total)
                bar = "█" * (pct // 10) + " " * (10 - pct // 10)
                lines.append(f"{pct:3d}%|{bar}| {i}/{total} [00:0{i}<00:00,  2.00it/s]")
            if "echo_auth" in p.scripted:
                lines.append(f"authorization header: {p.auth}")
            p.logs = "\n".join(lines) + "\n"
            return
        self.finish(p)

    def stream_events(self, p: Prediction, auth: str) -> tuple[list[tuple[str, str]], bool]:
        """The events one stream tick sends, and whether the stream is over (under the lock)."""
        self.expire(p)
        if p.status not in TERMINAL:
            if p.status == "starting":
                p.status, p.started_at = "processing", p.started_at or now()
                line = f"Using seed: {self.seed(p)}"
                p.logs = line + "\n"
                return [("logs", line)], False
            if "slow" in p.scripted:
                p.stream_step += 1
                return [("logs", f"still generating ({p.stream_step})")], False
            total = self.stream_steps
            if p.stream_step < total:
                p.stream_step += 1
                i = p.stream_step
                pct = round(100 * i / total)
                bar = "█" * (pct // 10) + " " * (10 - pct // 10)
                lines = [f"{pct:3d}%|{bar}| {i}/{total} [00:0{i}<00:00,  2.00it/s]"]
                if i == total and "echo_auth" in p.scripted:
                    lines.append(f"authorization header: {auth}")
                p.logs += "".join(line + "\n" for line in lines)
                return [("logs", line) for line in lines], False
            self.finish(p)
        if p.status == "succeeded":
            urls = p.output if isinstance(p.output, list) else [p.output]
            return [("output", url) for url in urls] + [("done", "{}")], True
        if p.status == "failed":
            return [("error", json.dumps({"detail": p.error})), ("done", json.dumps({"reason": "error"}))], True
        return [("done", json.dumps({"reason": "canceled"}))], True

    def finish(self, p: Prediction) -> None:
        p.started_at = p.started_at or now()
        p.completed_at = now()
        if "nsfw" in p.scripted:
            p.status, p.error = "failed", NSFW_ERROR
        elif "model_error" in p.scripted:
            p.status, p.error = "failed", "CUDA out of memory. Tried to allocate 2.00 GiB"
        else:
            p.status, p.output = "succeeded", self.render(p)

    def seed(self, p: Prediction) -> int:
        seed = p.input.get("seed")
        return seed if isinstance(seed, int) else int(hashlib.sha256(p.id.encode()).hexdigest()[:6], 16)

    def render(self, p: Prediction) -> object:
        if p.model == ESRGAN:
            return self.render_esrgan(p)
        width, height = output_size(p.input)
        ext = "png"
        urls = []
        count = 1 if "nano-banana" in p.model else p.input.get("num_outputs", 1)
        for i in range(count):
            name = f"{p.id}-out-{i}.{ext}"
            self.files[name] = make_png(width, height, f"{p.input.get('prompt')}|{self.seed(p)}|{i}")
            urls.append(f"{self.base_url}/files/{name}")
        return urls[0] if "nano-banana" in p.model else urls


    def render_esrgan(self, p: Prediction) -> str:
        """Real-ESRGAN's output: one URL string to the input upscaled by `scale`."""
        width, height = esrgan_size(p.input)
        name = f"{p.id}-out.png"
        self.files[name] = make_png(width, height, f"upscaled|{p.id}")
        return f"{self.base_url}/files/{name}"


def esrgan_size(inp: dict) -> tuple[int, int]:
    """int(side * scale), as Real-ESRGAN's RealESRGANer.enhance resizes (a tiny epsilon keeps 2.0 * 427 whole)."""
    width, height = data_uri_png_size(inp["image"])
    scale = inp.get("scale", 4)
    return max(1, int(width * scale + 1e-9)), max(1, int(height * scale + 1e-9))


def validate_esrgan(inp: dict) -> list[dict]:
    """The input checks of nightmareai/real-esrgan's schema, as invalid_fields."""
    fields = []
    if data_uri_png_size(inp.get("image")) is None:
        fields.append({"type": "required", "field": "input", "description": "image is required (the fake reads PNG data: URIs only)"})
    scale = inp.get("scale", 4)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        fields.append({"type": "invalid_type", "field": "input.scale", "description": "Invalid type. Expected: number"})
    elif scale < 0:
        fields.append({"type": "number_gte", "field": "input.scale", "description": "Must be greater than or equal to 0"})
    elif scale > 10:
        fields.append({"type": "number_lte", "field": "input.scale", "description": "Must be less than or equal to 10"})
    if "face_enhance" in inp and not isinstance(inp["face_enhance"], bool):
        fields.append({"type": "invalid_type", "field": "input.face_enhance", "description": "Invalid type. Expected: boolean"})
    return fields


def output_size(inp: dict) -> tuple[int, int]:
    """About one megapixel at the requested ratio, or width/height, or the input's size."""
    if isinstance(inp.get("width"), int) and isinstance(inp.get("height"), int):
        return inp["width"], inp["height"]
    first = inp.get("image") or inp.get("input_image") or (inp.get("image_input") or [None])[0]
    ratio = inp.get("aspect_ratio") or ("match_input_image" if first else "1:1")
    if ratio == "match_input_image":
        w, h = data_uri_png_size(first) or (1, 1)
    else:
        w, h = (int(x) for x in ratio.split(":"))
    if "resolution" in inp:
        edge = TIERS.get(str(inp["resolution"]).upper(), 1024)
        return (edge, max(16, round(edge * h / w))) if w >= h else (max(16, round(edge * w / h)), edge)
    width = round(math.sqrt(1024 * 1024 * w / h) / 16) * 16
    return width, max(16, round(width * h / w / 16) * 16)


class Handler(FakeHandler):
    server_version = "replicate-fake/1.0"
    state: ReplicateState  # set on the subclass made by make_server

    def handle_any(self, method: str) -> None:
        raw = self.read_body()
        path = urlsplit(self.path).path
        st = self.state
        if path == "/__fake/requests":
            with st.lock:
                if method == "DELETE":
                    st.recorded.clear()
                return self.send_json(200, list(st.recorded))
        if path == "/__fake/counts":
            with st.lock:
                return self.send_json(200, dict(st.counts))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with st.lock:
            st.recorded.append({"method": method, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body_len": len(raw), "json": parsed})
        auth = self.headers.get("Authorization", "")
        authorized = auth in (f"Bearer {st.key}", f"Token {st.key}")
        if path.startswith("/files/") and method == "GET":
            if st.file_auth and not authorized:
                return self.send_json(401, problem(401, "Unauthenticated", "You did not pass a valid authentication token"))
            return self.serve_file(path[len("/files/"):])
        if not authorized:
            return self.send_json(401, problem(401, "Unauthenticated", "You did not pass a valid authentication token"))
        if (m := re.fullmatch(r"/stream/v1/files/bcwr-([a-z0-9]+)", path)) and method == "GET":
            with st.lock:
                p = st.predictions.get(m.group(1))
            if p is None or not p.streams:
                return self.send_json(404, problem(404, "Not found", "The requested stream could not be found."))
            return self.serve_stream(p, auth)
        if (m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)(?:/versions/([0-9a-f]{64}))?", path)) and method == "GET":
            return self.model_answer(m.group(1), m.group(2), m.group(3))
        if m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path):
            if method == "POST":
                return self.create(f"{m.group(1)}/{m.group(2)}", parsed, version_required=False, auth=auth)
        elif path == "/v1/predictions" and method == "POST":
            return self.create(None, parsed, version_required=True, auth=auth)
        elif m := re.fullmatch(r"/v1/predictions/([a-z0-9]+)(/cancel)?", path):
            with st.lock:
                p = st.predictions.get(m.group(1))
                if p is None:
                    return self.send_json(404, problem(404, "Not found", "The requested prediction could not be found."))
                if m.group(2) and method == "POST":
                    st.expire(p)
                    if p.status not in ("succeeded", "failed", "canceled"):
                        p.status, p.completed_at, p.canceled_by = "canceled", now(), "request"
                    return self.send_json(200, st.as_json(p))
                if not m.group(2) and method == "GET":
                    st.counts["prediction_gets"] += 1
                    p.gets += 1
                    st.advance(p)
                    return self.send_json(200, st.as_json(p))
        self.send_json(404, problem(404, "Not found", "The requested resource could not be found."))

    def model_answer(self, owner: str, name: str, version: str | None) -> None:
        """The model (or one version) as Replicate answers it: the version's
        `openapi_schema` has `components.schemas.Input`, the model's input schema
        (docs/providers/replicate.md#model-schemas)."""
        if owner == "nobody":
            return self.send_json(404, {"detail": "Not found.", "status": 404})
        schema = {"openapi": "3.0.2", "components": {"schemas": {"Input": SDXL_INPUT, "Output": {
            "type": "array", "items": {"type": "string", "format": "uri"}}}}}
        vid = version or "a00d0b7dcbb9c3fbb34ba87d2d5b46c56969c84a628bf778a7fdaec30b1b99c5"
        ver = {"id": vid, "created_at": "2024-01-01T00:00:00Z", "cog_version": "0.9.0", "openapi_schema": schema}
        if version:
            return self.send_json(200, ver)
        return self.send_json(200, {"url": f"https://replicate.com/{owner}/{name}", "owner": owner, "name": name,
                                    "visibility": "public", "run_count": 1, "latest_version": ver})

    def create(self, model: str | None, body: object, version_required: bool, auth: str) -> None:
        st = self.state
        if not isinstance(body, dict):
            return self.send_json(400, problem(400, "Bad request", "The request body must be a JSON object."))
        version = "hidden"
        if version_required:
            ref = body.get("version")
            if not isinstance(ref, str) or not VERSION.match(ref):
                return self.send_json(422, problem(422, "Invalid version or not permitted",
                                                   "The specified version does not exist (or perhaps you don't have permission to use it?)"))
            name, _, hexid = ref.partition(":")
            version = hexid or (ref if "/" not in ref else "hidden")
            model = name if "/" in name else KNOWN_VERSIONS.get(version, "owner/model")
        inp = body.get("input")
        if not isinstance(inp, dict):
            return self.send_json(422, invalid([{"type": "required", "field": "input", "description": "input is required"}]))
        scripted = {m for m in MARKERS if f"[fake:{m}]" in str(inp.get("prompt", ""))}
        if "rate_limit" in scripted:
            return self.send_json(429, {"detail": "Request was throttled. Expected available in 1 second.", "status": 429},
                                  {"Retry-After": "1"})
        if "server_error" in scripted:
            return self.send_json(500, problem(500, "Internal Server Error", "Something went wrong on our end; please retry."))
        fields = validate_esrgan(inp) if model == ESRGAN else validate(inp)
        if "validation" in scripted:
            fields.append({"type": "enum", "field": "input.aspect_ratio",
                           "description": "aspect_ratio must be one of the following: \"1:1\", \"16:9\", \"21:9\", \"2:3\", "
                                          "\"3:2\", \"4:5\", \"5:4\", \"9:16\", \"9:21\""})
        if fields:
            return self.send_json(422, invalid(fields))
        cancel_after = self.headers.get("Cancel-After")
        seconds = None if cancel_after is None else parse_duration(cancel_after)
        if cancel_after is not None and (seconds is None or seconds < 5):
            return self.send_json(400, problem(400, "Invalid Cancel-After header",
                                               f"Cancel-After must be a duration of at least 5s, got {cancel_after!r}"))
        p = Prediction(model or "owner/model", version, inp, scripted, auth)
        p.cancel_after = seconds
        with st.lock:
            st.predictions[p.id] = p
        prefer = self.headers.get("Prefer", "")
        if prefer.startswith("wait"):
            if "fast" in scripted:
                with st.lock:
                    st.finish(p)
            else:
                wait = prefer.partition("=")[2]
                time.sleep(min(float(wait) if wait.isdigit() else 60.0, st.wait_cap))
        with st.lock:
            self.send_json(201, st.as_json(p))

    def serve_stream(self, p: Prediction, auth: str) -> None:
        """The prediction's event stream, flushed event by event until `done`."""
        st = self.state
        with st.lock:
            st.counts["stream_opens"] += 1
            p.stream_opens += 1
            p.streamed = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        started, serial = time.monotonic(), 0
        try:
            while time.monotonic() - started < st.stream_max:
                with st.lock:
                    events, over = st.stream_events(p, auth)
                for name, data in events:
                    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
                    self.wfile.write(f"event: {name}\nid: {int(time.time())}:{serial}\n{lines}\n".encode())
                    serial += 1
                self.wfile.flush()
                if over:
                    return
                time.sleep(st.stream_interval)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped listening (its window passed, or it was cancelled)

    def serve_file(self, name: str) -> None:
        with self.state.lock:
            data = self.state.files.get(name)
        if data is None:
            return self.send_json(404, problem(404, "Not found", "File not found"))
        self.send(200, data, "image/png")


# The input schema of stability-ai/sdxl as cog publishes it (abridged: the fields Easel maps,
# plus scheduler and refine, which cog writes as enums).
SDXL_INPUT = {
    "type": "object", "title": "Input", "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
        "negative_prompt": {"type": "string", "x-order": 1},
        "image": {"type": "string", "format": "uri", "x-order": 2},
        "mask": {"type": "string", "format": "uri", "x-order": 3},
        "width": {"type": "integer", "default": 1024, "x-order": 4},
        "height": {"type": "integer", "default": 1024, "x-order": 5},
        "num_outputs": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4, "x-order": 6},
        "scheduler": {"enum": ["DDIM", "DPMSolverMultistep", "HeunDiscrete", "KarrasDPM", "K_EULER_ANCESTRAL",
                               "K_EULER", "PNDM"], "type": "string", "default": "K_EULER", "x-order": 7},
        "num_inference_steps": {"type": "integer", "default": 50, "minimum": 1, "maximum": 500, "x-order": 8},
        "guidance_scale": {"type": "number", "default": 7.5, "minimum": 1, "maximum": 50, "x-order": 9},
        "prompt_strength": {"type": "number", "default": 0.8, "minimum": 0, "maximum": 1, "x-order": 10},
        "seed": {"type": "integer", "x-order": 11},
        "refine": {"enum": ["no_refiner", "expert_ensemble_refiner", "base_image_refiner"], "type": "string",
                   "default": "no_refiner", "x-order": 12},
        "disable_safety_checker": {"type": "boolean", "default": False, "x-order": 13},
    },
}


def validate(inp: dict) -> list[dict]:
    fields = []
    if not isinstance(inp.get("prompt"), str) or not inp["prompt"].strip():
        fields.append({"type": "required", "field": "input", "description": "prompt is required"})
    n = inp.get("num_outputs", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4:
        fields.append({"type": "number_lte", "field": "input.num_outputs", "description": "Must be less than or equal to 4"})
    if "aspect_ratio" in inp and inp["aspect_ratio"] not in RATIOS:
        fields.append({"type": "enum", "field": "input.aspect_ratio",
                       "description": f"aspect_ratio must be one of the following: {', '.join(sorted(RATIOS))}"})
    if "output_format" in inp and inp["output_format"] not in FORMATS:
        fields.append({"type": "enum", "field": "input.output_format",
                       "description": "output_format must be one of the following: \"webp\", \"jpg\", \"png\""})
    return fields


def make_server(key: str = "test-key", port: int = 0, host: str = "127.0.0.1", **options) -> ThreadingHTTPServer:
    state = ReplicateState(key, **options)
    handler = type("ReplicateHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    state.base_url = f"http://{host}:{server.server_address[1]}"
    server.state = state  # type: ignore[attr-defined]
    return server


def start(key: str = "test-key", port: int = 0, **options) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(key, port, **options)
    serve_in_thread(server, "replicate-fake")
    return server, server.state.base_url  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the REPLICATE_API_TOKEN this fake accepts")
    parser.add_argument("--starting-polls", type=int, default=2)
    parser.add_argument("--processing-polls", type=int, default=2)
    parser.add_argument("--wait-cap", type=float, default=0.2, help="longest Prefer: wait hold, seconds")
    parser.add_argument("--file-auth", action="store_true", help="require the token on /files downloads")
    parser.add_argument("--stream-steps", type=int, default=4, help="tqdm steps a prediction stream shows")
    parser.add_argument("--stream-interval", type=float, default=0.25, help="seconds between stream events")
    parser.add_argument("--stream-max", type=float, default=30.0, help="longest stream, seconds")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = make_server(args.key, args.port, args.host, starting_polls=args.starting_polls,
                         processing_polls=args.processing_polls, wait_cap=args.wait_cap, file_auth=args.file_auth,
                         stream_steps=args.stream_steps, stream_interval=args.stream_interval, stream_max=args.stream_max)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    serve_in_foreground(server, server.state.base_url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
