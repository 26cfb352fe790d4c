"""The sharing rules in one place: the CLI and the service both call ``Sharing``.

Deny by default: an app gets a token only for a grant the person approved, for the
scopes they saw, until it expires or is revoked. Every decision commits together
with its audit entry (and, for revocations and bans, its signed deletion notice),
so the log can never miss an event that happened. Revocation listeners (the
service's stream hub) hear about ended grants right after the commit.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.closing import Closing
from facegate.config import Settings
from facegate.sharing import apps as app_table
from facegate.sharing import audit
from facegate.sharing import consent as consent_table
from facegate.sharing.app_names import BRIDGE_NAME, looks_the_same
from facegate.sharing.apps import App, AppRegistration
from facegate.sharing.audit import Actor, AuditEntry, AuditEvent, AuditLog, ChainReport, SignedHead
from facegate.sharing.audit_head import head_path
from facegate.sharing.clock import Clock, utc_now
from facegate.sharing.consent import (
    DEFAULT_GRANT_SECONDS,
    MAX_GRANT_SECONDS,
    REQUEST_TTL_SECONDS,
    ConsentRequest,
    Grant,
    GrantState,
    RequestStatus,
    RevokeReason,
)
from facegate.sharing.errors import (
    AppNotAllowed,
    BadCredentials,
    Conflict,
    ConsentRequired,
    InvalidApp,
    NotFound,
    RateLimited,
    SharingError,
)
from facegate.sharing.keys import load_platform_key, public_key_b64
from facegate.sharing.notices import Delivery, NoticeSender, queue_notice
from facegate.sharing.refusals import RefusalTally
from facegate.sharing.scopes import parse_scopes
from facegate.sharing.store import SharingStore
from facegate.sharing.terms import CURRENT_VERSION
from facegate.sharing.tokens import hash_token, looks_like_token, mint_token, new_id
from facegate.sharing.webhook_targets import Resolver, check_at_registration, system_resolver

log = logging.getLogger(__name__)

MAX_BAN_REASON = 500
MAX_PENDING_REQUESTS = 3  # an app's consent requests waiting for the person at once
RevocationListener = Callable[[frozenset[str]], None]


class Via(StrEnum):
    """Where the person acted, recorded in the audit entry of each decision."""

    CLI = "cli"
    WEB = "web"


@dataclass(frozen=True)
class IssuedToken:
    """A grant's token, returned once to the app that claims it and never stored."""

    grant: Grant
    token: str

    def __repr__(self) -> str:
        return f"IssuedToken(grant={self.grant.id!r}, token=<hidden>)"


