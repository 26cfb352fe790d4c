"""The web pages: sign-in, the consent prompt, my apps and grants, the audit log, the demo.

A page is a **shell**: the server renders its frame and headings, never the person's
data. A session cookie for 127.0.0.1 is sent to every port on 127.0.0.1, so any local
server the person's browser visits receives it and can replay it; a page that listed
apps, grants or audit entries for the cookie alone would show them to that server.
Each page's script (``/static``, the only scripts the Content-Security-Policy allows)
fetches the lists from the person's API with the session's CSRF token, which lives
only in this origin's localStorage (``facegate.js``), and builds them as text nodes,
so an app's chosen name is shown, never parsed as HTML. Without the token the page
says to sign in again.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from facegate.server.context import ObjectId, ServiceDep
from facegate.server.security import SESSION_COOKIE

TEMPLATES_DIR = Path(str(resources.files("facegate.server").joinpath("templates")))
STATIC_DIR = Path(str(resources.files("facegate.server").joinpath("static")))
templates = Jinja2Templates(directory=TEMPLATES_DIR)

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; every page also shows whether the expression source can be read (public:
    ``/api/v1/status`` tells anyone on this machine)."""
    service = getattr(request.app.state, "service", None)
    source = None if service is None else service.hub.source
    return templates.TemplateResponse(
        request, name, {"source": source, **context}, status_code=status_code
    )


def _person_page(request: Request, svc: ServiceDep, name: str, **context: Any) -> HTMLResponse:
    """The shell of one of the person's pages, or the sign-in page without a live session.

    The cookie only decides which of the two is shown; neither holds the person's data.
    """
    if svc.users.session(request.cookies.get(SESSION_COOKIE)) is None:
        return render(request, "signin.html", 401, next=request.url.path)
    return render(request, name, **context)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, svc: ServiceDep) -> HTMLResponse:
    return _person_page(request, svc, "index.html")


@router.get("/login", response_class=HTMLResponse)
def login(request: Request) -> HTMLResponse:
    """Reads the user token from the URL fragment (never sent to the server) and signs in."""
    return render(request, "login.html")


@router.get("/consent/{request_id}", response_class=HTMLResponse)
def consent_prompt(request_id: ObjectId, request: Request, svc: ServiceDep) -> HTMLResponse:
    """The prompt's shell; ``consent.js`` asks ``/api/user/consent-requests/{id}/prompt``."""
    return _person_page(request, svc, "consent.html", request_id=request_id)


@router.get("/grants", response_class=HTMLResponse)
def my_grants(request: Request, svc: ServiceDep) -> HTMLResponse:
    return _person_page(request, svc, "grants.html")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, svc: ServiceDep) -> HTMLResponse:
    return _person_page(request, svc, "audit.html")


@router.get("/demo/avatar", response_class=HTMLResponse)
def avatar_demo(request: Request) -> HTMLResponse:
    """A 2D face driven by the stream; the app's token is given in the URL fragment."""
    return render(request, "avatar.html")


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg")
