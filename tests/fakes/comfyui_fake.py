"""A local fake of ComfyUI's HTTP API (server v0.3.64; docs/providers/comfyui.md), for
testing Easel's comfyui plugin without a GPU. Standard library only.

Run:    python3 tests/fakes/comfyui_fake.py --port 0
        -> prints one line "LISTENING http://127.0.0.1:<port>" and serves until killed.
Import: server, base_url = start(port=0)   # serves in a thread; server.state is a ComfyState
        ...; server.shutdown()

Wire protocol (every route is also served under /api, like the real server):
  POST /prompt {"prompt": {...API-format graph...}, "client_id"}
       -> 200 {"prompt_id", "number", "node_errors": {}}
       -> 400 {"error": {"type", "message", "details", "extra_info"}, "node_errors": {id: {"errors": [...],
          "dependent_outputs": [...], "class_type"}}}; with --legacy-errors (or [fake:legacy_errors]) `error` is
          the older plain string. Validation is real for the core nodes below: unknown class_type
          (invalid_prompt), required_input_missing, bad_linked_input, return_type_mismatch,
          invalid_input_type, value_smaller_than_min / value_bigger_than_max, value_not_in_list,
          LoadImage's custom_validation_failed, prompt_no_outputs, no_prompt.
  GET  /prompt                   {"exec_info": {"queue_remaining": N}}
  GET  /history/{prompt_id}      {} until done, then {id: {prompt, outputs, status, meta}}
  GET  /history                  all finished prompts; POST /history {"delete": [...]} | {"clear": true}
  GET  /queue                    {"queue_running": [[number, id, prompt, extra_data, outputs]], "queue_pending": [...]}
  POST /queue {"delete": [...]} | {"clear": true}     removes pending prompts
  POST /interrupt [{"prompt_id"}]                     stops that running prompt (no body: all running)
  GET  /view?filename=&subfolder=&type=               the PNG (400 for ".." or a leading "/", 404 if missing)
  POST /upload/image (multipart: image, type, subfolder, overwrite) -> {"name", "subfolder", "type"}
  GET  /object_info, /object_info/{Class}             node definitions (checkpoints, samplers, schedulers, upscale
                                                      models as UpscaleModelLoader's V3 ["COMBO", {"options"}]); {} for
                                                      a class it does not have
  GET  /models, /models/checkpoints, /models/upscale_models   folder names, checkpoint / upscale model file names
       ControlNetLoader's control_net_name and LoraLoader's lora_name list `controlnets` and `loras` (CONTROLNETS and
       LORAS unless given; [] makes a server without them)
  GET  /system_stats                                  a minimal stats object
  GET  /ws?clientId=ID   a real RFC 6455 websocket: `status` on connect; for the running prompt queued with that
       client_id, execution_start, execution_cached, `executing` per node, KSampler `progress` 1..steps over
       `sample_secs` (1.5 s) with one binary preview, `executed` for outputs, execution_success, the job finishes in
       /history, `executing {node: null}`. Reconnecting while it runs: `executing {node}` without prompt_id (as
       server.py does). --ws-status N: /ws answers HTTP N instead (a proxy that refuses websockets).

Job life (deterministic, advanced by GET /history/{id} polls): `queued_polls` polls pending (default 2;
position reported through phantom jobs ahead in /queue), `running_polls` polls running (default 2),
then done: one real PNG per batch item, of the size the graph asks for (EmptyLatentImage, or
LoadImage → ImageScale → VAEEncode → RepeatLatentBatch, or LoadImage → ImageUpscaleWithModel (the factor in the
model's name, `x4`/`4x`, else 4) → ImageScale; comfyui_nodes.image_size), saved as output files. An
UpscaleModelLoader whose model_name is not in state.upscale_models fails when it runs (execution_error,
FileNotFoundError), as ComfyUI does: v0.3.64 does not check V3 combo values at /prompt. A running prompt's websocket
plays its execution instead, then finishes it. state.history_polls counts GET /history/{id}, state.ws_connections
lists every /ws request ({client_id, headers}).

Markers in the positive prompt text (any string input of the graph):
  [fake:exec_error]     runs, then fails with an execution_error on the KSampler (out of memory)
  [fake:slow]           stays running until /interrupt (then execution_interrupted) or /queue delete;
                        on the websocket the KSampler stops one step short of the end
  [fake:bad_checkpoint] validation says ckpt_name is not in the list (a checkpoint removed meanwhile)
  [fake:legacy_errors]  this prompt's 400 uses the older plain-string `error`
  [fake:fast]           done at the first poll

Node definitions, /prompt validation and output sizes live in comfyui_nodes.py.

Test hooks:
  GET    /__fake/requests  JSON list of every request: {method, path (with query), headers, body_len, json, form}
  DELETE /__fake/requests  clears that list
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from comfyui_nodes import OUTPUT_NODES, err, image_size, node_defs, validate
from fakekit import FakeHandler, make_png, serve_in_foreground, serve_in_thread

CHECKPOINTS = ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"]
UPSCALE_MODELS = ["RealESRGAN_x4plus.pth", "RealESRGAN_x2plus.pth"]
# models/controlnet: canny, depth and openpose (no scribble model), and a lineart one that is no Easel kind.
CONTROLNETS = ["control_v11p_sd15_canny.pth", "control_v11f1p_sd15_depth.pth", "control_v11p_sd15_openpose.pth",
               "control_v11p_sd15_lineart.pth"]
LORAS = ["add_detail.safetensors", "styles/pixel-art-xl.safetensors"]
MARKER = re.compile(r"\[fake:([a-z_]+)\]")




class Job:
    def __init__(self, number: float, prompt_id: str, graph: dict, extra: dict, outputs: list, markers: set[str]):
        self.number, self.id, self.graph, self.extra, self.outputs = number, prompt_id, graph, extra, outputs
        self.markers = markers
        self.polls = 0
        self.state = "pending"  # pending | running | success | error | deleted
        self.history: dict | None = None
        self.client_id = str(extra.get("client_id") or "")
        self.streamed = False  # a websocket has played (or is playing) its execution
        self.last_node: str | None = None

    def queue_item(self) -> list:
        return [self.number, self.id, self.graph, self.extra, self.outputs]


class ComfyState:
    def __init__(self, checkpoints=None, queued_polls: int = 2, running_polls: int = 2, legacy_errors: bool = False,
                 object_info: bool = True, ws_status: int = 101, sample_secs: float = 1.5, upscale_models=None,
                 controlnets=None, loras=None):
        self.checkpoints = list(CHECKPOINTS if checkpoints is None else checkpoints)
        self.upscale_models = list(UPSCALE_MODELS if upscale_models is None else upscale_models)
        self.controlnets = list(CONTROLNETS if controlnets is None else controlnets)
        self.loras = list(LORAS if loras is None else loras)
        self.queued_polls, self.running_polls = queued_polls, running_polls
        self.legacy_errors, self.object_info = legacy_errors, object_info
        self.ws_status, self.sample_secs = ws_status, sample_secs
        self.history_polls = 0
        self.ws_connections: list[dict] = []
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.number = 0
        self.counter = 0
        self.recorded: list[dict] = []
        self.base_url = ""

    # -- queue ---------------------------------------------------------------------------
    def queue(self) -> dict:
        running, pending = [], []
        for job in self.jobs.values():
            if job.state == "running":
                running.append(job.queue_item())
            elif job.state == "pending":
                pending.append(job.queue_item())
                ahead = max(0, self.queued_polls - job.polls) if "fast" not in job.markers else 0
                for k in range(ahead):  # phantom jobs queued earlier by someone else
                    pending.append([job.number - 0.5 - k * 0.01, f"other-{job.id[:8]}-{k}", {}, {}, []])
        if pending and not running:
            running.append([-1, "other-running", {}, {}, []])
        return {"queue_running": running, "queue_pending": pending}

    def advance(self, job: Job) -> None:
        """One history poll's worth of progress."""
        if job.state not in ("pending", "running"):
            return
        job.polls += 1
        if "fast" in job.markers or job.polls > self.queued_polls + self.running_polls:
            if "slow" in job.markers:
                job.state = "running"
            else:
                self.finish(job)
        elif job.polls > self.queued_polls:
            job.state = "running"

    def remaining(self) -> int:
        """exec_info.queue_remaining: prompts pending or running."""
        return sum(1 for j in self.jobs.values() if j.state in ("pending", "running"))

    def finish(self, job: Job) -> None:
        self.record_history(job, *self.result(job))

    def result(self, job: Job) -> tuple[str, bool, list, dict]:
        """(status_str, completed, messages, outputs) of running `job`; its output PNGs are saved."""
        start = int(time.time() * 1000)
        messages = [["execution_start", {"prompt_id": job.id, "timestamp": start}],
                    ["execution_cached", {"nodes": [], "prompt_id": job.id, "timestamp": start + 1}]]
        outputs: dict = {}
        if "exec_error" in job.markers:
            sampler = next((i for i, n in job.graph.items() if n["class_type"] == "KSampler"), next(iter(job.graph)))
            messages.append(["execution_error", {
                "prompt_id": job.id, "node_id": sampler, "node_type": job.graph[sampler]["class_type"], "executed": [],
                "exception_message": "Allocation on device 0 would exceed allowed memory. (out of memory)",
                "exception_type": "torch.OutOfMemoryError", "traceback": ["  File \"execution.py\", line 496, in execute\n"],
                "current_inputs": {}, "current_outputs": {}, "timestamp": start + 4000}])
            return "error", False, messages, outputs
        missing = next((i for i, n in job.graph.items() if n["class_type"] == "UpscaleModelLoader"
                        and n["inputs"].get("model_name") not in self.upscale_models), None)
        if missing is not None:  # folder_paths.get_full_path_or_raise, when the node runs
            name = job.graph[missing]["inputs"].get("model_name")
            messages.append(["execution_error", {
                "prompt_id": job.id, "node_id": missing, "node_type": "UpscaleModelLoader", "executed": [],
                "exception_message": f"Model in folder 'upscale_models' with filename '{name}' not found.",
                "exception_type": "FileNotFoundError", "traceback": [], "current_inputs": {}, "current_outputs": {},
                "timestamp": start + 10}])
            return "error", False, messages, outputs
        for node_id, node in job.graph.items():
            if node["class_type"] not in OUTPUT_NODES:
                continue
            width, height, batch = image_size(job.graph, node["inputs"]["images"][0], self.files)
            kind = "output" if node["class_type"] == "SaveImage" else "temp"
            prefix = str(node["inputs"].get("filename_prefix", "ComfyUI")) if kind == "output" else "ComfyUI_temp"
            images = []
            for index in range(batch):
                self.counter += 1
                name = f"{prefix}_{self.counter:05}_.png"
                self.files[(kind, "", name)] = make_png(width, height, f"{job.id}/{index}")
                images.append({"filename": name, "subfolder": "", "type": kind})
            outputs[node_id] = {"images": images}
        messages.append(["execution_success", {"prompt_id": job.id, "timestamp": start + 4000}])
        return "success", True, messages, outputs

    def interrupt(self, job: Job) -> None:
        node = next((i for i, n in job.graph.items() if n["class_type"] == "KSampler"), next(iter(job.graph)))
        messages = [["execution_start", {"prompt_id": job.id, "timestamp": int(time.time() * 1000)}],
                    ["execution_interrupted", {"prompt_id": job.id, "node_id": node, "node_type": job.graph[node]["class_type"],
                                               "executed": [], "timestamp": int(time.time() * 1000)}]]
        self.record_history(job, "error", False, messages, {})

    def record_history(self, job: Job, status: str, completed: bool, messages: list, outputs: dict) -> None:
        job.state = "success" if status == "success" else "error"
        job.history = {"prompt": job.queue_item(), "outputs": outputs,
                       "status": {"status_str": status, "completed": completed, "messages": messages},
                       "meta": {i: {"node_id": i, "display_node": i, "parent_node": None, "real_node_id": i} for i in outputs}}


