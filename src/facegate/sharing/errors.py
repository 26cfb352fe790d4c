"""Errors of the sharing side, and the HTTP status each one maps to.

They sit under the same ``FaceGateError`` root as every other FaceGate error, so the
CLI's ``friendly`` wrapper and the service's handlers treat them alike. The table
below extends ``facegate.errors.HTTP_STATUS`` (looked up with
``facegate.errors.lookup``) rather than repeating it; at the CLI every one of them is
exit code 2, like any other FaceGate error::

    FaceGateError
    ├── InputError
    │   ├── InvalidScope          unknown scope, or one naming identity data (422)
    │   └── InvalidApp            a registration field that cannot be accepted (422)
    └── SharingError
        ├── NotFound              no such app, consent request or grant (404)
        ├── Conflict              already decided / already claimed / duplicate (409)
        ├── AppNotAllowed         app banned, or terms not accepted (403)
        ├── ConsentRequired       no live grant covers this (403)
        ├── BadCredentials        unknown, expired or revoked token; bad signature (401)
        ├── RateLimited           over a call budget; says when to retry (429)
        ├── AuditTampered         the chain or its signed head is broken; names the first bad entry
        └── SharingStoreError     the sharing database cannot be used (500, no detail)
"""

from __future__ import annotations

from facegate.errors import HTTP_STATUS, FaceGateError, InputError


class InvalidScope(InputError):
    """A scope that is not shareable; the message lists the ones that are."""


class InvalidApp(InputError):
    """A registration field (key, URL, name, retention) that cannot be accepted."""


class SharingError(FaceGateError):
    """Something about apps, consent or grants prevents the operation."""


class NotFound(SharingError):
    pass


class Conflict(SharingError):
    pass


class AppNotAllowed(SharingError):
    """The app is banned, or has not accepted the current terms."""


class ConsentRequired(SharingError):
    """No live grant covers the request: deny by default."""


class BadCredentials(SharingError):
    """A token or a request signature that does not authenticate anyone."""


class RateLimited(SharingError):
    """A caller spent its call budget; ``retry_after`` seconds until it may call again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuditTampered(SharingError):
    """The audit log no longer matches its chain or its signed head; ``seq`` is the
    first entry concerned, None when the log as a whole is."""

    def __init__(self, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq


class SharingStoreError(SharingError):
    pass


SHARING_HTTP_STATUS: dict[type[FaceGateError], int] = {
    **HTTP_STATUS,
    NotFound: 404,
    Conflict: 409,
    AppNotAllowed: 403,
    ConsentRequired: 403,
    BadCredentials: 401,
    RateLimited: 429,
    AuditTampered: 500,
    SharingStoreError: 500,
}
