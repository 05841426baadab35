"""A fake __TITLE__ API on a loopback port (standard library only), speaking
the protocol in README.md: submit, poll (queued -> running -> succeeded, one
step per poll), cancel, and PNG files. It accepts the key KEY; a prompt
containing "[fail]" makes the job fail, "[busy]" answers 429.

The tests start it with `start()`. To try the plugin by hand:
    python fake_upstream.py 8099     # then base_url = "http://127.0.0.1:8099"
"""

import base64
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The only API key the fake accepts.
KEY = "test-key"

# An 8x8 red PNG, served for every image URL.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR42mO44KCAFTEMLQkA3ntMAenV39QAAAAASUVORK5CYII="
)


class Handler(BaseHTTPRequestHandler):
    # Jobs by id: {"polls": int, "count": int, "fail": bool, "cancelled": bool}.
    # Set per server by start().
    jobs: dict
    lock: threading.Lock

    def do_GET(self):
        if re.fullmatch(r"/files/[\w.-]+\.png", self.path):
            return self.answer(200, PNG, "image/png")
        if not self.authorized():
            return
        match = re.fullmatch(r"/v1/generations/([\w.-]+)", self.path)
        with self.lock:
            job = self.jobs.get(match.group(1)) if match else None
            if job is None:
                return self.send_json(404, {"error": "no such generation"})
            self.send_json(200, self.status_of(match.group(1), job))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if not self.authorized():
            return
        if self.path == "/v1/generations":
            return self.submit(body)
        match = re.fullmatch(r"/v1/generations/([\w.-]+)/cancel", self.path)
        with self.lock:
            job = self.jobs.get(match.group(1)) if match else None
            if job is None:
                return self.send_json(404, {"error": "no such generation"})
            job["cancelled"] = True
        self.send_json(200, {})

    def submit(self, body: bytes):
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return self.send_json(400, {"error": "the body is not a JSON object"})
        prompt = request.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self.send_json(422, {"error": "prompt is required", "field": "prompt"})
        for side in ("width", "height"):
            value = request.get(side)
            if not isinstance(value, int) or not 256 <= value <= 2048 or value % 64:
                return self.send_json(422, {"error": "must be 256..2048, a multiple of 64", "field": side})
        count = request.get("num_images", 1)
        if not isinstance(count, int) or not 1 <= count <= 4:
            return self.send_json(422, {"error": "must be 1..4", "field": "num_images"})
        if "[busy]" in prompt:
            return self.send_json(429, {"error": "slow down"}, {"retry-after": "1"})
        with self.lock:
            job_id = f"gen_{len(self.jobs) + 1}"
            self.jobs[job_id] = {"polls": 0, "count": count, "fail": "[fail]" in prompt, "cancelled": False}
        self.send_json(200, {"id": job_id})

    def status_of(self, job_id: str, job: dict) -> dict:
        """Each poll moves the job one step: queued, running at 50 %, finished."""
        job["polls"] += 1
        if job["cancelled"]:
            return {"status": "failed", "error": "cancelled"}
        if job["polls"] == 1:
            return {"status": "queued", "progress": 0.0}
        if job["polls"] == 2:
            return {"status": "running", "progress": 0.5}
        if job["fail"]:
            return {"status": "failed", "progress": 1.0, "error": "the model could not draw this"}
        host, port = self.server.server_address[:2]
        base = f"http://{host}:{port}"
        images = [f"{base}/files/{job_id}-{i}.png" for i in range(job["count"])]
        return {"status": "succeeded", "progress": 1.0, "images": images}

    def authorized(self) -> bool:
        if self.headers.get("authorization") == f"Bearer {KEY}":
            return True
        self.send_json(401, {"error": "invalid API key"})
        return False

    def send_json(self, status: int, body: dict, headers: dict | None = None):
        self.answer(status, json.dumps(body).encode(), "application/json", headers)

    def answer(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # keep test output quiet


def start(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve on 127.0.0.1:port (0 = a free port) in a background thread.
    Returns the server (call .shutdown() when done) and its base URL."""
    handler = type("FakeHandler", (Handler,), {"jobs": {}, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


if __name__ == "__main__":
    server, url = start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"fake __TITLE__ API at {url} (key: {KEY}); Ctrl-C stops it")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
