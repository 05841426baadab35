"""Easel's Black Forest Labs (FLUX API) provider, the component's entry
point: binds the WIT world `image-provider` (componentize-py bindings) to
the plain-Python flow in bfl_flow.py. This module owns only the crossing:
WIT records in and out, egress/config/log/progress imports, and errors
raised as `Err(provider-error)`.

Build (from this directory; `--stub-wasi` keeps the component to the
easel:image-provider imports):
    componentize-py -d ../../wit/v0.2.0 -w image-provider componentize --stub-wasi app -o bfl.wasm
"""

from __future__ import annotations

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, egress, log, progress, types

import bfl_flow
from bfl_errors import (BLOCKED, INTERNAL, INVALID, RATE_LIMITED, TIMEOUT, UNAUTHORIZED, UNAVAILABLE, UNSUPPORTED,
                        UPSTREAM, Failure, Response, egress_failure)
from bfl_models import Model
from bfl_protocol import InputImage, Outcome, Request

LEVELS = {"trace": log.Level.TRACE, "debug": log.Level.DEBUG, "info": log.Level.INFO, "warn": log.Level.WARN,
          "error": log.Level.ERROR}
OPERATIONS = {"generate": types.Operation.GENERATE, "edit": types.Operation.EDIT, "inpaint": types.Operation.INPAINT}
OPERATION_NAMES = {types.Operation.GENERATE: "generate", types.Operation.EDIT: "edit",
                   types.Operation.INPAINT: "inpaint", types.Operation.UPSCALE: "upscale",
                   types.Operation.VARIATION: "variation"}
ROLES = {types.ImageRole.REFERENCE: "reference", types.ImageRole.MASK: "mask", types.ImageRole.CONTROL: "control"}
LIFECYCLES = {"current": types.Lifecycle.CURRENT, "legacy": types.Lifecycle.LEGACY,
              "deprecated": types.Lifecycle.DEPRECATED, "retired": types.Lifecycle.RETIRED}
FEATURES = {"negative_prompt": types.Features.NEGATIVE_PROMPT, "seed": types.Features.SEED,
            "steps": types.Features.STEPS, "guidance": types.Features.GUIDANCE, "strength": types.Features.STRENGTH,
            "mask": types.Features.MASK, "custom_size": types.Features.CUSTOM_SIZE}
EGRESS_KINDS = {egress.EgressError_Denied: "denied", egress.EgressError_SecretUnavailable: "secret-unavailable",
                egress.EgressError_InvalidRequest: "invalid-request", egress.EgressError_Connection: "connection",
                egress.EgressError_Timeout: "timeout", egress.EgressError_TooLarge: "too-large"}


class WitHost:
    """bfl_flow.Host over the WIT imports."""

    def fetch(self, method, url, headers, body, timeout_ms):
        request = egress.HttpRequest(method=method, url=url, headers=list(headers), body=body, timeout_ms=timeout_ms)
        try:
            answer = egress.fetch(request)
        except Err as e:
            kind = EGRESS_KINDS.get(type(e.value), "invalid-request")
            raise egress_failure(kind, str(getattr(e.value, "value", e.value)), url) from None
        return Response(status=answer.status, headers=list(answer.headers), body=bytes(answer.body))

    def config(self, key):
        return config.get(key)

    def secret_configured(self, name):
        return egress.secret_configured(name)

    def log(self, level, message):
        log.log(LEVELS.get(level, log.Level.INFO), message)

    def progress(self, fraction, message):
        progress.report(fraction, message)


def provider_error(failure: Failure) -> types.ProviderError:
    """The WIT provider-error for a Failure of the same kind."""
    kind, message = failure.kind, failure.message
    if kind == INVALID:
        return types.ProviderError_InvalidRequest(types.InvalidField(field=failure.field, message=message))
    if kind == RATE_LIMITED:
        return types.ProviderError_RateLimited(types.RateLimit(retry_after_ms=failure.retry_after_ms, message=message))
    if kind == UPSTREAM:
        return types.ProviderError_Upstream(types.UpstreamFailure(status=failure.status, message=message))
    simple = {UNSUPPORTED: types.ProviderError_Unsupported, UNAUTHORIZED: types.ProviderError_Unauthorized,
              BLOCKED: types.ProviderError_ContentBlocked, TIMEOUT: types.ProviderError_Timeout,
              UNAVAILABLE: types.ProviderError_Unavailable, INTERNAL: types.ProviderError_Internal}
    return simple.get(kind, types.ProviderError_Internal)(message)


