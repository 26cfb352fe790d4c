"""How an app proves a request is its own, once: an Ed25519 signature over the request.

The app signs these lines, joined by ``\\n``, with the private key whose public half
it registered::

    facegate-request-v2
    <METHOD>                  upper case
    <target>                  the path as sent, with ``?query`` when there is one
    <timestamp>               whole Unix seconds, the X-FaceGate-Timestamp header
    <nonce>                   the X-FaceGate-Nonce header: 16-128 of [A-Za-z0-9_-]
    <sha256 of the body>      lower-case hex (of zero bytes for an empty body)

The platform therefore holds no app secret that could leak, and a captured request
cannot be altered: not its method, path, query string or body. A timestamp more than
``MAX_SKEW_SECONDS`` away from this machine's clock is refused, and every nonce a
valid signature carried is remembered for that whole window (``NonceCache``), so an
exact replay is refused too.

Headers: ``X-FaceGate-Timestamp``, ``X-FaceGate-Nonce`` and ``X-FaceGate-Signature``
(base64 of the 64-byte signature).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.sharing.errors import BadCredentials, RateLimited
from facegate.sharing.headers import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from facegate.sharing.keys import verify_signature

MAX_SKEW_SECONDS = 120
MAX_REMEMBERED_NONCES = 100_000
"""Far above what the call budgets let through in a window (120 a minute per app)."""
_PREFIX = b"facegate-request-v2"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def request_message(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes signed for one request; ``target`` is the path with its query."""
    digest = hashlib.sha256(body).hexdigest()
    return b"\n".join(
        [
            _PREFIX,
            method.upper().encode(),
            target.encode("utf-8"),
            timestamp.encode(),
            nonce.encode(),
            digest.encode(),
        ]
    )


def sign_request(
    key: Ed25519PrivateKey, method: str, target: str, body: bytes, now: float
) -> dict[str, str]:
    """The headers that authenticate one request (used by ``facegate.client``).

    ``target`` is the path exactly as it will be sent, query string included
    (``/api/v1/apps/app_x?verbose=1``). A fresh random nonce is drawn each call.
    """
    timestamp = str(int(now))
    nonce = secrets.token_urlsafe(18)
    signature = key.sign(request_message(method, target, timestamp, nonce, body))
    return {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
    }


class NonceCache:
    """Nonces of valid requests, per app key, until their timestamp window has passed.

    Only requests whose signature checked out are remembered, so a stranger cannot
    fill the cache; when it is full of unexpired nonces anyway, requests are refused
    (429) rather than forgetting one early, which would reopen a replay.
    """

    def __init__(self, capacity: int = MAX_REMEMBERED_NONCES) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, public_key_b64: str, nonce: str, now: float) -> None:
        """Record a nonce; BadCredentials if this key already used it within the window."""
        forget_before = now - 2 * MAX_SKEW_SECONDS
        with self._lock:
            while self._seen:
                oldest_key, seen_at = next(iter(self._seen.items()))
                if seen_at >= forget_before:
                    break
                del self._seen[oldest_key]
            key = (public_key_b64, nonce)
            if key in self._seen:
                raise BadCredentials(
                    f"this request was already made ({NONCE_HEADER} reused): sign each request "
                    "with a fresh nonce"
                )
            if len(self._seen) >= self._capacity:
                raise RateLimited("too many signed requests at once; try again shortly", 5)
            self._seen[key] = now

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


def check_request(
    public_key_b64: str,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    nonces: NonceCache,
) -> None:
    """Raise unless the headers carry a fresh, valid, never-seen signature of this request.

    BadCredentials for a missing, malformed, stale, forged or replayed signature.
    """
    timestamp = _header(headers, TIMESTAMP_HEADER)
    nonce = _header(headers, NONCE_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not timestamp or not signature or not nonce:
        raise BadCredentials(
            f"sign this request: send {TIMESTAMP_HEADER}, {NONCE_HEADER} and "
            f"{SIGNATURE_HEADER} (see docs/apps.md or facegate.client.AppClient)"
        )
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadCredentials(f"{TIMESTAMP_HEADER} must be whole Unix seconds")
    if _NONCE.fullmatch(nonce) is None:
        raise BadCredentials(f"{NONCE_HEADER} must be 16 to 128 of A-Z a-z 0-9 _ -")
    if abs(int(timestamp) - now) > MAX_SKEW_SECONDS:
        raise BadCredentials(
            f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s away from this machine's clock"
        )
    verify_signature(
        public_key_b64, request_message(method, target, timestamp, nonce, body), signature
    )
    nonces.remember(public_key_b64, nonce, now)
