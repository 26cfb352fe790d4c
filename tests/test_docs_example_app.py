"""The example app in docs/apps.md runs, as written, against a live service; /docs serves
the API reference."""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from facegate.sharing.consent import RequestStatus
from sharing_service import LiveService, live_fixture  # noqa: F401

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "apps.md"


def _example_app(tmp_path: Path) -> ModuleType:
    """The code block after the ``<!-- example-app -->`` marker, imported as a module."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- example-app -->\s*```python\n(.*?)```", text, re.S)
    assert found, "docs/apps.md lost its example app"
    path = tmp_path / "mirror.py"
    path.write_text(found.group(1), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("mirror_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _approve_when_asked(live: LiveService, timeout: float = 30.0) -> str:
    """What the person does on the consent page, through the person's own API."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = live.sharing.consent_requests(RequestStatus.PENDING)
        if pending:
            url = f"{live.base_url}api/user/consent-requests/{pending[0].id}/approve"
            response = httpx.post(url, headers=live.user_headers)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])
        time.sleep(0.05)
    raise AssertionError("the example app never asked for consent")


def test_the_guides_example_app_streams_and_checks_a_real_notice(
    live: LiveService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = _example_app(tmp_path)
    result: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: result.update(shown=mirror.main(live.base_url, 20)), daemon=True
    )
    runner.start()
    grant_id = _approve_when_asked(live)
    runner.join(60)
    assert not runner.is_alive()
    out = capsys.readouterr().out
    assert "Ask the person to open" in out and "/consent/" in out
    assert isinstance(result.get("shown"), int) and 0 < int(result["shown"]) <= 20  # type: ignore[call-overload]
    assert re.search(r"smile=\d\.\d\d\s+yaw=[+-]\d+ deg\s+distance=\d+ cm", out), out

    (app,) = live.sharing.apps()
    revoked = httpx.post(
        f"{live.base_url}api/user/grants/{grant_id}/revoke", headers=live.user_headers
    )
    assert revoked.status_code == 200, revoked.text
    with live.sharing.store.read("read the outbox of") as conn:
        body, signature, kid, notice_id = conn.execute(
            "SELECT body, signature, key_id, id FROM notices WHERE app_id = ?", (app.id,)
        ).fetchone()
    headers = {
        "X-FaceGate-Signature": signature,
        "X-FaceGate-Key-Id": kid,
        "X-FaceGate-Notice-Id": notice_id,
    }
    platform_key = httpx.get(live.base_url + "api/v1/platform-key").json()["public_key"]
    forget = mirror.handle_deletion_notice(bytes(body), headers, platform_key, app.id)
    assert forget == [grant_id]
    forged = bytes(body).replace(b"revoked_by_user", b"revoked_by_userX")
    assert mirror.handle_deletion_notice(forged, headers, platform_key, app.id) == []
    assert mirror.handle_deletion_notice(bytes(body), headers, platform_key, "app_other") == []


def test_docs_serves_the_api_reference(live: LiveService) -> None:
    page = httpx.get(live.base_url + "docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for expected in (
        "POST /api/v1/apps",
        "/api/v1/apps/{app_id}/consent-requests",
        "X-FaceGate-Nonce",
        "4409",
        "AppRegistrationIn",
    ):
        assert expected in page.text, expected
    assert "cdn" not in page.text.lower()
