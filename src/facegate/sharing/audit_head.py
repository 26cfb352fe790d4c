"""The audit log's signed head: how many entries it holds and the hash of the last one.

A hash chain shows an edit in the middle, but not that its newest entries were cut
off, nor that the whole log was replaced. The head closes that gap: after every
entry the platform's Ed25519 key signs ``(count, last hash)``, and the signed head
is kept in three places that an attacker must all roll back together:

* inside the sharing database (the ``meta`` table, in the same transaction as the
  entry), so a log shorter or longer than its head is caught;
* in ``$FACEGATE_HOME/sharing_audit_head.json`` beside it, rewritten after each
  commit, so replacing or emptying the database file is caught;
* wherever the person keeps the output of ``facegate audit head`` or the last line
  of ``facegate audit export``: the one copy no one on this machine can reach.

A kept head matches a later log when the log has at least ``count`` entries and its
entry ``count`` has that hash; the public key (``GET /api/v1/platform-key``) checks
the signature anywhere.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facegate.sharing.keys import key_id, public_key_b64

HEAD_FILE = "sharing_audit_head.json"
GENESIS_HASH = "0" * 64
_DOMAIN = b"facegate-audit-head-v1"


@dataclass(frozen=True)
class SignedHead:
    """``count`` entries, the last with ``hash``; ``signature`` by the platform key ``key_id``."""

    count: int
    hash: str
    signature: str
    key_id: str

    @staticmethod
    def message(count: int, last_hash: str) -> bytes:
        return b"\n".join([_DOMAIN, str(count).encode(), last_hash.encode("ascii")])

    @classmethod
    def sign(cls, key: Ed25519PrivateKey, count: int, last_hash: str) -> SignedHead:
        signature = base64.b64encode(key.sign(cls.message(count, last_hash))).decode("ascii")
        return cls(count, last_hash, signature, key_id(public_key_b64(key)))

    def is_signed_by(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.signature), self.message(self.count, self.hash))
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "audit_head",
            "count": self.count,
            "hash": self.hash,
            "signature": self.signature,
            "key_id": self.key_id,
        }

    def as_json_line(self) -> str:
        return json.dumps(self.as_json(), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: object) -> SignedHead:
        """A head read back; ValueError when ``data`` is not one."""
        if not isinstance(data, dict) or data.get("type") != "audit_head":
            raise ValueError("not an audit head")
        count, last, signature, kid = (
            data.get(k) for k in ("count", "hash", "signature", "key_id")
        )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("an audit head's count must be a whole number")
        if not all(isinstance(v, str) for v in (last, signature, kid)):
            raise ValueError("an audit head's hash, signature and key_id must be text")
        return cls(count, str(last), str(signature), str(kid))

    @classmethod
    def from_text(cls, text: str) -> SignedHead:
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, RecursionError) as err:
            raise ValueError(f"not an audit head ({err})") from err


def head_path(home: Path) -> Path:
    return home / HEAD_FILE


def read_head_file(path: Path) -> SignedHead | None:
    """The head stored beside the database; None when there is no file.

    ValueError when the file exists but does not hold a head.
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not readable ({err})") from err
    return SignedHead.from_text(text)


def write_head_file(path: Path, head: SignedHead) -> None:
    """Replace the file atomically (write, fsync, rename), 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(head.as_json_line())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
