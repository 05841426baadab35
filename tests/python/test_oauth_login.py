"""Easel's own authorization server (`[server.auth.login]`; README "Signing in with Google"). MCP clients register
with Easel (dynamic client registration or a Client ID Metadata Document), sign in with PKCE, and the person signs in
at an upstream OpenID provider, here a real one (npm oauth2-mock-server, tests/auth/issuer.mjs), then allows the
client on Easel's consent page. The official MCP Python SDK's `OAuthClientProvider` goes through all of it
(discovery → registration → PKCE login → tool call → refresh) in this SDK line's protocol era; a small cookie-keeping
"browser" plays the person."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import http.cookiejar
import http.server
import json
import secrets
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import anyio
import pytest

from conftest import HttpServer, easel_args, is_error, structured, text_of
from mcpclient import SDK_V2, connect, sidecar
from test_oauth import Issuer, NODE_TOOLS  # noqa: F401  (skips this module the same way)

if not shutil.which("openssl"):
    pytest.skip("openssl is not on PATH: it makes the signing key of these tests", allow_module_level=True)

ALLOWED = ["ann@example.com"]


@pytest.fixture(scope="module")
def provider():
    provider = Issuer()
    yield provider
    provider.stop()


class Login:
    """One deployment: its plugins.toml, signing key and store, so it can be restarted as is."""

    def __init__(self, tmp_path, cache_dir, provider, extra: str = ""):
        key = tmp_path / "signing-key.pem"
        if not key.exists():
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-out", str(key)], check=True, capture_output=True)
        (tmp_path / "client-secret").write_text("s3cret\n")
        self.config = tmp_path / "plugins.toml"
        self.config.write_text(f"""
[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"

[server.auth]
scopes = ["easel"]
allowed_emails = {json.dumps(ALLOWED)}

[server.auth.login]
provider = "{provider.url}"
client_id = "easel-tests"
client_secret_file = "client-secret"
signing_key = "signing-key.pem"
{extra}
""")
        self.args = easel_args(tmp_path / "store", cache_dir, self.config)
        self.server = HttpServer(self.args)

    def restart(self):
        """Stop and start again on the same port: the same public URL, so the same issuer and audience."""
        port = int(self.server.base.rsplit(":", 1)[1])
        self.server.stop()
        self.server = HttpServer(self.args, port=port)


@pytest.fixture
def login(tmp_path, cache_dir, provider):
    login = Login(tmp_path, cache_dir, provider)
    yield login
    login.server.stop()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _Hidden(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs["value"]


class Browser:
    """A person's browser: keeps cookies, shows each redirect instead of following it."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects())

    def open(self, url, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=data), timeout=20) as answer:
                return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, {k.lower(): v for k, v in answer.headers.items()}, answer.read().decode()

    def to_consent(self, authorize_url, email):
        """Follow Easel's authorize URL to the provider (signing in as `email`) and back: the consent page."""
        status, headers, body = self.open(authorize_url)
        assert status == 302, (status, body)
        at_provider = headers["location"] + "&login_hint=" + urllib.parse.quote(email)
        status, headers, _ = self.open(at_provider)
        assert status == 302 and "/oauth/callback?" in headers["location"], (status, headers)
        return self.open(headers["location"])

    def consent(self, base, page, decision="allow", **override):
        parser = _Hidden()
        parser.feed(page)
        form = {**parser.fields, "decision": decision, **override}
        return self.open(f"{base}/oauth/consent", form)

    def sign_in(self, authorize_url, email, base):
        """The whole login, allowing the client: the URL the client is sent back to."""
        status, _, page = self.to_consent(authorize_url, email)
        assert status == 200, page
        status, headers, body = self.consent(base, page)
        assert status == 303, (status, body)
        return headers["location"]


def query_of(url):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(url).query).items()}


