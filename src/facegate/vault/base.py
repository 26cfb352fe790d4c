"""The vault interface and its plain values, kept apart from any storage engine.

Engines (SQLite today) implement ``Vault``; callers depend only on this module so
an engine can be swapped without touching the biometric code. A vault stores one
opaque, sealed payload per user and knows nothing about faces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from facegate.errors import InputError

DEFAULT_MAX_FAILURES = 5

# ASCII only: Unicode look-alikes would let two different names appear identical.
# A leading letter or digit, so that a name is never read as an option (``-x``).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)


class Outcome(StrEnum):
    """What an attempt did to the lockout counter: a failure, a success, or nothing
    (a frame that could not be judged says nothing about who is there)."""

    FAILURE = "failure"
    SUCCESS = "success"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class UserRecord:
    """What may be shown about a user; holds no template so it is safe to list or log."""

    name: str
    created_at: datetime
    updated_at: datetime
    failures: int
    locked: bool


@dataclass(frozen=True)
class Attempt:
    """One unlock attempt's slot in the lockout budget, taken before any frame is judged.

    ``admitted`` is False when the user was locked out (nothing may be scored).
    ``slot`` is the failure count the attempt brought the user to (it counts as a
    failure until it finishes) and ``epoch`` the counter's generation, which a reset
    or a success moves on; both let ``finish_attempt`` tell whether the lock closed
    behind this attempt while it ran.
    """

    user: str
    admitted: bool
    slot: int
    epoch: int
    record: UserRecord


@dataclass(frozen=True)
class SealedTemplate:
    """A template's plaintext with its version, for compare-and-swap updates."""

    payload: bytes = field(repr=False)
    version: int


def validate_name(name: object) -> str:
    """Reject a name before it reaches storage, so bad input never becomes a row."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            f"invalid user name {name!r}: use 1-64 characters from ASCII letters, digits "
            "and . _ - @, starting with a letter or digit"
        )
    return name


class Vault(Protocol):
    """Per-user sealed payloads plus the failure counter that drives lockout.

    The lockout is atomic: ``begin_attempt`` checks the lock and takes a slot in one
    write transaction (the slot counts as a failure until ``finish_attempt`` says
    otherwise), so parallel attempts can never be scored more often than attempts
    remain, and a crashed attempt stays counted.
    """

    def create_user(self, name: str, payload: bytes) -> UserRecord: ...

    def replace_template(self, name: str, payload: bytes) -> UserRecord: ...

    def update_template(self, name: str, payload: bytes, expected_version: int) -> bool: ...

    def get_template(self, name: str) -> bytes: ...

    def read_template(self, name: str) -> SealedTemplate: ...

    def begin_attempt(self, name: str) -> Attempt: ...

    def finish_attempt(self, attempt: Attempt, outcome: Outcome) -> tuple[UserRecord, bool]: ...

    def delete_user(self, name: str) -> None: ...

    def users(self) -> list[UserRecord]: ...

    def user(self, name: str) -> UserRecord: ...

    def record_failure(self, name: str) -> UserRecord: ...

    def reset_lockout(self, name: str) -> UserRecord: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
