"""Call budgets on the real service: an app over its budget, a registration flood and a
flood of bad signatures or tokens get 429 (4429 on the stream) with Retry-After, and
none of them stops an app that signs correctly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.client import AppClient, StreamClosed, stream
from facegate.client.app import AppError
from facegate.server.app import create_app
from facegate.server.feeds import ReplayFeed
from facegate.server.rate_limits import Budgets
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.service import Via
from facegate.sharing.signed_requests import sign_request
from sharing_service import LiveService, add_app, open_sharing, tracked_records

BUDGETS = Budgets(app_calls="3/minute", registrations="2/minute", failed_auth="3/minute")


@contextmanager
def _serve(home: Path, budgets: Budgets) -> Iterator[LiveService]:
    with open_sharing(home) as sharing:
        token = new_user_token()
        app = create_app(sharing, ReplayFeed(tracked_records(), fps=30.0), token, budgets=budgets)
        with BackgroundServer(app) as server:
            yield LiveService(home, sharing, server, token)


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[LiveService]:
    """The real service with budgets small enough to spend in a test."""
    with _serve(tmp_path / "home", BUDGETS) as live:
        yield live


def _get_own(live: LiveService, app_id: str, key: Ed25519PrivateKey) -> httpx.Response:
    path = f"/api/v1/apps/{app_id}"
    headers = sign_request(key, "GET", path, b"", time.time())
    return httpx.get(live.base_url.rstrip("/") + path, headers=headers)


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_an_app_over_its_budget_gets_429_and_another_app_does_not(tight: LiveService) -> None:
    busy, busy_key = add_app(tight.sharing)
    quiet, quiet_key = add_app(tight.sharing, name="Quiet Game")
    assert [_get_own(tight, busy.id, busy_key).status_code for _ in range(3)] == [200] * 3
    _assert_limited(_get_own(tight, busy.id, busy_key))
    assert _get_own(tight, quiet.id, quiet_key).status_code == 200


def test_registrations_past_the_budget_are_refused_and_store_nothing(tight: LiveService) -> None:
    def register(name: str) -> AppClient:
        return AppClient.register(
            tight.base_url,
            Ed25519PrivateKey.generate(),
            name=name,
            developer="Example Studio",
            contact="privacy@example.org",
            purpose="Animate a character",
            retention_days=7,
            webhook_url="https://hooks.example.org/facegate",
        )

    for name in ("First Game", "Second Game"):
        register(name).close()
    with pytest.raises(AppError) as refused:
        register("Third Game")
    assert (refused.value.status, refused.value.error) == (429, "rate_limited")
    assert sorted(a.name for a in tight.sharing.apps()) == ["First Game", "Second Game"]


def test_bad_signatures_are_limited_but_a_signing_app_still_gets_through(
    tight: LiveService,
) -> None:
    app, key = add_app(tight.sharing)
    forger = Ed25519PrivateKey.generate()
    assert _get_own(tight, app.id, forger).status_code == 401
    assert _get_own(tight, "app_unknown", forger).status_code == 404  # guessing ids counts
    assert _get_own(tight, app.id, forger).status_code == 401
    _assert_limited(_get_own(tight, app.id, forger))
    assert _get_own(tight, app.id, key).status_code == 200


def test_a_flood_of_bad_stream_tokens_is_closed_with_4429(tight: LiveService) -> None:
    async def close_code(token: str) -> int | None:
        with pytest.raises(StreamClosed) as closed:
            async for _ in stream(tight.stream_url, token):
                pass
        return closed.value.code

    codes = [asyncio.run(close_code("fgt_" + "z" * 43)) for _ in range(4)]
    assert codes == [4401, 4401, 4401, 4429]


def test_the_client_waiting_for_consent_slows_down_when_told(tmp_path: Path) -> None:
    # Two calls a second, polled every 50 ms: the client must honour Retry-After
    # (an AppError 429 would end the wait) until the person approves.
    with _serve(tmp_path / "home", Budgets(app_calls="2/second")) as live:
        app, key = add_app(live.sharing)
        client = AppClient(live.base_url, app.id, key)
        asked = client.request_consent(["expressions"], 600)
        approve = threading.Timer(2.5, live.sharing.approve, (asked.id, Via.CLI))
        approve.start()
        try:
            token = client.wait_for_token(asked.id, timeout=30, poll=0.05)
        finally:
            approve.join()
            client.close()
        assert token.scopes == ("expressions",)
        with AppClient(live.base_url, app.id, key) as again, pytest.raises(AppError) as limited:
            for _ in range(3):
                again.info()
        assert limited.value.retry_after == 1


def test_the_client_polls_within_half_the_default_budget() -> None:
    import inspect

    from limits import parse

    poll = inspect.signature(AppClient.wait_for_token).parameters["poll"].default
    budget = parse(Budgets().app_calls)
    assert budget.amount / budget.get_expiry() >= 2 / poll  # calls a second: twice the polls
