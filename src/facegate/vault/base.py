"""The vault interface and its plain values, kept apart from any storage engine.

Engines (SQLite today) implement ``Vault``; callers depend only on this module so
an engine can be swapped without touching the biometric code. A vault stores one
opaque, sealed payload per user and knows nothing about faces.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from facegate.errors import InputError

DEFAULT_MAX_FAILURES = 5

# ASCII only: Unicode look-alikes would let two different names appear identical.
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class UserRecord:
    """What may be shown about a user; holds no template so it is safe to list or log."""

    name: str
    created_at: datetime
    updated_at: datetime
    failures: int
    locked: bool


def validate_name(name: object) -> str:
    """Reject a name before it reaches storage, so bad input never becomes a row."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            f"invalid user name {name!r}: use 1-64 characters from letters, digits and . _ - @"
        )
    return name


def make_private_dir(path: Path) -> None:
    """Create a missing directory 0700 so the vault and its key are never group-visible.

    An existing directory is left alone: tightening, say, a shared parent is not ours to do.
    """
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


class Vault(Protocol):
    """Per-user sealed payloads plus the failure counter that drives lockout.

    Lockout is recorded here but enforced by the caller: check ``user(name).locked``
    before matching, because only the caller knows what an attempt is.
    """

    def create_user(self, name: str, payload: bytes) -> UserRecord: ...

    def replace_template(self, name: str, payload: bytes) -> UserRecord: ...

    def get_template(self, name: str) -> bytes: ...

    def delete_user(self, name: str) -> None: ...

    def users(self) -> list[UserRecord]: ...

    def user(self, name: str) -> UserRecord: ...

    def record_failure(self, name: str) -> UserRecord: ...

    def record_success(self, name: str) -> UserRecord: ...

    def reset_lockout(self, name: str) -> UserRecord: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
