"""What a determined app or a local attacker tries against the running service.

Each test reproduces one attack from issue 15 on a real uvicorn server on 127.0.0.1
and states what must hold instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from facegate.server.app import create_app
from facegate.server.connections import ConnectionLimits
from facegate.server.feeds import ReplayFeed
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.refusals import REFUSALS_PER_MINUTE
from facegate.sharing.service import Via
from facegate.sharing.signed_requests import sign_request
from sharing_service import (
    LiveService,
    add_app,
    approved_token,
    live_fixture,  # noqa: F401
    open_sharing,
    tracked_records,
)


async def _first_message_close(url: str, message: str) -> Any:
    """Send ``message`` first; the close frame the service answers with."""
    async with connect(url, proxy=None, max_size=None) as ws:
        await ws.send(message)
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.protocol.close_rcvd


def test_a_deeply_nested_first_message_gets_a_facegate_close_code(live: LiveService) -> None:
    deep = "[" * 2000 + "]" * 2000
    nested_object = '{"token":' + "[" * 1500 + "]" * 1500 + "}"
    for message in (deep, nested_object):
        closed = asyncio.run(_first_message_close(live.stream_url, message))
        assert closed is not None and closed.code == 4400, closed
        assert "token" in closed.reason


def _signed(key: Ed25519PrivateKey, method: str, target: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        **sign_request(key, method, target, body, time.time()),
    }


def test_an_exact_replay_of_a_signed_request_is_refused(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    target = f"/api/v1/apps/{app.id}/consent-requests"
    body = json.dumps({"scopes": ["expressions"], "grant_seconds": 3600}).encode()
    headers = _signed(key, "POST", target, body)
    url = live.base_url.rstrip("/") + target
    first = httpx.post(url, content=body, headers=headers)
    replay = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 201, first.text
    assert replay.status_code == 401, replay.text
    assert "nonce" in replay.json()["message"].lower()
    assert len(live.sharing.consent_requests()) == 1  # the replay made no second prompt


def test_a_query_string_appended_after_signing_is_refused(live: LiveService) -> None:
    app, key = add_app(live.sharing)
    target = f"/api/v1/apps/{app.id}"
    base = live.base_url.rstrip("/")
    assert httpx.get(base + target, headers=_signed(key, "GET", target, b"")).status_code == 200
    extended = httpx.get(base + target + "?evil=1", headers=_signed(key, "GET", target, b""))
    assert extended.status_code == 401, extended.text
    signed_with_query = _signed(key, "GET", target + "?evil=1", b"")
    assert httpx.get(base + target + "?evil=1", headers=signed_with_query).status_code == 200
    other_method = _signed(key, "POST", target, b"")
    assert httpx.get(base + target, headers=other_method).status_code == 401


async def _close_codes(url: str, token: str, attempts: int) -> list[int | None]:
    """Connect ``attempts`` times in a row, hanging up as soon as the service answers."""
    codes: list[int | None] = []
    for _ in range(attempts):
        async with connect(url, proxy=None) as ws:
            await ws.send(json.dumps({"token": token}))
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        codes.append(None if ws.protocol.close_rcvd is None else ws.protocol.close_rcvd.code)
    return codes


def _refusal_rows(live: LiveService) -> list[Any]:
    live.sharing.flush_refusals(everything=True)
    return [e for e in live.sharing.audit_entries() if e.event == "stream_refused"]


def test_a_revoked_token_hammering_the_stream_costs_one_row_a_minute(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id)
    live.sharing.revoke(issued.grant.id, Via.CLI)
    before = len(live.sharing.audit_entries())
    codes = asyncio.run(_close_codes(live.stream_url, issued.token, 60))
    assert codes[:REFUSALS_PER_MINUTE] == [4403] * REFUSALS_PER_MINUTE
    assert set(codes[REFUSALS_PER_MINUTE:]) == {4429}, codes
    rows = _refusal_rows(live)
    assert 1 <= len(rows) <= 2  # one per minute: two if the attempts straddled a minute
    assert all(r.app_id == app.id for r in rows)
    assert sum(r.detail["attempts"] for r in rows) == 60
    assert len(live.sharing.audit_entries()) - before == len(rows)
    assert live.sharing.verify_audit().ok


def test_reconnect_churn_with_a_live_token_is_bounded(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])
    starts = 20  # Budgets().stream_starts per grant and minute
    codes = asyncio.run(_close_codes(live.stream_url, issued.token, starts + 15))
    assert codes.count(4429) == 15, codes
    time.sleep(0.5)  # let the last sessions write their end entries
    events = [e.event for e in live.sharing.audit_entries()]
    assert events.count("stream_started") == starts
    assert events.count("stream_ended") == starts
    rows = _refusal_rows(live)
    assert sum(r.detail["attempts"] for r in rows) == 15
    assert {k for r in rows for k in r.detail["reasons"]} == {"too many stream starts"}


def test_a_grant_holds_at_most_two_streams_at_once(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])

    async def scenario() -> tuple[list[str], int | None, str]:
        first = await connect(live.stream_url, proxy=None)
        second = await connect(live.stream_url, proxy=None)
        for ws in (first, second):
            await ws.send(json.dumps({"token": issued.token}))
        ready = [json.loads(await ws.recv())["type"] for ws in (first, second)]
        third = await connect(live.stream_url, proxy=None)
        await third.send(json.dumps({"token": issued.token}))
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(third.recv(), 5)
        refused = third.protocol.close_rcvd
        await first.close()
        await asyncio.sleep(0.2)
        fourth = await connect(live.stream_url, proxy=None)
        await fourth.send(json.dumps({"token": issued.token}))
        again = json.loads(await asyncio.wait_for(fourth.recv(), 5))["type"]
        for ws in (second, fourth):
            await ws.close()
        return ready, None if refused is None else refused.code, again

    ready, refused_code, again = asyncio.run(scenario())
    assert ready == ["ready", "ready"]
    assert refused_code == 4409
    assert again == "ready"


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the service closes ``sock`` within ``seconds`` (reads return nothing)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_slow_clients_are_cut_off_and_one_address_cannot_hold_every_slot(
    tmp_path: Path,
) -> None:
    limits = ConnectionLimits(per_address=8, request_seconds=1.0)
    with open_sharing(tmp_path / "home") as sharing:
        app = create_app(sharing, ReplayFeed(tracked_records()[:5]), new_user_token())
        with BackgroundServer(app, limits=limits) as server:
            slow = []
            for _ in range(limits.per_address + 4):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(b"GET /api/v1/terms HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                slow.append(sock)
            try:
                started = time.monotonic()
                over_cap = [_closed_within(s, 0.5) for s in slow[limits.per_address :]]
                assert over_cap == [True] * 4, "connections over the cap are closed at once"
                for sock in slow[: limits.per_address]:
                    sock.sendall(b"X-Slow: 1\r\n")  # a trickle does not extend the deadline
                held = [_closed_within(s, 3.0) for s in slow[: limits.per_address]]
                assert held == [True] * limits.per_address
                assert time.monotonic() - started < limits.request_seconds + 3.0
            finally:
                for sock in slow:
                    sock.close()
            response = httpx.get(server.base_url + "api/v1/terms")
            assert response.status_code == 200, "honest clients still get in"
