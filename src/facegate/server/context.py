"""What every route needs (the sharing rules, the hub, the user's auth) and how it asks.

Routes declare who may call them through these dependencies, so the separation of
the person's endpoints from the apps' endpoints is visible in each signature:
``UserReader`` / ``UserWriter`` for the person, ``SignedApp`` for an app. An app's
calls spend its budget in ``RateLimits``; a failed signature spends the service's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from facegate.server.hub import StreamHub
from facegate.server.rate_limits import RateLimits
from facegate.server.security import UserAuth
from facegate.sharing.apps import App
from facegate.sharing.errors import BadCredentials, NotFound
from facegate.sharing.service import Sharing
from facegate.sharing.signed_requests import NonceCache, check_request

AppId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ObjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass(frozen=True)
class Service:
    sharing: Sharing
    hub: StreamHub
    users: UserAuth
    limits: RateLimits
    nonces: NonceCache = field(default_factory=NonceCache)


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


ServiceDep = Annotated[Service, Depends(service)]


def _user_reader(request: Request, svc: ServiceDep) -> None:
    svc.users.check(request, changes_state=False)


def _user_writer(request: Request, svc: ServiceDep) -> None:
    svc.users.check(request, changes_state=True)


def check_signature(svc: Service, public_key: str, request: Request, body: bytes) -> None:
    """``check_request`` on this request; a failure also spends the failed-auth budget.

    The signed target is the path as the client sent it (not percent-decoded) plus
    the raw query string, so neither can be changed or extended after signing.
    """
    try:
        check_request(
            public_key,
            request.method,
            request_target(request),
            request.headers,
            body,
            time.time(),
            svc.nonces,
        )
    except BadCredentials:
        svc.limits.failed_auth()
        raise


def request_target(request: Request) -> str:
    """The request line's target: raw path, then ``?query`` if a query string was sent."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def _signed_app(request: Request, app_id: AppId, svc: ServiceDep) -> App:
    """The app named in the path, if the request carries its valid signature."""
    try:
        app = await run_in_threadpool(svc.sharing.app, app_id)
    except NotFound:
        svc.limits.failed_auth()
        raise
    check_signature(svc, app.public_key, request, await request.body())
    svc.limits.app_call(app.id)
    return app


UserReader = Depends(_user_reader)
UserWriter = Depends(_user_writer)
SignedApp = Annotated[App, Depends(_signed_app)]
