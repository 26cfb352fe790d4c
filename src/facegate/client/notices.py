"""Checking a deletion notice before acting on it.

When the person revokes a grant or the platform bans an app, the service POSTs a
notice to the app's webhook. Anyone can POST to a webhook, so an app must check
that a notice really comes from the FaceGate service it registered with:

1. fetch the platform key once (``GET /api/v1/platform-key``, or
   ``AppClient.platform_key()``) and keep it;
2. on each POST, pass the **raw body bytes** and the headers to ``verify_notice``:
   it checks ``X-FaceGate-Signature`` (base64 Ed25519 over the exact body) with that
   key, that ``X-FaceGate-Key-Id`` names it, and that the body is a well-formed
   notice addressed to this app;
3. delete what was received under ``notice.grant_ids``, then answer 2xx. A notice
   may arrive more than once (an answer can be lost): ``notice_id`` identifies it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from facegate.sharing.headers import KEY_ID_HEADER, NOTICE_TYPE, SIGNATURE_HEADER
from facegate.sharing.keys import key_id


class InvalidNotice(Exception):
    """The POST is not a deletion notice signed by this FaceGate service: ignore it."""


@dataclass(frozen=True)
class DeletionNotice:
    """A checked notice: delete everything received under ``grant_ids``.

    ``reason`` is ``revoked_by_user`` or ``app_banned``; ``issued_at`` is ISO 8601 UTC.
    """

    notice_id: str
    app_id: str
    grant_ids: tuple[str, ...]
    reason: str
    issued_at: str
    instruction: str


def verify_notice(
    body: bytes,
    headers: Mapping[str, str],
    platform_public_key: str,
    *,
    app_id: str | None = None,
) -> DeletionNotice:
    """The notice in ``body`` if the platform key signed it; else InvalidNotice.

    ``platform_public_key`` is the base64 raw key from ``GET /api/v1/platform-key``;
    ``app_id``, when given, must be the app the notice is addressed to. Header
    names are matched without regard to case.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    signature_text = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        signature = base64.b64decode(signature_text, validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(platform_public_key))
    except (binascii.Error, ValueError) as err:
        raise InvalidNotice("the signature or the platform key is not valid base64") from err
    kid = lowered.get(KEY_ID_HEADER.lower())
    if kid is not None and kid != key_id(platform_public_key):
        raise InvalidNotice(f"signed with key {kid}, not this service's key")
    try:
        key.verify(signature, body)
    except InvalidSignature as err:
        raise InvalidNotice("the signature does not match the platform key") from err
    try:
        data = json.loads(body)
        notice = DeletionNotice(
            notice_id=str(data["notice_id"]),
            app_id=str(data["app_id"]),
            grant_ids=tuple(str(g) for g in data["grant_ids"]),
            reason=str(data["reason"]),
            issued_at=str(data["issued_at"]),
            instruction=str(data["instruction"]),
        )
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise InvalidNotice("the body is not a deletion notice") from err
    if data.get("type") != NOTICE_TYPE:
        raise InvalidNotice(f"the body's type is {data.get('type')!r}, not {NOTICE_TYPE}")
    if app_id is not None and notice.app_id != app_id:
        raise InvalidNotice(f"the notice is for app {notice.app_id}, not {app_id}")
    return notice
