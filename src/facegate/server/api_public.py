"""Endpoints anyone on this machine may read: the terms, the platform key, the scopes, and
whether the expression source can be read."""

from __future__ import annotations

from fastapi import APIRouter

from facegate.server.context import ServiceDep
from facegate.server.schemas import PlatformKeyOut, ScopeOut, SourceStatusOut, TermsOut
from facegate.sharing.keys import key_id
from facegate.sharing.scopes import Scope
from facegate.sharing.terms import current_terms

router = APIRouter(prefix="/api/v1", tags=["public"])


@router.get("/terms", response_model=TermsOut)
def terms() -> TermsOut:
    """The terms every app accepts (by version) before it may ask for consent."""
    current = current_terms()
    return TermsOut(version=current.version, text=current.text)


@router.get("/platform-key", response_model=PlatformKeyOut)
def platform_key(svc: ServiceDep) -> PlatformKeyOut:
    """The Ed25519 key that signs deletion notices; apps verify notices with it."""
    public = svc.sharing.platform_public_key
    return PlatformKeyOut(public_key=public, key_id=key_id(public))


@router.get("/scopes", response_model=list[ScopeOut])
def scopes() -> list[ScopeOut]:
    """Every scope an app may ask for. There is no identity scope."""
    return [ScopeOut.of(scope) for scope in Scope]


@router.get("/status", response_model=SourceStatusOut)
def status(svc: ServiceDep) -> SourceStatusOut:
    """Whether the service can stream now; if not, a stream closes with 4503 and this says why."""
    return SourceStatusOut(source_ok=svc.hub.source.ok, source=svc.hub.source.message)
