"""The FastAPI application: routers, guards, the stream hub and the notice worker.

``create_app`` wires values that the caller built (the ``Sharing`` rules, a feed,
the user token), so tests and ``facegate serve`` run the very same application;
nothing is read from the environment here. The OpenAPI spec is at
``/openapi.json`` and its reference page at ``/docs`` (``api_docs``, rendered here:
FastAPI's interactive pages load scripts from a CDN). This service makes no request
beyond loopback on its own behalf except deletion notices to the apps' webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from facegate.server import (
    api_apps,
    api_docs,
    api_public,
    api_user,
    error_handlers,
    pages,
    stream_ws,
)
from facegate.server.context import Service
from facegate.server.feeds import Feed
from facegate.server.hub import RecordFilter, StreamHub
from facegate.server.pages import STATIC_DIR
from facegate.server.rate_limits import Budgets, RateLimits
from facegate.server.schemas import ErrorOut
from facegate.server.security import LOOPBACK_NAMES, GuardMiddleware, UserAuth
from facegate.sharing.service import Sharing

log = logging.getLogger(__name__)

NOTICE_INTERVAL_SECONDS = 1.0
# Every route the service has, beside /openapi.json and the /static files.
ROUTERS = tuple(
    module.router for module in (api_public, api_apps, api_user, stream_ws, pages, api_docs)
)


async def _deliver_notices(sharing: Sharing) -> None:
    """Retry the deletion-notice outbox and write finished minutes of refused streams,
    in the background for as long as the service runs."""
    while True:
        try:
            await run_in_threadpool(sharing.deliver_notices)
            await run_in_threadpool(sharing.flush_refusals)
        except Exception:
            log.exception("the background worker failed; it will try again")
        await asyncio.sleep(NOTICE_INTERVAL_SECONDS)


def create_app(
    sharing: Sharing,
    feed: Feed,
    user_token: str,
    *,
    extra_hosts: frozenset[str] = frozenset(),
    budgets: Budgets | None = None,
    record_filter: RecordFilter | None = None,
) -> FastAPI:
    """The service over ``sharing``, streaming ``feed``; ``user_token`` signs the person in.

    ``extra_hosts`` adds Host names to the loopback ones (for a non-loopback bind);
    ``budgets`` replaces the default call budgets (``rate_limits.Budgets``);
    ``record_filter`` changes every record before any app sees it (``facegate serve``
    passes ``sharing.neutral.NeutralStream``).
    """
    hub = StreamHub(feed, sharing, record_filter=record_filter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        worker = asyncio.create_task(_deliver_notices(sharing), name="facegate-notices")
        try:
            yield
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await hub.stop()

    app = FastAPI(
        title="FaceGate expression sharing",
        version="1",
        description=(
            "Consent-gated sharing of facial expressions with apps. Identity data is never "
            "a scope. The stream is a WebSocket at /api/v1/stream (see facegate.client)."
        ),
        docs_url=None,
        redoc_url=None,
        responses={400: {"model": ErrorOut, "description": "The body could not be read"}},
        lifespan=lifespan,
    )
    app.state.service = Service(
        sharing=sharing, hub=hub, users=UserAuth(user_token), limits=RateLimits(budgets)
    )
    error_handlers.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(GuardMiddleware, allowed_hosts=LOOPBACK_NAMES | extra_hosts)
    return app
