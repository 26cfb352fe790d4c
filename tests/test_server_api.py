"""The REST API on a real uvicorn server: who may call what, clear 4xx errors, and
responses that never carry identity data (exact key sets)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.routing import APIRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from facegate.client import AppClient, stream
from facegate.client.app import AppError
from facegate.server.app import ROUTERS
from facegate.server.security import MAX_BODY_BYTES
from facegate.sharing.keys import public_key_b64
from facegate.sharing.service import MAX_PENDING_REQUESTS, Via
from facegate.sharing.signed_requests import sign_request
from sharing_service import LiveService, add_app, approved_token, live_fixture  # noqa: F401

APP_KEYS = {
    "id", "name", "developer", "contact", "purpose", "retention_days", "webhook_url",
    "public_key", "registered_at", "terms_version", "terms_accepted_at", "banned", "banned_at",
    "ban_reason",
}  # fmt: skip
REQUEST_KEYS = {
    "id", "app_id", "scopes", "grant_seconds", "status", "created_at", "expires_at",
    "decided_at", "consent_url",
}  # fmt: skip
GRANT_KEYS = {
    "id", "app_id", "request_id", "scopes", "state", "created_at", "expires_at", "token_issued",
    "revoked_at", "revoked_reason",
}  # fmt: skip
TOKEN_KEYS = {"token", "grant_id", "scopes", "expires_at", "stream_url"}
AUDIT_KEYS = {
    "seq", "at", "event", "actor", "app_id", "grant_id", "scopes", "started_at", "ended_at",
    "frames", "detail", "prev_hash", "hash",
}  # fmt: skip
JSON = {"Content-Type": "application/json"}
IDENTITY_WORDS = ("embedding", "template", "landmark", "image", "pixels", "descriptor")


def _client(live: LiveService) -> AppClient:
    return AppClient.register(
        live.base_url,
        Ed25519PrivateKey.generate(),
        name="Mirror Game",
        developer="Example Studio",
        contact="privacy@example.org",
        purpose="Animate a character",
        retention_days=7,
        webhook_url="https://hooks.example.org/facegate",
    )


def _signed(
    live: LiveService, key: Ed25519PrivateKey, method: str, path: str, body: bytes = b""
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        **sign_request(key, method, path, body, time.time()),
    }
    return httpx.request(method, live.base_url.rstrip("/") + path, content=body, headers=headers)


def _no_identity(payload: Any) -> None:
    text = json.dumps(payload).lower()
    for word in IDENTITY_WORDS:
        assert word not in text, word


def test_the_whole_flow_through_the_api(live: LiveService) -> None:
    with _client(live) as app:
        assert set(app.info()) == APP_KEYS
        app.accept_terms()
        asked = app.request_consent(["expressions", "head_pose"], 900)
        assert asked.status == "pending"
        assert asked.consent_url == f"{live.base_url}consent/{asked.id}"
        with pytest.raises(AppError) as refused:
            app.claim_token(asked.id)
        assert (refused.value.status, refused.value.error) == (403, "consent_required")
        user = httpx.Client(base_url=live.base_url, headers=live.user_headers)
        listed = user.get("/api/user/consent-requests", params={"status": "pending"}).json()
        assert [r["id"] for r in listed] == [asked.id] and set(listed[0]) == REQUEST_KEYS
        grant = user.post(f"/api/user/consent-requests/{asked.id}/approve").json()
        assert set(grant) == GRANT_KEYS and grant["state"] == "active"
        issued = app.claim_token(asked.id)
        assert issued.stream_url == f"ws://127.0.0.1:{live.server.port}/api/v1/stream"
        assert "token=<hidden>" in repr(issued)
        with pytest.raises(AppError, match="already issued"):
            app.claim_token(asked.id)
        grants = user.get("/api/user/grants").json()
        assert [g["token_issued"] for g in grants] == [True] and set(grants[0]) == GRANT_KEYS
        audit = user.get("/api/user/audit").json()
        assert all(set(e) == AUDIT_KEYS for e in audit)
        assert issued.token not in json.dumps(audit)
        assert user.get("/api/user/audit/verify").json() == {
            "ok": True, "entries": len(audit), "broken_seq": None, "problem": None,
        }  # fmt: skip
        export = user.get("/api/user/audit/export")
        assert export.headers["content-type"].startswith("application/x-ndjson")
        exported = export.text.splitlines()
        assert len(exported) == len(audit) + 1  # the entries, then their signed head
        assert json.loads(exported[-1])["type"] == "audit_head"
        for payload in (
            app.info(),
            listed,
            grant,
            grants,
            audit,
            user.get("/api/user/apps").json(),
        ):
            _no_identity(payload)


def test_token_response_has_exactly_its_keys(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    request = live.sharing.request_consent(app.id, ["face_map"])
    live.sharing.approve(request.id, Via.WEB)
    path = f"/api/v1/apps/{app.id}/consent-requests/{request.id}/token"
    response = _signed(live, key, "POST", path)
    assert response.status_code == 201 and set(response.json()) == TOKEN_KEYS
    _no_identity({k: v for k, v in response.json().items() if k != "token"})


def test_public_endpoints(live: LiveService) -> None:
    terms = httpx.get(live.base_url + "api/v1/terms").json()
    assert set(terms) == {"version", "text"} and "No advertising" in terms["text"]
    key = httpx.get(live.base_url + "api/v1/platform-key").json()
    assert key["algorithm"] == "Ed25519" and key["public_key"] == live.sharing.platform_public_key
    scopes = httpx.get(live.base_url + "api/v1/scopes").json()
    assert [s["name"] for s in scopes] == ["expressions", "head_pose", "face_map"]
    spec = httpx.get(live.base_url + "openapi.json").json()
    for path in (
        "/api/v1/apps",
        "/api/v1/apps/{app_id}/consent-requests",
        "/api/v1/apps/{app_id}/consent-requests/{request_id}/token",
        "/api/user/grants/{grant_id}/revoke",
        "/api/user/apps/{app_id}/ban",
        "/api/user/audit",
    ):
        assert path in spec["paths"], path


def test_person_endpoints_refuse_apps_and_strangers(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id)
    path = f"/api/user/grants/{issued.grant.id}/revoke"
    attempts = {
        "nobody": httpx.post(live.base_url + path[1:]),
        "app signature": _signed(live, key, "POST", path),
        "grant token": httpx.post(
            live.base_url + path[1:], headers={"Authorization": f"Bearer {issued.token}"}
        ),
        "wrong user token": httpx.post(
            live.base_url + path[1:], headers={"Authorization": "Bearer " + "z" * 43}
        ),
    }
    for who, response in attempts.items():
        assert response.status_code == 401, who
        assert response.json()["error"] == "bad_credentials", who
    assert live.sharing.grant(issued.grant.id).revoked_at is None
    assert httpx.get(live.base_url + "api/user/grants").status_code == 401


def test_browser_sessions_need_the_csrf_token_and_the_same_origin(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id)
    origin = live.base_url.rstrip("/")
    browser = httpx.Client(base_url=live.base_url)
    assert browser.post("/api/user/session", json={"code": "wrong"}).status_code == 401
    opened = browser.post("/api/user/session", json={"code": live.user_token})
    assert opened.status_code == 200
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = opened.json()["csrf"]
    assert browser.get("/api/user/grants").status_code == 401  # the cookie alone: no
    assert browser.get("/api/user/grants", headers={"X-FaceGate-CSRF": csrf}).status_code == 200
    path = f"/api/user/grants/{issued.grant.id}/revoke"
    no_csrf = browser.post(path, headers={"Origin": origin})
    assert no_csrf.status_code == 401 and "X-FaceGate-CSRF" in no_csrf.json()["message"]
    evil = browser.post(path, headers={"X-FaceGate-CSRF": csrf, "Origin": "http://evil.example"})
    assert evil.status_code == 401 and "cross-origin" in evil.json()["message"]
    assert live.sharing.grant(issued.grant.id).revoked_at is None
    done = browser.post(path, headers={"X-FaceGate-CSRF": csrf, "Origin": origin})
    assert done.status_code == 200 and done.json()["state"] == "revoked"


def test_a_stolen_session_cookie_cannot_approve_read_the_api_or_preview(
    live: LiveService,
) -> None:
    """A cookie for 127.0.0.1 also reaches any other local server the person's browser
    visits (cookies ignore ports). That server replays it, faking any Origin: it must
    find no CSRF token in any page, and without one get nothing from the API or the
    preview stream (the outside review's HIGH finding)."""
    app, _ = add_app(live.sharing)
    asked = live.sharing.request_consent(app.id, ["expressions"], 3600)
    person = httpx.Client(base_url=live.base_url)
    csrf = person.post("/api/user/session", json={"code": live.user_token}).json()["csrf"]
    stolen = {"facegate_session": person.cookies["facegate_session"]}
    thief = httpx.Client(base_url=live.base_url, cookies=stolen)
    origin = {"Origin": live.base_url.rstrip("/")}
    for page in ("/", "/grants", "/audit", f"/consent/{asked.id}", "/demo/avatar"):
        shown = thief.get(page)
        assert shown.status_code == 200 and csrf not in shown.text, page
    approve = f"/api/user/consent-requests/{asked.id}/approve"
    assert thief.post(approve, headers=origin).status_code == 401
    for read in ("/api/user/grants", "/api/user/audit", "/api/user/apps"):
        assert thief.get(read).status_code == 401, read
    assert live.sharing.grants() == []

    async def preview(first: dict[str, str]) -> Any:
        url = live.stream_url.replace("v1/stream", "user/preview")
        cookie = {"Cookie": f"facegate_session={stolen['facegate_session']}"}
        ws = await connect(url, proxy=None, additional_headers=cookie)
        await ws.send(json.dumps(first))
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed:
            return ws.protocol.close_rcvd
        finally:
            await ws.close()

    refused = asyncio.run(preview({"csrf": "guessed"}))
    assert getattr(refused, "code", None) == 4401
    assert asyncio.run(preview({"csrf": csrf}))["type"] == "ready"  # the person's own tab


def _private_data(live: LiveService) -> tuple[list[str], dict[str, str]]:
    """Apps, grants, a pending request, a ban and their audit entries, with words no
    generic page holds; returns those words and real ids for every path parameter."""
    kept, _ = add_app(live.sharing, name="Quiet Diary Companion")
    issued = approved_token(live.sharing, kept.id)
    waiting, _ = add_app(live.sharing, name="Pending Lantern Studio")
    asked = live.sharing.request_consent(waiting.id, ["face_map"], 3600)
    banned, _ = add_app(live.sharing, name="Banned Parrot")
    live.sharing.ban_app(banned.id, "resold frames to brokers")
    private = [
        kept.name, waiting.name, banned.name, kept.id, waiting.id, banned.id,
        issued.grant.id, "resold frames to brokers", "Animate the player's character",
        live.sharing.audit_entries()[-1].hash,
    ]  # fmt: skip
    ids = {"request_id": asked.id, "grant_id": issued.grant.id, "app_id": kept.id}
    return private, ids


def test_a_stolen_session_cookie_reads_no_private_data_from_any_route(live: LiveService) -> None:
    """Every HTTP route, every method, with only the person's replayed session cookie
    (and their own Origin, which a server can fake): the pages are empty shells (the
    lists come from the API with the CSRF token) and the person's API refuses. The
    outside review's F1 follow-up: the pages had still listed apps, grants and the audit
    log for the cookie alone."""
    private, ids = _private_data(live)
    person = httpx.Client(base_url=live.base_url)
    csrf = person.post("/api/user/session", json={"code": live.user_token}).json()["csrf"]
    own = {"X-FaceGate-CSRF": csrf}
    with_token = " ".join(
        person.get(path, headers=own).text
        for path in ("/api/user/apps", "/api/user/grants", "/api/user/audit")
    )
    assert all(word in with_token for word in private), "the words are the person's data"
    thief = httpx.Client(
        base_url=live.base_url,
        cookies={"facegate_session": person.cookies["facegate_session"]},
        headers={"Origin": live.base_url.rstrip("/")},
    )
    shells = set()
    for route in [route for router in ROUTERS for route in router.routes]:
        if not isinstance(route, APIRoute):
            continue  # the WebSockets: see the test above
        path = route.path.format(**ids)
        for method in sorted(route.methods):
            answer = thief.request(method, path, json={} if method == "POST" else None)
            leaked = [word for word in private if word in answer.text]
            assert not leaked, (method, route.path, leaked)
            if route.path.startswith("/api/user/") and route.path != "/api/user/session":
                assert answer.status_code == 401, (method, route.path)
            if answer.status_code == 200 and "text/html" in answer.headers["content-type"]:
                shells.add(route.path)
    assert {"/", "/grants", "/audit", "/consent/{request_id}"} <= shells
    assert not [word for word in private if word in thief.get("/openapi.json").text]
    assert len(live.sharing.grants()) == 1 and live.sharing.grants()[0].revoked_at is None


def test_the_consent_prompt_comes_from_the_api_with_its_namesakes(live: LiveService) -> None:
    first, _ = add_app(live.sharing, name="Mirror")
    second, _ = add_app(live.sharing, name="mirror")
    asked = live.sharing.request_consent(second.id, ["head_pose", "expressions"], 720)
    person = httpx.Client(base_url=live.base_url, headers=live.user_headers)
    prompt = person.get(f"/api/user/consent-requests/{asked.id}/prompt").json()
    assert set(prompt) == {"request", "app", "namesakes", "scopes", "terms_version"}
    assert set(prompt["request"]) == REQUEST_KEYS and set(prompt["app"]) == APP_KEYS
    assert prompt["app"]["id"] == second.id and prompt["request"]["grant_seconds"] == 720
    assert prompt["namesakes"] == [{"id": first.id, "banned": False}]
    assert [s["name"] for s in prompt["scopes"]] == ["expressions", "head_pose"]
    missing = person.get("/api/user/consent-requests/req_missing/prompt")
    assert missing.status_code == 404


def test_only_loopback_host_names_are_served(live: LiveService) -> None:
    for host in ("evil.example", "evil.example:80", "192.168.1.10"):
        response = httpx.get(live.base_url + "api/v1/terms", headers={"Host": host})
        assert response.status_code == 421, host
        assert response.json()["error"] == "host_not_allowed"
    ok = httpx.get(f"http://localhost:{live.server.port}/api/v1/terms")
    assert ok.status_code == 200


def test_pages_and_api_carry_security_headers(live: LiveService) -> None:
    for path in ("", "api/v1/terms", "grants", "static/avatar.js"):
        headers = httpx.get(live.base_url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 422, "json"),
        (b'{"scopes": ["identity"]}', 422, "can never be granted"),
        (b'{"scopes": ["embedding", "expressions"]}', 422, "can never be granted"),
        (b'{"scopes": ["mood"]}', 422, "unknown scope 'mood'"),
        (b'{"scopes": []}', 422, "scopes"),
        (b'{"scopes": ["expressions"], "grant_seconds": 99999999}', 422, "grant_seconds"),
        (b'{"scopes": ["expressions"], "extra": 1}', 422, "extra"),
        (b"[]", 422, "body"),
    ],
)
def test_malformed_app_requests_get_clear_json_errors(
    live: LiveService, body: bytes, status: int, fragment: str
) -> None:
    app, key = add_app(live.sharing)
    response = _signed(live, key, "POST", f"/api/v1/apps/{app.id}/consent-requests", body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) <= {"error", "message", "details"}
    assert fragment in payload["message"].lower() or fragment in json.dumps(payload).lower()
    assert "Traceback" not in response.text
    assert live.sharing.consent_requests() == []


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_bodies_are_refused_before_any_handler(live: LiveService, chunked: bool) -> None:
    """A body over the limit gets 413 whether it declares its length or streams in
    chunks, and nothing is stored; a body just under the limit still reaches the handler."""
    app, key = add_app(live.sharing)
    path = f"/api/v1/apps/{app.id}/consent-requests"
    big = b'{"scopes": ["expressions"], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = {**JSON, **sign_request(key, "POST", path, big, time.time())}
    content: Any = iter([big[:1000], big[1000:]]) if chunked else big
    response = httpx.post(live.base_url.rstrip("/") + path, content=content, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request_too_large"
    assert live.sharing.consent_requests() == []
    small = b'{"scopes": ["expressions"], "pad": "' + b"x" * 1000 + b'"}'
    response = _signed(live, key, "POST", path, small)
    assert response.status_code == 422 and "pad" in response.text


def test_a_queue_of_consent_prompts_is_refused_with_409(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    path = f"/api/v1/apps/{app.id}/consent-requests"
    body = b'{"scopes": ["expressions"]}'
    for _ in range(MAX_PENDING_REQUESTS):
        assert _signed(live, key, "POST", path, body).status_code == 201
    response = _signed(live, key, "POST", path, body)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "waiting for the person" in response.json()["message"]


def test_signatures_are_checked(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    path = f"/api/v1/apps/{app.id}/consent-requests"
    body = b'{"scopes": ["expressions"]}'
    url = live.base_url.rstrip("/") + path
    good = sign_request(key, "POST", path, body, time.time())
    cases = {
        "other key": sign_request(Ed25519PrivateKey.generate(), "POST", path, body, time.time()),
        "other body": sign_request(key, "POST", path, b"{}", time.time()),
        "other path": sign_request(key, "POST", path + "x", body, time.time()),
        "stale": sign_request(key, "POST", path, body, time.time() - 600),
        "garbage": {**good, "X-FaceGate-Signature": "!!!"},
        "bad time": {**good, "X-FaceGate-Timestamp": "yesterday"},
    }
    for case, headers in cases.items():
        response = httpx.post(url, content=body, headers={**headers, **JSON})
        assert response.status_code == 401, case
    unknown = _signed(live, key, "POST", "/api/v1/apps/app_missing/consent-requests", body)
    assert unknown.status_code == 404
    assert httpx.post(url, content=body, headers={**good, **JSON}).status_code == 201


def test_registration_proves_possession_of_the_key(live: LiveService) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body = json.dumps(
        {
            "name": "Impostor",
            "developer": "Someone",
            "contact": "a@b.example",
            "purpose": "x",
            "retention_days": 1,
            "webhook_url": "https://example.org/h",
            "public_key": public_key_b64(key),
        }
    ).encode()
    path = "/api/v1/apps"
    headers = {"Content-Type": "application/json"}
    forged = httpx.post(
        live.base_url + "api/v1/apps",
        content=body,
        headers={**headers, **sign_request(other, "POST", path, body, time.time())},
    )
    assert forged.status_code == 401
    assert live.sharing.apps() == []
    bad_key = json.loads(body) | {"public_key": "AAAA"}
    response = httpx.post(live.base_url + "api/v1/apps", json=bad_key)
    assert response.status_code == 422 and "public_key" in response.json()["message"]


def test_unknown_routes_and_methods_are_json_4xx(live: LiveService) -> None:
    missing = httpx.get(live.base_url + "api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "http_error"
    wrong = httpx.delete(live.base_url + "api/v1/terms")
    assert wrong.status_code == 405 and wrong.json()["error"] == "http_error"
    bad_id = httpx.get(
        live.base_url + "api/user/consent-requests/bad%20id", headers=live.user_headers
    )
    assert bad_id.status_code == 422


def test_logs_never_hold_tokens(live: LiveService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(live) as app:
        app.accept_terms()
        asked = app.request_consent(["expressions"])
        httpx.post(
            f"{live.base_url}api/user/consent-requests/{asked.id}/approve",
            headers=live.user_headers,
        )
        issued = app.claim_token(asked.id)

        async def take() -> int:
            return len([f async for f in stream(issued.stream_url, issued.token, max_frames=5)])

        assert asyncio.run(take()) == 5
        httpx.post(
            f"{live.base_url}api/user/grants/{issued.grant_id}/revoke", headers=live.user_headers
        )
    logged = caplog.text
    assert "revoked" in logged, "the service does log what happened"
    assert issued.token not in logged and live.user_token not in logged
    assert "eyeBlinkLeft" not in logged and "face_map" not in logged, "no face data"
