"""The web pages in a real headless Chromium: grant access in the consent page and the
avatar moves; revoke it in "my apps and grants" and the stream stops. Another local web
page cannot revoke or approve anything (CSRF). The pages fetch the person's lists with
the session's token: the signed-in person sees them, the session cookie alone does not."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.client import AppClient, stream

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
from sharing_service import LiveService, add_app, approved_token, live_fixture  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
FRAMES = "Number(document.getElementById('stream-status').dataset.frames)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) "
        "to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, live: LiveService) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    # Nothing may leave loopback: any other request fails the test.
    ctx.route(
        lambda url: not url.startswith(("http://127.0.0.1", "ws://127.0.0.1")),
        lambda route: pytest.fail(f"the page requested {route.request.url}"),
    )
    yield ctx
    ctx.close()


def _sign_in(context: BrowserContext, live: LiveService) -> Page:
    page = context.new_page()
    page.goto(f"{live.base_url}login#{live.user_token}")
    page.wait_for_url(live.base_url)
    assert live.user_token not in page.url
    return page


def _open(page: Page, url: str) -> Page:
    """Go to one of the person's pages and wait until its script has filled it in."""
    page.goto(url)
    page.wait_for_selector("#page-state:not([data-state='loading'])", state="attached")
    return page


def _avatar_state(page: Page) -> tuple[int, str, str]:
    frames = int(page.get_attribute("#stream-status", "data-frames") or 0)
    head = page.get_attribute("#head", "transform") or ""
    mouth = page.get_attribute("#mouth", "d") or ""
    return frames, head, mouth


def test_grant_moves_the_avatar_and_revoke_stops_it(
    context: BrowserContext, live: LiveService
) -> None:
    app = AppClient.register(
        live.base_url,
        Ed25519PrivateKey.generate(),
        name="Avatar Demo",
        developer="Example Studio",
        contact="privacy@example.org",
        purpose="Draw a cartoon face that mirrors yours",
        retention_days=0,
        webhook_url="https://hooks.example.org/facegate",
    )
    app.accept_terms()
    asked = app.request_consent(["expressions", "head_pose"], 3600)

    page = _open(_sign_in(context, live), asked.consent_url)
    assert page.inner_text(".app-name") == "Avatar Demo"
    shown = page.eval_on_selector_all("#scopes li", "els => els.map(e => e.dataset.scope)")
    assert shown == ["expressions", "head_pose"]
    page.click("#approve")
    page.wait_for_selector("#consent-result[data-status='approved']")

    token = app.claim_token(asked.id)
    avatar = context.new_page()
    avatar.goto(f"{live.base_url}demo/avatar#token={token.token}")
    avatar.wait_for_selector("#stream-status[data-state='streaming']")
    avatar.wait_for_function(f"() => {FRAMES} >= 5")
    before = _avatar_state(avatar)
    avatar.wait_for_function(f"() => {FRAMES} >= {before[0] + 10}")
    after = _avatar_state(avatar)
    assert after[0] > before[0]
    assert after[1] != before[1], "the head moves with the head pose"
    assert after[1].startswith("translate(") and "rotate(" in after[1]

    _open(page, f"{live.base_url}grants")
    row = f"tr[data-grant='{token.grant_id}']"
    assert page.get_attribute(row, "data-state") == "active"
    page.click(f"{row} button[data-action='revoke']")
    clicked = time.monotonic()
    page.wait_for_selector(f"{row}[data-state='revoked']")
    avatar.wait_for_selector("#stream-status[data-state='closed']", timeout=1000)
    closed_in = time.monotonic() - clicked
    assert closed_in < 1.0
    assert avatar.get_attribute("#stream-status", "data-close-code") == "4403"
    stopped = _avatar_state(avatar)[0]
    avatar.wait_for_timeout(500)
    assert _avatar_state(avatar)[0] == stopped, "no frame after revocation"
    assert live.sharing.grant(token.grant_id).revoked_at is not None
    app.close()


def test_refusing_in_the_page_gives_the_app_nothing(
    context: BrowserContext, live: LiveService
) -> None:
    registered, _ = add_app(live.sharing)
    request = live.sharing.request_consent(registered.id, ["face_map"])
    page = _open(_sign_in(context, live), f"{live.base_url}consent/{request.id}")
    assert "never receives your identity" in page.inner_text(".never")
    page.click("#refuse")
    page.wait_for_selector("#consent-result[data-status='refused']")
    assert live.sharing.grants() == []
    _open(page, f"{live.base_url}consent/{request.id}")
    assert page.inner_text("#consent-result") == "This request is refused."
    assert not page.is_visible("#approve")
    _open(page, f"{live.base_url}audit")
    assert page.get_attribute("#chain", "data-ok") == "true"
    assert page.locator("tr[data-event='refused']").count() == 1


def test_pages_need_the_person_to_sign_in(context: BrowserContext, live: LiveService) -> None:
    page = context.new_page()
    response = page.goto(f"{live.base_url}grants")
    assert response is not None and response.status == 401
    assert page.is_visible("#signin-required")
    page.goto(f"{live.base_url}login#wrong-token")
    page.wait_for_selector("#login-status[data-state='failed']")


EVIL_PAGE = """<!doctype html><title>innocent</title><script>
const target = "{target}";
(async () => {{
  const results = [];
  for (const init of [
    {{method: "POST", mode: "no-cors", credentials: "include"}},
    {{method: "POST", credentials: "include", headers: {{"X-FaceGate-CSRF": "guess"}}}},
    {{method: "POST", credentials: "include", headers: {{"Content-Type": "application/json"}},
      body: "{{}}"}},
  ]) {{
    try {{ const r = await fetch(target, init); results.push(String(r.status)); }}
    catch (e) {{ results.push("blocked"); }}
  }}
  document.title = "done " + results.join(",");
}})();
</script>"""


