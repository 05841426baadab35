"""BFL's wire protocol, without any I/O: the create body for
`POST /v1/{model}` (Easel settings under BFL's own names, `params` merged
in), the create answer `{id, polling_url}`, the job token that carries the
polling URL between calls, and the `GET polling_url` answer
(`Pending` → `Ready`, or `Request Moderated` / `Content Moderated` /
`Error` / `Task not found`) as an outcome.

Plain Python (no `wit_world`), so it is unit-tested natively; facts and
their sources are in docs/providers/bfl.md.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field

from bfl_errors import BLOCKED, INVALID, UPSTREAM, Failure, Response, classify, truncate
from bfl_models import FROM_INPUT, RATIO, TALLEST, WIDEST, Model

TOKEN_VERSION = 1


@dataclass
class InputImage:
    role: str  # "reference", "mask" or "control"
    mime_type: str
    width: int
    height: int
    data: bytes


@dataclass
class Request:
    """A WIT `generation-request` as plain data (see app.py)."""

    model: str
    prompt: str
    operation: str = "generate"
    negative_prompt: str | None = None
    size: tuple[int, int] | None = None
    aspect_ratio: str | None = None
    size_tier: str | None = None
    count: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    strength: float | None = None
    images: list[InputImage] = field(default_factory=list)
    extra: str | None = None


@dataclass
class Image:
    url: str
    seed: int | None = None
    revised_prompt: str | None = None


@dataclass
class Outcome:
    """What one poll found: `queued`, `running`, `done` or `failed`."""

    state: str
    fraction: float | None = None
    message: str | None = None
    images: list[Image] = field(default_factory=list)
    error: Failure | None = None


@dataclass
class Token:
    """What poll and cancel need: the task id, BFL's own polling URL (it
    names the region that holds the task; the global host does not know
    it), the model, and whether BFL was asked to rewrite the prompt."""

    id: str
    polling_url: str
    model: str
    upsampled: bool = False


# `params` keys an Easel argument sets, and the argument to use instead.
OWNED_KEYS = {"prompt": "prompt", "width": "width", "height": "height", "aspect_ratio": "aspect_ratio",
              "seed": "seed", "steps": "steps", "guidance": "guidance", "image": "images", "mask": "images"}
WEBHOOK_KEYS = ("webhook_url", "webhook_secret")


def invalid(field_name: str | None, message: str) -> Failure:
    return Failure(INVALID, message, field=field_name)


def parse_params(extra: str | None) -> dict:
    """The caller's `params` (WIT `extra`), refusing keys Easel sets."""
    if not extra:
        return {}
    try:
        params = json.loads(extra)
    except ValueError as e:
        raise invalid("params", f"is not JSON: {e}") from None
    if not isinstance(params, dict):
        raise invalid("params", "must be a JSON object of BFL parameter names")
    for key in params:
        if key in WEBHOOK_KEYS:
            raise invalid(f"params.{key}", "is not accepted: Easel polls the task itself, and a webhook would send "
                          "the result to another server; leave it out")
        owner = OWNED_KEYS.get(key) or ("images" if re.fullmatch(r"input_image(_\d+)?", key) else None)
        if owner is not None:
            raise invalid(f"params.{key}", f"is set by Easel's `{owner}` argument; use that instead of params")
    return params


def ratio_of(width: int, height: int) -> str:
    """`W:H` in lowest terms, e.g. 1024x768 → `4:3`."""
    g = math.gcd(width, height)
    return f"{width // g}:{height // g}"


def ratio_value(ratio: str) -> float:
    w, h = (int(x) for x in ratio.split(":", 1))
    return w / h


def pixels_for_ratio(ratio: str, model: Model) -> tuple[int, int]:
    """Width and height for `ratio` at the model's default area, on its
    size multiple and within its side limits."""
    area = model.default_size[0] * model.default_size[1]
    value = ratio_value(ratio)

    def fit(x: float) -> int:
        m = model.multiple
        return max(model.min_side, min(model.max_side, int(round(x / m)) * m))

    return fit(math.sqrt(area * value)), fit(math.sqrt(area / value))


def size_fields(request: Request, model: Model) -> tuple[dict, list[str]]:
    """BFL's size fields for the request, and notes on any mapping."""
    notes: list[str] = []
    if model.size_mode == FROM_INPUT:
        if request.size or request.aspect_ratio:
            field_name = "width" if request.size else "aspect_ratio"
            raise invalid(field_name, f"model `{model.id}` keeps the input image's size; leave width/height and "
                          "aspect_ratio out")
        return {}, notes
    if model.size_mode == RATIO:
        if request.aspect_ratio:
            return {"aspect_ratio": request.aspect_ratio}, notes
        if request.size:
            width, height = request.size
            if not TALLEST - 1e-9 <= width / height <= WIDEST + 1e-9:
                raise invalid("width", f"{width}x{height} is outside the 21:9 … 9:21 range model `{model.id}` "
                              "takes; choose a less extreme shape")
            ratio = ratio_of(width, height)
            notes.append(f"model {model.id} takes an aspect ratio, not pixels: {width}x{height} is sent as {ratio}")
            return {"aspect_ratio": ratio}, notes
        return {}, notes
    # PIXELS
    if request.size:
        width, height = request.size
    elif request.aspect_ratio:
        width, height = pixels_for_ratio(request.aspect_ratio, model)
        notes.append(f"aspect ratio {request.aspect_ratio} is sent to {model.id} as {width}x{height}")
    elif request.operation == "generate":
        width, height = model.default_size
    else:
        return {}, notes  # an edit without a size keeps the input's size at BFL [M]
    return {"width": width, "height": height}, notes


