"""The four provider calls — describe, submit, poll, cancel — over BFL's
task API, written against a small `Host` interface (HTTP, config, secret
check, log, progress) so the whole flow runs natively in tests; `app.py`
binds it to the WIT imports.

Config keys (`[plugins.bfl.config]`):
- `base_url`: API base, default `https://api.bfl.ai` (regional:
  `https://api.eu.bfl.ai`, `https://api.us.bfl.ai`; tests: a fake's URL).
- `default_model`: used when a request names none, default `flux-2-pro`.
- `output_format`: `png` (default) or `jpeg`; empty leaves BFL's default.
- `extra_models`: further BFL endpoint ids to offer with loose
  capabilities, e.g. `["flux-2-pro-preview"]`.

The key is never seen here: requests carry `x-key: {{secret:BFL_API_KEY}}`
and the host fills it in toward the hosts the operator bound it to.
"""

from __future__ import annotations

import json
import re
from typing import Protocol

from bfl_errors import INVALID, UNAUTHORIZED, UNAVAILABLE, UNSUPPORTED, Failure, Response, classify
from bfl_models import DEFAULT_MODEL, Model, all_models, find, with_default
from bfl_protocol import Outcome, Request, build_body, decode_token, encode_token, interpret_poll, parse_create

SECRET = "BFL_API_KEY"
KEY_HEADER = ("x-key", "{{secret:BFL_API_KEY}}")
DEFAULT_BASE_URL = "https://api.bfl.ai"
VERSION = "0.1.0"
# Where results come from (docs/providers/bfl.md#delivery): BFL's delivery
# hosts under *.bfl.ai [P] (the wildcard also covers the regional API hosts
# that polling URLs name), and Azure storage accounts seen serving them [S].
DELIVERY_HOSTS = ("https://*.bfl.ai", "https://bfldeliveryprod.blob.core.windows.net",
                  "https://bfldeliveryprodeu4.blob.core.windows.net", "https://bfldeliveryscus.blob.core.windows.net")
# Per-request timeouts, milliseconds: a create carries base64 images.
SUBMIT_TIMEOUT_MS = 60_000
POLL_TIMEOUT_MS = 20_000


class Host(Protocol):
    def fetch(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
              timeout_ms: int) -> Response: ...  # raises Failure for egress errors

    def config(self, key: str) -> str | None: ...

    def secret_configured(self, name: str) -> bool: ...

    def log(self, level: str, message: str) -> None: ...

    def progress(self, fraction: float | None, message: str) -> None: ...


def base_url(host: Host) -> str:
    """`base_url` without a trailing `/` or `/v1`; refused unless http(s)."""
    value = (host.config("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
    value = value[: -len("/v1")] if value.endswith("/v1") else value
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
        raise Failure(UNAVAILABLE, f"[plugins.bfl.config] base_url = {value!r} is not an http(s) URL; use e.g. "
                      f"{DEFAULT_BASE_URL} or https://api.eu.bfl.ai")
    return value


def config_list(host: Host, key: str) -> list[str]:
    """A list setting: TOML arrays arrive as JSON text; a plain string may
    be comma-separated."""
    raw = (host.config(key) or "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw.split(",")
    if isinstance(value, str):
        value = [value]
    return [str(v).strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def output_format(host: Host) -> str | None:
    value = host.config("output_format")
    value = "png" if value is None else value.strip().lower()
    if value in ("", "default"):
        return None
    if value not in ("png", "jpeg"):
        raise Failure(UNAVAILABLE, f"[plugins.bfl.config] output_format = {value!r} is not one BFL renders; use "
                      "\"png\" or \"jpeg\"")
    return value


def describe(host: Host) -> tuple[list[Model], str, list[str]]:
    """The models offered, the default model id, and the hosts needed."""
    models = all_models(config_list(host, "extra_models"))
    default = (host.config("default_model") or "").strip() or DEFAULT_MODEL
    models, default = with_default(models, default)
    base = base_url(host)
    origin = re.match(r"https?://[^/]+", base).group(0)
    hosts = [origin] + [h for h in DELIVERY_HOSTS if h != origin]
    return models, default, hosts


def require_key(host: Host) -> None:
    """Fail before any request when the operator set no key."""
    if not host.secret_configured(SECRET):
        raise Failure(UNAUTHORIZED, "BFL_API_KEY is not set: put a BFL API key (https://dashboard.bfl.ai) in the "
                      "environment variable named in [plugins.bfl.secrets.BFL_API_KEY]")


def send(host: Host, method: str, url: str, body: bytes, timeout_ms: int) -> Response:
    headers = [KEY_HEADER, ("accept", "application/json")]
    if body:
        headers.append(("content-type", "application/json"))
    return host.fetch(method, url, headers, body, timeout_ms)


def submit(host: Host, request: Request) -> str:
    """Create the task; BFL always answers asynchronously, so the result is
    a job token carrying the polling URL BFL returned."""
    require_key(host)
    offered, _, _ = describe(host)
    model = find(request.model) or next((m for m in offered if m.id == request.model.strip()), None)
    if model is None:
        raise Failure(INVALID, f"model `{request.model}` is not offered by the bfl plugin; `easel plugins list` "
                      "shows the models (operators add endpoints with [plugins.bfl.config] extra_models)", field="model")
    body, notes = build_body(request, model, output_format(host))
    base = base_url(host)
    for note in notes:
        host.progress(None, note)
    host.log("debug", f"BFL create {model.id} ({len(request.images)} input image(s))")
    response = send(host, "POST", f"{base}/v1/{model.id}", json.dumps(body).encode("utf-8"), SUBMIT_TIMEOUT_MS)
    if not response.ok:
        raise classify(response, "submit", model.id)
    token, cost = parse_create(response, base, model, upsampled=body.get("prompt_upsampling") is True)
    costs = f" ({cost:g} credits)" if cost is not None else ""
    host.progress(None, f"BFL accepted task {token.id}{costs}")
    return encode_token(token)


def poll(host: Host, text: str) -> Outcome:
    """One `GET polling_url`. Transient trouble (429, 5xx, egress) is
    raised for the host to retry; an outcome of the task itself is returned."""
    token = decode_token(text)
    require_key(host)
    response = send(host, "GET", token.polling_url, b"", POLL_TIMEOUT_MS)
    outcome = interpret_poll(response, token)
    if outcome.state == "failed" and outcome.error is not None:
        host.log("info", f"BFL task {token.id} ended: {outcome.error.message}")
    return outcome


def cancel(host: Host, text: str) -> None:
    """BFL's API has no call that stops a task [M: none documented], so
    this says so: the host then marks the job cancelled with that reason."""
    token = decode_token(text)
    host.log("info", f"BFL task {token.id}: cancel asked, but BFL offers no way to stop a task")
    raise Failure(UNSUPPORTED, f"BFL's API cannot stop a task; task {token.id} runs to the end at BFL (and is "
                  "billed), Easel just stops waiting for it")