def test_another_local_page_cannot_revoke(context: BrowserContext, live: LiveService) -> None:
    registered, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, registered.id)
    target = f"{live.base_url}api/user/grants/{issued.grant.id}/revoke"
    html = EVIL_PAGE.format(target=target).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _sign_in(context, live)  # the person is signed in, in this same browser
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_function("() => document.title.startsWith('done')")
        # The no-cors POST reaches the service (and is refused: no CSRF header, foreign
        # Origin); the other two stop at the CORS preflight the service never grants.
        assert page.title() == "done blocked,blocked,blocked", page.title()
    finally:
        server.shutdown()
        server.server_close()
    assert live.sharing.grant(issued.grant.id).revoked_at is None


def test_the_lists_are_the_signed_in_persons_and_not_the_cookies(
    browser: Browser, context: BrowserContext, live: LiveService
) -> None:
    """Signed in, the person sees their requests, apps, grants and audit log. The same
    session cookie in a browser without the session's token (what a local server that
    received the cookie has) gets the pages' frames, no data, and a way back."""
    kept, _ = add_app(live.sharing, name="Quiet Diary Companion")
    issued = approved_token(live.sharing, kept.id)
    waiting, _ = add_app(live.sharing, name="Pending Lantern Studio")
    asked = live.sharing.request_consent(waiting.id, ["face_map"], 3600)
    page = _open(_sign_in(context, live), live.base_url)
    assert page.inner_text(f"#pending li[data-request='{asked.id}'] a") == waiting.name
    _open(page, f"{live.base_url}grants")
    assert page.inner_text(f"tr[data-grant='{issued.grant.id}'] td") == kept.name
    assert page.inner_text(f"#apps tr[data-app='{waiting.id}'] td") == waiting.name
    _open(page, f"{live.base_url}audit")
    events = page.eval_on_selector_all("#audit tbody tr", "rows => rows.map(r => r.dataset.event)")
    assert events == [e.event for e in reversed(live.sharing.audit_entries())]

    (cookie,) = context.cookies()
    elsewhere = browser.new_context()
    try:
        elsewhere.add_cookies([cookie])
        other = elsewhere.new_page()
        for path in ("", "grants", "audit", f"consent/{asked.id}"):
            shown = other.goto(f"{live.base_url}{path}")
            assert shown is not None and shown.status == 200, path
            other.wait_for_selector("#page-state[data-state='signin']")
            assert "Sign in again on this page" in other.inner_text("#page-state")
            text = other.inner_text("body")
            assert kept.name not in text and waiting.name not in text, path
    finally:
        elsewhere.close()


def test_the_consent_page_shows_hostile_names_as_text_and_warns_of_namesakes(
    context: BrowserContext, live: LiveService
) -> None:
    """App names are the app's choice: markup in them is shown, not parsed. A banned app
    under a name that reads the same is pointed out with both ids (outside review F2)."""
    hostile = "<b>Mirror</b><img src=x onerror=\"document.title='pwned'\">"
    original, _ = add_app(live.sharing, name=hostile)
    live.sharing.ban_app(original.id, "sold data")
    impostor, _ = add_app(live.sharing, name=hostile.replace("Mirror", "\uff2d\uff49rror"))
    asked = live.sharing.request_consent(impostor.id, ["expressions"], 720)
    page = _open(_sign_in(context, live), f"{live.base_url}consent/{asked.id}")
    assert page.inner_text(".app-name") == hostile
    assert page.locator("#prompt b, #prompt img, #consent-title b").count() == 0
    assert page.title() == f"Allow {hostile}? · FaceGate"
    assert page.inner_text("#grant-duration").startswith("12 minutes,")
    warning = page.inner_text("#namesakes")
    assert warning.startswith("1 other app registered here use this name, and you banned one")
    assert original.id in warning
    assert page.is_visible("#approve")
    lone, _ = add_app(live.sharing, name="Lantern")
    alone = live.sharing.request_consent(lone.id, ["expressions"], 720)
    _open(page, f"{live.base_url}consent/{alone.id}")
    assert page.inner_text(".app-name") == "Lantern" and not page.is_visible("#namesakes")
    _open(page, f"{live.base_url}consent/req_missing")
    assert page.get_attribute("#page-state", "data-state") == "missing"
    assert "no such consent request" in page.inner_text("#page-state")


def test_the_audit_page_names_where_frames_went_and_exports_the_log(
    context: BrowserContext, live: LiveService, tmp_path: Path
) -> None:
    registered, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, registered.id)
    where = "osc.udp://192.0.2.1:39539"

    async def take() -> int:
        frames = stream(live.stream_url, issued.token, max_frames=3, destination=where)
        return len([frame async for frame in frames])

    with ThreadPoolExecutor(1) as apart:  # Playwright's own event loop runs in this thread
        assert apart.submit(asyncio.run, take()).result() == 3
    for _ in range(100):
        if any(e.event == "stream_ended" for e in live.sharing.audit_entries()):
            break
        time.sleep(0.05)
    page = _open(_sign_in(context, live), f"{live.base_url}audit")
    for event in ("stream_started", "stream_ended"):
        shown = page.inner_text(f"tr[data-event='{event}'] .destination")
        assert shown == f" (sent on to {where})", event
    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / "audit.jsonl"
    download.value.save_as(saved)
    lines = saved.read_text("utf-8").splitlines()
    assert len(lines) == len(live.sharing.audit_entries()) + 1
    assert live.sharing.verify_audit_export(lines).ok
