"""__TITLE__: an Easel image provider plugin, built as a WASI component by
componentize-py (README.md has the command).

This module owns the four exported calls against __TITLE__'s asynchronous
HTTP API (README.md, "The protocol"):

- submit: POST {base_url}/v1/generations -> {"id": ...}; the id is the job token
- poll:   GET  {base_url}/v1/generations/{id} -> status, progress, image URLs
- cancel: POST {base_url}/v1/generations/{id}/cancel

Config keys ([plugins.__NAME__.config] in plugins.toml):
- base_url: the API root, default https://api.example.com

`wit_world` is generated from wit/image-provider.wit at build time; it
exists only inside the component. The host creates a fresh instance for
every call, so keep no state in globals: poll and cancel get the job token.
"""

# Import every module up here: the build snapshots the interpreter after
# importing this module, and importing a new one later traps the call.
import functools
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, egress, progress, types

import errors

MODEL_ID = "__NAME__-v1"
DEFAULT_BASE_URL = "https://api.example.com"
# The host swaps {{secret:__ENV__}} for the key on the way out, and only
# toward the secret's `hosts`: the plugin never sees the key itself.
SECRET = "__ENV__"
AUTHORIZATION = "Bearer {{secret:__ENV__}}"

# Sizes the model accepts: sides from 256 to 2048 pixels, multiples of 64.
MIN_SIDE, MAX_SIDE, SIZE_MULTIPLE, DEFAULT_SIDE = 256, 2048, 64, 1024

# Per-request timeouts in milliseconds (the host caps them too).
SUBMIT_TIMEOUT_MS, POLL_TIMEOUT_MS = 30_000, 15_000


def guarded(call):
    """A bug (any exception but Err) would trap the call with only
    "unreachable"; this reports it as an `internal` error that names it."""

    @functools.wraps(call)
    def wrapper(*args):
        try:
            return call(*args)
        except Err:
            raise
        except Exception as bug:
            tb = bug.__traceback__
            while tb.tb_next:  # the innermost frame: where it went wrong
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            raise Err(types.ProviderError_Internal(f"bug in the __NAME__ plugin: {bug!r} at {where}"))

    return wrapper


class Provider(exports.Provider):
    """The exported `provider` interface. Errors are raised as
    `Err(types.ProviderError_...)`; everything else is a return value."""

    @guarded
    def describe(self) -> types.ProviderInfo:
        # The host checks every request against this before it calls
        # submit, so submit never sees sizes or counts out of range.
        model = types.ModelInfo(
            id=MODEL_ID,
            display_name="__TITLE__ v1",
            aliases=[],
            operations=[types.Operation.GENERATE],
            aspect_ratios=[],  # any W:H; size_of turns it into pixels
            size_tiers=[],
            sizes=[],  # any size within the limits below
            min_side=MIN_SIDE,
            max_side=MAX_SIDE,
            size_multiple=SIZE_MULTIPLE,
            default_size=types.Dimensions(DEFAULT_SIDE, DEFAULT_SIDE),
            max_images=4,
            max_input_images=0,
            features=types.Features.SEED | types.Features.CUSTOM_SIZE,
            output_formats=["image/png"],
            lifecycle=types.Lifecycle.CURRENT,
            replacement=None,
            price_per_image_usd=None,
            prompt_notes=None,
            # How the model reads a prompt (NATURAL_LANGUAGE, WEIGHTED_TAGS or
            # T5_PROSE); Easel compiles a caller's structured prompt into it.
            prompt_style=types.PromptStyle.NATURAL_LANGUAGE,
            # A JSON Schema of the API's own parameters (the caller's
            # `params`). This one accepts none: stray params are refused.
            parameters='{"type": "object", "additionalProperties": false}',
        )
        return types.ProviderInfo(
            id="__NAME__",
            display_name="__TITLE__",
            version="0.1.0",
            description="__TITLE__ image generation through its asynchronous HTTP API.",
            models=[model],
            default_model=MODEL_ID,
            secrets=[
                types.SecretNeed(
                    name=SECRET,
                    description="__TITLE__ API key, sent as `Authorization: Bearer ...`.",
                    required=True,
                )
            ],
            hosts=[origin(base_url())],
        )

    @guarded
    def submit(self, request: types.GenerationRequest) -> types.Submission:
        width, height = size_of(request)
        body = {"prompt": request.prompt, "width": width, "height": height, "num_images": request.count}
        if request.seed is not None:
            body["seed"] = request.seed
        response = send("POST", f"{base_url()}/v1/generations", body, SUBMIT_TIMEOUT_MS)
        job_id = json_of(response).get("id")
        if not is_job_id(job_id):
            raise Err(errors.bad_answer(response, "the submit answer has no usable `id`"))
        return types.Submission_Pending(job_id)

    @guarded
    def poll(self, token: str) -> types.JobState:
        # What happened to the job is a return value (done, failed, still
        # running); trouble asking is an Err, which the host may retry.
        job_id = checked_token(token)
        response = send("GET", f"{base_url()}/v1/generations/{job_id}", None, POLL_TIMEOUT_MS, ok_404=True)
        if response.status == 404:
            message = f"__TITLE__ no longer knows generation {job_id} (expired or never existed)"
            return types.JobState_Failed(types.ProviderError_Upstream(types.UpstreamFailure(404, message)))
        answer = json_of(response)
        fraction = answer.get("progress")
        fraction = min(max(float(fraction), 0.0), 1.0) if isinstance(fraction, (int, float)) else None
        status = answer.get("status") or "no status"
        if status == "queued":
            return types.JobState_Queued(None)
        if status == "succeeded":
            images = answer.get("images")
            urls = [url for url in images if isinstance(url, str)] if isinstance(images, list) else []
            return types.JobState_Done([remote_image(url) for url in urls])
        if status == "failed":
            why = answer.get("error") or "no reason given"
            message = f"__TITLE__ could not generate the image: {why}"
            return types.JobState_Failed(types.ProviderError_Upstream(types.UpstreamFailure(0, message)))
        # "running", and any status this code does not know yet.
        message = f"generating at __TITLE__ ({status})"
        if fraction is not None:
            # News from inside this call; the host shows the state returned below too.
            progress.report(fraction, f"__TITLE__ is {fraction * 100:.0f}% done")
        return types.JobState_Running(types.RunningState(fraction, message))

    @guarded
    def cancel(self, token: str) -> None:
        # A job __TITLE__ no longer knows (404) has nothing left to stop.
        job_id = checked_token(token)
        send("POST", f"{base_url()}/v1/generations/{job_id}/cancel", None, POLL_TIMEOUT_MS, ok_404=True)


