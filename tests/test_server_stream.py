"""The expression stream on a real uvicorn server: deny by default, scoped frames, and a
revocation or ban that closes the stream within one second."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from facegate.client import StreamClosed, stream
from facegate.server.app import create_app
from facegate.server.feeds import ReplayFeed
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.frames import frame_keys
from facegate.sharing.scopes import Scope, parse_scopes
from facegate.sharing.service import Via
from facegate.vision.blendshapes import NAMES
from sharing_service import (
    LiveService,
    MovableClock,
    add_app,
    approved_token,
    live_fixture,  # noqa: F401
    open_sharing,
    tracked_records,
)
from webhook_receiver import WebhookReceiver

HEAD_POSE_KEYS = {"yaw", "pitch", "roll", "tx", "ty", "tz"}
READY_KEYS = {"type", "grant_id", "scopes", "fields", "expires_at"}


async def _open(url: str, token: object) -> ClientConnection:
    ws = await connect(url, proxy=None)
    await ws.send(json.dumps({"token": token}))
    return ws


async def _messages(url: str, token: object, count: int) -> tuple[list[dict[str, Any]], Any]:
    """Up to ``count`` messages, then the close frame the server sent (if it closed)."""
    ws = await _open(url, token)
    got: list[dict[str, Any]] = []
    try:
        while len(got) < count:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    except ConnectionClosed:
        pass
    finally:
        await ws.close()
    return got, ws.protocol.close_rcvd


def test_no_grant_no_frames(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    unknown = "fgt_" + "x" * 43
    pending = live.sharing.request_consent(app.id, ["expressions"])
    revoked = approved_token(live.sharing, app.id)
    live.sharing.revoke(revoked.grant.id, Via.WEB)
    cases = {unknown: 4401, "not a token": 4401, 123: 4400, revoked.token: 4403}
    for token, code in cases.items():
        messages, closed = asyncio.run(_messages(live.stream_url, token, 3))
        assert messages == [], token
        assert closed is not None and closed.code == code, (token, closed)
    assert closed.reason.startswith("grant") and "revoked" in closed.reason
    with pytest.raises(httpx.HTTPStatusError):
        httpx.get(live.base_url + "api/v1/stream").raise_for_status()
    assert live.sharing.consent_request(pending.id).grant_id is None


@pytest.mark.parametrize(
    "scopes",
    [["expressions"], ["head_pose"], ["face_map"], ["expressions", "head_pose", "face_map"]],
)
def test_frames_hold_exactly_the_granted_fields(live: LiveService, scopes: list[str]) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, scopes)
    messages, _ = asyncio.run(_messages(live.stream_url, issued.token, 16))
    ready, frames = messages[0], messages[1:]
    assert set(ready) == READY_KEYS and ready["type"] == "ready"
    assert ready["scopes"] == scopes
    granted = parse_scopes(scopes)
    expected = frame_keys(granted)
    assert set(ready["fields"]) == expected
    assert len(frames) == 15
    for frame in frames:
        assert set(frame) == expected, "a frame may hold only what was granted"
        assert frame["type"] == "frame" and isinstance(frame["t"], float)
        if not frame["face_found"]:
            continue
        if Scope.EXPRESSIONS in granted:
            assert list(frame["blendshapes"]) == list(NAMES)
            assert frame["blendshapes"]["tongueOut"] is None
            assert all(0 <= v <= 1 for v in frame["blendshapes"].values() if v is not None)
            assert set(frame["gaze"]) == {"horizontal", "vertical"}
        if Scope.HEAD_POSE in granted:
            assert set(frame["head_pose"]) == HEAD_POSE_KEYS
        if Scope.FACE_MAP in granted:
            assert 0 < len(frame["face_map"]) <= 300
            assert all(len(point) == 3 for point in frame["face_map"])
    text = json.dumps(messages).lower()
    for word in ("source", "embedding", "template", "landmark", "image", "astronaut.avi"):
        assert word not in text


async def _revoke_and_time(live: LiveService, revoke: Any) -> tuple[float, Any, int]:
    """Stream until frames flow, revoke, and time how long the stream takes to close."""
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id)
    ws = await _open(live.stream_url, issued.token)
    for _ in range(4):
        await asyncio.wait_for(ws.recv(), 5)
    await asyncio.to_thread(revoke, issued.grant.id)
    revoked_at = time.monotonic()
    after = 0
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
            after += 1
    except ConnectionClosed:
        closed_in = time.monotonic() - revoked_at
    return closed_in, ws.protocol.close_rcvd, after


def test_revoking_in_the_service_closes_the_stream_within_a_second(live: LiveService) -> None:
    def revoke(grant_id: str) -> None:
        response = httpx.post(
            f"{live.base_url}api/user/grants/{grant_id}/revoke", headers=live.user_headers
        )
        assert response.status_code == 200, response.text

    closed_in, closed, _ = asyncio.run(_revoke_and_time(live, revoke))
    assert closed_in < 1.0
    assert closed.code == 4403


def test_revoking_from_another_process_closes_the_stream_within_a_second(
    live: LiveService,
) -> None:
    """A second connection to the same file, as `facegate grants revoke` would open."""

    def revoke(grant_id: str) -> None:
        with open_sharing(live.home) as other:
            other.revoke(grant_id, Via.CLI)

    closed_in, closed, _ = asyncio.run(_revoke_and_time(live, revoke))
    assert closed_in < 1.0
    assert closed.code == 4403


def test_a_ban_closes_every_stream_of_the_app_and_notifies_it(live: LiveService) -> None:
    with WebhookReceiver() as hook:
        banned, _ = add_app(live.sharing, hook.url)
        other, _ = add_app(live.sharing, name="Other")
        tokens = [approved_token(live.sharing, banned.id).token for _ in range(2)]
        kept = approved_token(live.sharing, other.id).token

        async def scenario() -> tuple[float, list[Any], int]:
            sockets = [await _open(live.stream_url, t) for t in [*tokens, kept]]
            for ws in sockets:
                await asyncio.wait_for(ws.recv(), 5)
            response = await asyncio.to_thread(
                httpx.post,
                f"{live.base_url}api/user/apps/{banned.id}/ban",
                json={"reason": "advertising"},
                headers=live.user_headers,
            )
            assert response.status_code == 200 and response.json()["banned"]
            start = time.monotonic()
            codes = []
            for ws in sockets[:2]:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                codes.append(ws.protocol.close_rcvd.code)  # type: ignore[union-attr]
            elapsed = time.monotonic() - start
            still = 0
            for _ in range(5):
                json.loads(await asyncio.wait_for(sockets[2].recv(), 5))
                still += 1
            await sockets[2].close()
            return elapsed, codes, still

        elapsed, codes, still = asyncio.run(scenario())
        assert elapsed < 1.0 and codes == [4403, 4403]
        assert still == 5, "another app's stream is untouched"
        for token in tokens:
            messages, closed = asyncio.run(_messages(live.stream_url, token, 2))
            assert messages == [] and closed.code == 4403
        body = json.loads(hook.wait_for(1)[0].body)
        assert body["reason"] == "app_banned" and body["app_id"] == banned.id


def test_stream_sessions_are_audited_with_their_frame_counts(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])

    async def take(n: int) -> int:
        return len([f async for f in stream(live.stream_url, issued.token, max_frames=n)])

    assert asyncio.run(take(10)) == 10
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ended = [e for e in live.sharing.audit_entries() if e.event == "stream_ended"]
        if ended:
            break
        time.sleep(0.05)
    (entry,) = ended
    started = next(e for e in live.sharing.audit_entries() if e.event == "stream_started")
    assert entry.grant_id == started.grant_id == issued.grant.id
    assert entry.scopes == ("expressions",)
    assert entry.frames is not None and entry.frames >= 10
    assert entry.started_at == started.started_at and entry.ended_at is not None
    assert "destination" not in entry.detail and "destination" not in started.detail
    assert live.sharing.verify_audit().ok


def test_a_declared_destination_must_be_one_printable_line(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])
    before = len(live.sharing.audit_entries())

    async def refused(destination: object) -> Any:
        ws = await connect(live.stream_url, proxy=None)
        await ws.send(json.dumps({"token": issued.token, "destination": destination}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.protocol.close_rcvd

    for destination in ("", "osc.udp://x:1\nforged entry", "\u202eevil", "x" * 201, 7, ["a"]):
        closed = asyncio.run(refused(destination))
        assert closed is not None and closed.code == 4400, destination
        assert "destination" in closed.reason
    assert len(live.sharing.audit_entries()) == before, "nothing was streamed or audited"


def test_the_client_raises_stream_closed_on_refusal(live: LiveService) -> None:
    async def consume() -> None:
        async for _ in stream(live.stream_url, "fgt_" + "y" * 43):
            pass

    with pytest.raises(StreamClosed) as info:
        asyncio.run(consume())
    assert info.value.code == 4401


def test_an_expiring_grant_closes_its_stream_within_a_second(tmp_path: Path) -> None:
    clock = MovableClock()
    with open_sharing(tmp_path, clock) as sharing:
        app = create_app(sharing, ReplayFeed(tracked_records()), new_user_token())
        with BackgroundServer(app) as server:
            registered, _ = add_app(sharing)
            issued = approved_token(sharing, registered.id, seconds=60)
            url = f"ws://127.0.0.1:{server.port}/api/v1/stream"

            async def scenario() -> tuple[float, Any]:
                ws = await _open(url, issued.token)
                for _ in range(3):
                    await asyncio.wait_for(ws.recv(), 5)
                clock.advance(61)
                start = time.monotonic()
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                return time.monotonic() - start, ws.protocol.close_rcvd

            elapsed, closed = asyncio.run(scenario())
    assert elapsed < 1.0 and closed.code == 4403


class _LeaksOnce(ReplayFeed):
    """Two good records and one carrying the raw mesh on the first session; good records
    on every later one, so the recovery is seen however late the close arrives."""

    def __init__(self, good: dict[str, Any], leak: dict[str, Any]) -> None:
        super().__init__([good])
        self.leak = leak
        self.leaked = False

    def frames(self, stop: threading.Event) -> Generator[dict[str, Any], None, None]:
        if not self.leaked:
            self.leaked = True
            yield from (self.records[0], self.records[0], self.leak)
            return
        yield from super().frames(stop)


def test_a_record_that_would_leak_the_raw_mesh_ends_the_stream_not_the_service(
    tmp_path: Path,
) -> None:
    good = dict(tracked_records()[0])
    raw_mesh = {**good, "face_map": [[0.0, 0.0, 0.0]] * 478}
    with open_sharing(tmp_path) as sharing:
        app = create_app(sharing, _LeaksOnce(good, raw_mesh), new_user_token())
        with BackgroundServer(app) as server:
            registered, _ = add_app(sharing)
            url = f"ws://127.0.0.1:{server.port}/api/v1/stream"
            first = approved_token(sharing, registered.id, ["face_map"])
            messages, closed = asyncio.run(_messages(url, first.token, 10))
            # The close may overtake frames still queued for the socket, never follow more.
            assert [m["type"] for m in messages] in (
                ["ready", "frame", "frame"],
                ["ready", "frame"],
                ["ready"],
            )
            assert closed.code == 1011 and "source failed" in closed.reason
            assert httpx.get(f"{server.base_url}api/v1/terms").status_code == 200
            second = approved_token(sharing, registered.id, ["face_map"])
            again, _ = asyncio.run(_messages(url, second.token, 2))
            assert [m["type"] for m in again] == ["ready", "frame"], "the service recovers"


def test_a_web_page_of_another_origin_cannot_hold_stream_sockets(live: LiveService) -> None:
    """Outside review F3: a page looping on stream sockets (each waiting 5 s for a token)
    filled 127.0.0.1's connection cap and kept the person from their grants page. A
    foreign Origin's handshake is now refused at once; the pages keep loading."""

    async def flood() -> list[str]:
        refused = []
        for _ in range(80):
            try:
                ws = await connect(
                    live.stream_url,
                    proxy=None,
                    origin="http://evil.example",
                )
            except InvalidStatus as err:
                refused.append(str(err.response.status_code))
            else:
                await ws.close()
                refused.append("accepted")
        return refused

    outcomes = asyncio.run(flood())
    assert set(outcomes) == {"403"}
    assert httpx.get(live.base_url + "grants").status_code in (200, 401)  # served, not reset
    got, _ = asyncio.run(_messages(live.stream_url, "fgt_" + "q" * 43, 1))  # apps: no Origin
    assert got == []  # an app's handshake is still accepted (then its bad token refused)
