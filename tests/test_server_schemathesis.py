"""Property-based requests against the live OpenAPI spec: no input may cause a 5xx.

Schemathesis generates valid and invalid requests for every operation in
``/openapi.json``. To reach past authentication, each request carries the person's
bearer token (``/api/user``) or is signed with a registered app's key
(``/api/v1/apps``), and path ids are replaced by fresh real ones (a pending consent
request, an active grant, an app), so the rules themselves see the generated bodies.
Bounded: ``MAX_EXAMPLES`` per operation, one fresh service per operation.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from facegate.sharing.signed_requests import sign_request
from sharing_service import LiveService, add_app, approved_token, live_fixture  # noqa: F401

MAX_EXAMPLES = 15


def _real_ids(live: LiveService, case: schemathesis.Case) -> Ed25519PrivateKey:
    """Point path ids at fresh real objects; returns the app key to sign with."""
    app, key = add_app(live.sharing)
    params = case.path_parameters or {}
    if "request_id" in params:
        params["request_id"] = live.sharing.request_consent(app.id, ["expressions"]).id
    if "grant_id" in params:
        params["grant_id"] = approved_token(live.sharing, app.id).grant.id
    if "app_id" in params:
        params["app_id"] = app.id
    return key


def _send(live: LiveService, case: schemathesis.Case) -> requests.Response:
    """Send a generated request, authenticated the way its endpoint requires."""
    key = _real_ids(live, case)
    kwargs = case.as_transport_kwargs(base_url=live.base_url.rstrip("/"))
    prepared = requests.Session().prepare_request(
        requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            cookies=kwargs.get("cookies"),
        )
    )
    path = urlsplit(str(prepared.url)).path
    raw = prepared.body or b""
    body = raw.encode() if isinstance(raw, str) else bytes(raw)  # type: ignore[arg-type]
    if path.startswith("/api/user/"):
        prepared.headers.update(live.user_headers)
    elif path.startswith("/api/v1/apps"):
        method = prepared.method or "GET"
        prepared.headers.update(sign_request(key, method, path, body, time.time()))
    with requests.Session() as session:
        session.trust_env = False
        return session.send(prepared, timeout=10)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_generated_request_causes_a_server_error(live: LiveService) -> None:
    api = schemathesis.openapi.from_url(live.base_url + "openapi.json")
    checked = 0
    for result in api.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.validate_response(_send(live, case), checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid form to send.
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            checked += 1
    assert checked >= 18 + 12


def test_the_spec_covers_every_operation(live: LiveService) -> None:
    spec = requests.get(live.base_url + "openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in spec["paths"].values())
    assert operations >= 18
