"""The request and response bodies of the HTTP API, as Pydantic models.

Inputs forbid unknown fields, so a typo is a clear 422 instead of a silently ignored
option. Outputs are built field by field from the sharing values: nothing reaches a
client because it happened to be on an object. No model has a field for face data;
the stream's frames are described in ``facegate.sharing.frames``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from facegate.sharing.apps import MAX_RETENTION_DAYS, MAX_URL_CHARS, TEXT_LIMITS, App
from facegate.sharing.audit import AuditEntry, ChainReport
from facegate.sharing.consent import (
    DEFAULT_GRANT_SECONDS,
    MAX_GRANT_SECONDS,
    ConsentRequest,
    Grant,
)
from facegate.sharing.frames import SCOPE_FIELDS
from facegate.sharing.keys import MAX_KEY_TEXT
from facegate.sharing.scopes import Scope, to_names

ScopeName = Annotated[
    str,
    Field(
        max_length=64,
        json_schema_extra={"enum": [s.value for s in Scope]},
        description="One of the shareable scopes; identity data is never one.",
    ),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    loc: list[str | int]
    message: str


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: a stable ``error`` code and a message written for a person."""

    error: str
    message: str
    details: list[ErrorDetail] | None = None


class TermsOut(BaseModel):
    version: str
    text: str = Field(description="The terms, in Markdown.")


class PlatformKeyOut(BaseModel):
    algorithm: str = "Ed25519"
    public_key: str = Field(description="Raw 32-byte public key, base64.")
    key_id: str


class SourceStatusOut(BaseModel):
    source_ok: bool = Field(description="False: no camera or unreadable file; streams get 4503.")
    source: str = Field(description="What the source is, or what is wrong with it.")


class ScopeOut(BaseModel):
    name: str
    fields: list[str] = Field(description="The frame fields this scope adds.")
    description: str

    @classmethod
    def of(cls, scope: Scope) -> ScopeOut:
        return cls(
            name=scope.value, fields=list(SCOPE_FIELDS[scope]), description=scope.description
        )


class AppRegistrationIn(Input):
    name: str = Field(min_length=1, max_length=TEXT_LIMITS["name"])
    developer: str = Field(min_length=1, max_length=TEXT_LIMITS["developer"])
    contact: str = Field(
        min_length=1, max_length=TEXT_LIMITS["contact"], description="E-mail or URL."
    )
    purpose: str = Field(min_length=1, max_length=TEXT_LIMITS["purpose"])
    retention_days: int = Field(ge=0, le=MAX_RETENTION_DAYS)
    webhook_url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    public_key: str = Field(
        min_length=1, max_length=MAX_KEY_TEXT, description="Ed25519 public key: PEM, or raw base64."
    )


class AppOut(BaseModel):
    id: str
    name: str
    developer: str
    contact: str
    purpose: str
    retention_days: int
    webhook_url: str
    public_key: str
    registered_at: datetime
    terms_version: str | None
    terms_accepted_at: datetime | None
    banned: bool
    banned_at: datetime | None
    ban_reason: str | None

    @classmethod
    def of(cls, app: App) -> AppOut:
        """Every field of the stored app, ``banned`` included; nothing else."""
        return cls.model_validate(app, from_attributes=True)


class TermsAcceptanceIn(Input):
    version: str = Field(min_length=1, max_length=32)


class ConsentRequestIn(Input):
    scopes: list[ScopeName] = Field(min_length=1, max_length=8)
    grant_seconds: int = Field(default=DEFAULT_GRANT_SECONDS, ge=60, le=MAX_GRANT_SECONDS)


class ConsentRequestOut(BaseModel):
    id: str
    app_id: str
    scopes: list[str]
    grant_seconds: int
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    consent_url: str = Field(description="The page where the person decides.")

    @classmethod
    def of(cls, request: ConsentRequest, now: datetime, base_url: str) -> ConsentRequestOut:
        return cls(
            id=request.id,
            app_id=request.app_id,
            scopes=to_names(request.scopes),
            grant_seconds=request.grant_seconds,
            status=request.status(now).value,
            created_at=request.created_at,
            expires_at=request.expires_at,
            decided_at=request.decided_at,
            consent_url=f"{base_url}consent/{request.id}",
        )


class NamesakeOut(BaseModel):
    id: str
    banned: bool


class ConsentPromptOut(BaseModel):
    """Everything the consent page shows, so the page itself holds no data (a session
    cookie also reaches other local servers; this answer needs the CSRF token)."""

    request: ConsentRequestOut
    app: AppOut
    namesakes: list[NamesakeOut] = Field(
        description="Other apps registered under a name that looks the same as this app's."
    )
    scopes: list[ScopeOut] = Field(description="The scopes asked for, in the usual order.")
    terms_version: str = Field(description="The terms version the app accepted.")


class TokenOut(BaseModel):
    """The grant token, shown exactly once; FaceGate keeps only its hash."""

    token: str
    grant_id: str
    scopes: list[str]
    expires_at: datetime
    stream_url: str


class GrantOut(BaseModel):
    id: str
    app_id: str
    request_id: str
    scopes: list[str]
    state: str
    created_at: datetime
    expires_at: datetime
    token_issued: bool
    revoked_at: datetime | None
    revoked_reason: str | None

    @classmethod
    def of(cls, grant: Grant, now: datetime) -> GrantOut:
        return cls(
            id=grant.id,
            app_id=grant.app_id,
            request_id=grant.request_id,
            scopes=to_names(grant.scopes),
            state=grant.state(now).value,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
            token_issued=grant.token_issued_at is not None,
            revoked_at=grant.revoked_at,
            revoked_reason=None if grant.revoked_reason is None else grant.revoked_reason.value,
        )


class BanIn(Input):
    reason: str = Field(min_length=1, max_length=500)


class SessionIn(Input):
    code: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    csrf: str


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    event: str
    actor: str
    app_id: str | None
    grant_id: str | None
    scopes: list[str] | None
    started_at: str | None
    ended_at: str | None
    frames: int | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(**entry.as_json())


class ChainReportOut(BaseModel):
    ok: bool
    entries: int
    broken_seq: int | None
    problem: str | None

    @classmethod
    def of(cls, report: ChainReport) -> ChainReportOut:
        return cls.model_validate(report, from_attributes=True)
