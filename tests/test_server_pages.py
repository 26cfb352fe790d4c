"""The person's pages in headless Chromium at 1280 and 390 px: readable durations, local
times, tables that follow a revoke or a ban, no horizontal overflow, an HTML 404, the
person's own stream on the avatar page, and the source's state when there is no camera."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.server.app import create_app
from facegate.server.feeds import TrackerFeed
from facegate.server.run import BackgroundServer, new_user_token
from sharing_service import (
    LiveService,
    add_app,
    approved_token,
    live_fixture,  # noqa: F401
    open_sharing,
)
from test_server_browser import CHROMIUM, CHROMIUM_ARGS, FRAMES, _open, _sign_in, sync_api

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

WIDTHS = {"desktop": 1280, "phone": 390}
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def context(
    request: pytest.FixtureRequest, browser: Browser, live: LiveService
) -> Iterator[BrowserContext]:
    width = WIDTHS[request.param]
    ctx = browser.new_context(
        viewport={"width": width, "height": 900}, timezone_id="Asia/Tokyo", locale="en-GB"
    )
    ctx.route(
        lambda url: not url.startswith(("http://127.0.0.1", "ws://127.0.0.1")),
        lambda route: pytest.fail(f"the page requested {route.request.url}"),
    )
    yield ctx
    ctx.close()


def _fits(page: Page) -> None:
    assert page.evaluate(OVERFLOW) <= 0, f"{page.url} is wider than the window"


def test_consent_prompt_says_durations_in_words(context: BrowserContext, live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    request = live.sharing.request_consent(app.id, ["expressions"], 720)
    page = _open(_sign_in(context, live), f"{live.base_url}consent/{request.id}")
    assert page.inner_text("#grant-duration").startswith("12 minutes,")
    assert page.inner_text("#app-retention") == "7 days at most"
    assert "(s)" not in page.inner_text("main")
    _fits(page)


def test_the_tables_follow_a_revoke_and_a_ban_in_local_time(
    context: BrowserContext, live: LiveService
) -> None:
    kept, _ = add_app(live.sharing, name="Kept App")
    banned, _ = add_app(live.sharing, name="Bad App")
    first = approved_token(live.sharing, kept.id)
    approved_token(live.sharing, banned.id)
    page = _open(_sign_in(context, live), f"{live.base_url}grants")
    _fits(page)
    width = page.viewport_size["width"] if page.viewport_size else 0
    for control in ("button[data-action='revoke']", "form.ban button"):
        box = page.locator(control).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, (control, box)
    kept_row = f"#apps tr[data-app='{kept.id}'] .app-status"
    assert page.inner_text(kept_row) == "may stream (1 active grant)"
    until = page.inner_text(f"tr[data-grant='{first.grant.id}'] time")
    assert "UTC" not in until and ("GMT+9" in until or "JST" in until), until

    page.click(f"tr[data-grant='{first.grant.id}'] button[data-action='revoke']")
    page.wait_for_selector(f"tr[data-grant='{first.grant.id}'][data-state='revoked']")
    assert page.inner_text(kept_row) == "no active grant"

    ban = f"#apps form.ban[data-app='{banned.id}']"
    page.fill(f"{ban} input[name='reason']", "sold my data")
    page.click(f"{ban} button")
    page.wait_for_selector(f"#apps tr[data-app='{banned.id}'][data-banned='true']")
    assert page.inner_text(f"#apps tr[data-app='{banned.id}'] .app-status") == (
        "banned: sold my data"
    )
    assert live.sharing.app(banned.id).ban_reason == "sold my data"
    assert page.locator(f"#grants tr[data-app='{banned.id}'][data-state='active']").count() == 0
    _open(page, f"{live.base_url}grants")
    assert page.inner_text(kept_row) == "no active grant"
    assert page.locator(f"#apps tr[data-app='{banned.id}'] form.ban").count() == 0
    _open(page, f"{live.base_url}audit")
    _fits(page)
    assert "UTC" not in page.inner_text("#audit tbody tr:first-child time")


def test_every_page_fits_and_an_unknown_page_is_html(
    context: BrowserContext, live: LiveService
) -> None:
    page = _sign_in(context, live)
    for path in ("", "grants", "audit", "demo/avatar", "docs"):
        response = page.goto(f"{live.base_url}{path}")
        assert response is not None and response.status == 200, path
        if path in ("", "grants", "audit"):
            page.wait_for_selector("#page-state[data-state='done']", state="attached")
        _fits(page)
    missing = page.goto(f"{live.base_url}no/such/page")
    assert missing is not None and missing.status == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert page.inner_text("h1") == "Not found"
    _fits(page)
    api = httpx.get(f"{live.base_url}api/v1/nothing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"] == "http_error"


def test_the_person_previews_their_own_stream(context: BrowserContext, live: LiveService) -> None:
    page = _sign_in(context, live)
    page.goto(f"{live.base_url}demo/avatar")
    page.wait_for_selector("#stream-status[data-state='streaming']")
    assert page.get_attribute("#stream-status", "data-preview") == "true"
    page.wait_for_function(f"() => {FRAMES} >= 10")
    _fits(page)
    assert live.sharing.audit_entries() == [], "the person watching themselves is no app access"
    stranger = context.browser.new_context()  # type: ignore[union-attr]
    try:
        alone = stranger.new_page()
        alone.goto(f"{live.base_url}demo/avatar")
        alone.wait_for_selector("#stream-status[data-state='closed']")
        assert alone.get_attribute("#stream-status", "data-close-code") == "4401"
    finally:
        stranger.close()


OTHER_PAGE = """<!doctype html><title>x</title><script>
const ws = new WebSocket("{target}");
ws.onmessage = () => {{ document.title = "got data"; }};
ws.onclose = (e) => {{ document.title = "closed " + e.code; }};
</script>"""


def test_another_local_page_cannot_open_the_preview(
    context: BrowserContext, live: LiveService
) -> None:
    html = OTHER_PAGE.format(target=live.stream_url.replace("v1/stream", "user/preview")).encode()

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _sign_in(context, live)  # signed in, in this same browser: the cookie is sent
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_function("() => document.title !== 'x'")
        assert page.title() == "closed 4401"
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_camera_the_pages_and_the_stream_say_so(browser: Browser, tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "home")
    with open_sharing(tmp_path / "home") as sharing:
        token = new_user_token()
        feed = TrackerFeed("camera:97", ModelFiles.of(settings))
        with BackgroundServer(create_app(sharing, feed, token)) as server:
            status = httpx.get(server.base_url + "api/v1/status").json()
            assert status["source_ok"] is False and "no camera 97" in status["source"]
            app, _ = add_app(sharing)
            issued = approved_token(sharing, app.id)
            ctx = browser.new_context(viewport={"width": 390, "height": 800})
            try:
                page = ctx.new_page()
                page.goto(f"{server.base_url}login#{token}")
                page.wait_for_url(server.base_url)
                assert page.get_attribute("#source-state", "data-ok") == "false"
                assert "no camera 97" in page.inner_text("#source-state")
                _fits(page)
                page.goto(f"{server.base_url}demo/avatar#token={issued.token}")
                page.wait_for_selector("#stream-status[data-state='closed']")
                assert page.get_attribute("#stream-status", "data-close-code") == "4503"
                assert "no camera 97" in page.inner_text("#stream-status")
            finally:
                ctx.close()
