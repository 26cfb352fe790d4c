"""The sealed template vault: opaque per-user payloads, encrypted at rest.

Callers depend on the ``Vault`` protocol; ``open_vault`` picks the key source
from ``Settings`` so that choice lives in one place.
"""

from __future__ import annotations

from facegate.config import Settings
from facegate.vault.base import DEFAULT_MAX_FAILURES, UserRecord, Vault, validate_name
from facegate.vault.keys import load_key
from facegate.vault.sqlite import SqliteVault

__all__ = [
    "DEFAULT_MAX_FAILURES",
    "SqliteVault",
    "UserRecord",
    "Vault",
    "load_key",
    "open_vault",
    "validate_name",
]


def open_vault(settings: Settings, *, max_failures: int = DEFAULT_MAX_FAILURES) -> SqliteVault:
    """Open (creating if needed) the vault at ``settings.vault_path`` with its configured key."""
    return SqliteVault(settings.vault_path, load_key(settings), max_failures=max_failures)