class Sharing(Closing):
    """Apps, consent, grants and the audit log over one ``SharingStore``."""

    def __init__(
        self,
        store: SharingStore,
        platform_key: Ed25519PrivateKey,
        clock: Clock = utc_now,
        resolve: Resolver = system_resolver,
    ) -> None:
        """``resolve`` turns webhook host names into addresses (``webhook_targets``)."""
        self.store = store
        self._resolve = resolve
        self._platform_key = platform_key
        self.clock = clock
        self._listeners: list[RevocationListener] = []
        self.audit = AuditLog(platform_key, head_path(store.path.parent))
        store.after_commit(self.audit.publish)
        if store.created:
            with store.write("sign the empty audit log of") as conn:
                self.audit.start(conn)
        self.notices = NoticeSender(store, self.audit, clock, resolve=resolve)
        self._refusals = RefusalTally()

    @classmethod
    def open(cls, settings: Settings, clock: Clock = utc_now) -> Sharing:
        """The sharing database and platform key of ``settings.home``, created if absent.

        A database that was lost or wiped while its audit head file remains is refused
        (``SharingStoreError``), never recreated silently.
        """
        store = SharingStore.in_home(settings.home)
        try:
            return cls(store, load_platform_key(settings.home), clock)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Write the refusals still being counted, then close the database."""
        try:
            self.flush_refusals(everything=True)
        except SharingError:
            log.exception("could not write the last refused-stream counts")
        self.store.close()

    @property
    def platform_public_key(self) -> str:
        """The raw Ed25519 public key (base64) that verifies deletion notices."""
        return public_key_b64(self._platform_key)

    def on_revocation(self, listener: RevocationListener) -> Callable[[], None]:
        """Call ``listener`` with the ids of grants that end, right after each commit.

        Returns the function that stops the calls.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _ended(self, grant_ids: Iterable[str]) -> None:
        ids = frozenset(grant_ids)
        for listener in self._listeners:
            try:
                listener(ids)
            except Exception:
                log.exception("a revocation listener failed")

    # --- apps -------------------------------------------------------------------------

    def register_app(self, registration: AppRegistration, via: Via) -> App:
        """Check and store a registration; the app may ask for consent after accepting the terms."""
        reg = registration.validated()
        if via is not Via.CLI and looks_the_same(reg.name, BRIDGE_NAME):
            raise InvalidApp(
                f"{BRIDGE_NAME!r} is FaceGate's own local bridge (`facegate osc`); choose "
                "another name"
            )
        check_at_registration(
            reg.webhook_url, allow_local=reg.allow_local_webhook, resolve=self._resolve
        )
        now = self.clock()
        with self.store.write("register an app in") as conn:
            app = app_table.insert_app(conn, new_id("app"), reg, now)
            self.audit.append(
                conn,
                now,
                AuditEvent.APP_REGISTERED,
                Actor.APP,
                app_id=app.id,
                detail={
                    "name": app.name,
                    "developer": app.developer,
                    "via": via.value,
                    **({"local_webhook_allowed": True} if app.allow_local_webhook else {}),
                },
            )
        log.info("registered app %s (%s)", app.id, app.name)
        return app

    def app(self, app_id: str) -> App:
        with self.store.read("read") as conn:
            return app_table.load_app(conn, app_id)

    def apps(self) -> list[App]:
        with self.store.read("read") as conn:
            return app_table.all_apps(conn)

    def accept_terms(self, app_id: str, version: str) -> App:
        """Record that the app accepted ``version``, which must be the terms in force."""
        if version != CURRENT_VERSION:
            raise InvalidApp(
                f"terms version {version!r} cannot be accepted: the terms in force are "
                f"version {CURRENT_VERSION}"
            )
        now = self.clock()
        with self.store.write("record terms in") as conn:
            app = app_table.load_app(conn, app_id)
            if app.banned:
                raise AppNotAllowed(f"app {app_id!r} is banned")
            app_table.record_terms(conn, app_id, version, now)
            self.audit.append(
                conn,
                now,
                AuditEvent.TERMS_ACCEPTED,
                Actor.APP,
                app_id=app_id,
                detail={"terms_version": version},
            )
            return app_table.load_app(conn, app_id)

    def ban_app(self, app_id: str, reason: str) -> list[Grant]:
        """Ban the app: revoke every live grant, refuse it from now on, tell it to delete."""
        reason = " ".join(str(reason).split())[:MAX_BAN_REASON] or "banned by the platform"
        now = self.clock()
        with self.store.write("ban an app in") as conn:
            app = app_table.load_app(conn, app_id)
            if app.banned:
                raise Conflict(f"app {app_id!r} is already banned")
            app_table.record_ban(conn, app_id, reason, now)
            grants = consent_table.all_grants(conn, app_id)
            live = [g for g in grants if g.state(now) is not GrantState.REVOKED]
            for grant in live:
                consent_table.record_revocation(conn, grant.id, RevokeReason.BAN, now)
            self.audit.append(
                conn,
                now,
                AuditEvent.BANNED,
                Actor.PLATFORM,
                app_id=app_id,
                detail={"reason": reason, "grants_revoked": len(live)},
            )
            queue_notice(
                conn, self._platform_key, app, [g.id for g in grants], RevokeReason.BAN, now
            )
        log.warning("banned app %s; %d grant(s) revoked", app_id, len(live))
        self._ended(g.id for g in grants)
        return live

    # --- consent ----------------------------------------------------------------------

    def request_consent(
        self, app_id: str, scopes: Iterable[object], grant_seconds: int = DEFAULT_GRANT_SECONDS
    ) -> ConsentRequest:
        """An app asks for scopes for ``grant_seconds``; the person decides later.

        At most ``MAX_PENDING_REQUESTS`` of an app's requests wait at once, so an app
        cannot wear the person down with a queue of prompts until one is approved.
        """
        wanted = parse_scopes(scopes)
        if (
            isinstance(grant_seconds, bool)
            or not isinstance(grant_seconds, int)
            or not (60 <= grant_seconds <= MAX_GRANT_SECONDS)
        ):
            raise InvalidApp(f"grant_seconds must be between 60 and {MAX_GRANT_SECONDS}")
        now = self.clock()
        with self.store.write("record a consent request in") as conn:
            app = app_table.load_app(conn, app_id)
            _check_allowed(app)
            waiting = sum(
                r.app_id == app_id and r.status(now) is RequestStatus.PENDING
                for r in consent_table.all_requests(conn)
            )
            if waiting >= MAX_PENDING_REQUESTS:
                raise Conflict(
                    f"this app already has {waiting} consent requests waiting for the person; "
                    "ask again once they have decided or the requests have expired"
                )
            request = ConsentRequest(
                id=new_id("req"),
                app_id=app_id,
                scopes=wanted,
                grant_seconds=grant_seconds,
                created_at=now,
                expires_at=now + timedelta(seconds=REQUEST_TTL_SECONDS),
                stored_status=RequestStatus.PENDING,
                decided_at=None,
                grant_id=None,
            )
            consent_table.insert_request(conn, request)
            self.audit.append(
                conn,
                now,
                AuditEvent.CONSENT_REQUESTED,
                Actor.APP,
                app_id=app_id,
                scopes=wanted,
                detail={"request_id": request.id, "grant_seconds": grant_seconds},
            )
        return request

    def consent_request(self, request_id: str) -> ConsentRequest:
        with self.store.read("read") as conn:
            return consent_table.load_request(conn, request_id)

    def consent_requests(self, status: RequestStatus | None = None) -> list[ConsentRequest]:
        """Requests, newest first; ``status`` filters by the status as of now."""
        now = self.clock()
        with self.store.read("read") as conn:
            requests = consent_table.all_requests(conn)
        return [r for r in requests if status is None or r.status(now) is status]

    def approve(self, request_id: str, via: Via) -> Grant:
        """The person says yes: a grant for exactly the requested scopes and duration."""
        now = self.clock()
        with self.store.write("approve a consent request in") as conn:
            request = self._pending(conn, request_id, now)
            _check_allowed(app_table.load_app(conn, request.app_id))
            grant = Grant(
                id=new_id("grt"),
                app_id=request.app_id,
                request_id=request.id,
                scopes=request.scopes,
                created_at=now,
                expires_at=now + timedelta(seconds=request.grant_seconds),
                token_issued_at=None,
                revoked_at=None,
                revoked_reason=None,
            )
            consent_table.insert_grant(conn, grant)
            consent_table.record_decision(conn, request.id, RequestStatus.APPROVED, now, grant.id)
            self.audit.append(
                conn,
                now,
                AuditEvent.GRANTED,
                Actor.USER,
                app_id=grant.app_id,
                grant_id=grant.id,
                scopes=grant.scopes,
                detail={
                    "request_id": request.id,
                    "via": via.value,
                    "expires_at": grant.expires_at.isoformat(),
                },
            )
        log.info("consent request %s approved as grant %s", request.id, grant.id)
        return grant

    def refuse(self, request_id: str, via: Via) -> ConsentRequest:
        """The person says no; the app learns only that the request was refused."""
        now = self.clock()
        with self.store.write("refuse a consent request in") as conn:
            request = self._pending(conn, request_id, now)
            consent_table.record_decision(conn, request.id, RequestStatus.REFUSED, now, None)
            self.audit.append(
                conn,
                now,
                AuditEvent.REFUSED,
                Actor.USER,
                app_id=request.app_id,
                scopes=request.scopes,
                detail={"request_id": request.id, "via": via.value},
            )
            return consent_table.load_request(conn, request.id)

    @staticmethod
    def _pending(conn: sqlite3.Connection, request_id: str, now: datetime) -> ConsentRequest:
        request = consent_table.load_request(conn, request_id)
        status = request.status(now)
        if status is not RequestStatus.PENDING:
            raise Conflict(f"consent request {request_id!r} is {status.value}, not pending")
        return request

    def request_of_app(self, app_id: str, request_id: str) -> ConsentRequest:
        """A request as its own app may see it; another app's request does not exist for it."""
        request = self.consent_request(request_id)
        if request.app_id != app_id:
            raise NotFound(f"no consent request {request_id!r}")
        return request

    def claim_token(self, app_id: str, request_id: str) -> IssuedToken:
        """Give the app its token for an approved request, exactly once.

        The token is minted here, so it never exists at rest: the database keeps only
        its hash, and a lost token means asking the person again.
        """
        now = self.clock()
        with self.store.write("issue a token in") as conn:
            request = consent_table.load_request(conn, request_id)
            if request.app_id != app_id:
                raise NotFound(f"no consent request {request_id!r}")
            status = request.status(now)
            if status is not RequestStatus.APPROVED or request.grant_id is None:
                raise ConsentRequired(f"consent request {request_id!r} is {status.value}")
            _check_allowed(app_table.load_app(conn, app_id))
            grant = consent_table.load_grant(conn, request.grant_id)
            if grant.state(now) is not GrantState.ACTIVE:
                raise ConsentRequired(f"grant {grant.id!r} is {grant.state(now).value}")
            if grant.token_issued_at is not None:
                raise Conflict(
                    f"the token of grant {grant.id!r} was already issued; ask for consent again"
                )
            token = mint_token()
            consent_table.record_token(conn, grant.id, hash_token(token), now)
            self.audit.append(
                conn,
                now,
                AuditEvent.TOKEN_ISSUED,
                Actor.APP,
                app_id=app_id,
                grant_id=grant.id,
                scopes=grant.scopes,
            )
            grant = consent_table.load_grant(conn, grant.id)
        return IssuedToken(grant, token)

    # --- grants -----------------------------------------------------------------------

    def grants(self, app_id: str | None = None) -> list[Grant]:
        with self.store.read("read") as conn:
            return consent_table.all_grants(conn, app_id)

    def grant(self, grant_id: str) -> Grant:
        with self.store.read("read") as conn:
            return consent_table.load_grant(conn, grant_id)

    def revoke(self, grant_id: str, via: Via) -> Grant:
        """The person withdraws consent: the token dies, streams close, the app must delete."""
        now = self.clock()
        with self.store.write("revoke a grant in") as conn:
            grant = consent_table.load_grant(conn, grant_id)
            if grant.revoked_at is not None:
                raise Conflict(f"grant {grant_id!r} is already revoked")
            consent_table.record_revocation(conn, grant_id, RevokeReason.USER, now)
            self.audit.append(
                conn,
                now,
                AuditEvent.REVOKED,
                Actor.USER,
                app_id=grant.app_id,
                grant_id=grant_id,
                scopes=grant.scopes,
                detail={"via": via.value},
            )
            queue_notice(
                conn,
                self._platform_key,
                app_table.load_app(conn, grant.app_id),
                [grant_id],
                RevokeReason.USER,
                now,
            )
            grant = consent_table.load_grant(conn, grant_id)
        log.info("grant %s revoked", grant_id)
        self._ended([grant_id])
        return grant

    def authorize(self, token: object) -> tuple[Grant, App]:
        """The grant and app a token stands for, if it may stream now; else refuse.

        An unknown token is BadCredentials. A known one whose grant has ended (revoked,
        expired, app banned) is ConsentRequired; past its refusal budget it is
        RateLimited without a database read. Refusals are tallied, not logged one by
        one (``refusals``).
        """
        if not looks_like_token(token):
            raise BadCredentials("not a FaceGate grant token")
        now = self.clock()
        token_hash = hash_token(token)
        spent = self._refusals.over_budget(token_hash, now)
        if spent is not None:
            self._refusals.note(*spent, "over the refusal budget", now, token_hash)
            self.flush_refusals()
            raise RateLimited(
                "this token was refused too often in the last minute; ask the person for "
                "consent again instead of retrying",
                retry_after=60 - now.second,
            )
        with self.store.read("check a token in") as conn:
            grant = consent_table.grant_by_token_hash(conn, token_hash)
            if grant is None:
                raise BadCredentials("unknown token: ask the person for consent")
            app = app_table.load_app(conn, grant.app_id)
        state = grant.state(now)
        problem = (
            f"grant {grant.id} is {state.value}"
            if state is not GrantState.ACTIVE
            else f"app {app.id} is banned"
            if app.banned
            else None
        )
        if problem is not None:
            self._refusals.note(grant.app_id, grant.id, problem, now, token_hash)
            self.flush_refusals()
            raise ConsentRequired(f"{problem}: ask the person for consent again")
        return grant, app

    def ended_grants(self, grant_ids: Iterable[str]) -> set[str]:
        """Which of these grants may no longer stream (revoked, expired, app banned)."""
        with self.store.read("check grants in") as conn:
            return consent_table.ended_grant_ids(conn, list(grant_ids), self.clock())

    # --- streams ----------------------------------------------------------------------

    def stream_started(
        self, grant: Grant, session_id: str, *, destination: str | None = None
    ) -> datetime:
        """Audit the start of a stream session; returns its start time.

        ``destination`` is where the app says it sends the frames on (``facegate osc``:
        its VMC receiver), kept in both of the session's entries.
        """
        now = self.clock()
        with self.store.write("audit a stream in") as conn:
            self.audit.append(
                conn,
                now,
                AuditEvent.STREAM_STARTED,
                Actor.APP,
                app_id=grant.app_id,
                grant_id=grant.id,
                scopes=grant.scopes,
                started_at=now,
                detail={"session_id": session_id, **_destination_detail(destination)},
            )
        return now

    def stream_ended(
        self,
        grant: Grant,
        session_id: str,
        started_at: datetime,
        frames: int,
        why: str,
        *,
        destination: str | None = None,
    ) -> None:
        """Audit the end of a stream session with the number of frames the app was sent."""
        now = self.clock()
        with self.store.write("audit a stream in") as conn:
            self.audit.append(
                conn,
                now,
                AuditEvent.STREAM_ENDED,
                Actor.APP,
                app_id=grant.app_id,
                grant_id=grant.id,
                scopes=grant.scopes,
                started_at=started_at,
                ended_at=now,
                frames=frames,
                detail={
                    "session_id": session_id,
                    "ended_because": why,
                    **_destination_detail(destination),
                },
            )

    def stream_refused(self, grant: Grant, why: str) -> None:
        """Count a stream refused for a live grant (too many at once, too many starts)."""
        self._refusals.note(grant.app_id, grant.id, why, self.clock())
        self.flush_refusals()

    def flush_refusals(self, *, everything: bool = False) -> int:
        """Write one audit entry per app for each minute of refusals that is over.

        ``everything`` also writes the current minute (on close). Returns the entries written.
        """
        minutes = self._refusals.take(self.clock(), everything=everything)
        if not minutes:
            return 0
        now = self.clock()
        with self.store.write("audit refused streams in") as conn:
            for minute in minutes:
                self.audit.append(
                    conn,
                    now,
                    AuditEvent.STREAM_REFUSED,
                    Actor.APP,
                    app_id=minute.app_id,
                    grant_id=minute.grant_ids[0] if len(minute.grant_ids) == 1 else None,
                    started_at=minute.start,
                    ended_at=minute.start + timedelta(minutes=1),
                    detail={
                        "attempts": minute.attempts,
                        "reasons": minute.reasons,
                        "grant_ids": list(minute.grant_ids),
                    },
                )
        return len(minutes)

    # --- audit and notices --------------------------------------------------------------

    def audit_entries(self, after: int = 0) -> list[AuditEntry]:
        with self.store.read("read the audit log of") as conn:
            return audit.entries(conn, after)

    def verify_audit(self) -> ChainReport:
        """The keyed chain against the signed heads in the database and beside it."""
        with self.store.read("verify the audit log of") as conn:
            return self.audit.verify(conn)

    def audit_head(self) -> SignedHead:
        """The signed head to keep elsewhere; AuditTampered if the log does not verify."""
        with self.store.read("read the audit head of") as conn:
            return self.audit.head(conn)

    def export_audit(self) -> tuple[list[AuditEntry], SignedHead | None]:
        """Every entry, and the signed head covering them (None when the log is broken)."""
        with self.store.read("export the audit log of") as conn:
            return self.audit.export(conn)

    def verify_audit_export(self, lines: Iterable[str]) -> ChainReport:
        """Check an export on its own and against the live log."""
        with self.store.read("verify an export against the audit log of") as conn:
            return self.audit.verify_export(lines, conn)

    def check_audit_against(self, head: SignedHead) -> ChainReport:
        """Does the live log still hold everything a kept head signed?"""
        with self.store.read("check the audit log of") as conn:
            return self.audit.check_against(conn, head)

    def deliver_notices(self) -> list[Delivery]:
        """Send the deletion notices that are due; failures stay queued for a retry."""
        return self.notices.deliver_due()


def _destination_detail(destination: str | None) -> dict[str, str]:
    return {} if destination is None else {"destination": destination}


def _check_allowed(app: App) -> None:
    if app.banned:
        raise AppNotAllowed(f"app {app.id!r} is banned: {app.ban_reason}")
    if not app.accepted_current_terms:
        raise AppNotAllowed(
            f"app {app.id!r} must accept the terms (version {CURRENT_VERSION}) before asking "
            "for consent"
        )