def guarded(call):
    """Run `call`, raising every failure as `Err(provider-error)`; a bug
    becomes `internal` with its text instead of a trap."""
    try:
        return call()
    except Failure as failure:
        raise Err(provider_error(failure)) from None
    except Err:
        raise
    except Exception as e:  # noqa: BLE001 - the boundary turns any bug into a readable error
        raise Err(types.ProviderError_Internal(f"bfl plugin bug: {type(e).__name__}: {e}")) from None


def model_info(model: Model) -> types.ModelInfo:
    features = types.Features(0)
    for name in model.features:
        features |= FEATURES[name]
    return types.ModelInfo(
        id=model.id,
        display_name=model.name,
        aliases=list(model.aliases),
        operations=[OPERATIONS[o] for o in model.operations],
        aspect_ratios=list(model.aspect_ratios),
        size_tiers=[],
        sizes=[],
        min_side=model.min_side,
        max_side=model.max_side,
        size_multiple=model.multiple,
        default_size=types.Dimensions(width=model.default_size[0], height=model.default_size[1]),
        max_images=1,
        max_input_images=model.max_inputs,
        features=features,
        output_formats=["image/png", "image/jpeg"],
        lifecycle=LIFECYCLES[model.lifecycle],
        replacement=model.replacement,
        price_per_image_usd=model.price,
        prompt_notes=model.notes,
        parameters=json.dumps(model.parameters) if model.parameters is not None else None,
    )


def plain_request(r: types.GenerationRequest) -> Request:
    return Request(
        model=r.model,
        prompt=r.prompt,
        operation=OPERATION_NAMES.get(r.operation, "generate"),
        negative_prompt=r.negative_prompt,
        size=(r.size.width, r.size.height) if r.size is not None else None,
        aspect_ratio=r.aspect_ratio,
        size_tier=r.size_tier,
        count=r.count,
        seed=r.seed,
        steps=r.steps,
        guidance=r.guidance,
        strength=r.strength,
        images=[InputImage(ROLES.get(i.role, "control"), i.mime_type, i.width, i.height, bytes(i.data))
                for i in r.images],
        extra=r.extra,
    )


def job_state(outcome: Outcome) -> types.JobState:
    if outcome.state == "queued":
        return types.JobState_Queued(None)
    if outcome.state == "running":
        return types.JobState_Running(types.RunningState(fraction=outcome.fraction, message=outcome.message))
    if outcome.state == "done":
        return types.JobState_Done([
            types.ImageOutput(data=types.ImageData_Remote(types.RemoteImage(url=i.url, headers=[])), width=None,
                              height=None, seed=i.seed, revised_prompt=i.revised_prompt)
            for i in outcome.images
        ])
    return types.JobState_Failed(provider_error(outcome.error or Failure(INTERNAL, "BFL task failed")))


class Provider(exports.Provider):
    def describe(self) -> types.ProviderInfo:
        def run():
            models, default, hosts = bfl_flow.describe(WitHost())
            return types.ProviderInfo(
                id="bfl",
                display_name="Black Forest Labs (FLUX API)",
                version=bfl_flow.VERSION,
                description="Black Forest Labs' own FLUX API (FLUX.2, FLUX1.1 [pro], Kontext, Fill) at api.bfl.ai.",
                models=[model_info(m) for m in models],
                default_model=default,
                secrets=[types.SecretNeed(name=bfl_flow.SECRET, required=True,
                                          description="BFL API key, sent as the x-key header; create one at "
                                                      "https://dashboard.bfl.ai")],
                hosts=hosts,
            )

        return guarded(run)

    def submit(self, request: types.GenerationRequest) -> types.Submission:
        return guarded(lambda: types.Submission_Pending(bfl_flow.submit(WitHost(), plain_request(request))))

    def poll(self, token: str) -> types.JobState:
        return guarded(lambda: job_state(bfl_flow.poll(WitHost(), token)))

    def cancel(self, token: str) -> None:
        guarded(lambda: bfl_flow.cancel(WitHost(), token))
