"""An app's side of the API: signed requests to register, accept terms, ask for consent.

Every request is signed with the app's Ed25519 private key
(``facegate.sharing.signed_requests``); the key never leaves this process.
Errors from the service arrive as ``AppError`` with its JSON ``error`` code and
message.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.closing import Closing
from facegate.sharing.keys import public_key_b64
from facegate.sharing.signed_requests import sign_request

if TYPE_CHECKING:
    import httpx

TIMEOUT_SECONDS = 10.0


class AppError(Exception):
    """The service answered with an error; ``error`` is its stable code.

    ``retry_after`` is set on a 429 (``rate_limited``): seconds until a call may succeed.
    """

    def __init__(
        self, status: int, error: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class ConsentInfo:
    id: str
    status: str
    scopes: tuple[str, ...]
    consent_url: str


@dataclass(frozen=True)
class TokenInfo:
    """A grant token, returned once; ``stream_url`` is where to use it."""

    token: str
    grant_id: str
    scopes: tuple[str, ...]
    expires_at: str
    stream_url: str

    def __repr__(self) -> str:
        return f"TokenInfo(grant_id={self.grant_id!r}, scopes={self.scopes}, token=<hidden>)"


class AppClient(Closing):
    """A registered app talking to one FaceGate service."""

    def __init__(self, base_url: str, app_id: str, key: Ed25519PrivateKey) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._key = key
        import httpx  # about 90 ms of imports: paid when an app makes a client, not on import

        self._http: httpx.Client = httpx.Client(
            base_url=self.base_url, timeout=TIMEOUT_SECONDS, trust_env=False
        )

    @classmethod
    def register(
        cls,
        base_url: str,
        key: Ed25519PrivateKey,
        *,
        name: str,
        developer: str,
        contact: str,
        purpose: str,
        retention_days: int,
        webhook_url: str,
    ) -> AppClient:
        """Register a new app with ``key``'s public half and return its client."""
        client = cls(base_url, "", key)
        body = {
            "name": name,
            "developer": developer,
            "contact": contact,
            "purpose": purpose,
            "retention_days": retention_days,
            "webhook_url": webhook_url,
            "public_key": public_key_b64(key),
        }
        try:
            client.app_id = client._call("POST", "/api/v1/apps", body)["id"]
        except BaseException:
            client.close()
            raise
        return client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        content = b"" if body is None else json.dumps(body).encode()
        headers = sign_request(self._key, method, path, content, time.time())
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self._http.request(method, path, content=content, headers=headers)
        data = response.json() if response.content else None
        if not response.is_success:
            error = data if isinstance(data, dict) else {}
            retry = response.headers.get("Retry-After", "")
            raise AppError(
                response.status_code,
                str(error.get("error", "http_error")),
                str(error.get("message", response.reason_phrase)),
                float(retry) if retry.isdigit() else None,
            )
        return data

    def platform_key(self) -> str:
        """The service's public key (base64) that signs deletion notices: keep it to
        check notices with ``facegate.client.verify_notice``."""
        return str(self._http.get("/api/v1/platform-key").json()["public_key"])

    def info(self) -> dict[str, Any]:
        """The app's registration as the service holds it."""
        result: dict[str, Any] = self._call("GET", f"/api/v1/apps/{self.app_id}")
        return result

    def accept_terms(self, version: str | None = None) -> None:
        """Accept the terms in force (read them first: ``GET /api/v1/terms``)."""
        if version is None:
            version = str(self._http.get("/api/v1/terms").json()["version"])
        self._call("POST", f"/api/v1/apps/{self.app_id}/terms", {"version": version})

    def request_consent(self, scopes: list[str], grant_seconds: int = 3600) -> ConsentInfo:
        data = self._call(
            "POST",
            f"/api/v1/apps/{self.app_id}/consent-requests",
            {"scopes": scopes, "grant_seconds": grant_seconds},
        )
        return _consent(data)

    def consent_status(self, request_id: str) -> ConsentInfo:
        data = self._call("GET", f"/api/v1/apps/{self.app_id}/consent-requests/{request_id}")
        return _consent(data)

    def claim_token(self, request_id: str) -> TokenInfo:
        """The grant's token; only once, and only after the person approved."""
        data = self._call("POST", f"/api/v1/apps/{self.app_id}/consent-requests/{request_id}/token")
        return TokenInfo(
            token=data["token"],
            grant_id=data["grant_id"],
            scopes=tuple(data["scopes"]),
            expires_at=data["expires_at"],
            stream_url=data["stream_url"],
        )

    def wait_for_token(
        self, request_id: str, timeout: float = 300.0, poll: float = 1.0
    ) -> TokenInfo:
        """Poll until the person decides; AppError if they refuse or the request lapses.

        Polling once a second spends half the app's call budget; told to slow down
        (429), it waits as long as the service asks.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.consent_status(request_id).status
            except AppError as err:
                if err.retry_after is None:
                    raise
                status, wait = "pending", err.retry_after
            else:
                wait = poll
            if status != "pending":
                return self.claim_token(request_id)
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"nobody decided consent request {request_id} in time")
            time.sleep(wait)

    def close(self) -> None:
        self._http.close()


def _consent(data: dict[str, Any]) -> ConsentInfo:
    return ConsentInfo(
        id=data["id"],
        status=data["status"],
        scopes=tuple(data["scopes"]),
        consent_url=data["consent_url"],
    )
