"""BFL HTTP answers that are not a success, and failed exchanges, as the
errors Easel shows: what each status means (docs/providers/bfl.md#errors),
readable text from any body (JSON `detail` strings or FastAPI `{loc, msg,
type}` lists, `message`/`error` keys, HTML pages), `Retry-After`, and the
host's egress failures.

Plain Python (no `wit_world`); `app.py` turns a `Failure` into the WIT
`provider-error` of the same kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Failure kinds, one per WIT `provider-error` case.
INVALID = "invalid-request"
UNSUPPORTED = "unsupported"
UNAUTHORIZED = "unauthorized"
BLOCKED = "content-blocked"
RATE_LIMITED = "rate-limited"
UPSTREAM = "upstream"
TIMEOUT = "timeout"
UNAVAILABLE = "unavailable"
INTERNAL = "internal"

DASHBOARD = "https://dashboard.bfl.ai"


class Failure(Exception):
    """Why a call failed, with the message users see. `field` names the
    Easel argument at fault (invalid-request), `status` the HTTP status
    (upstream), `retry_after_ms` the wait BFL asked for (rate-limited)."""

    def __init__(self, kind: str, message: str, field: str | None = None, status: int = 0,
                 retry_after_ms: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.field = kind, message, field
        self.status, self.retry_after_ms = status, retry_after_ms

    def __repr__(self) -> str:
        return f"Failure({self.kind!r}, {self.message!r}, field={self.field!r}, status={self.status})"


@dataclass
class Response:
    """One HTTP answer as egress returns it (header names lower-case)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def json(self) -> object | None:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# BFL input names → the Easel argument that sets them; the rest are `params`.
EASEL_FIELDS = {"prompt": "prompt", "width": "width", "height": "height", "aspect_ratio": "aspect_ratio",
                "seed": "seed", "steps": "steps", "guidance": "guidance", "image": "images", "mask": "images"}


def easel_field(bfl_name: str) -> str:
    """The Easel argument for a BFL input field (`input_image_3` → images,
    `safety_tolerance` → params.safety_tolerance)."""
    if bfl_name in EASEL_FIELDS:
        return EASEL_FIELDS[bfl_name]
    if re.fullmatch(r"input_image(_\d+)?", bfl_name):
        return "images"
    return f"params.{bfl_name}"


def _item_text(item: object) -> str:
    if isinstance(item, dict):
        loc = [str(p) for p in item.get("loc") or [] if p != "body"]
        msg = str(item.get("msg") or item.get("message") or json.dumps(item))
        return f"{'.'.join(loc)}: {msg}" if loc else msg
    return str(item)


def body_text(response: Response, limit: int = 300) -> str:
    """The readable text of an error body: `detail` (string or list of
    `{loc, msg}`), `message`, `error`, else a summary of the raw body."""
    body = response.json()
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return truncate(value, limit)
            if isinstance(value, list) and value:
                return truncate("; ".join(_item_text(i) for i in value), limit)
            if isinstance(value, dict) and value:
                return truncate(_item_text(value), limit)
        if body:
            return truncate(json.dumps(body), limit)
    return raw_summary(response, limit)


def raw_summary(response: Response, limit: int = 200) -> str:
    """`HTTP 503: an HTML page titled "…"` for markup, else the text itself."""
    text = response.body.decode("utf-8", "replace")
    if re.search(r"<\s*(html|head|body|!doctype)", text[:500], re.I):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        named = f' titled "{truncate(title.group(1), 100)}"' if title else ""
        return f"HTTP {response.status}: an HTML page{named}"
    text = truncate(text, limit)
    return f"HTTP {response.status}: {text}" if text else f"HTTP {response.status} with an empty body"


def validation_field(response: Response) -> str | None:
    """The Easel argument named by the first item of a 422 `detail` list."""
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list) or not detail or not isinstance(detail[0], dict):
        return None
    loc = [str(p) for p in detail[0].get("loc") or [] if p != "body"]
    return easel_field(loc[0]) if loc else None


def retry_after_ms(response: Response) -> int | None:
    """`Retry-After` in delta-seconds, else a numeric `retry_after` in the
    body (shape from BFL's guide [S]); an HTTP date gives None."""
    value = response.header("retry-after")
    candidates = [value] if value is not None else []
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
        candidates.append(str(body["retry_after"]))
    for candidate in candidates:
        try:
            seconds = float(candidate.strip())
        except ValueError:
            continue
        if seconds >= 0 and seconds == seconds and seconds != float("inf"):
            return round(seconds * 1000)
    return None


def classify(response: Response, call: str, model_id: str) -> Failure:
    """A non-2xx answer of `call` (`submit` or `poll`) as a Failure."""
    status, text = response.status, body_text(response)
    if status in (401, 403):
        return Failure(UNAUTHORIZED, f"BFL rejected the API key (HTTP {status}: {text}); set BFL_API_KEY to a key "
                       f"from {DASHBOARD} (the plugin sends it as the x-key header)")
    if status == 402:
        return Failure(UPSTREAM, f"BFL says the account is out of credits (HTTP 402: {text}); add credits at "
                       f"{DASHBOARD}", status=402)
    if status == 429:
        return Failure(RATE_LIMITED, f"BFL is limiting this key (too many active tasks or requests): {text}",
                       retry_after_ms=retry_after_ms(response))
    if call == "submit" and status in (400, 422):
        field = validation_field(response)
        return Failure(INVALID, f"BFL refused the request for {model_id} (HTTP {status}): {text}", field=field)
    if call == "submit" and status == 404:
        return Failure(INVALID, f"BFL has no endpoint /v1/{model_id} (HTTP 404: {text}); `easel plugins list` "
                       "shows the models offered", field="model")
    return Failure(UPSTREAM, f"BFL: {text}", status=status)


def egress_failure(kind: str, message: str, url: str) -> Failure:
    """The host's egress error `kind` (WIT `egress-error` case name) for a
    request to `url`, as the error users see."""
    if kind == "denied":
        return Failure(UNAVAILABLE, message)
    if kind == "secret-unavailable":
        return Failure(UNAUTHORIZED, message)
    if kind == "connection":
        return Failure(UNAVAILABLE, f"cannot reach BFL at {url}: {message}")
    if kind == "timeout":
        return Failure(TIMEOUT, f"BFL did not answer in time: {message}")
    if kind == "too-large":
        return Failure(UPSTREAM, f"BFL's answer was too large: {message}")
    return Failure(INTERNAL, f"the host refused the request to {url}: {message}")
