"""Real sharing components for tests: a SQLite store in tmp_path, apps with real Ed25519
keys, real tracker records, and the real service on a random loopback port.

Fixtures are declared with ``name=`` so test modules can import them (``# noqa: F401``)
without shadowing; ``tracked_records`` is cached so the tracker runs once per session.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.bench.stream import sample_records
from facegate.config import load_settings
from facegate.server.app import create_app
from facegate.server.feeds import ReplayFeed
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.apps import App, AppRegistration
from facegate.sharing.keys import load_platform_key, public_key_b64
from facegate.sharing.service import IssuedToken, Sharing, Via
from facegate.sharing.store import SharingStore
from facegate.sharing.terms import CURRENT_VERSION

ALL_SCOPES = ("expressions", "head_pose", "face_map")


class MovableClock:
    """A clock tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@functools.cache
def tracked_records() -> list[Mapping[str, Any]]:
    """The real tracker's records over the sample astronaut clip (60 frames), once."""
    with tempfile.TemporaryDirectory() as home:
        records = sample_records(load_settings(Path(home)))
    assert sum(bool(r["face_found"]) for r in records) > len(records) // 2, "tracker lost the face"
    return records


def open_sharing(home: Path, clock: MovableClock | None = None) -> Sharing:
    store = SharingStore.in_home(home)
    key = load_platform_key(home)
    return Sharing(store, key, clock) if clock is not None else Sharing(store, key)


def registration(
    key: Ed25519PrivateKey, webhook_url: str, name: str = "Mirror Game", *, local: bool = True
) -> AppRegistration:
    """A registration; ``local`` is the person's consent to a webhook on this machine
    (the tests' receivers listen on 127.0.0.1)."""
    return AppRegistration(
        name=name,
        developer="Example Studio",
        contact="privacy@example.org",
        purpose="Animate the player's character with their expressions",
        retention_days=7,
        webhook_url=webhook_url,
        public_key=public_key_b64(key),
        allow_local_webhook=local,
    )


def add_app(
    sharing: Sharing, webhook_url: str = "http://127.0.0.1:9/hook", name: str = "Mirror Game"
) -> tuple[App, Ed25519PrivateKey]:
    """A registered app that accepted the terms, with its private key."""
    key = Ed25519PrivateKey.generate()
    app = sharing.register_app(registration(key, webhook_url, name), Via.CLI)
    sharing.accept_terms(app.id, CURRENT_VERSION)
    return app, key


def approved_token(
    sharing: Sharing, app_id: str, scopes: Sequence[str] = ALL_SCOPES, seconds: int = 3600
) -> IssuedToken:
    """Ask, approve and claim: the whole consent flow, through the real rules."""
    request = sharing.request_consent(app_id, list(scopes), seconds)
    sharing.approve(request.id, Via.CLI)
    return sharing.claim_token(app_id, request.id)


@dataclass
class LiveService:
    """The real service on 127.0.0.1 over a real sharing database."""

    home: Path
    sharing: Sharing
    server: BackgroundServer
    user_token: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/api/v1/stream"

    @property
    def user_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user_token}"}


@pytest.fixture(name="sharing")
def sharing_fixture(tmp_path: Path) -> Iterator[Sharing]:
    with open_sharing(tmp_path / "home") as sharing:
        yield sharing


@pytest.fixture(name="live")
def live_fixture(tmp_path: Path) -> Iterator[LiveService]:
    home = tmp_path / "home"
    records = tracked_records()
    with open_sharing(home) as sharing:
        token = new_user_token()
        app = create_app(sharing, ReplayFeed(records, fps=30.0), token)
        with BackgroundServer(app) as server:
            yield LiveService(home, sharing, server, token)
