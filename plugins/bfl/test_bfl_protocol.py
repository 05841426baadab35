"""Native unit tests of the bfl plugin's protocol logic (bfl_models,
bfl_errors, bfl_protocol, bfl_flow) against a scripted host; no component
build, no network. Run: python -m pytest plugins/bfl/test_bfl_protocol.py
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import bfl_flow  # noqa: E402
from bfl_errors import (BLOCKED, INTERNAL, INVALID, RATE_LIMITED, TIMEOUT, UNAUTHORIZED, UNAVAILABLE,  # noqa: E402
                        UNSUPPORTED, UPSTREAM, Failure, Response, body_text, classify, egress_failure)
from bfl_models import FROM_INPUT, PIXELS, TABLE, find  # noqa: E402
from bfl_protocol import (InputImage, Request, Token, build_body, decode_token, encode_token,  # noqa: E402
                          interpret_poll, parse_create, parse_status)

PNG = b"\x89PNG\r\n\x1a\nfake"
TOKEN = Token("t-1", "https://api.eu2.bfl.ai/v1/get_result?id=t-1", "flux-2-pro")


def ref(data: bytes = PNG, role: str = "reference") -> InputImage:
    return InputImage(role, "image/png", 320, 240, data)


def body_for(model_id: str, output_format: str | None = "png", **fields) -> tuple[dict, list[str]]:
    return build_body(Request(model=model_id, prompt="a red fox", **fields), find(model_id), output_format)


def response(status: int, body: object = None, headers: list | None = None, raw: bytes | None = None) -> Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return Response(status, headers or [], data)


def failure_of(call) -> Failure:
    with pytest.raises(Failure) as caught:
        call()
    return caught.value


# -- request bodies -------------------------------------------------------------------------

def test_flux2_body_uses_bfl_names_and_the_configured_format():
    body, notes = body_for("flux-2-pro", size=(512, 384), seed=42)
    assert body == {"prompt": "a red fox", "width": 512, "height": 384, "seed": 42, "output_format": "png"}
    assert notes == []


def test_a_generate_without_size_sends_the_declared_default_and_an_edit_sends_none():
    assert body_for("flux-pro-1.1")[0]["width"] == 1024 and body_for("flux-pro-1.1")[0]["height"] == 768
    edit, _ = body_for("flux-2-pro", operation="edit", images=[ref()])
    assert "width" not in edit and "height" not in edit


def test_aspect_ratio_becomes_pixels_on_the_models_multiple_for_pixel_models():
    body, notes = body_for("flux-2-pro", aspect_ratio="16:9")
    assert body["width"] % 16 == 0 and body["height"] % 16 == 0
    assert abs(body["width"] / body["height"] - 16 / 9) < 0.03
    assert 0.9e6 < body["width"] * body["height"] < 1.2e6, body
    assert "16:9" in notes[0] and f"{body['width']}x{body['height']}" in notes[0]
    clamped, _ = body_for("flux-pro-1.1", aspect_ratio="21:9")
    assert clamped["width"] <= 1440 and clamped["width"] % 32 == 0 and clamped["height"] % 32 == 0


def test_ratio_models_get_aspect_ratio_and_a_size_is_sent_as_its_reduced_ratio():
    assert body_for("flux-kontext-pro", aspect_ratio="9:16")[0]["aspect_ratio"] == "9:16"
    body, notes = body_for("flux-kontext-pro", size=(1000, 700))
    assert body["aspect_ratio"] == "10:7" and "width" not in body
    assert "1000x700 is sent as 10:7" in notes[0]
    wide = failure_of(lambda: body_for("flux-kontext-pro", size=(3000, 1000)))
    assert (wide.kind, wide.field) == (INVALID, "width") and "21:9" in wide.message


def test_reference_images_go_as_raw_base64_under_input_image_names():
    body, _ = body_for("flux-2-pro", operation="edit", images=[ref(b"one"), ref(b"two"), ref(b"three")])
    assert body["input_image"] == base64.b64encode(b"one").decode()
    assert base64.b64decode(body["input_image_3"]) == b"three"
    assert not body["input_image"].startswith("data:")
    many = failure_of(lambda: body_for("flux-kontext-pro", operation="edit", images=[ref()] * 5))
    assert many.field == "images" and "at most 4" in many.message


def test_fill_takes_image_and_mask_and_other_models_refuse_a_mask():
    body, _ = body_for("flux-pro-1.0-fill", operation="inpaint", images=[ref(b"img"), ref(b"msk", "mask")], steps=30)
    assert base64.b64decode(body["image"]) == b"img" and base64.b64decode(body["mask"]) == b"msk"
    assert body["steps"] == 30 and "width" not in body
    assert failure_of(lambda: body_for("flux-pro-1.0-fill", operation="inpaint", images=[ref()])).field == "images"
    no_mask = failure_of(lambda: body_for("flux-2-pro", operation="inpaint", images=[ref(), ref(role="mask")]))
    assert no_mask.field == "images" and "flux-pro-1.0-fill" in no_mask.message
    sized = failure_of(lambda: body_for("flux-pro-1.0-fill", operation="inpaint", size=(512, 512),
                                        images=[ref(), ref(role="mask")]))
    assert sized.field == "width"


def test_params_merge_over_the_config_format_and_owned_keys_are_refused_by_name():
    body, _ = body_for("flux-pro-1.1", extra=json.dumps({"output_format": "jpeg", "safety_tolerance": 5,
                                                         "prompt_upsampling": True}))
    assert (body["output_format"], body["safety_tolerance"], body["prompt_upsampling"]) == ("jpeg", 5, True)
    for key, owner in [("prompt", "prompt"), ("width", "width"), ("input_image_2", "images"), ("seed", "seed")]:
        refused = failure_of(lambda: body_for("flux-2-pro", extra=json.dumps({key: 1})))
        assert refused.field == f"params.{key}" and f"`{owner}`" in refused.message
    hook = failure_of(lambda: body_for("flux-2-pro", extra='{"webhook_url": "https://evil.example/x"}'))
    assert hook.field == "params.webhook_url" and "polls" in hook.message
    assert failure_of(lambda: body_for("flux-2-pro", extra="[1, 2]")).field == "params"
    assert "output_format" not in body_for("flux-2-pro", output_format=None)[0]


def test_settings_bfl_does_not_take_are_refused_naming_the_argument():
    assert failure_of(lambda: body_for("flux-2-pro", strength=0.5)).field == "strength"
    assert failure_of(lambda: body_for("flux-2-pro", negative_prompt="blur")).field == "negative_prompt"
    assert failure_of(lambda: body_for("flux-2-pro", steps=20)).field == "steps"
    high = failure_of(lambda: body_for("flux-2-flex", guidance=12.0))
    assert high.field == "guidance" and "1.5 and 10" in high.message
    assert body_for("flux-2-flex", steps=30, guidance=4.5)[0]["guidance"] == 4.5
    assert failure_of(lambda: body_for("flux-2-pro", count=2)).field == "count"


def test_an_endpoint_name_that_could_leave_the_v1_path_is_refused():
    weird = failure_of(lambda: build_body(Request(model="../admin", prompt="x"), find("flux-2-pro").__class__(
        id="../admin", name="x", size_mode=PIXELS, notes=""), None))
    assert weird.field == "model"


# -- token, create and poll answers ---------------------------------------------------------

def test_token_round_trips_and_garbage_names_job_id():
    token = Token("abc", "https://api.us1.bfl.ai/v1/get_result?id=abc", "flux-kontext-pro", upsampled=True)
    assert decode_token(encode_token(token)) == token
    assert failure_of(lambda: decode_token("job_123")).field == "job_id"
    assert "version 9" in failure_of(lambda: decode_token('{"v": 9}')).message
    assert failure_of(lambda: decode_token('{"v": 1, "id": "a", "polling_url": "ftp://x", "model": "m"}')).field == "job_id"


def test_create_answer_keeps_bfls_own_polling_url_and_falls_back_only_when_missing():
    regional = response(200, {"id": "t9", "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=t9", "cost": 3.0})
    token, cost = parse_create(regional, "https://api.bfl.ai", find("flux-2-pro"), False)
    assert token.polling_url == "https://api.eu2.bfl.ai/v1/get_result?id=t9" and cost == 3.0
    bare, _ = parse_create(response(200, {"id": "t9"}), "https://api.bfl.ai", find("flux-2-pro"), False)
    assert bare.polling_url == "https://api.bfl.ai/v1/get_result?id=t9"
    assert failure_of(lambda: parse_create(response(200, {}), "b", find("flux-2-pro"), False)).kind == UPSTREAM


def test_pending_is_queued_until_progress_then_running():
    assert parse_status({"status": "Pending", "progress": None}, TOKEN).state == "queued"
    running = parse_status({"status": "Pending", "progress": 0.4}, TOKEN)
    assert (running.state, running.fraction, running.message) == ("running", 0.4, "generating at BFL (40%)")
    other = parse_status({"status": "Generating"}, TOKEN)
    assert other.state == "running" and "Generating" in other.message


def test_ready_gives_the_signed_url_and_seed_and_the_rewritten_prompt_only_when_asked():
    body = {"status": "Ready", "result": {"sample": "https://delivery-eu1.bfl.ai/r/s.jpeg?sig=x", "seed": 7,
                                           "prompt": "a fox, upsampled"}}
    done = parse_status(body, TOKEN)
    assert done.state == "done" and done.images[0].url.endswith("sig=x") and done.images[0].seed == 7
    assert done.images[0].revised_prompt is None
    upsampled = Token(TOKEN.id, TOKEN.polling_url, TOKEN.model, upsampled=True)
    assert parse_status(body, upsampled).images[0].revised_prompt == "a fox, upsampled"
    empty = parse_status({"status": "Ready", "result": {}}, TOKEN)
    assert empty.state == "failed" and empty.error.kind == UPSTREAM


def test_moderation_error_and_unknown_tasks_are_failures_with_reasons():
    request = parse_status({"status": "Request Moderated", "details": {"Moderation Reasons": ["Derivative Works"]}}, TOKEN)
    assert request.error.kind == BLOCKED and "Request Moderated" in request.error.message
    assert "(Request Moderated; reasons: Derivative Works):" in request.error.message
    assert "safety_tolerance" in request.error.message
    content = parse_status({"status": "Content Moderated"}, TOKEN)
    assert content.error.kind == BLOCKED and "Content Moderated" in content.error.message
    error = parse_status({"status": "Error", "details": {"error": "sampler crashed"}}, TOKEN)
    assert error.error.kind == UPSTREAM and "sampler crashed" in error.error.message
    assert "no reason" in parse_status({"status": "Error"}, TOKEN).error.message
    gone = parse_status({"status": "Task not found"}, TOKEN)
    assert gone.error.kind == UPSTREAM and "start the job again" in gone.error.message


def test_poll_http_answers():
    assert interpret_poll(response(404, {"detail": "Not Found"}), TOKEN).error.status == 404
    assert interpret_poll(response(422, {"status": "Error", "details": {"error": "bad clip"}}), TOKEN).state == "failed"
    limited = failure_of(lambda: interpret_poll(response(429, {"detail": "slow down"}, [("retry-after", "2")]), TOKEN))
    assert (limited.kind, limited.retry_after_ms) == (RATE_LIMITED, 2000)
    assert failure_of(lambda: interpret_poll(response(503, raw=b"oops"), TOKEN)).kind == UPSTREAM
    assert failure_of(lambda: interpret_poll(response(401, {"detail": "x"}), TOKEN)).kind == UNAUTHORIZED
    assert failure_of(lambda: interpret_poll(response(200, [1]), TOKEN)).kind == UPSTREAM


# -- errors ---------------------------------------------------------------------------------

def test_status_codes_map_to_what_the_user_must_fix():
    auth = classify(response(401, {"detail": "Invalid API key"}), "submit", "flux-2-pro")
    assert auth.kind == UNAUTHORIZED and "BFL_API_KEY" in auth.message and "Invalid API key" in auth.message
    assert classify(response(403, {"detail": "Not authenticated"}), "submit", "m").kind == UNAUTHORIZED
    credits = classify(response(402, {"detail": "Insufficient credits"}), "submit", "m")
    assert (credits.kind, credits.status) == (UPSTREAM, 402) and "add credits" in credits.message
    limited = classify(response(429, {"detail": "busy", "retry_after": 5}), "submit", "m")
    assert (limited.kind, limited.retry_after_ms) == (RATE_LIMITED, 5000)
    missing = classify(response(404, {"detail": "Not Found"}), "submit", "flux-9")
    assert (missing.kind, missing.field) == (INVALID, "model") and "/v1/flux-9" in missing.message
    server = classify(response(500, {"detail": "Internal Server Error"}), "submit", "m")
    assert (server.kind, server.status) == (UPSTREAM, 500)


@pytest.mark.parametrize("loc, field", [("width", "width"), ("input_image_2", "images"), ("aspect_ratio", "aspect_ratio"),
                                        ("safety_tolerance", "params.safety_tolerance")])
def test_422_names_the_easel_argument(loc, field):
    answer = response(422, {"detail": [{"loc": ["body", loc], "msg": "Input should be less than 6", "type": "x"}]})
    failure = classify(answer, "submit", "flux-2-pro")
    assert (failure.kind, failure.field) == (INVALID, field)
    assert f"{loc}: Input should be less than 6" in failure.message


def test_error_bodies_are_summarised_never_dumped():
    page = response(502, raw=b"<html><head><title>502 Bad Gateway</title></head><body><center>x</center></body></html>")
    assert body_text(page) == 'HTTP 502: an HTML page titled "502 Bad Gateway"'
    assert body_text(response(500, raw=b"")) == "HTTP 500 with an empty body"
    assert body_text(response(400, {"message": "prompt too long"})) == "prompt too long"
    assert len(body_text(response(400, {"detail": "x" * 5000}))) <= 300


def test_egress_failures_name_bfl_and_keep_the_hosts_advice():
    assert egress_failure("denied", "add http://x to allowed_hosts", "u").kind == UNAVAILABLE
    assert egress_failure("secret-unavailable", "bound elsewhere", "u").kind == UNAUTHORIZED
    assert egress_failure("connection", "refused", "https://api.bfl.ai/v1/x").message == \
        "cannot reach BFL at https://api.bfl.ai/v1/x: refused"
    assert egress_failure("timeout", "60 s", "u").kind == TIMEOUT
    assert egress_failure("invalid-request", "bad header", "u").kind == INTERNAL


# -- the flow over a scripted host ----------------------------------------------------------

class ScriptedHost:
    def __init__(self, answers=(), settings=None, key=True):
        self.answers, self.settings, self.key = list(answers), dict(settings or {}), key
        self.sent, self.progress_lines, self.logs = [], [], []

    def fetch(self, method, url, headers, body, timeout_ms):
        self.sent.append((method, url, dict(headers), body))
        return self.answers.pop(0)

    def config(self, key):
        return self.settings.get(key)

    def secret_configured(self, name):
        return self.key and name == "BFL_API_KEY"

    def log(self, level, message):
        self.logs.append((level, message))

    def progress(self, fraction, message):
        self.progress_lines.append(message)


def test_submit_posts_to_the_configured_base_with_a_secret_reference_and_returns_a_token():
    host = ScriptedHost([response(200, {"id": "t1", "polling_url": "http://fake/eu2/v1/get_result?id=t1", "cost": 3})],
                        {"base_url": "http://fake/v1/"})
    token = decode_token(bfl_flow.submit(host, Request(model="flux-2-pro", prompt="a fox", size=(512, 512))))
    method, url, headers, body = host.sent[0]
    assert (method, url) == ("POST", "http://fake/v1/flux-2-pro")
    assert headers["x-key"] == "{{secret:BFL_API_KEY}}" and headers["content-type"] == "application/json"
    assert json.loads(body)["output_format"] == "png"
    assert token.polling_url == "http://fake/eu2/v1/get_result?id=t1"
    assert host.progress_lines[-1] == "BFL accepted task t1 (3 credits)"


def test_poll_uses_the_tokens_url_verbatim_and_cancel_says_bfl_cannot_stop_tasks():
    host = ScriptedHost([response(200, {"status": "Pending", "progress": 0.5})])
    outcome = bfl_flow.poll(host, encode_token(TOKEN))
    assert outcome.state == "running" and host.sent[0][:2] == ("GET", TOKEN.polling_url)
    assert host.sent[0][2]["x-key"] == "{{secret:BFL_API_KEY}}" and host.sent[0][3] == b""
    refused = failure_of(lambda: bfl_flow.cancel(ScriptedHost(), encode_token(TOKEN)))
    assert refused.kind == UNSUPPORTED and "cannot stop" in refused.message


def test_without_a_key_nothing_is_sent():
    host = ScriptedHost(key=False)
    missing = failure_of(lambda: bfl_flow.submit(host, Request(model="flux-2-pro", prompt="x")))
    assert missing.kind == UNAUTHORIZED and "BFL_API_KEY" in missing.message and host.sent == []


def test_config_mistakes_are_named():
    bad_url = failure_of(lambda: bfl_flow.describe(ScriptedHost(settings={"base_url": "api.bfl.ai"})))
    assert bad_url.kind == UNAVAILABLE and "base_url" in bad_url.message
    bad_format = failure_of(lambda: bfl_flow.submit(ScriptedHost(settings={"output_format": "webp"}),
                                                    Request(model="flux-2-pro", prompt="x")))
    assert bad_format.kind == UNAVAILABLE and "output_format" in bad_format.message
    unknown = failure_of(lambda: bfl_flow.submit(ScriptedHost(), Request(model="flux-9-ultra", prompt="x")))
    assert unknown.field == "model"


def test_describe_offers_extra_models_and_the_hosts_results_come_from():
    models, default, hosts = bfl_flow.describe(ScriptedHost(settings={"extra_models": '["flux-2-pro-preview"]',
                                                                      "default_model": "kontext"}))
    assert default == "flux-kontext-pro"
    assert [m.id for m in models][-1] == "flux-2-pro-preview"
    assert hosts[0] == "https://api.bfl.ai" and "https://*.bfl.ai" in hosts


# -- the model table ------------------------------------------------------------------------

def test_model_table_is_consistent():
    ids = [m.id for m in TABLE]
    names = ids + [a for m in TABLE for a in m.aliases]
    assert len(names) == len(set(names)), "ids and aliases are unique"
    for m in TABLE:
        edits = bool(set(m.operations) & {"edit", "inpaint"})
        assert edits == (m.max_inputs > 0), m.id
        w, h = m.default_size
        if m.size_mode == PIXELS:
            assert w % m.multiple == 0 and h % m.multiple == 0 and m.min_side <= min(w, h) <= max(w, h) <= m.max_side
            assert "custom_size" in m.features, m.id
        assert ("steps" in m.features) == (m.steps is not None) and ("guidance" in m.features) == (m.guidance is not None)
        assert ("mask" in m.features) == (m.size_mode == FROM_INPUT)
        assert m.parameters["type"] == "object" and "additionalProperties" not in m.parameters
    assert find("flux-kontext-pro").lifecycle == "legacy"


def test_declared_parameter_schemas_accept_bfl_values_and_refuse_out_of_range_ones():
    jsonschema = pytest.importorskip("jsonschema")
    flux2 = jsonschema.Draft202012Validator(find("flux-2-pro").parameters)
    assert flux2.is_valid({"safety_tolerance": 5, "output_format": "jpeg", "disable_pup": True})
    assert not flux2.is_valid({"safety_tolerance": 6})
    flux1 = jsonschema.Draft202012Validator(find("flux-pro-1.1").parameters)
    assert flux1.is_valid({"safety_tolerance": 6, "prompt_upsampling": True})
    assert not flux1.is_valid({"output_format": "webp"})