def image_fields(request: Request, model: Model) -> dict:
    """Input images as base64 text under BFL's names."""
    references = [i for i in request.images if i.role == "reference"]
    masks = [i for i in request.images if i.role == "mask"]
    if any(i.role not in ("reference", "mask") for i in request.images):
        raise invalid("images", f"model `{model.id}` takes reference images (and, for inpainting, a mask), "
                      "not control images")
    if len(references) > model.max_inputs:
        raise invalid("images", f"model `{model.id}` takes at most {model.max_inputs} input images "
                      f"(got {len(references)})")

    def b64(image: InputImage) -> str:
        return base64.b64encode(image.data).decode("ascii")

    if model.size_mode == FROM_INPUT:
        if len(references) != 1 or len(masks) != 1:
            raise invalid("images", f"model `{model.id}` needs one reference image and one mask")
        return {"image": b64(references[0]), "mask": b64(masks[0])}
    if masks:
        raise invalid("images", f"model `{model.id}` takes no mask; use flux-pro-1.0-fill for inpainting")
    fields = {}
    for index, image in enumerate(references, start=1):
        fields["input_image" if index == 1 else f"input_image_{index}"] = b64(image)
    return fields


def check_range(name: str, value: float | None, bounds: tuple[float, float] | None, model: Model) -> None:
    if value is None:
        return
    if bounds is None:
        raise invalid(name, f"model `{model.id}` does not take `{name}`; leave it out")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise invalid(name, f"must be between {lo:g} and {hi:g} for model `{model.id}` (got {value:g})")


