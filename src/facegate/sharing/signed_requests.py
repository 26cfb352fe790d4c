"""How an app proves a request is its own: an Ed25519 signature over the request.

The app signs ``facegate-request-v1``, the method, the path, a Unix timestamp and
the SHA-256 of the body, one per line, with the private key whose public half it
registered. The platform therefore holds no app secret that could leak, and a
captured request cannot be altered. A timestamp outside ``MAX_SKEW_SECONDS`` is
refused, which bounds how long a captured request can be replayed; the operations
that matter are one-shot anyway (a token is issued once).

Headers: ``X-FaceGate-Timestamp`` (integer seconds) and ``X-FaceGate-Signature``
(base64 of the 64-byte signature).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.sharing.errors import BadCredentials
from facegate.sharing.keys import verify_signature

TIMESTAMP_HEADER = "X-FaceGate-Timestamp"
SIGNATURE_HEADER = "X-FaceGate-Signature"
MAX_SKEW_SECONDS = 120
_PREFIX = b"facegate-request-v1"


def request_message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """The exact bytes signed for one request."""
    digest = hashlib.sha256(body).hexdigest()
    return b"\n".join(
        [
            _PREFIX,
            method.upper().encode(),
            path.encode("utf-8"),
            timestamp.encode(),
            digest.encode(),
        ]
    )


def sign_request(
    key: Ed25519PrivateKey, method: str, path: str, body: bytes, now: float
) -> dict[str, str]:
    """The headers that authenticate a request (used by ``facegate.client``)."""
    timestamp = str(int(now))
    signature = key.sign(request_message(method, path, timestamp, body))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: base64.b64encode(signature).decode()}


def check_request(
    public_key_b64: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Raise BadCredentials unless the headers carry a fresh, valid signature."""
    timestamp = headers.get(TIMESTAMP_HEADER) or headers.get(TIMESTAMP_HEADER.lower())
    signature = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        raise BadCredentials(
            f"sign this request: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} "
            "(see facegate.client.AppClient)"
        )
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadCredentials(f"{TIMESTAMP_HEADER} must be whole Unix seconds")
    if abs(int(timestamp) - now) > MAX_SKEW_SECONDS:
        raise BadCredentials(
            f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s away from this machine's clock"
        )
    verify_signature(public_key_b64, request_message(method, path, timestamp, body), signature)
