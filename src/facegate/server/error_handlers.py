"""Every failure becomes a small JSON body with a stable code and a message for a person.

FaceGate errors carry messages written for users, so they are sent as they are,
with the status from ``SHARING_HTTP_STATUS``. Validation errors list where the
request went wrong, without echoing the submitted values (a token pasted in the
wrong field stays out of the response). Anything unexpected is logged with its
traceback and answered with a plain 500 that reveals nothing of the exception.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from facegate.errors import FaceGateError, lookup
from facegate.server.pages import render
from facegate.server.schemas import ErrorDetail, ErrorOut
from facegate.sharing.errors import SHARING_HTTP_STATUS, RateLimited

log = logging.getLogger(__name__)


def _code(name: str) -> str:
    """``ConsentRequired`` -> ``consent_required``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json(status: int, body: ErrorOut) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


async def _facegate_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FaceGateError)
    status = lookup(SHARING_HTTP_STATUS, exc)
    if status >= 500:
        log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return _json(status, ErrorOut(error="internal", message="the service failed; see its log"))
    response = _json(status, ErrorOut(error=_code(type(exc).__name__), message=str(exc)))
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(
            loc=[p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            message=str(err.get("msg", "invalid")),
        )
        for err in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(map(str, d.loc))}: {d.message}" for d in details[:3])
    return _json(
        422, ErrorOut(error="invalid_request", message=where or "invalid request", details=details)
    )


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script): it gets HTML."""
    path = request.url.path
    accept = request.headers.get("accept", "")
    return not path.startswith(("/api/", "/static/", "/openapi.json")) and "text/html" in accept


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and _wants_page(request):
        return render(request, "not_found.html", 404, what="page")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    response = _json(exc.status_code, ErrorOut(error="http_error", message=message))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return _json(500, ErrorOut(error="internal", message="the service failed; see its log"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(FaceGateError, _facegate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
