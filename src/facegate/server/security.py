"""Who may call what: the person at this machine, apps, and nobody else.

* **Host check.** The service answers only to the loopback names it is bound to, so
  a web page cannot reach it through DNS rebinding (evil.example resolving to
  127.0.0.1 still sends ``Host: evil.example``).
* **The person** proves they are at this machine with the user token that
  ``facegate serve`` prints (it is also in ``$FACEGATE_HOME``, readable only by
  them): as ``Authorization: Bearer`` for scripts, or once through the
  ``/login#<token>`` page, which swaps it for an HttpOnly, ``SameSite=Strict``
  session cookie and a CSRF token. A cookie for 127.0.0.1 is sent to *every* port
  on 127.0.0.1 (cookies ignore ports), so any local server the person's browser
  visits receives it and can replay it: the cookie alone therefore opens nothing but
  the pages' sign-in check. Every API call (reads too) and the preview stream must
  also carry the CSRF token (``X-FaceGate-CSRF``, or the preview's first message),
  which ``login.js`` keeps in this origin's localStorage (isolated by port) and no
  page or cookie contains; a state-changing call must also come from this origin
  when the browser sends an ``Origin``. The HTML pages are shells that fetch their
  lists from that API (``pages``), so what the cookie alone still gets is whether
  it is a live session: the sign-in page or an empty shell, no data and no action.
* **Apps** sign each request (``facegate.sharing.signed_requests``); they never get
  a cookie and cannot call the person's endpoints.
* Every response carries a strict Content-Security-Policy and may not be framed, so
  the consent buttons cannot be clickjacked.
* Request bodies are small JSON documents; one larger than ``MAX_BODY_BYTES`` is
  refused with 413 before any handler reads it, so a client cannot make the service
  hold an arbitrarily large body in memory.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from facegate.sharing.errors import BadCredentials

SESSION_COOKIE = "facegate_session"
CSRF_HEADER = "X-FaceGate-CSRF"
SESSION_SECONDS = 12 * 3600
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY_BYTES = 64 * 1024  # the largest legitimate body (an app registration) is < 2 KiB
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def host_name(host_header: str) -> str:
    """``127.0.0.1:8765`` -> ``127.0.0.1``; ``[::1]:8765`` -> ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class GuardMiddleware:
    """Refuse foreign Host headers (HTTP and WebSocket) and oversized bodies, and add the
    security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if host_name(host) not in self.allowed_hosts:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4400, "reason": "host not allowed"})
                return
            await _json_error(
                send, 421, "host_not_allowed", "this service answers only on its loopback address"
            )
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        body = await _read_body(headers, receive)
        if body is None:
            await _json_error(
                send,
                413,
                "request_too_large",
                f"request bodies are limited to {MAX_BODY_BYTES} bytes",
            )
            return
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, replay, with_headers)


async def _read_body(headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
    """The whole request body, or None when it is (or claims to be) over the limit."""
    declared = headers.get(b"content-length", b"0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _json_error(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class UserSession:
    csrf: str
    expires: float


class UserAuth:
    """The user token of this service run, and the browser sessions opened with it."""

    def __init__(self, user_token: str) -> None:
        if len(user_token) < 32:
            raise ValueError("the user token must be at least 32 characters")
        self._token = user_token
        self._sessions: dict[str, UserSession] = {}
        self._lock = threading.Lock()

    def is_user_token(self, value: str) -> bool:
        return secrets.compare_digest(value.encode(), self._token.encode())

    def login(self, code: str) -> tuple[str, str]:
        """Swap the user token for a new session id and its CSRF token."""
        if not self.is_user_token(code):
            raise BadCredentials("that is not this service's user token")
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
            self._sessions[session_id] = UserSession(csrf, now + SESSION_SECONDS)
        return session_id, csrf

    def session(self, session_id: str | None) -> UserSession | None:
        if not session_id:
            return None
        with self._lock:
            found = self._sessions.get(session_id)
        return found if found is not None and found.expires > time.time() else None

    def check(self, request: Request, *, changes_state: bool) -> None:
        """Raise BadCredentials unless the caller is the person at this machine."""
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            if self.is_user_token(value.strip()):
                return
            raise BadCredentials("the bearer token is not this service's user token")
        session = self.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise BadCredentials(
                "sign in first: open the link `facegate serve` printed, or send "
                "Authorization: Bearer <user token>"
            )
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if changes_state and origin is not None and origin != own:
            raise BadCredentials("cross-origin requests may not change anything here")
        # Reads too: the cookie alone also reaches other local servers (see module doc).
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), session.csrf.encode()):
            raise BadCredentials(f"missing or wrong {CSRF_HEADER} header")
