"""The web pages: sign-in, the consent prompt, my apps and grants, the audit log, the demo.

Pages are rendered on the server from the same ``Sharing`` calls as the API, with
Jinja2's autoescaping (an app's name is shown, never executed). Their buttons call
the person's API with the CSRF token embedded in the page; scripts come only from
``/static`` (the Content-Security-Policy forbids inline script).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from facegate.server.context import ObjectId, ServiceDep
from facegate.server.page_format import duration, local_time, retention
from facegate.server.security import SESSION_COOKIE
from facegate.sharing.app_names import looks_the_same
from facegate.sharing.consent import GrantState, RequestStatus
from facegate.sharing.errors import NotFound
from facegate.sharing.scopes import Scope
from facegate.sharing.terms import CURRENT_VERSION

TEMPLATES_DIR = Path(str(resources.files("facegate.server").joinpath("templates")))
STATIC_DIR = Path(str(resources.files("facegate.server").joinpath("static")))
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(duration=duration, retention=retention, local_time=local_time)

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; every page also shows whether the expression source can be read."""
    service = getattr(request.app.state, "service", None)
    source = None if service is None else service.hub.source
    return templates.TemplateResponse(
        request, name, {"source": source, **context}, status_code=status_code
    )


def _signed_in(request: Request, svc: ServiceDep) -> bool:
    """Whether the browser holds a live session cookie.

    The session's CSRF token is never put in a page: the cookie also reaches any other
    server on 127.0.0.1 the person's browser visits (cookies ignore ports), and that
    server could fetch a page with it. The token lives in this origin's localStorage
    (per port), written once at sign-in (``login.js``)."""
    return svc.users.session(request.cookies.get(SESSION_COOKIE)) is not None


def _signin(request: Request) -> HTMLResponse:
    return render(request, "signin.html", 401, next=request.url.path)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, svc: ServiceDep) -> HTMLResponse:
    if not _signed_in(request, svc):
        return _signin(request)
    now = svc.sharing.clock()
    pending = svc.sharing.consent_requests(RequestStatus.PENDING)
    apps = {app.id: app for app in svc.sharing.apps()}
    return render(request, "index.html", pending=pending, apps=apps, now=now)


@router.get("/login", response_class=HTMLResponse)
def login(request: Request) -> HTMLResponse:
    """Reads the user token from the URL fragment (never sent to the server) and signs in."""
    return render(request, "login.html")


@router.get("/consent/{request_id}", response_class=HTMLResponse)
def consent_prompt(request_id: ObjectId, request: Request, svc: ServiceDep) -> HTMLResponse:
    if not _signed_in(request, svc):
        return _signin(request)
    try:
        consent = svc.sharing.consent_request(request_id)
    except NotFound:
        return render(request, "not_found.html", 404, what="consent request")
    app = svc.sharing.app(consent.app_id)
    namesakes = [
        other
        for other in svc.sharing.apps()
        if other.id != app.id and looks_the_same(other.name, app.name)
    ]
    scopes = [scope for scope in Scope if scope in consent.scopes]
    return render(
        request,
        "consent.html",
        consent=consent,
        status=consent.status(svc.sharing.clock()).value,
        app=app,
        namesakes=namesakes,
        scopes=scopes,
        terms_version=CURRENT_VERSION,
    )


@router.get("/grants", response_class=HTMLResponse)
def my_grants(request: Request, svc: ServiceDep) -> HTMLResponse:
    if not _signed_in(request, svc):
        return _signin(request)
    now = svc.sharing.clock()
    apps = svc.sharing.apps()
    grants = [(grant, grant.state(now).value) for grant in svc.sharing.grants()]
    active = GrantState.ACTIVE.value
    return render(
        request,
        "grants.html",
        apps=apps,
        names={app.id: app.name for app in apps},
        grants=grants,
        active=active,
        live_grants={
            app.id: sum(g.app_id == app.id and state == active for g, state in grants)
            for app in apps
        },
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, svc: ServiceDep) -> HTMLResponse:
    if not _signed_in(request, svc):
        return _signin(request)
    return render(
        request,
        "audit.html",
        entries=list(reversed(svc.sharing.audit_entries())),
        report=svc.sharing.verify_audit(),
    )


@router.get("/demo/avatar", response_class=HTMLResponse)
def avatar_demo(request: Request) -> HTMLResponse:
    """A 2D face driven by the stream; the app's token is given in the URL fragment."""
    return render(request, "avatar.html")


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg")