def post(url, form=None, json_body=None, headers=None):
    if json_body is not None:
        data, kind = json.dumps(json_body).encode(), "application/json"
    else:
        data, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers={"content-type": kind, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as answer:
        return answer.code, json.load(answer)


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


REDIRECT = "http://127.0.0.1:9/callback"


def register(base, **extra):
    return post(f"{base}/oauth/register", json_body={"client_name": "Raw client", "redirect_uris": [REDIRECT],
                                                     "token_endpoint_auth_method": "none", **extra})


def authorize_url(base, client_id, challenge, **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st4te",
              "code_challenge": challenge, "code_challenge_method": "S256", "scope": "easel",
              "resource": f"{base}/mcp", **extra}
    return f"{base}/oauth/authorize?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def raw_tokens(server, email="ann@example.com", client_id=None):
    """A raw client's whole sign-in: (client_id, token answer)."""
    if client_id is None:
        status, client = register(server.base)
        assert status == 201, client
        client_id = client["client_id"]
    verifier, challenge = pkce()
    back = Browser().sign_in(authorize_url(server.base, client_id, challenge), email, server.base)
    status, tokens = post(f"{server.base}/oauth/token", {
        "grant_type": "authorization_code", "code": query_of(back)["code"], "redirect_uri": REDIRECT,
        "client_id": client_id, "code_verifier": verifier, "resource": server.url})
    assert status == 200, tokens
    return client_id, tokens


def call_tool(server, token, name, arguments):
    async def main():
        async with connect(server.url, headers={"Authorization": f"Bearer {token}"}) as client:
            return await client.call_tool(name, arguments)

    return anyio.run(main)


# --- the official SDK's OAuth client, start to finish ---------------------------------------------------------------

class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def sdk_auth(server, email, storage):
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    browser, back, sign_ins = Browser(), {}, []

    async def redirect_handler(url):
        sign_ins.append(url)
        back["url"] = await anyio.to_thread.run_sync(lambda: browser.sign_in(url, email, server.base))

    async def callback_handler():
        query = query_of(back.pop("url"))
        if SDK_V2:
            from mcp.client.auth import AuthorizationCodeResult
            return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))
        return query["code"], query.get("state")

    metadata = OAuthClientMetadata(client_name="Easel SDK tests", redirect_uris=[REDIRECT],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="client_secret_post")
    auth = OAuthClientProvider(server_url=server.url, client_metadata=metadata, storage=storage,
                               redirect_handler=redirect_handler, callback_handler=callback_handler)
    auth.sign_ins = sign_ins
    return auth


def sdk_call(server, auth, name, arguments, then=None):
    """Call one tool through the SDK's OAuth client; with `then(client, result)`, its answer too."""
    async def main():
        async with connect(server.url, auth=auth) as client:
            result = await client.call_tool(name, arguments)
            return (result, await then(client, result)) if then else result

    return anyio.run(main)


def test_the_sdk_registers_signs_in_with_pkce_calls_a_tool_and_refreshes(tmp_path, cache_dir, provider):
    login = Login(tmp_path, cache_dir, provider, "access_token_secs = 2")
    try:
        server, storage = login.server, MemoryStorage()
        auth = sdk_auth(server, "ann@example.com", storage)

        async def its_sidecar(client, result):
            assert not is_error(result), text_of(result)
            return await sidecar(client, structured(result)["images"][0]["id"])

        _, meta = sdk_call(server, auth, "generate_image",
                           {"prompt": "a lighthouse", "provider": "placeholder", "width": 64, "height": 64},
                           then=its_sidecar)
        assert "ann@example.com" in meta["caller"], meta
        assert storage.client_info.client_secret, "registered as a confidential client"
        first = storage.tokens
        assert first.refresh_token and first.scope == "easel"
        # The access token lasts 2 s: the client's next connection refreshes it, not signing in again.
        import time
        time.sleep(3)
        result = sdk_call(server, auth, "list_images", {})
        assert not is_error(result), text_of(result)
        assert storage.tokens.access_token != first.access_token
        assert storage.tokens.refresh_token != first.refresh_token, "refresh tokens rotate"
        assert len(auth.sign_ins) == 1, auth.sign_ins
        status, answer = post(f"{server.base}/oauth/token", {
            "grant_type": "refresh_token", "refresh_token": first.refresh_token,
            "client_id": storage.client_info.client_id, "client_secret": storage.client_info.client_secret})
        assert status == 400 and answer["error"] == "invalid_grant" and "used before" in answer["error_description"]
    finally:
        login.server.stop()


