"""The apps' endpoints: register, accept the terms, ask for consent, claim a token.

Every call is signed with the app's Ed25519 key (``SignedApp``); registration is
signed with the key being registered, which proves the caller holds its private
half. Calls spend budgets (``rate_limits``); over budget they get 429. None of these
endpoints can decide consent: only the person's can.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from facegate.server.context import ObjectId, ServiceDep, SignedApp, check_signature
from facegate.server.schemas import (
    AppOut,
    AppRegistrationIn,
    ConsentRequestIn,
    ConsentRequestOut,
    ErrorOut,
    TermsAcceptanceIn,
    TokenOut,
)
from facegate.sharing.apps import AppRegistration
from facegate.sharing.scopes import to_names
from facegate.sharing.service import Via

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut} for status in (401, 403, 404, 409, 422, 429)
}

router = APIRouter(prefix="/api/v1/apps", tags=["apps"], responses=ERRORS)


def _now(svc: ServiceDep) -> datetime:
    return svc.sharing.clock()


@router.post("", response_model=AppOut, status_code=201)
async def register_app(body: AppRegistrationIn, request: Request, svc: ServiceDep) -> AppOut:
    """Register an app. Sign the request with the private half of ``public_key``."""
    registration = AppRegistration(**body.model_dump()).validated()
    check_signature(svc, registration.public_key, request, await request.body())
    svc.limits.registration()
    app = await run_in_threadpool(svc.sharing.register_app, registration, Via.WEB)
    return AppOut.of(app)


@router.get("/{app_id}", response_model=AppOut)
def own_app(app: SignedApp) -> AppOut:
    """The app's own registration, terms acceptance and ban state."""
    return AppOut.of(app)


@router.post("/{app_id}/terms", response_model=AppOut)
def accept_terms(app: SignedApp, body: TermsAcceptanceIn, svc: ServiceDep) -> AppOut:
    """Accept the terms in force (``GET /api/v1/terms``), naming their version."""
    return AppOut.of(svc.sharing.accept_terms(app.id, body.version))


@router.post("/{app_id}/consent-requests", response_model=ConsentRequestOut, status_code=201)
def request_consent(
    app: SignedApp, body: ConsentRequestIn, request: Request, svc: ServiceDep
) -> ConsentRequestOut:
    """Ask the person for scopes; send them to ``consent_url`` to decide."""
    consent = svc.sharing.request_consent(app.id, body.scopes, body.grant_seconds)
    return ConsentRequestOut.of(consent, _now(svc), str(request.base_url))


@router.get("/{app_id}/consent-requests/{request_id}", response_model=ConsentRequestOut)
def consent_status(
    app: SignedApp, request_id: ObjectId, request: Request, svc: ServiceDep
) -> ConsentRequestOut:
    """Poll a request: pending, approved, refused or expired."""
    consent = svc.sharing.request_of_app(app.id, request_id)
    return ConsentRequestOut.of(consent, _now(svc), str(request.base_url))


@router.post(
    "/{app_id}/consent-requests/{request_id}/token", response_model=TokenOut, status_code=201
)
def claim_token(
    app: SignedApp, request_id: ObjectId, request: Request, svc: ServiceDep
) -> TokenOut:
    """The grant's token, once, after the person approved. Keep it secret."""
    issued = svc.sharing.claim_token(app.id, request_id)
    base = str(request.base_url).replace("http", "ws", 1)
    return TokenOut(
        token=issued.token,
        grant_id=issued.grant.id,
        scopes=to_names(issued.grant.scopes),
        expires_at=issued.grant.expires_at,
        stream_url=f"{base}api/v1/stream",
    )
