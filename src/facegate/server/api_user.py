"""The person's endpoints: decide consent, see and revoke grants, ban apps, read the audit.

Every call needs the user token (``Authorization: Bearer``) or the browser session:
its cookie *and* its CSRF header, reads included (``UserReader``); calls that change
state also refuse a foreign ``Origin`` (``UserWriter``). The person's pages fetch
everything they show from here (see ``pages``). After a revocation or ban, due
deletion notices are sent in the background so the answer does not wait on an app's
webhook.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import StreamingResponse

from facegate.server.context import ObjectId, ServiceDep, UserReader, UserWriter
from facegate.server.schemas import (
    AppOut,
    AuditEntryOut,
    BanIn,
    ChainReportOut,
    ConsentPromptOut,
    ConsentRequestOut,
    ErrorOut,
    GrantOut,
    NamesakeOut,
    ScopeOut,
    SessionIn,
    SessionOut,
)
from facegate.server.security import SESSION_COOKIE, SESSION_SECONDS
from facegate.sharing.app_names import looks_the_same
from facegate.sharing.consent import RequestStatus
from facegate.sharing.scopes import Scope
from facegate.sharing.service import Via
from facegate.sharing.terms import CURRENT_VERSION

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut} for status in (401, 404, 409, 422)
}

router = APIRouter(prefix="/api/user", tags=["user"], responses=ERRORS)


def _now(svc: ServiceDep) -> datetime:
    return svc.sharing.clock()


@router.post("/session", response_model=SessionOut)
def open_session(body: SessionIn, response: Response, svc: ServiceDep) -> SessionOut:
    """Swap the user token for a browser session (cookie) and its CSRF token."""
    session_id, csrf = svc.users.login(body.code)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return SessionOut(csrf=csrf)


@router.get("/apps", response_model=list[AppOut], dependencies=[UserReader])
def list_apps(svc: ServiceDep) -> list[AppOut]:
    return [AppOut.of(app) for app in svc.sharing.apps()]


@router.post("/apps/{app_id}/ban", response_model=AppOut, dependencies=[UserWriter])
def ban_app(app_id: ObjectId, body: BanIn, tasks: BackgroundTasks, svc: ServiceDep) -> AppOut:
    """Ban an app: every token dies, its streams close, it is told to delete its data."""
    svc.sharing.ban_app(app_id, body.reason)
    tasks.add_task(svc.sharing.deliver_notices)
    return AppOut.of(svc.sharing.app(app_id))


@router.get("/consent-requests", response_model=list[ConsentRequestOut], dependencies=[UserReader])
def list_requests(
    request: Request,
    svc: ServiceDep,
    status: Annotated[RequestStatus | None, Query()] = None,
) -> list[ConsentRequestOut]:
    now, base = _now(svc), str(request.base_url)
    return [ConsentRequestOut.of(r, now, base) for r in svc.sharing.consent_requests(status)]


@router.get(
    "/consent-requests/{request_id}",
    response_model=ConsentRequestOut,
    dependencies=[UserReader],
)
def get_request(request_id: ObjectId, request: Request, svc: ServiceDep) -> ConsentRequestOut:
    consent = svc.sharing.consent_request(request_id)
    return ConsentRequestOut.of(consent, _now(svc), str(request.base_url))


@router.get(
    "/consent-requests/{request_id}/prompt",
    response_model=ConsentPromptOut,
    dependencies=[UserReader],
)
def get_prompt(request_id: ObjectId, request: Request, svc: ServiceDep) -> ConsentPromptOut:
    """What the consent page shows: the request, the app asking, and the other apps whose
    name looks the same (anyone can register any name)."""
    consent = svc.sharing.consent_request(request_id)
    app = svc.sharing.app(consent.app_id)
    return ConsentPromptOut(
        request=ConsentRequestOut.of(consent, _now(svc), str(request.base_url)),
        app=AppOut.of(app),
        namesakes=[
            NamesakeOut(id=other.id, banned=other.banned)
            for other in svc.sharing.apps()
            if other.id != app.id and looks_the_same(other.name, app.name)
        ],
        scopes=[ScopeOut.of(scope) for scope in Scope if scope in consent.scopes],
        terms_version=app.terms_version or CURRENT_VERSION,
    )


@router.post(
    "/consent-requests/{request_id}/approve", response_model=GrantOut, dependencies=[UserWriter]
)
def approve(request_id: ObjectId, svc: ServiceDep) -> GrantOut:
    """Approve exactly the scopes and duration the app asked for."""
    return GrantOut.of(svc.sharing.approve(request_id, Via.WEB), _now(svc))


@router.post(
    "/consent-requests/{request_id}/refuse",
    response_model=ConsentRequestOut,
    dependencies=[UserWriter],
)
def refuse(request_id: ObjectId, request: Request, svc: ServiceDep) -> ConsentRequestOut:
    consent = svc.sharing.refuse(request_id, Via.WEB)
    return ConsentRequestOut.of(consent, _now(svc), str(request.base_url))


@router.get("/grants", response_model=list[GrantOut], dependencies=[UserReader])
def list_grants(svc: ServiceDep) -> list[GrantOut]:
    now = _now(svc)
    return [GrantOut.of(grant, now) for grant in svc.sharing.grants()]


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, dependencies=[UserWriter])
def revoke(grant_id: ObjectId, tasks: BackgroundTasks, svc: ServiceDep) -> GrantOut:
    """Revoke a grant: its token dies and its streams close within a second."""
    grant = svc.sharing.revoke(grant_id, Via.WEB)
    tasks.add_task(svc.sharing.deliver_notices)
    return GrantOut.of(grant, _now(svc))


@router.get("/audit", response_model=list[AuditEntryOut], dependencies=[UserReader])
def audit_log(
    svc: ServiceDep, after: Annotated[int, Query(ge=0, le=2**62)] = 0
) -> list[AuditEntryOut]:
    """Audit entries after sequence number ``after``, oldest first."""
    return [AuditEntryOut.of(entry) for entry in svc.sharing.audit_entries(after)]


@router.get(
    "/audit/export",
    dependencies=[UserReader],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_audit(svc: ServiceDep) -> StreamingResponse:
    """The whole log as JSON lines, then its signed head, so a copy can be verified later.

    The head line is missing when the log does not verify (see ``/audit/verify``).
    """
    entries, head = svc.sharing.export_audit()

    def lines() -> Iterator[bytes]:
        for entry in entries:
            yield entry.as_json_line().encode("utf-8")
        if head is not None:
            yield head.as_json_line().encode("utf-8")

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="facegate-audit.jsonl"'},
    )


@router.get("/audit/verify", response_model=ChainReportOut, dependencies=[UserReader])
def verify_audit(svc: ServiceDep) -> ChainReportOut:
    """Check the hash chain; ``broken_seq`` names the first entry that fails."""
    return ChainReportOut.of(svc.sharing.verify_audit())
