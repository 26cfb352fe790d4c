"""Fifty concurrent stream clients on loopback: every session runs to its end, none dropped."""

from __future__ import annotations

import asyncio

from facegate.client import stream
from sharing_service import LiveService, add_app, approved_token, live_fixture  # noqa: F401

CLIENTS = 50
FRAMES = 20  # each client stops by itself after this many frames (under a second at 30 fps)


def test_fifty_clients_each_get_every_session_to_its_end(live: LiveService) -> None:
    app, _ = add_app(live.sharing)
    tokens = [approved_token(live.sharing, app.id, ["expressions"]).token for _ in range(CLIENTS)]

    async def client(token: str) -> list[float]:
        return [f.t async for f in stream(live.stream_url, token, max_frames=FRAMES)]

    async def everyone() -> list[list[float]]:
        return await asyncio.wait_for(asyncio.gather(*(client(t) for t in tokens)), 60)

    sessions = asyncio.run(everyone())
    assert [len(times) for times in sessions] == [FRAMES] * CLIENTS
    for times in sessions:
        assert times == sorted(times), "frames arrive in order"
    ended = [e for e in live.sharing.audit_entries() if e.event == "stream_ended"]
    started = [e for e in live.sharing.audit_entries() if e.event == "stream_started"]
    for _ in range(100):
        if len(ended) == CLIENTS:
            break
        asyncio.run(asyncio.sleep(0.05))
        ended = [e for e in live.sharing.audit_entries() if e.event == "stream_ended"]
    assert len(started) == len(ended) == CLIENTS
    assert all((e.frames or 0) >= FRAMES for e in ended)
    assert live.sharing.verify_audit().ok