def test_an_unlisted_user_signs_in_through_the_sdk_but_every_tool_says_why_not(login):
    result = sdk_call(login.server, sdk_auth(login.server, "eve@elsewhere.example", MemoryStorage()),
                      "generate_image", {"prompt": "x", "provider": "placeholder"})
    assert is_error(result)
    assert "eve@elsewhere.example" in text_of(result) and "allowed_emails" in text_of(result), text_of(result)


# --- the protocol, as a careless or hostile client would try it -----------------------------------------------------

def test_the_metadata_names_easel_as_the_authorization_server_with_pkce_s256_only(login):
    base = login.server.base
    with urllib.request.urlopen(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=10) as answer:
        assert json.load(answer)["authorization_servers"] == [base]
    with urllib.request.urlopen(f"{base}/.well-known/oauth-authorization-server", timeout=10) as answer:
        metadata = json.load(answer)
    assert metadata["issuer"] == base
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["registration_endpoint"] == f"{base}/oauth/register"
    assert metadata["client_id_metadata_document_supported"] is True
    with urllib.request.urlopen(metadata["jwks_uri"], timeout=10) as answer:
        assert [k["alg"] for k in json.load(answer)["keys"]] == ["ES256"]


def test_consent_names_the_client_and_the_user_and_deny_sends_access_denied(login):
    base = login.server.base
    status, client = register(base, client_name="<b>Sketchy</b> App")
    assert status == 201
    _, challenge = pkce()
    browser = Browser()
    status, headers, page = browser.to_consent(authorize_url(base, client["client_id"], challenge), "ann@example.com")
    assert status == 200
    assert "&lt;b&gt;Sketchy&lt;/b&gt; App" in page and "<b>Sketchy</b>" not in page, "the name is escaped"
    assert "ann@example.com" in page and "http://127.0.0.1:9" in page
    assert headers.get("x-frame-options") == "DENY"
    status, headers, _ = browser.consent(base, page, decision="deny")
    assert status == 303
    back = query_of(headers["location"])
    assert back["error"] == "access_denied" and back["state"] == "st4te" and back["iss"] == base


def test_a_forged_consent_or_one_from_another_browser_is_refused(login):
    base = login.server.base
    _, client = register(base)
    _, challenge = pkce()
    browser = Browser()
    _, _, page = browser.to_consent(authorize_url(base, client["client_id"], challenge), "ann@example.com")
    status, _, body = browser.consent(base, page, csrf="forged")
    assert status == 403 and "did not come from this sign-in" in body
    status, _, body = Browser().consent(base, page)
    assert status == 400 and "another browser" in body
    status, headers, _ = browser.consent(base, page)
    assert status == 303 and "code" in query_of(headers["location"]), "the real form still works"
    status, _, body = browser.consent(base, page)
    assert status == 400 and "expired or is unknown" in body, "a consent is spent once used"


def test_authorize_refuses_bad_requests_without_sending_anything_to_an_unregistered_redirect(login):
    base = login.server.base
    _, client = register(base)
    _, challenge = pkce()
    status, _, body = Browser().open(authorize_url(base, client["client_id"], challenge,
                                                   redirect_uri="https://evil.example/steal"))
    assert status == 400 and "not one the client registered" in body
    status, _, body = Browser().open(authorize_url(base, "made-up", challenge))
    assert status == 400 and "no client `made-up` is registered" in body
    for extra, error in [({"code_challenge_method": "plain"}, "invalid_request"),
                         ({"code_challenge": None}, "invalid_request"),
                         ({"resource": "https://other.example/mcp"}, "invalid_target"),
                         ({"scope": "admin"}, "invalid_scope"),
                         ({"response_type": "token"}, "unsupported_response_type")]:
        status, headers, body = Browser().open(authorize_url(base, client["client_id"], challenge, **extra))
        assert status == 303, (extra, status, body)
        assert query_of(headers["location"])["error"] == error, (extra, headers["location"])
    for bad, why in [({"redirect_uris": ["http://evil.example/cb"]}, "plain http"),
                     ({"redirect_uris": ["javascript:alert(1)"]}, "javascript"),
                     ({"grant_types": ["implicit"]}, "implicit")]:
        status, answer = register(base, **bad)
        assert status == 400 and why in answer["error_description"], answer


