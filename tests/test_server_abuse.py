"""What a determined app or a local attacker tries against the running service.

Each test reproduces one attack from issue 15 on a real uvicorn server on 127.0.0.1
and states what must hold instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from facegate.sharing.signed_requests import sign_request
from sharing_service import LiveService, add_app, live_fixture  # noqa: F401


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
