"""Webhooks cannot point inside this machine or its network (issue 15 gap 4).

The attack: an app registers ``http://127.0.0.1:<port>/internal/admin/...`` (or the
cloud metadata address) and then gets itself banned, so the service POSTs a notice
there on its behalf. Registration refuses such targets, and so does every send,
after resolving the name again; only the person can allow a local app.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from facegate.cli import app as cli_app
from facegate.sharing.errors import InvalidApp
from facegate.sharing.keys import load_platform_key, public_key_b64
from facegate.sharing.service import Sharing, Via
from facegate.sharing.signed_requests import sign_request
from facegate.sharing.store import SharingStore
from facegate.sharing.terms import CURRENT_VERSION
from sharing_service import LiveService, live_fixture, registration  # noqa: F401
from webhook_receiver import WebhookReceiver

INSIDE = [
    "http://127.0.0.1:{port}/internal/admin/delete-everything?confirm=1",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.251/hook",
    "http://0.0.0.0:{port}/hook",
    "http://printer.local/hook",
]


def _register_via_api(live: LiveService, webhook: str) -> httpx.Response:
    key = Ed25519PrivateKey.generate()
    fields = {
        k: v
        for k, v in registration(key, webhook, local=False).__dict__.items()
        if k != "allow_local_webhook"
    }
    body = httpx.Request("POST", "http://x", json=fields).content
    headers = {
        "Content-Type": "application/json",
        **sign_request(key, "POST", "/api/v1/apps", body, time.time()),
    }
    return httpx.post(live.base_url + "api/v1/apps", content=body, headers=headers)


@pytest.mark.parametrize("target", INSIDE)
def test_an_app_cannot_register_a_webhook_inside(live: LiveService, target: str) -> None:
    response = _register_via_api(live, target.format(port=live.server.port))
    assert response.status_code == 422, response.text
    assert "webhook_url" in response.json()["message"]
    assert live.sharing.apps() == []


def test_an_app_cannot_allow_itself_a_local_webhook(live: LiveService) -> None:
    key = Ed25519PrivateKey.generate()
    reg = registration(key, f"http://127.0.0.1:{live.server.port}/internal", local=True)
    body = httpx.Request("POST", "http://x", json=reg.__dict__).content
    headers = {
        "Content-Type": "application/json",
        **sign_request(key, "POST", "/api/v1/apps", body, time.time()),
    }
    response = httpx.post(live.base_url + "api/v1/apps", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert live.sharing.apps() == []


def test_a_public_webhook_is_accepted(live: LiveService) -> None:
    assert _register_via_api(live, "https://hooks.example.org/facegate").status_code == 201


class Rebinding:
    """A name whose answer changes after registration, as a rebinding attacker's DNS does."""

    def __init__(self, public: str) -> None:
        self.answers: dict[str, list[str]] = {"hooks.attacker.example": [public]}

    def __call__(self, host: str, port: int) -> Sequence[str]:
        if host not in self.answers:
            raise OSError(f"{host} does not resolve")
        return self.answers[host]


def test_a_name_that_later_resolves_inside_gets_no_notice(tmp_path: Path) -> None:
    resolver = Rebinding("93.184.216.34")
    home = tmp_path / "home"
    with WebhookReceiver() as inside:
        sharing = Sharing(SharingStore.in_home(home), load_platform_key(home), resolve=resolver)
        with sharing:
            key = Ed25519PrivateKey.generate()
            url = f"http://hooks.attacker.example:{inside.port}/internal/admin/delete-everything"
            app = sharing.register_app(registration(key, url, local=False), Via.CLI)
            sharing.accept_terms(app.id, CURRENT_VERSION)
            resolver.answers["hooks.attacker.example"] = ["127.0.0.1"]
            sharing.ban_app(app.id, "testing")
            (delivery,) = sharing.deliver_notices()
            assert not delivery.delivered
            assert "127.0.0.1" in (delivery.error or "") and "loopback" in (delivery.error or "")
            time.sleep(0.3)
            assert inside.received == []


def test_a_public_answer_is_the_address_connected_to(tmp_path: Path) -> None:
    """The notice goes to the checked address: here the person's local app, allowed."""
    home = tmp_path / "home"
    with WebhookReceiver() as hook:
        resolver = Rebinding("127.0.0.1")
        sharing = Sharing(SharingStore.in_home(home), load_platform_key(home), resolve=resolver)
        with sharing:
            url = f"http://hooks.attacker.example:{hook.port}/facegate/notices"
            reg = registration(Ed25519PrivateKey.generate(), url, local=True)
            app = sharing.register_app(reg, Via.CLI)
            sharing.accept_terms(app.id, CURRENT_VERSION)
            sharing.ban_app(app.id, "testing")
            (delivery,) = sharing.deliver_notices()
            assert delivery.delivered, delivery.error
            (notice,) = hook.wait_for(1)
            assert notice.headers["host"] == f"hooks.attacker.example:{hook.port}"


def test_only_the_person_can_allow_a_local_webhook(home: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "app.pub"
    pem.write_text(public_key_b64(key))
    args = [
        "apps", "register", "--name", "Desk Avatar", "--developer", "Me",
        "--contact", "me@example.org", "--purpose", "Move my avatar", "--retention-days", "0",
        "--webhook", "http://127.0.0.1:9/hook", "--public-key", str(pem),
    ]  # fmt: skip
    refused = CliRunner().invoke(cli_app, args)
    assert refused.exit_code == 2 and "loopback" in refused.output
    allowed = CliRunner().invoke(cli_app, [*args, "--allow-local-webhook"])
    assert allowed.exit_code == 0, allowed.output


def test_the_registration_value_refuses_inside_targets_too(tmp_path: Path) -> None:
    with Sharing(SharingStore.in_home(tmp_path), load_platform_key(tmp_path)) as sharing:
        reg = registration(Ed25519PrivateKey.generate(), "http://127.0.0.1:9/x", local=False)
        with pytest.raises(InvalidApp, match="loopback"):
            sharing.register_app(reg, Via.CLI)
        assert sharing.register_app(replace(reg, allow_local_webhook=True), Via.CLI).id