def test_codes_are_single_use_and_bound_to_the_pkce_verifier(login):
    server = login.server
    status, client = register(server.base)
    client_id = client["client_id"]
    verifier, challenge = pkce()
    back = Browser().sign_in(authorize_url(server.base, client_id, challenge), "ann@example.com", server.base)
    code = query_of(back)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    status, answer = post(f"{server.base}/oauth/token", {**form, "code_verifier": pkce()[0]})
    assert status == 400 and answer["error"] == "invalid_grant" and "code_verifier" in answer["error_description"]
    status, answer = post(f"{server.base}/oauth/token", {**form, "code_verifier": verifier})
    assert status == 400 and "used already" in answer["error_description"], "a failed try spends the code too"
    _, tokens = raw_tokens(server, client_id=client_id)
    status, answer = post(f"{server.base}/oauth/token", {**form, "code_verifier": verifier})
    assert status == 400 and answer["error"] == "invalid_grant"
    result = call_tool(server, tokens["access_token"], "list_providers", {})
    assert not is_error(result), text_of(result)


def test_sign_ins_and_registrations_survive_a_restart_with_the_same_key(login):
    client_id, tokens = raw_tokens(login.server)
    login.restart()
    server = login.server
    result = call_tool(server, tokens["access_token"], "list_providers", {})
    assert not is_error(result), "an access token from before the restart still verifies"
    status, refreshed = post(f"{server.base}/oauth/token", {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id})
    assert status == 200, refreshed
    raw_tokens(server, client_id=client_id)


class _MetadataDocument(http.server.BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_a_client_id_metadata_document_is_read_only_from_a_host_allowed_to_serve_one(tmp_path, cache_dir, provider):
    document = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MetadataDocument)
    threading.Thread(target=document.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{document.server_address[1]}"
    client_id = f"{origin}/client.json"
    _MetadataDocument.body = json.dumps({"client_id": client_id, "client_name": "Metadata Client",
                                         "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}).encode()
    login = Login(tmp_path, cache_dir, provider, f'client_metadata_hosts = ["{origin}"]')
    try:
        _, challenge = pkce()
        status, _, page = Browser().to_consent(authorize_url(login.server.base, client_id, challenge), "ann@example.com")
        assert status == 200 and "Metadata Client" in page
        _, tokens = raw_tokens(login.server, client_id=client_id)
        assert not is_error(call_tool(login.server, tokens["access_token"], "list_providers", {}))
        # Another loopback port is not listed: never fetched.
        status, _, body = Browser().open(authorize_url(login.server.base, "http://127.0.0.1:1/client.json", challenge))
        assert status == 400 and "client_metadata_hosts" in body, body
        _MetadataDocument.body = json.dumps({"client_id": "https://someone.else/client.json",
                                             "redirect_uris": [REDIRECT]}).encode()
        status, _, body = Browser().open(authorize_url(login.server.base, client_id, challenge))
        assert status == 400 and "not its own URL" in body, body
    finally:
        login.server.stop()
        document.shutdown()


def test_a_missing_signing_key_or_secret_stops_start_up_with_the_fix(tmp_path, cache_dir, provider):
    login = Login(tmp_path, cache_dir, provider)
    login.server.stop()
    (tmp_path / "signing-key.pem").unlink()
    result = subprocess.run(login.args + ["serve", "--transport", "http", "--port", "0"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "openssl genpkey" in result.stderr, result.stderr
