"""Failures -> Easel provider-errors: HTTP error answers from __TITLE__
({"error": "...", "field": "..."}) and egress failures from the host. The
messages reach users and models, so each says what happened and what to do.

Each function returns a `types.ProviderError_*` value; the caller raises it
as `Err(...)`. The kind decides what the host does next: it retries
rate-limited (after retry_after_ms) and reports the others.
"""

import json

from wit_world.imports import egress, types


def from_status(response: egress.HttpResponse):
    """A non-2xx answer."""
    message, field = error_of(response)
    status = response.status
    if status in (401, 403):
        return types.ProviderError_Unauthorized(
            f"__TITLE__ rejected the API key (HTTP {status}: {message}); set __ENV__ to a valid key"
        )
    if status == 429:
        message = f"__TITLE__ is rate-limiting this key: {message}"
        return types.ProviderError_RateLimited(types.RateLimit(retry_after_ms(response), message))
    if status in (400, 422):
        # Easel's parameter name, so the caller knows what to fix.
        field = {"num_images": "count"}.get(field, field)
        return types.ProviderError_InvalidRequest(
            types.InvalidField(field, f"__TITLE__ refused the request: {message}")
        )
    return types.ProviderError_Upstream(types.UpstreamFailure(status, f"__TITLE__ answered HTTP {status}: {message}"))


def from_egress(error):
    """A request the host could not complete (an egress.EgressError_*); the
    host's message already names the URL."""
    m = error.value
    if isinstance(error, egress.EgressError_Timeout):
        return types.ProviderError_Timeout(f"__TITLE__ did not answer in time: {m}")
    if isinstance(error, egress.EgressError_Connection):
        return types.ProviderError_Unavailable(f"cannot reach __TITLE__: {m}")
    if isinstance(error, egress.EgressError_Denied):
        # Not on allowed_hosts; the host's message names the entry to add.
        return types.ProviderError_Unavailable(m)
    if isinstance(error, egress.EgressError_SecretUnavailable):
        return types.ProviderError_Unauthorized(f"{m} (set __ENV__, and bind it to this host in plugins.toml)")
    if isinstance(error, egress.EgressError_TooLarge):
        return types.ProviderError_Upstream(types.UpstreamFailure(0, m))
    return types.ProviderError_Internal(f"the host refused the request: {m}")


def bad_answer(response: egress.HttpResponse, what: str):
    """A 2xx answer that is not what the protocol says."""
    message = f"__TITLE__ sent an unexpected answer: {what} ({snippet(response.body)})"
    return types.ProviderError_Upstream(types.UpstreamFailure(response.status, message))


def error_of(response: egress.HttpResponse) -> tuple[str, str | None]:
    """`error` and `field` of an error body; else the start of the body as text."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    message = body.get("error") if isinstance(body.get("error"), str) else snippet(response.body)
    field = body.get("field") if isinstance(body.get("field"), str) else None
    return message, field


def retry_after_ms(response: egress.HttpResponse) -> int | None:
    """retry-after in delta-seconds, as milliseconds (header names arrive lower-case)."""
    value = next((v for name, v in response.headers if name == "retry-after"), None)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return int(seconds * 1000) if 0 <= seconds < float("inf") else None


def snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "empty body"
    return text if len(text) <= 200 else text[:200] + "..."