def build_body(request: Request, model: Model, output_format: str | None) -> tuple[dict, list[str]]:
    """The create body and notes to show (size mappings). `output_format`
    comes from the plugin config; `params` override it."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", model.id):
        raise invalid("model", f"`{model.id}` is not a BFL endpoint name (lower-case letters, digits, '.', '-', '_')")
    if request.negative_prompt:
        raise invalid("negative_prompt", "BFL models take no negative prompt; say what you want instead")
    if request.strength is not None:
        raise invalid("strength", f"model `{model.id}` takes no strength; say in the prompt how much to change")
    if request.count != 1:
        raise invalid("count", "BFL makes one image per task; ask for count 1")
    params = parse_params(request.extra)
    check_range("steps", request.steps, model.steps, model)
    check_range("guidance", request.guidance, model.guidance, model)
    body: dict = {"prompt": request.prompt}
    sizes, notes = size_fields(request, model)
    body.update(sizes)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.steps is not None:
        body["steps"] = request.steps
    if request.guidance is not None:
        body["guidance"] = round(float(request.guidance), 4)
    body.update(image_fields(request, model))
    if output_format:
        body["output_format"] = output_format
    body.update(params)
    return body, notes


# -- the job token ------------------------------------------------------------------------

def encode_token(token: Token) -> str:
    return json.dumps({"v": TOKEN_VERSION, "id": token.id, "polling_url": token.polling_url, "model": token.model,
                       "upsampled": token.upsampled}, separators=(",", ":"))


def decode_token(text: str) -> Token:
    """A token back from the host; anything else names `job_id`."""
    def not_ours(why: str) -> Failure:
        return invalid("job_id", f"not a job token of the bfl plugin ({why}); job ids come from its submit")

    try:
        value = json.loads(text)
    except ValueError as e:
        raise not_ours(str(e)) from None
    if not isinstance(value, dict) or "v" not in value:
        raise not_ours("it has no version `v`")
    if value["v"] != TOKEN_VERSION:
        raise invalid("job_id", f"bfl job token version {value['v']} is not supported (this plugin reads version "
                      f"{TOKEN_VERSION}); start the job again")
    parts = [value.get(k) for k in ("id", "polling_url", "model")]
    if not all(isinstance(p, str) and p for p in parts) or not is_http_url(parts[1]):
        raise not_ours("it lacks the task id, polling URL or model")
    return Token(id=parts[0], polling_url=parts[1], model=parts[2], upsampled=bool(value.get("upsampled")))


def is_http_url(url: str) -> bool:
    return bool(re.match(r"https?://[^/\s?#]+", url))


def parse_create(response: Response, base_url: str, model: Model, upsampled: bool) -> tuple[Token, float | None]:
    """The create answer `{id, polling_url, cost?}` as a token (a missing
    `polling_url` falls back to `{base}/v1/get_result?id=`) and the cost."""
    body = response.json()
    task_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(task_id, str) or not task_id:
        text = truncate(response.body.decode("utf-8", "replace"), 200)
        raise Failure(UPSTREAM, f"BFL's answer to the create has no task id: {text}", status=response.status)
    polling_url = body.get("polling_url")
    if not isinstance(polling_url, str) or not is_http_url(polling_url):
        polling_url = f"{base_url}/v1/get_result?id={task_id}"
    cost = body.get("cost")
    return Token(task_id, polling_url, model.id, upsampled), cost if isinstance(cost, (int, float)) else None


# -- the poll answer ----------------------------------------------------------------------

IN_FLIGHT_QUEUED = ("pending", "queued")


def reasons(body: dict) -> str:
    """`; reasons: …` from `details["Moderation Reasons"]` [S], or ''."""
    details = body.get("details")
    found = details.get("Moderation Reasons") if isinstance(details, dict) else None
    if isinstance(found, list) and found:
        return f"; reasons: {truncate(', '.join(str(r) for r in found), 200)}"
    return ""


def error_of(body: dict) -> str:
    """Why an `Error` task failed: `details.error`, `result.error` or `error` [S]."""
    for holder in (body.get("details"), body.get("result"), body):
        if isinstance(holder, dict):
            value = holder.get("error") or holder.get("message")
            if isinstance(value, str) and value.strip():
                return truncate(value, 400)
    return "BFL gave no reason"


def fraction_of(body: dict) -> float | None:
    value = body.get("progress")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return max(0.0, min(1.0, float(value)))


def parse_status(body: dict, token: Token) -> Outcome:
    """One `GET polling_url` body as an outcome."""
    status = str(body.get("status") or "")
    key = status.strip().lower()
    if key == "ready":
        return ready(body, token)
    if key == "request moderated":
        return Outcome("failed", error=Failure(BLOCKED, f"BFL's moderation refused the request (Request Moderated"
                       f"{reasons(body)}): the prompt or an input image was flagged; rephrase it, or use another "
                       "image (params.safety_tolerance sets how strict the check is, 0 = strictest)"))
    if key == "content moderated":
        return Outcome("failed", error=Failure(BLOCKED, f"BFL's moderation withheld the generated image (Content "
                       f"Moderated{reasons(body)}); try a different prompt (params.safety_tolerance sets how strict "
                       "the check is, 0 = strictest)"))
    if key == "error":
        return Outcome("failed", error=Failure(UPSTREAM, f"BFL task {token.id} failed: {error_of(body)}"))
    if key == "task not found":
        return Outcome("failed", error=task_not_found(token))
    fraction = fraction_of(body)
    if key in IN_FLIGHT_QUEUED and not fraction:
        return Outcome("queued")
    shown = f" ({fraction:.0%})" if fraction is not None else ""
    label = "generating at BFL" if key in IN_FLIGHT_QUEUED else f"BFL status {truncate(status, 40) or '(none)'}"
    return Outcome("running", fraction=fraction, message=f"{label}{shown}")


def task_not_found(token: Token) -> Failure:
    return Failure(UPSTREAM, f"BFL no longer knows task {token.id} (Task not found): BFL keeps tasks for a short "
                   "time only; start the job again", status=404)


def ready(body: dict, token: Token) -> Outcome:
    result = body.get("result") if isinstance(body.get("result"), dict) else {}
    sample = result.get("sample")
    if isinstance(sample, list):
        sample = next((s for s in sample if isinstance(s, str)), None)
    if not isinstance(sample, str) or not is_http_url(sample):
        return Outcome("failed", error=Failure(UPSTREAM, f"BFL reported task {token.id} Ready without an image URL "
                       "in result.sample", status=200))
    seed = result.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None
    prompt = result.get("prompt")
    revised = prompt if token.upsampled and isinstance(prompt, str) and prompt.strip() else None
    return Outcome("done", images=[Image(url=sample, seed=seed, revised_prompt=revised)])


def interpret_poll(response: Response, token: Token) -> Outcome:
    """A poll answer: a task body (also on 404/422, which BFL may send with
    one [S]), a bare 404 (task unknown), or an error raised for the host
    to retry or report."""
    body = response.json()
    if isinstance(body, dict) and "status" in body and (response.ok or response.status in (404, 422)):
        return parse_status(body, token)
    if response.status == 404:
        return Outcome("failed", error=task_not_found(token))
    if response.ok:
        text = truncate(response.body.decode("utf-8", "replace"), 200)
        raise Failure(UPSTREAM, f"BFL's poll answer is not a task status: {text}", status=response.status)
    raise classify(response, "poll", token.model)
