"""The dashboard, `/ui` (README "The dashboard"), in real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by selenium): people sign in at the same OpenID provider as MCP clients (oauth2-mock-server, through Easel's
own `[server.auth.login]`), read the cost table, open their gallery, and change their default model, which the next
generation that names no model then uses. An admin sees every user; an unlisted user is told why not. Screenshots
of each page are kept in $EASEL_ARTIFACTS (default tests/artifacts/dashboard). Also, without a browser: the
loopback-only `--no-auth` mode shows everything to the local user, and forms need their anti-forgery token."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import EASEL_BIN, HttpServer, easel_args, is_error, structured, text_of
from test_oauth import Issuer, NODE_TOOLS  # noqa: F401  (skips this module the same way)

if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = pathlib.Path(os.environ.get("EASEL_ARTIFACTS") or pathlib.Path(__file__).parents[1] / "artifacts") / "dashboard"

PLUGINS = """
[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"
prices = { "placeholder-1" = 0.04 }

[plugins.sketch]
builtin = "placeholder"
prices = { "placeholder-1" = 0.01 }
"""


def get(url, cookie=None, form=None, headers=None):
    """(status, body) of a GET, or a POST of `form`; redirects are not followed."""
    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={**({"cookie": cookie} if cookie else {}), **(headers or {})})
    try:
        with urllib.request.build_opener(NoRedirects()).open(request, timeout=20) as answer:
            return answer.status, answer.read().decode(errors="replace"), answer.headers
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode(errors="replace"), answer.headers


# --- without a browser: the open local mode ---------------------------------------------------------------------------

def test_no_auth_mode_shows_everything_locally_and_forms_need_their_token(tmp_path, cache_dir):
    config = tmp_path / "plugins.toml"
    config.write_text(PLUGINS + '\n[server.auth]\nissuer = "https://id.example.com"\n')
    args = easel_args(tmp_path / "store", cache_dir, config)
    refused = subprocess.run(args + ["serve", "--transport", "http", "--host", "0.0.0.0", "--no-auth"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "refusing --no-auth on 0.0.0.0" in refused.stderr, refused.stderr
    for prompt in ["a lighthouse at dusk", "a harbour at dawn"]:
        made = subprocess.run(args + ["generate", prompt], capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
    server = HttpServer(args, serve_args=["--no-auth"])
    try:
        status, page, headers = get(f"{server.base}/ui")
        assert status == 200, page
        assert 'id="who">local (admin)' in page and "<td>2</td><td>$0.08</td>" in page, page
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        cookie = headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Lax" in headers["set-cookie"]
        status, page, _ = get(f"{server.base}/ui/gallery?limit=1", cookie)
        assert status == 200 and "a harbour at dawn" in page and "a lighthouse" not in page, page
        older = re.search(r'id="older" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        status, page, _ = get(server.base + older, cookie)
        assert status == 200 and "a lighthouse at dusk" in page and 'id="older"' not in page, page
        thumbnail = re.search(r'<img src="([^"]+)"', page).group(1).replace("&amp;", "&")
        status, body, headers = get(server.base + thumbnail)
        assert status == 200 and headers["content-type"] == "image/webp", body[:200]
        # The token MCP clients use is not needed: --no-auth ignored the [server.auth] above.
        status, page, _ = get(f"{server.base}/ui/settings", cookie)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, page, _ = get(f"{server.base}/ui/settings", cookie, {"model": "sketch/placeholder-1", "csrf": "forged"})
        assert status == 403 and "did not come from your dashboard page" in page, page
        status, page, _ = get(f"{server.base}/ui/settings", cookie, {"model": "sketch/nope", "csrf": csrf})
        assert status == 400 and "`model`: `sketch/nope` is not a generating model" in page, page
        status, page, _ = get(f"{server.base}/ui/settings", cookie, {"model": "sketch/placeholder-1", "csrf": csrf},
                              headers={"origin": "https://evil.example"})
        assert status == 403, page
        status, page, _ = get(f"{server.base}/ui/settings", cookie, {"model": "sketch/placeholder-1", "csrf": csrf})
        assert status == 200 and "now go to sketch / placeholder-1" in page, page
    finally:
        server.stop()
    made = subprocess.run(args + ["generate", "a second lighthouse"], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    image_id = made.stdout.split()[0]
    sidecar = json.loads((tmp_path / "store" / "images" / f"{image_id}.json").read_text())
    assert sidecar["provider"] == "sketch", f"the local user's default model applies to the CLI as well: {sidecar}"
    assert sidecar["user"] == "local"


# --- in Chromium, signed in at the provider ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def provider():
    provider = Issuer()
    yield provider
    provider.stop()


@pytest.fixture
def deployment(tmp_path, cache_dir, provider):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not on PATH: it makes the signing key of these tests")
    key = tmp_path / "signing-key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
                   check=True, capture_output=True)
    (tmp_path / "client-secret").write_text("s3cret\n")
    config = tmp_path / "plugins.toml"
    config.write_text(PLUGINS + f"""
[server.auth]
scopes = ["easel"]
allowed_emails = ["ann@example.com", "boss@example.com"]
admin_emails = ["boss@example.com"]

[server.auth.login]
provider = "{provider.url}"
client_id = "easel-tests"
client_secret_file = "client-secret"
signing_key = "signing-key.pem"
""")
    server = HttpServer(easel_args(tmp_path / "store", cache_dir, config))
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def sign_in(driver, base, email):
    """Sign in on the dashboard's own page as `email` (the provider picks the user from login_hint)."""
    driver.delete_all_cookies()
    driver.get(f"{base}/ui")
    assert driver.find_element("id", "sign-in").get_attribute("href").endswith("/ui/login")
    driver.get(f"{base}/ui/login?login_hint=" + urllib.parse.quote(email))
    assert driver.current_url.rstrip("/").endswith("/ui"), driver.current_url
    return driver.find_element("id", "who").text


def follow(driver, element):
    """Click `element` and wait for the page it leads to."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(element))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def usage_rows(driver):
    rows = {}
    for row in driver.find_elements("css selector", "#usage tr.user"):
        cells = [c.text for c in row.find_elements("tag name", "td")]
        rows[cells[0]] = cells[1:]
    return rows


def test_sign_in_read_costs_open_the_gallery_and_change_the_default_model(deployment, browser):
    from test_oauth_login import call_tool, raw_tokens

    base = deployment.base
    _, ann = raw_tokens(deployment, "ann@example.com")
    made = call_tool(deployment, ann["access_token"], "generate_image", {"prompt": "a red fox in fresh snow"})
    assert not is_error(made), text_of(made)
    assert structured(made)["provider"] == "placeholder"

    assert sign_in(browser, base, "ann@example.com") == "ann@example.com"
    browser.save_screenshot(str(ARTIFACTS / "1-usage-ann.png"))
    assert usage_rows(browser) == {"ann@example.com": ["1", "$0.04", "1", "$0.04", "1", "$0.04"]}

    follow(browser, browser.find_element("link text", "Gallery"))
    [card] = browser.find_elements("css selector", "#gallery .card")
    assert card.find_element("class name", "prompt").text == "a red fox in fresh snow"
    assert card.find_element("class name", "model").text == "placeholder / placeholder-1"
    thumbnail = card.find_element("tag name", "img")
    assert "&sig=" in thumbnail.get_attribute("src"), "the thumbnail is a signed /i/ view"
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return arguments[0].complete", thumbnail))
    assert browser.execute_script("return arguments[0].naturalWidth", thumbnail) == 320, "the thumbnail loaded"
    browser.save_screenshot(str(ARTIFACTS / "2-gallery-ann.png"))

    follow(browser, browser.find_element("link text", "My default model"))
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element("id", "model")).select_by_value("sketch/placeholder-1")
    follow(browser, browser.find_element("id", "save"))
    assert "now go to sketch / placeholder-1" in browser.find_element("id", "saved").text
    browser.save_screenshot(str(ARTIFACTS / "3-default-model-ann.png"))

    # The next generation that names no model goes there, and says so; one that names a provider does not.
    made = call_tool(deployment, ann["access_token"], "generate_image", {"prompt": "a fox, sketched"})
    assert not is_error(made), text_of(made)
    assert (structured(made)["provider"], structured(made)["model"]) == ("sketch", "placeholder-1")
    assert "your default model" in structured(made)["routing"]
    named = call_tool(deployment, ann["access_token"], "generate_image", {"prompt": "a fox", "provider": "placeholder"})
    assert structured(named)["provider"] == "placeholder"
    follow(browser, browser.find_element("link text", "Usage"))
    assert usage_rows(browser) == {"ann@example.com": ["3", "$0.09", "3", "$0.09", "3", "$0.09"]}

    # An admin sees everyone, and anyone's gallery; ann cannot ask for someone else's.
    _, boss = raw_tokens(deployment, "boss@example.com")
    call_tool(deployment, boss["access_token"], "generate_image", {"prompt": "a boardroom in oils"})
    status, page, _ = get(f"{base}/ui/gallery?user=boss@example.com",
                          "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies()))
    assert status == 403 and "only admins see other users" in page, page
    assert sign_in(browser, base, "boss@example.com") == "boss@example.com (admin)"
    rows = usage_rows(browser)
    assert set(rows) == {"ann@example.com", "boss@example.com"}, rows
    total = [c.text for c in browser.find_elements("css selector", "#usage tr.total td")]
    assert total == ["Total", "4", "$0.13", "4", "$0.13", "4", "$0.13"], total
    browser.save_screenshot(str(ARTIFACTS / "4-usage-admin.png"))
    follow(browser, browser.find_element("link text", "ann@example.com"))
    prompts = [p.text for p in browser.find_elements("css selector", "#gallery .prompt")]
    assert prompts == ["a fox", "a fox, sketched", "a red fox in fresh snow"], "ann's images, newest first"
    browser.save_screenshot(str(ARTIFACTS / "5-gallery-admin-ann.png"))

    # Signing out ends the session.
    follow(browser, browser.find_element("id", "sign-out"))
    assert browser.find_elements("id", "sign-in"), browser.page_source[:500]

    # Someone not on the list signs in and is told why they may not use it.
    assert sign_in(browser, base, "eve@elsewhere.com") == "eve@elsewhere.com"
    assert "not in this server's [server.auth] allowed_emails" in browser.find_element("id", "refused").text
    assert not browser.find_elements("id", "usage")
    browser.save_screenshot(str(ARTIFACTS / "6-refused.png"))
