"""Bearer tokens: random, shown once, stored only as a SHA-256 hash.

A token carries 256 bits from ``secrets``, so an unsalted SHA-256 is enough to make
the stored hash useless to whoever copies the database: there is nothing to guess.
Lookups go by hash, so comparing a presented token never touches the plaintext of a
stored one. Tokens never appear in logs.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TypeGuard

TOKEN_PREFIX = "fgt_"
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128  # anything longer is refused before hashing


def mint_token() -> str:
    """A fresh grant token, ``fgt_`` + 43 URL-safe characters; the caller shows it once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 stored in place of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: object) -> TypeGuard[str]:
    """A cheap shape check, so garbage never reaches the database."""
    return (
        isinstance(value, str)
        and value.startswith(TOKEN_PREFIX)
        and len(value) <= MAX_TOKEN_CHARS
        and value.isascii()
    )


def new_id(prefix: str) -> str:
    """A public identifier (app, request, grant): random, so ids reveal no counts or order."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"
