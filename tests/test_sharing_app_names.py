"""Look-alike app names never reach a consent prompt (issue 15 gap 6)."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.sharing.errors import InvalidApp
from facegate.sharing.service import Sharing, Via
from facegate.sharing.signed_requests import sign_request
from facegate.sharing.terms import CURRENT_VERSION
from sharing_service import (
    LiveService,
    live_fixture,  # noqa: F401
    registration,
    sharing_fixture,  # noqa: F401
)

HOOK = "https://hooks.example.org/facegate"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("FaceGate S\u0443stem (official)", "scripts"),  # the issue's Cyrillic u
        ("P\u0430yPal Mirror", "scripts"),  # Cyrillic a in a Latin name
        ("\u0424\u0430\u0441\u0435Gate", "scripts"),
        ("FaceGate System", "platform"),
        ("Face Gate Helper", "platform"),
        ("face-gate", "platform"),
        ("MyFaceGate", "platform"),
        ("F4ceG4te Login", "platform"),
        ("\uff26\uff41\uff43\uff45\uff27\uff41\uff54\uff45", "platform"),  # full-width
        ("F\u0430\u0441\u0435G\u0430t\u0435", "scripts"),
        ("Fac\u0435 G\u0430te", "scripts"),
    ],
)
def test_look_alike_names_are_refused(sharing: Sharing, name: str, problem: str) -> None:
    reg = replace(registration(Ed25519PrivateKey.generate(), HOOK), name=name)
    with pytest.raises(InvalidApp, match=problem):
        sharing.register_app(reg, Via.CLI)
    assert sharing.apps() == []


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Mirror Game", "Mirror Game"),
        ("Surface Gateway", "Surface Gateway"),
        (
            "\u30df\u30e9\u30fc\u30b2\u30fc\u30e0 \u9854",
            "\u30df\u30e9\u30fc\u30b2\u30fc\u30e0 \u9854",
        ),
        (
            "\u0417\u0435\u0440\u043a\u0430\u043b\u043e 2",
            "\u0417\u0435\u0440\u043a\u0430\u043b\u043e 2",
        ),
        ("\uff2d\uff49\uff52\uff52\uff4f\uff52", "Mirror"),  # full-width folds to ASCII
        ("Caf\u0065\u0301 Avatars", "Caf\u00e9 Avatars"),
    ],
)
def test_honest_names_are_kept_normalised(sharing: Sharing, name: str, stored: str) -> None:
    reg = replace(registration(Ed25519PrivateKey.generate(), HOOK), name=name)
    assert sharing.register_app(reg, Via.CLI).name == stored


def test_developer_may_not_pose_as_the_platform(sharing: Sharing) -> None:
    reg = replace(registration(Ed25519PrivateKey.generate(), HOOK), developer="FaceGate Team")
    with pytest.raises(InvalidApp, match="developer"):
        sharing.register_app(reg, Via.CLI)


def test_the_api_refuses_the_issue_name_and_no_prompt_shows_it(live: LiveService) -> None:
    key = Ed25519PrivateKey.generate()
    reg = replace(registration(key, HOOK, local=False), name="FaceGate S\u0443stem (official)")
    fields = {k: v for k, v in reg.__dict__.items() if k != "allow_local_webhook"}
    body = httpx.Request("POST", "http://x", json=fields).content
    path = "/api/v1/apps"
    response = httpx.post(
        live.base_url.rstrip("/") + path,
        content=body,
        headers={
            "Content-Type": "application/json",
            **sign_request(key, "POST", path, body, time.time()),
        },
    )
    assert response.status_code == 422, response.text
    assert "scripts" in response.json()["message"]
    assert live.sharing.apps() == []


@pytest.mark.parametrize(
    "name", ["VMC avatar bridge", "vmc Avatar-Bridge", "VMC av\u0430tar bridge"]
)
def test_only_the_command_line_registers_the_local_bridges_name(
    sharing: Sharing, name: str
) -> None:
    """An outside review registered "VMC avatar bridge" over HTTP: its consent page read
    exactly like FaceGate's own `facegate osc` bridge."""
    reg = replace(registration(Ed25519PrivateKey.generate(), HOOK), name=name)
    with pytest.raises(InvalidApp):
        sharing.register_app(reg, Via.WEB)
    assert sharing.apps() == []


def test_a_namesake_is_pointed_out_to_the_consent_page(live: LiveService) -> None:
    """Same name, developer and purpose as an app the person banned: the prompt's data
    names the namesake and that it was banned, so the page can say so and show each
    app's id (outside review F2; the page's wording: test_server_browser)."""
    original = live.sharing.register_app(
        registration(Ed25519PrivateKey.generate(), HOOK, "Mirror"), Via.CLI
    )
    live.sharing.ban_app(original.id, "sold data")
    impostor = live.sharing.register_app(
        registration(Ed25519PrivateKey.generate(), HOOK, "\uff2d\uff49\uff52\uff52\uff4f\uff52"),
        Via.WEB,
    )
    live.sharing.accept_terms(impostor.id, CURRENT_VERSION)
    asked = live.sharing.request_consent(impostor.id, ["expressions"], 3600)
    browser = httpx.Client(base_url=live.base_url)
    session = browser.post("/api/user/session", json={"code": live.user_token})
    browser.headers["X-FaceGate-CSRF"] = session.json()["csrf"]
    prompt = browser.get(f"/api/user/consent-requests/{asked.id}/prompt").json()
    assert prompt["app"]["id"] == impostor.id and prompt["app"]["name"] == "Mirror"
    assert prompt["namesakes"] == [{"id": original.id, "banned": True}]
    lone = live.sharing.register_app(
        registration(Ed25519PrivateKey.generate(), HOOK, "Lantern"), Via.WEB
    )
    live.sharing.accept_terms(lone.id, CURRENT_VERSION)
    alone = live.sharing.request_consent(lone.id, ["expressions"], 3600)
    assert browser.get(f"/api/user/consent-requests/{alone.id}/prompt").json()["namesakes"] == []
