"""The header and message-type names an app meets on the wire.

One source for the service that writes them and the SDK that reads them. This module
imports nothing, so ``facegate.client`` can check a notice without loading the
service's store, audit log or HTTP client.
"""

from __future__ import annotations

TIMESTAMP_HEADER = "X-FaceGate-Timestamp"
NONCE_HEADER = "X-FaceGate-Nonce"
SIGNATURE_HEADER = "X-FaceGate-Signature"
"""Base64 Ed25519 signature: over a request (app to service) or a notice (service to app)."""
KEY_ID_HEADER = "X-FaceGate-Key-Id"
NOTICE_ID_HEADER = "X-FaceGate-Notice-Id"
NOTICE_TYPE = "facegate.deletion_notice"
