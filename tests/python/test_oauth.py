"""Easel as an OAuth 2.1 resource server (MCP authorization; README "Sharing it with a team"). A real issuer
(npm oauth2-mock-server, run by tests/auth/issuer.mjs) serves its OpenID metadata and RS256 keys and mints access
tokens; `easel serve --transport http` checks them against the issuer's JWKS, and the official MCP Python SDK calls
tools with them in this SDK line's protocol era (1.x: 2025-11-25, 2.x: 2026-07-28)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import anyio
import pytest

from conftest import EASEL_BIN, HttpServer, easel_args, is_error, structured, text_of
from mcpclient import connect, sidecar

NODE_TOOLS = os.environ.get("EASEL_NODE_TOOLS")
ISSUER_SCRIPT = Path(__file__).resolve().parents[1] / "auth" / "issuer.mjs"

if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)
if not NODE_TOOLS or not (Path(NODE_TOOLS) / "node_modules" / "oauth2-mock-server").is_dir():
    pytest.skip("EASEL_NODE_TOOLS has no node_modules/oauth2-mock-server (tests/run.sh installs it)",
                allow_module_level=True)

ALLOWED = ["ann@example.com", "*@team.example"]
ADMINS = ["boss@team.example"]


class Issuer:
    """One oauth2-mock-server process; `token(**claims)` mints an access token with those claims."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", "--input-type=module"], cwd=NODE_TOOLS, stdin=open(ISSUER_SCRIPT),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"the issuer did not start: {line}{self.proc.stdout.read()}")
        self.url = line.split()[1]

    def token(self, **claims) -> str:
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "tests", **claims}).encode()
        with urllib.request.urlopen(f"{self.url}/token", data=form, timeout=10) as answer:
            return json.load(answer)["access_token"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def issuer():
    issuer = Issuer()
    yield issuer
    issuer.stop()


def start_server(tmp_path, cache_dir, issuer, server_table: str = "") -> HttpServer:
    config = tmp_path / "plugins.toml"
    config.write_text(f"""
[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"

[server]
{server_table}

[server.auth]
issuer = "{issuer.url}"
scopes = ["easel"]
allowed_emails = {json.dumps(ALLOWED)}
admin_emails = {json.dumps(ADMINS)}
""")
    return HttpServer(easel_args(tmp_path / "store", cache_dir, config))


@pytest.fixture
def server(tmp_path, cache_dir, issuer):
    server = start_server(tmp_path, cache_dir, issuer)
    yield server
    server.stop()


def claims_for(server, email: str, **extra) -> dict:
    """A good token's claims: this server's resource as audience, the easel scope."""
    return {"sub": email.split("@")[0], "email": email, "aud": server.url, "scope": "easel", **extra}


def post_initialize(server, token: str | None) -> tuple[int, dict, str]:
    """A raw initialize POST to /mcp: (status, headers, body)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}).encode()
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(server.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read().decode()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def call(server, token: str, body):
    async def main():
        async with connect(server.url, headers={"Authorization": f"Bearer {token}"}) as client:
            return await body(client)

    return anyio.run(main)


def test_without_a_token_the_challenge_names_the_resource_metadata_which_names_the_issuer(server, issuer):
    status, headers, _ = post_initialize(server, None)
    assert status == 401
    metadata_url = f"{server.base}/.well-known/oauth-protected-resource"
    challenge = headers.get("www-authenticate") or headers.get("WWW-Authenticate")
    assert challenge == f'Bearer resource_metadata="{metadata_url}", scope="easel"', challenge
    for url in (metadata_url, metadata_url + "/mcp"):
        metadata = get_json(url)
        assert metadata["resource"] == server.url
        assert metadata["authorization_servers"] == [issuer.url]
        assert metadata["scopes_supported"] == ["easel"] and metadata["bearer_methods_supported"] == ["header"]
    assert get_json(f"{server.base}/health")["status"] == "ok", "/health stays open"


def test_a_listed_user_generates_and_the_image_records_who_asked(server, issuer):
    token = issuer.token(**claims_for(server, "Ann@Example.com"))

    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a lighthouse", "width": 256, "height": 256})
        assert not is_error(made), text_of(made)
        image = structured(made)["images"][0]
        return image, await sidecar(client, image["id"])

    image, meta = call(server, token, body)
    assert (image["width"], image["height"]) == (256, 256)
    assert "ann@example.com" in meta["caller"], meta["caller"]
    job = json.loads(next((server_store(server) / "jobs").glob("job_*.json")).read_text())
    assert "ann@example.com" in job["caller"], job


def server_store(server) -> Path:
    """The store directory the server was started with."""
    args = server.proc.args
    return Path(args[args.index("--store") + 1])


def test_a_domain_wildcard_admits_the_whole_domain(server, issuer):
    token = issuer.token(**claims_for(server, "carol@team.example"))

    async def body(client):
        return await client.call_tool("list_images", {})

    assert not is_error(call(server, token, body))


def test_an_unlisted_user_signs_in_but_every_tool_says_why_not(server, issuer):
    token = issuer.token(**claims_for(server, "eve@elsewhere.example"))

    async def body(client):
        tools = await client.list_tools()
        made = await client.call_tool("generate_image", {"prompt": "a lighthouse"})
        listed = await client.call_tool("list_images", {})
        return tools, made, listed

    tools, made, listed = call(server, token, body)
    assert "generate_image" in {t.name for t in tools.tools}, "signing in works; the tools are listed"
    for result in (made, listed):
        assert is_error(result)
        assert "eve@elsewhere.example" in text_of(result) and "allowed_emails" in text_of(result), text_of(result)
    assert not (server_store(server) / "jobs").exists() or not list((server_store(server) / "jobs").glob("job_*"))


def test_bad_tokens_are_refused_with_the_reason(server, issuer):
    other = Issuer()
    try:
        cases = {
            "expired": (issuer.token(**claims_for(server, "ann@example.com", exp_in=-600)), 401, "expired"),
            "wrong audience": (issuer.token(**claims_for(server, "ann@example.com", aud="https://elsewhere.example/mcp")),
                               401, "another resource"),
            "wrong issuer claim": (issuer.token(**claims_for(server, "ann@example.com", iss="https://evil.example")),
                                   401, "not issued by"),
            "another issuer's key": (other.token(**claims_for(server, "ann@example.com", iss=issuer.url)), 401,
                                     "no signing key"),
            "no scope": (issuer.token(**claims_for(server, "ann@example.com", scope="profile")), 403, "scope"),
            "not a JWT": ("garbage", 401, "not a JWT"),
        }
        for name, (token, status, why) in cases.items():
            got, headers, body = post_initialize(server, token)
            challenge = headers.get("www-authenticate") or headers.get("WWW-Authenticate") or ""
            assert got == status, f"{name}: HTTP {got} {body}"
            assert "resource_metadata=" in challenge, f"{name}: {challenge}"
            expected_error = "insufficient_scope" if status == 403 else "invalid_token"
            assert f'error="{expected_error}"' in challenge, f"{name}: {challenge}"
            assert why in body, f"{name}: {body}"
        good, _, _ = post_initialize(server, issuer.token(**claims_for(server, "ann@example.com")))
        assert good == 200
    finally:
        other.stop()


def fetch(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def make_image(server, token: str) -> dict:
    async def body(client):
        made = await client.call_tool("generate_image", {"prompt": "a kite", "width": 128, "height": 96})
        assert not is_error(made), text_of(made)
        return structured(made)["images"][0]

    return call(server, token, body)


def test_result_links_are_signed_and_fetch_without_the_token_but_not_once_changed(server, issuer):
    token = issuer.token(**claims_for(server, "ann@example.com"))
    image = make_image(server, token)
    url = image["url"]
    assert url.startswith(f"{server.base}/i/{image['id']}.png?exp=") and "&sig=" in url, url
    status, body = fetch(url)
    assert status == 200 and body.startswith(b"\x89PNG"), (status, body[:80])
    forged_id = url.replace(image["id"], image["id"][:-1] + ("0" if image["id"][-1] != "0" else "1"))
    forged_view = url.replace("?exp=", "?width=4096&exp=")
    for forged in (forged_id, forged_view, url[:-1] + ("0" if url[-1] != "0" else "1")):
        status, body = fetch(forged)
        assert status == 403 and b"signature" in body, (forged, status, body)
    bare = url.split("?")[0]
    assert fetch(bare)[0] == 401, "an unsigned link still needs the token"
    assert fetch(bare, token)[0] == 200


def test_signed_links_expire(tmp_path, cache_dir, issuer):
    server = start_server(tmp_path, cache_dir, issuer, "link_lifetime_secs = 1")
    try:
        token = issuer.token(**claims_for(server, "ann@example.com"))
        url = make_image(server, token)["url"]
        import time

        time.sleep(2.2)
        status, body = fetch(url)
        assert status == 403 and b"expired" in body, (status, body)
    finally:
        server.stop()


def test_serving_beyond_loopback_without_authentication_is_refused(tmp_path, cache_dir):
    result = subprocess.run(easel_args(tmp_path / "store", cache_dir) + ["serve", "--transport", "http", "--host",
                                                                         "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 with no authentication" in result.stderr and "fix:" in result.stderr, \
        result.stderr


def test_usage_is_per_user_and_only_admins_see_everyone(server, issuer):
    ann = issuer.token(**claims_for(server, "ann@example.com"))
    boss = issuer.token(**claims_for(server, "boss@team.example"))
    make_image(server, ann)

    async def own_then_all(client):
        return await client.call_tool("get_usage", {}), await client.call_tool("get_usage", {"everyone": True})

    ann_own, ann_all = call(server, ann, own_then_all)
    boss_own, boss_all = call(server, boss, own_then_all)
    assert [(u["user"], u["today"]["images"]) for u in structured(ann_own)["users"]] == [("ann@example.com", 1)]
    assert is_error(ann_all) and "only admins" in text_of(ann_all), text_of(ann_all)
    assert [(u["user"], u["today"]["images"]) for u in structured(boss_own)["users"]] == [("boss@team.example", 0)]
    assert not is_error(boss_all), text_of(boss_all)
    assert [u["user"] for u in structured(boss_all)["users"]] == ["ann@example.com"]
