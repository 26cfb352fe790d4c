"""Ed25519 keys: an app's public key, and the platform key that signs deletion notices.

An app registers a public key (PEM ``SubjectPublicKeyInfo`` or the raw 32 bytes in
base64) and signs its API requests with the private half, so the platform never
holds a secret that could impersonate the app. The platform's own key lives in
``$FACEGATE_HOME`` (0600 PEM, created on first use) and signs every deletion notice;
apps fetch its public half from ``GET /api/v1/platform-key`` to check them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facegate.errors import ConfigError
from facegate.private_files import create_private_file
from facegate.sharing.errors import BadCredentials, InvalidApp

RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64
PLATFORM_KEY_FILE = "sharing_platform_ed25519.pem"
MAX_KEY_TEXT = 4096


def parse_public_key(text: object) -> str:
    """Validate an Ed25519 public key given as PEM or raw base64; return the raw base64.

    Storing one canonical form means two spellings of a key compare equal.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_KEY_TEXT:
        raise InvalidApp("public_key must be an Ed25519 public key as PEM or base64 text")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as err:
            raise InvalidApp("public_key is not a readable PEM public key") from err
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidApp(
                f"public_key must be an Ed25519 key, not {type(key).__name__.removeprefix('_')}"
            )
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        decoded = _b64decode(text)
        if decoded is None or len(decoded) != RAW_KEY_BYTES:
            raise InvalidApp(
                f"public_key must be PEM, or base64 of the {RAW_KEY_BYTES} raw bytes of an "
                "Ed25519 public key"
            )
        raw = decoded
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is neither."""
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_signature(public_key_b64: str, message: bytes, signature_b64: str) -> None:
    """Raise BadCredentials unless ``signature_b64`` is the key's signature of ``message``."""
    signature = _b64decode(signature_b64) if len(signature_b64) <= 2 * SIGNATURE_BYTES else None
    if signature is None or len(signature) != SIGNATURE_BYTES:
        raise BadCredentials("the request signature is not base64 of a 64-byte Ed25519 signature")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    try:
        key.verify(signature, message)
    except InvalidSignature as err:
        raise BadCredentials("the request signature does not match the app's public key") from err


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key in base64, the form apps register and the platform publishes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_b64: str) -> str:
    """A short, stable name for a public key, sent beside signatures so keys can rotate."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def load_platform_key(home: Path) -> Ed25519PrivateKey:
    """The platform signing key from ``home``, created 0600 on first use.

    A file that exists but is not an unencrypted Ed25519 PEM key is refused rather
    than replaced: replacing it would silently break every app's notice checks.
    """
    path = home / PLATFORM_KEY_FILE
    if not path.exists():
        _create_platform_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ConfigError(f"{path} is not a readable Ed25519 private key: move it aside") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} holds a {type(key).__name__} key, not an Ed25519 one")
    return key


def _create_platform_key(path: Path) -> None:
    """Create the key file; when another process created it first, theirs is used."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    create_private_file(path, pem)
