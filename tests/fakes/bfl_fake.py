"""A local fake of Black Forest Labs' FLUX API (docs/providers/bfl.md), for
testing Easel's bfl plugin without the internet. Standard library only.

Run:    python3 tests/fakes/bfl_fake.py --port 0 --key test-key
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(key="test-key", port=0)   # serves in a thread
        ...; server.shutdown()

Wire protocol (what https://api.bfl.ai does, as far as docs/providers/bfl.md knows):
  POST /v1/{model}                    create a task; 200 {id, polling_url, cost?, input_mp?, output_mp?}
                                      (cost only for FLUX.2 models, as BFL's FLUX.1 endpoints omit it)
  GET  /{region}/v1/get_result?id=ID  the task: {id, status, result, progress, details, preview}.
                                      polling_url points here: BFL answers with a regional host
                                      (api.eu2.bfl.ai …); this fake stands in with a path prefix.
  GET  /v1/get_result?id=ID           the global host: 404 {"detail": ...} for a task held by a region,
                                      so a client that rebuilds the URL instead of using polling_url fails
  GET  /delivery/{region}/results/{id}/sample.png?se=…&sp=r&sig=…
                                      the signed result URL (production: delivery.*.bfl.ai); no x-key,
                                      a wrong signature gives 403. Always a real PNG of the task's size.
Every API call needs "x-key: <key>": none -> 403 {"detail": "Not authenticated"}, a wrong one -> 401.
Status values: Pending (progress null while queued, then 0..1) -> Ready, or Request Moderated,
Content Moderated, Error, Task not found.

State machine (deterministic, per poll): `queue_polls` polls Pending with progress null (default 2),
then `run_polls` polls Pending with progress (default 2), then Ready.

Markers in the prompt script errors and timing:
  [fake:validation]         create -> 422 {"detail": [{"loc": ["body", "width"], "msg", "type"}]}
  [fake:credits]            create -> 402 {"detail": "Insufficient credits ..."}
  [fake:rate_limit]         create -> 429 {"detail": ...} with retry-after: 1
  [fake:server_error]       create -> 500 {"detail": "Internal Server Error"}
  [fake:request_moderated]  first poll -> Request Moderated, details {"Moderation Reasons": [...]}
  [fake:content_moderated]  runs, then Content Moderated with reasons
  [fake:error]              runs, then Error with details {"error": ...}
  [fake:expired]            every poll -> Task not found
  [fake:slow]               stays Pending until the test ends
  [fake:poll_rate_limit]    the first poll -> 429 with retry-after: 1, then normal
  [fake:echo_key]           runs, then Error whose message quotes the x-key header as received
                            (to prove the host redacts secrets from what the plugin sees)
Real validation also applies: prompt required; FLUX.2 width/height >= 64, multiples of 16, at most
4 MP; FLUX1.1 [pro]/[dev] 256..1440 in multiples of 32; Kontext/Ultra aspect_ratio between 21:9
and 9:21; input images must be base64 (or http URLs); steps/guidance/safety_tolerance ranges;
output_format jpeg|png. Violations -> 422 detail[] naming the field.

Test hooks (no auth):
  GET    /__fake/requests  JSON list of every request: {method, path, headers (names lower-case), body_len, json}
  DELETE /__fake/requests  clears that list
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fakekit import FakeHandler, make_png, png_size, serve_in_foreground, serve_in_thread

MARKERS = ("validation", "credits", "rate_limit", "server_error", "request_moderated", "content_moderated", "error",
           "expired", "slow", "poll_rate_limit", "echo_key")
FLUX2 = ("flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b")
FLUX1 = ("flux-pro-1.1", "flux-dev")
RATIO_MODELS = ("flux-kontext-pro", "flux-kontext-max", "flux-pro-1.1-ultra")
FILL = ("flux-pro-1.0-fill",)
STEPS = {"flux-2-flex": (1, 50), "flux-dev": (1, 50), "flux-pro-1.0-fill": (15, 50)}
GUIDANCE = {"flux-2-flex": (1.5, 10), "flux-dev": (1.5, 5), "flux-pro-1.0-fill": (1.5, 100)}
MAX_INPUTS = {"flux-2-klein-4b": 4, "flux-2-klein-9b": 4, "flux-kontext-pro": 4, "flux-kontext-max": 4}


def markers(prompt: object) -> set[str]:
    text = prompt if isinstance(prompt, str) else ""
    return {m for m in MARKERS if f"[fake:{m}]" in text}


def field_error(field: str, msg: str, kind: str, value: object = None) -> dict:
    return {"loc": ["body", field], "msg": msg, "type": kind, "input": value if not isinstance(value, str) else value[:40]}


def decoded_image(value: object) -> bytes | None:
    """The bytes of a base64 input image; None for anything else (a URL is
    accepted by BFL, but this fake cannot fetch it, so it is rejected)."""
    if not isinstance(value, str) or value.startswith("data:"):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class Task:
    def __init__(self, model: str, body: dict, scripted: set[str], key_seen: str, size: tuple[int, int]):
        self.id = str(uuid.uuid4())
        self.model, self.body, self.scripted, self.key_seen, self.size = model, body, scripted, key_seen, size
        self.polls = 0
        self.file: bytes | None = None
        self.sig = hashlib.sha256(self.id.encode()).hexdigest()[:32]


class BflState:
    def __init__(self, key: str, queue_polls: int = 2, run_polls: int = 2, region: str = "eu2"):
        self.key, self.queue_polls, self.run_polls, self.region = key, queue_polls, run_polls, region
        self.lock = threading.Lock()
        self.tasks: dict[str, Task] = {}
        self.recorded: list[dict] = []
        self.base_url = ""


class Handler(FakeHandler):
    server_version = "bfl-fake/1.0"
    state: BflState  # set on the subclass made by make_server

    def handle_any(self, method: str) -> None:
        raw = self.read_body()
        url = urlsplit(self.path)
        st = self.state
        if url.path == "/__fake/requests":
            with st.lock:
                if method == "DELETE":
                    st.recorded.clear()
                    return self.send_json(200, [])
                return self.send_json(200, list(st.recorded))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with st.lock:
            st.recorded.append({"method": method, "path": self.path, "body_len": len(raw), "json": parsed,
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
        delivery = re.fullmatch(r"/delivery/([^/]+)/results/([^/]+)/sample\.png", url.path)
        if delivery and method == "GET":
            return self.deliver(delivery.group(2), parse_qs(url.query))
        key = self.headers.get("x-key")
        if not key:
            return self.send_json(403, {"detail": "Not authenticated"})
        if key != st.key:
            return self.send_json(401, {"detail": "Invalid API key"})
        poll = re.fullmatch(r"(?:/([a-z0-9]+))?/v1/get_result", url.path)
        if poll and method == "GET":
            return self.poll(poll.group(1), (parse_qs(url.query).get("id") or [""])[0])
        create = re.fullmatch(r"/v1/([a-z0-9.\-_]+)", url.path)
        if create and method == "POST":
            return self.create(create.group(1), parsed, key)
        return self.send_json(404, {"detail": "Not Found"})

    # -- create -----------------------------------------------------------------------------
    def create(self, model: str, body: object, key: str) -> None:
        if model not in FLUX2 + FLUX1 + RATIO_MODELS + FILL:
            return self.send_json(404, {"detail": "Not Found"})
        if not isinstance(body, dict):
            return self.send_json(422, {"detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary",
                                                    "type": "dict_type"}]})
        scripted = markers(body.get("prompt"))
        if "rate_limit" in scripted:
            return self.send_json(429, {"detail": "You have exceeded the number of active tasks (24)."},
                                  {"retry-after": "1"})
        if "credits" in scripted:
            return self.send_json(402, {"detail": "Insufficient credits. Please add credits to your account."})
        if "server_error" in scripted:
            return self.send_json(500, {"detail": "Internal Server Error"})
        errors = validate(model, body)
        if "validation" in scripted:
            errors.append(field_error("width", "Input should be a multiple of 16", "multiple_of", body.get("width")))
        if errors:
            return self.send_json(422, {"detail": errors})
        task = Task(model, body, scripted, key, output_size(model, body))
        st = self.state
        with st.lock:
            st.tasks[task.id] = task
        answer = {"id": task.id, "polling_url": f"{st.base_url}/{st.region}/v1/get_result?id={task.id}"}
        if model in FLUX2:
            mp = task.size[0] * task.size[1] / 1_000_000
            answer.update(cost=round(3 + 1.5 * max(0.0, mp - 1), 2), input_mp=0.0, output_mp=round(mp, 2))
        self.send_json(200, answer)

    # -- poll -------------------------------------------------------------------------------
    def poll(self, region: str | None, task_id: str) -> None:
        st = self.state
        with st.lock:
            task = st.tasks.get(task_id)
            if task is not None and region == st.region:
                n = task.polls
                task.polls += 1
        if task is None:
            return self.send_json(200, {"id": task_id, "status": "Task not found", "result": None, "progress": None})
        if region != st.region:
            return self.send_json(404, {"detail": "Task not found on this cluster: use the polling_url"})
        status = lambda name, **extra: {"id": task.id, "status": name, "result": None, "progress": None,  # noqa: E731
                                        "details": None, "preview": None, **extra}
        if "poll_rate_limit" in task.scripted and n == 0:
            return self.send_json(429, {"detail": "Too many requests"}, {"retry-after": "1"})
        if "expired" in task.scripted:
            return self.send_json(200, status("Task not found"))
        if "request_moderated" in task.scripted:
            return self.send_json(200, status("Request Moderated", details={"Moderation Reasons": ["Derivative Works"]}))
        if n < st.queue_polls:
            return self.send_json(200, status("Pending"))
        step = n - st.queue_polls + 1
        if "slow" in task.scripted:
            return self.send_json(200, status("Pending", progress=round(min(0.5, 0.05 * step), 2)))
        if step <= st.run_polls:
            return self.send_json(200, status("Pending", progress=round(step / (st.run_polls + 1), 2)))
        if "content_moderated" in task.scripted:
            return self.send_json(200, status("Content Moderated", details={"Moderation Reasons": ["NSFW"]}))
        if "error" in task.scripted:
            return self.send_json(200, status("Error", details={"error": "Generation failed: the sampler crashed"}))
        if "echo_key" in task.scripted:
            return self.send_json(200, status("Error", details={"error": f"rejected key {task.key_seen} for this task"}))
        self.send_json(200, status("Ready", progress=1.0, result=self.render(task)))

    def render(self, task: Task) -> dict:
        st, body = self.state, task.body
        seed = body.get("seed") if isinstance(body.get("seed"), int) else int(task.id[:8], 16)
        with st.lock:
            if task.file is None:
                task.file = make_png(task.size[0], task.size[1], f"{body.get('prompt')}|{seed}|{task.model}")
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        prompt = body.get("prompt")
        if body.get("prompt_upsampling") is True:
            prompt = f"{prompt}, rendered in rich detail with dramatic light"
        now = time.time()
        sample = f"{st.base_url}/delivery/{st.region}/results/{task.id}/sample.png?se={expires}&sp=r&sig={task.sig}"
        return {"sample": sample,
                "prompt": prompt, "seed": seed, "start_time": now - 2.5, "end_time": now, "duration": 2.5}

    def deliver(self, task_id: str, query: dict) -> None:
        with self.state.lock:
            task = self.state.tasks.get(task_id)
        if task is None or task.file is None:
            return self.send(404, b"<Error><Code>BlobNotFound</Code></Error>", "application/xml")
        if (query.get("sig") or [""])[0] != task.sig:
            return self.send(403, b"<Error><Code>AuthenticationFailed</Code></Error>", "application/xml")
        self.send(200, task.file, "image/png")


def validate(model: str, body: dict) -> list[dict]:
    """422 items for what BFL's schemas refuse (docs/providers/bfl.md#inputs)."""
    errors = []
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(field_error("prompt", "Field required", "missing", prompt))
    for name in ("width", "height"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(field_error(name, "Input should be a valid integer", "int_type", value))
        elif model in FLUX2 and (value < 64 or value % 16):
            errors.append(field_error(name, "Input should be at least 64 and a multiple of 16", "value_error", value))
        elif model in FLUX1 and not (256 <= value <= 1440 and value % 32 == 0):
            errors.append(field_error(name, "Input should be between 256 and 1440 and a multiple of 32",
                                      "value_error", value))
    if model in FLUX2 and isinstance(body.get("width"), int) and isinstance(body.get("height"), int) \
            and body["width"] * body["height"] > 4_194_304:
        errors.append(field_error("width", "The image may have at most 4 megapixels", "value_error", body["width"]))
    ratio = body.get("aspect_ratio")
    if ratio is not None:
        shape = re.fullmatch(r"(\d+):(\d+)", ratio) if isinstance(ratio, str) else None
        if model not in RATIO_MODELS or not shape or int(shape[2]) == 0 or \
                not 9 / 21 - 1e-9 <= int(shape[1]) / int(shape[2]) <= 21 / 9 + 1e-9:
            errors.append(field_error("aspect_ratio", "Aspect ratio must be between 21:9 and 9:21", "value_error", ratio))
    for name, bounds in (("steps", STEPS.get(model)), ("guidance", GUIDANCE.get(model))):
        value = body.get(name)
        if value is not None and (bounds is None or not isinstance(value, (int, float)) or
                                  not bounds[0] <= value <= bounds[1]):
            errors.append(field_error(name, f"Input should be between {bounds[0]} and {bounds[1]}" if bounds
                                      else "Extra inputs are not permitted", "value_error", value))
    tolerance = body.get("safety_tolerance")
    top = 5 if model in FLUX2 else 6
    if tolerance is not None and (not isinstance(tolerance, int) or not 0 <= tolerance <= top):
        errors.append(field_error("safety_tolerance", f"Input should be less than or equal to {top}", "less_than_equal",
                                  tolerance))
    if body.get("output_format") not in (None, "jpeg", "png"):
        errors.append(field_error("output_format", "Input should be 'jpeg' or 'png'", "enum", body.get("output_format")))
    image_keys = [k for k in body if re.fullmatch(r"input_image(_\d+)?", k)]
    if image_keys and model not in FLUX2 + ("flux-kontext-pro", "flux-kontext-max"):
        errors.append(field_error(image_keys[0], "Extra inputs are not permitted", "extra_forbidden"))
    if len(image_keys) > MAX_INPUTS.get(model, 8):
        errors.append(field_error(image_keys[-1], "Extra inputs are not permitted", "extra_forbidden"))
    for name in image_keys + [k for k in ("image", "mask") if k in body]:
        if decoded_image(body[name]) is None:
            errors.append(field_error(name, "Invalid base64 image", "value_error", body[name]))
    if model in FILL:
        for name in ("image", "mask"):
            if name not in body:
                errors.append(field_error(name, "Field required", "missing"))
    return errors


def output_size(model: str, body: dict) -> tuple[int, int]:
    """Pixel size of the output, the way the endpoint reads its input."""
    first = decoded_image(body.get("input_image") or body.get("image"))
    input_size = png_size(first) if first else None
    if isinstance(body.get("width"), int) and isinstance(body.get("height"), int):
        return body["width"], body["height"]
    if model in RATIO_MODELS:
        ratio = body.get("aspect_ratio")
        if isinstance(ratio, str):
            w, h = (int(x) for x in ratio.split(":"))
            area = 4_000_000 if model == "flux-pro-1.1-ultra" else 1024 * 1024
            return max(16, round(math.sqrt(area * w / h) / 16) * 16), max(16, round(math.sqrt(area * h / w) / 16) * 16)
        if input_size:
            return input_size
        return (2752, 1536) if model == "flux-pro-1.1-ultra" else (1024, 1024)
    if input_size:
        return input_size
    return (1024, 768) if model in FLUX1 else (1024, 1024)


def make_server(key: str = "test-key", port: int = 0, host: str = "127.0.0.1", queue_polls: int = 2,
                run_polls: int = 2, region: str = "eu2") -> ThreadingHTTPServer:
    state = BflState(key, queue_polls, run_polls, region)
    handler = type("BflHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    state.base_url = f"http://{host}:{server.server_address[1]}"
    server.state = state  # type: ignore[attr-defined]
    return server


def start(key: str = "test-key", port: int = 0, **options) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(key, port, **options)
    serve_in_thread(server, "bfl-fake")
    return server, server.state.base_url  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the BFL_API_KEY this fake accepts")
    parser.add_argument("--queue-polls", type=int, default=2)
    parser.add_argument("--run-polls", type=int, default=2)
    parser.add_argument("--region", default="eu2")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = make_server(args.key, args.port, args.host, args.queue_polls, args.run_polls, args.region)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    serve_in_foreground(server, server.state.base_url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