def size_of(request: types.GenerationRequest) -> tuple[int, int]:
    """The output size: as asked; else the aspect ratio with its long side at
    the default and the short side rounded to a multiple of 64; else the
    default square."""
    if request.size is not None:
        return request.size.width, request.size.height
    try:
        w, h = (float(part) for part in (request.aspect_ratio or "").split(":"))
    except ValueError:
        return DEFAULT_SIDE, DEFAULT_SIDE
    if w <= 0 or h <= 0:
        return DEFAULT_SIDE, DEFAULT_SIDE

    def short(part: float, whole: float) -> int:
        side = round(DEFAULT_SIDE * part / whole / SIZE_MULTIPLE) * SIZE_MULTIPLE
        return min(max(side, MIN_SIDE), DEFAULT_SIDE)

    return (DEFAULT_SIDE, short(h, w)) if w >= h else (short(w, h), DEFAULT_SIDE)


def remote_image(url: str) -> types.ImageOutput:
    """An image URL for the host to download (through the same egress policy,
    so its host must be in allowed_hosts)."""
    data = types.ImageData_Remote(types.RemoteImage(url=url, headers=[]))
    return types.ImageOutput(data=data, width=None, height=None, seed=None, revised_prompt=None)


def base_url() -> str:
    """base_url from the config, without trailing slashes."""
    url = (config.get("base_url") or "").strip().rstrip("/") or DEFAULT_BASE_URL
    if not url.startswith(("https://", "http://")):
        raise Err(types.ProviderError_Unavailable(
            f"config key base_url must be an http(s) URL (got `{url}`); fix [plugins.__NAME__.config] in plugins.toml"
        ))
    return url


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: the form allowed_hosts entries take."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def checked_token(token: str) -> str:
    """The job token is the upstream id; checked before it goes into a URL."""
    if not is_job_id(token):
        raise Err(types.ProviderError_Internal(f"`{token}` is not a __TITLE__ job token"))
    return token


def is_job_id(value) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    return isinstance(value, str) and 0 < len(value) <= 200 and set(value) <= allowed


def send(method: str, url: str, body, timeout_ms: int, ok_404: bool = False) -> egress.HttpResponse:
    """One request through the host; a non-2xx answer (but a 404 when
    `ok_404`) or an egress failure is raised as an Easel error."""
    headers = [("authorization", AUTHORIZATION), ("accept", "application/json")]
    data = b""
    if body is not None:
        headers.append(("content-type", "application/json"))
        data = json.dumps(body).encode()
    try:
        response = egress.fetch(egress.HttpRequest(method, url, headers, data, timeout_ms))
    except Err as failure:
        raise Err(errors.from_egress(failure.value))
    if not (200 <= response.status < 300 or (ok_404 and response.status == 404)):
        raise Err(errors.from_status(response))
    return response


def json_of(response: egress.HttpResponse) -> dict:
    try:
        answer = json.loads(response.body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise Err(errors.bad_answer(response, "the answer is not a JSON object"))
    return answer