class Handler(FakeHandler):
    state: ComfyState
    log_prefix = "comfyui-fake"
    protocol_version = "HTTP/1.1"

    def send_json(self, status: int, value: object) -> None:
        self.send(status, json.dumps(value).encode())

    def handle_any(self, method: str) -> None:
        body = self.read_body()
        url = urlsplit(self.path)
        path = url.path[4:] if url.path.startswith("/api/") else url.path
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        form = parse_multipart(self.headers.get("content-type") or "", body)
        try:  # like aiohttp's request.json(), whatever the content-type
            parsed = json.loads(body) if body and not form else None
        except ValueError:
            parsed = None
        if not path.startswith("/__fake/"):
            with self.state.lock:
                self.state.recorded.append({
                    "method": method, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_len": len(body), "json": parsed,
                    "form": {k: (v[0] if v[0] else v[1].decode(errors="replace")) for k, v in form.items()} if form else None})
        if method == "GET" and path == "/ws":
            return self.websocket(query.get("clientId", ""))  # holds the lock only while it reads the job
        with self.state.lock:
            self.route(method, path, query, body, parsed, form)

    def route(self, method: str, path: str, query: dict, body: bytes, data: object, form: dict) -> None:
        s = self.state
        if path == "/__fake/requests":
            if method == "DELETE":
                s.recorded.clear()
            return self.send_json(200, s.recorded)
        if method == "POST" and path == "/prompt":
            return self.queue_prompt(data if isinstance(data, dict) else {})
        if method == "GET" and path == "/prompt":
            return self.send_json(200, {"exec_info": {"queue_remaining": s.remaining()}})
        if method == "GET" and path.startswith("/history/"):
            s.history_polls += 1
            job = s.jobs.get(path[len("/history/"):])
            if job is None:
                return self.send_json(200, {})
            s.advance(job)
            return self.send_json(200, {job.id: job.history} if job.history else {})
        if method == "GET" and path == "/history":
            return self.send_json(200, {j.id: j.history for j in s.jobs.values() if j.history})
        if method == "POST" and path == "/history":
            data = data if isinstance(data, dict) else {}
            for job in list(s.jobs.values()):
                if job.history and (data.get("clear") or job.id in (data.get("delete") or [])):
                    del s.jobs[job.id]
            return self.send(200)
        if method == "GET" and path == "/queue":
            return self.send_json(200, s.queue())
        if method == "POST" and path == "/queue":
            data = data if isinstance(data, dict) else {}
            for job in s.jobs.values():
                if job.state == "pending" and (data.get("clear") or job.id in (data.get("delete") or [])):
                    job.state = "deleted"
            return self.send(200)
        if method == "POST" and path == "/interrupt":
            wanted = data.get("prompt_id") if isinstance(data, dict) else None
            for job in s.jobs.values():
                if job.state == "running" and (wanted is None or job.id == wanted):
                    s.interrupt(job)
            return self.send(200)
        if method == "GET" and path == "/view":
            return self.view(query)
        if method == "POST" and path == "/upload/image":
            return self.upload(form)
        if method == "GET" and path.startswith("/object_info"):
            if not s.object_info:
                return self.send(404, b"404: Not Found", "text/plain")
            defs = node_defs(s)
            name = path[len("/object_info/"):] if path.startswith("/object_info/") else None
            return self.send_json(200, defs if name is None else ({name: defs[name]} if name in defs else {}))
        if method == "GET" and path == "/models":
            return self.send_json(200, ["checkpoints", "loras", "vae", "embeddings", "upscale_models", "controlnet"])
        if method == "GET" and path == "/models/checkpoints":
            return self.send_json(200, s.checkpoints)
        if method == "GET" and path == "/models/upscale_models":
            return self.send_json(200, s.upscale_models)
        if method == "GET" and path == "/system_stats":
            return self.send_json(200, {"system": {"os": "posix", "comfyui_version": "0.3.64-fake", "python_version": sys.version},
                                        "devices": [{"name": "fake", "type": "cpu", "index": 0, "vram_total": 0, "vram_free": 0}]})
        self.send(404, b"404: Not Found", "text/plain")

    def queue_prompt(self, data: dict) -> None:
        s = self.state
        if "prompt" not in data:
            error = err("no_prompt", "No prompt provided", "No prompt provided")
            return self.send_json(400, {"error": error["message"] if s.legacy_errors else error, "node_errors": {}})
        graph = data["prompt"]
        markers = set(MARKER.findall(json.dumps(graph)))
        error, node_errors = validate(graph, s, markers)
        if error is not None:
            legacy = s.legacy_errors or "legacy_errors" in markers
            return self.send_json(400, {"error": error["message"] if legacy else error, "node_errors": node_errors})
        s.number += 1
        extra = dict(data.get("extra_data") or {})
        if "client_id" in data:
            extra["client_id"] = data["client_id"]
        prompt_id = str(data.get("prompt_id") or uuid.uuid4())
        outputs = [i for i, n in graph.items() if n["class_type"] in OUTPUT_NODES]
        s.jobs[prompt_id] = Job(float(s.number), prompt_id, graph, extra, outputs, markers)
        self.send_json(200, {"prompt_id": prompt_id, "number": s.number, "node_errors": {}})

    def view(self, query: dict) -> None:
        name, sub, kind = query.get("filename", ""), query.get("subfolder", ""), query.get("type", "output")
        if not name or name.startswith("/") or ".." in name:
            return self.send(400, b"400: Bad Request", "text/plain")
        if sub.startswith("/") or ".." in sub:
            return self.send(403, b"403: Forbidden", "text/plain")
        data = self.state.files.get((kind, sub, name))
        if data is None:
            return self.send(404, b"404: Not Found", "text/plain")
        self.send(200, data, "image/png", {"Content-Disposition": f'filename="{name}"'})

    def upload(self, form: dict) -> None:
        if "image" not in form or not form["image"][0]:
            return self.send(400, b"400: Bad Request", "text/plain")
        filename, data = form["image"]
        field = lambda k, d: form[k][1].decode() if k in form else d  # noqa: E731
        kind, sub = field("type", "input") or "input", field("subfolder", "")
        overwrite = field("overwrite", "").lower() in ("true", "1")
        name = filename.replace("\\", "/").rpartition("/")[2] or "image.png"
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        i = 1
        while not overwrite and (kind, sub, name) in self.state.files and self.state.files[(kind, sub, name)] != data:
            name = f"{stem} ({i}).{ext}" if ext else f"{stem} ({i})"
            i += 1
        self.state.files[(kind, sub, name)] = data
        self.send_json(200, {"name": name, "subfolder": sub, "type": kind})

    # -- websocket: server.py's /ws, with the messages execution.py and main.py send ----------------
    def websocket(self, client_id: str) -> None:
        s = self.state
        with s.lock:
            s.ws_connections.append({"client_id": client_id, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if s.ws_status != 101:
            return self.send(s.ws_status, f"{s.ws_status}: refused".encode(), "text/plain")
        if not self.ws_accept():  # a 400, as aiohttp answers a plain GET /ws
            return
        try:
            self.play(client_id)
            deadline = time.time() + 60
            while time.time() < deadline and not self.ws_closed(0.2):
                pass
        except OSError:  # the client went away
            pass

    def play(self, client_id: str) -> None:
        """What ComfyUI sends the client `client_id` while its prompt runs; the job finishes at the end."""
        s, now = self.state, lambda: int(time.time() * 1000)
        with s.lock:
            self.ws_text("status", {"status": {"exec_info": {"queue_remaining": s.remaining()}}, "sid": client_id})
        deadline = time.time() + 30
        while True:
            with s.lock:
                job = next((j for j in s.jobs.values()
                            if client_id and j.client_id == client_id and j.state in ("pending", "running")), None)
                if job is not None and job.state == "running":
                    if job.streamed:  # a reconnect while it runs: server.py resends the node, without prompt_id
                        return self.ws_text("executing", {"node": job.last_node}) if job.last_node else None
                    job.streamed = True
                    status, completed, messages, outputs = s.result(job)
                    break
            if job is None or time.time() > deadline or self.ws_closed(0.05):
                return
        self.ws_text("execution_start", {"prompt_id": job.id, "timestamp": now()})
        self.ws_text("execution_cached", {"nodes": [], "prompt_id": job.id, "timestamp": now()})
        failing = next((data["node_id"] for event, data in messages if event == "execution_error"), None)
        for node_id in graph_order(job.graph):
            node, job.last_node = job.graph[node_id], node_id
            self.ws_text("executing", {"node": node_id, "display_node": node_id, "prompt_id": job.id})
            if node["class_type"] == "KSampler" and not self.sample(job, node_id, node):
                break
            if node_id == failing:
                with s.lock:
                    s.record_history(job, status, completed, messages, outputs)
                self.ws_text("execution_error", next(data for event, data in messages if event == "execution_error"))
                return self.ws_text("executing", {"node": None, "prompt_id": job.id})
            if node_id in outputs:
                self.ws_text("executed", {"node": node_id, "display_node": node_id, "output": outputs[node_id], "prompt_id": job.id})
            time.sleep(0.01)
        with s.lock:
            if job.state == "running":
                self.ws_text("execution_success", {"prompt_id": job.id, "timestamp": now()})
                s.record_history(job, status, completed, messages, outputs)
            else:  # interrupted or deleted meanwhile
                self.ws_text("execution_interrupted", {"prompt_id": job.id, "node_id": job.last_node, "executed": [],
                                                       "node_type": job.graph[job.last_node]["class_type"], "timestamp": now()})
        self.ws_text("executing", {"node": None, "prompt_id": job.id})

    def sample(self, job: Job, node_id: str, node: dict) -> bool:
        """The KSampler's `progress` steps, one binary preview frame after the first; False once interrupted."""
        steps = int(node["inputs"].get("steps", 20)) if str(node["inputs"].get("steps", 20)).isdigit() else 20
        for step in range(1, (steps - 1 if job.markers & {"slow", "exec_error"} else steps) + 1):
            self.ws_text("progress", {"value": step, "max": steps, "prompt_id": job.id, "node": node_id})
            if step == 1:
                self.ws_send(0x2, struct.pack(">II", 1, 2) + make_png(16, 16, job.id))  # PREVIEW_IMAGE, PNG
            time.sleep(self.state.sample_secs / steps)
        while "slow" in job.markers and job.state == "running":
            if self.ws_closed(0.05):
                raise ConnectionResetError("the client closed the websocket")
        return job.state == "running"

    def ws_text(self, kind: str, data: dict) -> None:
        self.ws_send(0x1, json.dumps({"type": kind, "data": data}).encode())


def graph_order(graph: dict) -> list[str]:
    """Node ids in an order ComfyUI could run them: each after the nodes its inputs link to."""
    deps = {i: {str(v[0]) for v in (n.get("inputs") or {}).values() if isinstance(v, list) and len(v) == 2 and str(v[0]) in graph}
            for i, n in graph.items()}
    order: list[str] = []
    while len(order) < len(graph):
        order.append(next((i for i in graph if i not in order and deps[i] <= set(order)), next(i for i in graph if i not in order)))
    return order


def parse_multipart(content_type: str, body: bytes) -> dict:
    """{field: (filename or "", bytes)} of a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        return {}
    out = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode(errors="replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            out[name.group(1)] = (filename.group(1) if filename else "", data[:-2] if data.endswith(b"\r\n") else data)
    return out


def make_server(port: int = 0, host: str = "127.0.0.1", **options) -> ThreadingHTTPServer:
    state = ComfyState(**options)
    handler = type("ComfyHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    state.base_url = f"http://{host}:{server.server_address[1]}"
    server.state = state  # type: ignore[attr-defined]
    return server


def start(port: int = 0, **options) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(port, **options)
    serve_in_thread(server, "comfyui-fake")
    return server, server.state.base_url  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--checkpoint", action="append", help="a checkpoint file name (repeatable; default: SD1.5 and SDXL base)")
    parser.add_argument("--upscale-model", action="append",
                        help="an upscale_models file name (repeatable; default: RealESRGAN x4plus and x2plus)")
    parser.add_argument("--queued-polls", type=int, default=2)
    parser.add_argument("--running-polls", type=int, default=2)
    parser.add_argument("--legacy-errors", action="store_true", help="400s carry `error` as a plain string (older ComfyUI)")
    parser.add_argument("--no-object-info", action="store_true", help="/object_info answers 404 (exercises /models/checkpoints)")
    parser.add_argument("--ws-status", type=int, default=101, help="/ws answers this HTTP status instead of a websocket (101)")
    parser.add_argument("--sample-secs", type=float, default=1.5, help="how long the KSampler's progress steps take on /ws")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = make_server(args.port, args.host, checkpoints=args.checkpoint, queued_polls=args.queued_polls,
                         running_polls=args.running_polls, legacy_errors=args.legacy_errors, object_info=not args.no_object_info,
                         ws_status=args.ws_status, sample_secs=args.sample_secs, upscale_models=args.upscale_model)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    serve_in_foreground(server, server.state.base_url)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
