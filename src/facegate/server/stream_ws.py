"""The expression stream: one WebSocket per app session, authorised by a grant token.

Protocol (JSON text messages):

1. the app connects to ``/api/v1/stream`` and, within ``AUTH_SECONDS``, sends
   ``{"token": "fgt_..."}``. The token travels in a message, not the URL, so it
   never lands in an access log or a browser's history. An app that sends the
   frames on (``facegate osc`` to a VMC receiver) adds ``"destination"``, e.g.
   ``"osc.udp://192.0.2.1:39539"``: it is written into the session's audit entries
   as the app's own statement of where the frames go (the service cannot see it);
2. the service answers ``{"type": "ready", "grant_id", "scopes", "fields",
   "expires_at"}`` and then sends ``{"type": "frame", ...}`` messages holding only
   the fields the grant's scopes allow (``facegate.sharing.frames``);
3. the service closes the socket with a code from ``CloseCode``: 4400 for a first
   message that is not ``{"token": "..."}``, 4401 for an unknown token, 4403 when
   consent is missing or ends (revoked, expired, app banned), 4408 when no token
   came in time, 4409 when the grant already has ``MAX_STREAMS_PER_GRANT`` streams,
   4429 past a budget (refused attempts, stream starts, failed tokens), 4503 when
   the service has no readable source (no camera), 1000 when the source ends, 1011
   when it fails.

The session's start, end and frame count are written to the audit log; refused
attempts are counted into one entry per app and minute (``sharing.refusals``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from facegate.server.context import Service
from facegate.server.hub import MAX_STREAMS_PER_GRANT, CloseCode, Subscription
from facegate.server.security import SESSION_COOKIE
from facegate.sharing.consent import Grant
from facegate.sharing.errors import BadCredentials, ConsentRequired, RateLimited
from facegate.sharing.frames import frame_keys
from facegate.sharing.scopes import Scope, to_names
from facegate.sharing.tokens import new_id

log = logging.getLogger(__name__)

AUTH_SECONDS = 5.0
MAX_CLIENT_MESSAGE = 4096
MAX_DESTINATION_CHARS = 200

router = APIRouter()


async def _read_first(ws: WebSocket, field: str) -> dict[str, Any] | None:
    """The first message, an object whose ``field`` is a string (``{"token": ...}`` or
    ``{"csrf": ...}``), or None after closing the socket with the reason."""
    try:
        message = await asyncio.wait_for(ws.receive_text(), AUTH_SECONDS)
    except TimeoutError:
        await ws.close(CloseCode.AUTH_TIMEOUT, f'send {{"{field}": ...}} first')
        return None
    except (WebSocketDisconnect, KeyError, RuntimeError):
        return None
    try:
        parsed = json.loads(message) if len(message) <= MAX_CLIENT_MESSAGE else None
    except (ValueError, RecursionError):
        # a deeply nested document exhausts the decoder's recursion: still just bad input
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get(field), str):
        await ws.close(CloseCode.BAD_REQUEST, f'the first message must be {{"{field}": "..."}}')
        return None
    return parsed


def _declared_destination(first: dict[str, Any]) -> str | None:
    """Where the first message says the app sends the frames on; None when it says nothing.

    ValueError unless it is one printable line of at most ``MAX_DESTINATION_CHARS``:
    the audit page and ``facegate audit show`` print it as it came.
    """
    value = first.get("destination")
    if value is None:
        return None
    if not (isinstance(value, str) and 0 < len(value) <= MAX_DESTINATION_CHARS):
        raise ValueError(f"destination must be text of at most {MAX_DESTINATION_CHARS} characters")
    if not value.isprintable():
        raise ValueError("destination must be printable (no control or format characters)")
    return value


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _send_frames(ws: WebSocket, sub: Subscription) -> None:
    while True:
        text = await sub.queue.get()
        if text is None:
            return
        await ws.send_text(text)
        sub.frames_sent += 1


@router.websocket("/api/v1/stream")
async def stream(ws: WebSocket) -> None:
    """Apps stream from their own process; a web page of another origin may not even
    open the socket (its handshake is refused at once): every local client shares
    127.0.0.1's connection cap, and a page looping on sockets that wait
    ``AUTH_SECONDS`` for a token would fill it and keep the person from their pages."""
    svc: Service = ws.app.state.service
    origin = ws.headers.get("origin")
    if origin is not None and origin != f"http://{ws.headers.get('host', '')}":
        await ws.close(CloseCode.UNAUTHORISED, "streams are for apps, not other web pages")
        return
    await ws.accept()
    first = await _read_first(ws, "token")
    if first is None:
        return
    try:
        destination = _declared_destination(first)
    except ValueError as err:
        await ws.close(CloseCode.BAD_REQUEST, str(err))
        return
    try:
        grant, _ = await run_in_threadpool(svc.sharing.authorize, first["token"])
    except BadCredentials as err:
        try:
            svc.limits.failed_auth()
        except RateLimited as limited:
            await ws.close(CloseCode.RATE_LIMITED, str(limited)[:120])
        else:
            await ws.close(CloseCode.UNAUTHORISED, str(err)[:120])
        return
    except ConsentRequired as err:
        await ws.close(CloseCode.CONSENT_ENDED, str(err)[:120])
        return
    except RateLimited as err:
        await ws.close(CloseCode.RATE_LIMITED, str(err)[:120])
        return
    if not svc.hub.source.ok and not (await svc.hub.check_source()).ok:
        await run_in_threadpool(svc.sharing.stream_refused, grant, "the source is unavailable")
        await ws.close(
            CloseCode.SOURCE_UNAVAILABLE,
            f"the expression source is unavailable: {svc.hub.source.message}"[:120],
        )
        return
    try:
        svc.limits.stream_start(grant.id)
    except RateLimited as err:
        await run_in_threadpool(svc.sharing.stream_refused, grant, "too many stream starts")
        await ws.close(CloseCode.RATE_LIMITED, str(err)[:120])
        return
    sub = svc.hub.subscribe(grant)
    if sub is None:
        await run_in_threadpool(svc.sharing.stream_refused, grant, "too many streams at once")
        await ws.close(
            CloseCode.TOO_MANY_STREAMS,
            f"this grant already has {MAX_STREAMS_PER_GRANT} streams open; close one first",
        )
        return
    session_id = new_id("ses")
    started = await run_in_threadpool(
        lambda: svc.sharing.stream_started(grant, session_id, destination=destination)
    )
    why = "the app disconnected"
    try:
        why = await _run_session(ws, sub, grant, session_id) or why
    finally:
        svc.hub.unsubscribe(sub)
        await run_in_threadpool(
            lambda: svc.sharing.stream_ended(
                grant, session_id, started, sub.frames_sent, why, destination=destination
            )
        )


async def _run_session(ws: WebSocket, sub: Subscription, grant: Grant, label: str) -> str | None:
    """Send ``ready``, then frames until either side ends; the service's reason, if it ended it."""
    try:
        await ws.send_json(
            {
                "type": "ready",
                "grant_id": grant.id,
                "scopes": to_names(grant.scopes),
                "fields": sorted(frame_keys(grant.scopes)),
                "expires_at": grant.expires_at.isoformat(),
            }
        )
        sender = asyncio.create_task(_send_frames(ws, sub))
        reader = asyncio.create_task(_drain_client(ws))
        done, pending = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        for task in done:
            if task.exception() is not None and not isinstance(
                task.exception(), WebSocketDisconnect
            ):
                log.warning("stream %s ended by %s", label, type(task.exception()).__name__)
        if sub.close_code is not None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(sub.close_code, sub.close_reason)
            return sub.close_reason
    except (WebSocketDisconnect, RuntimeError):
        pass
    return None


@router.websocket("/api/user/preview")
async def preview(ws: WebSocket) -> None:
    """The person's own stream, every scope, for the avatar page: signed-in browsers only.

    A WebSocket is not covered by CORS, so besides the session cookie the handshake
    must come from this service's own origin, and the first message must carry the
    session's CSRF token: the cookie also reaches any other server on 127.0.0.1 the
    browser visits, and that server, not being a browser, could fake the origin; the
    token sits in this origin's own storage. It is the person watching themselves, not
    an app, so nothing is audited.
    """
    svc: Service = ws.app.state.service
    session = svc.users.session(ws.cookies.get(SESSION_COOKIE))
    origin = ws.headers.get("origin")
    own = f"http://{ws.headers.get('host', '')}"
    await ws.accept()
    if session is None or (origin is not None and origin != own):
        await ws.close(CloseCode.UNAUTHORISED, "sign in on this service's own pages first")
        return
    first = await _read_first(ws, "csrf")
    if first is None:
        return
    if not secrets.compare_digest(str(first["csrf"]).encode(), session.csrf.encode()):
        await ws.close(CloseCode.UNAUTHORISED, "sign in on this service's own pages first")
        return
    if not svc.hub.source.ok and not (await svc.hub.check_source()).ok:
        await ws.close(
            CloseCode.SOURCE_UNAVAILABLE,
            f"the expression source is unavailable: {svc.hub.source.message}"[:120],
        )
        return
    now = svc.sharing.clock()
    mine = Grant(
        id=new_id("preview"),
        app_id="",
        request_id="",
        scopes=frozenset(Scope),
        created_at=now,
        expires_at=now + timedelta(hours=12),
        token_issued_at=None,
        revoked_at=None,
        revoked_reason=None,
    )
    sub = svc.hub.subscribe(mine, preview=True)
    if sub is None:
        await ws.close(CloseCode.TOO_MANY_STREAMS, "too many previews")
        return
    try:
        await _run_session(ws, sub, mine, mine.id)
    finally:
        svc.hub.unsubscribe(sub)
