"""What a determined app or a local attacker tries against the running service.

Each test reproduces one attack from issue 15 on a real uvicorn server on 127.0.0.1
and states what must hold instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sharing_service import LiveService, live_fixture  # noqa: F401


async def _first_message_close(url: str, message: str) -> Any:
    """Send ``message`` first; the close frame the service answers with."""
    async with connect(url, proxy=None, max_size=None) as ws:
        await ws.send(message)
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.protocol.close_rcvd


def test_a_deeply_nested_first_message_gets_a_facegate_close_code(live: LiveService) -> None:
    deep = "[" * 2000 + "]" * 2000
    nested_object = '{"token":' + "[" * 1500 + "]" * 1500 + "}"
    for message in (deep, nested_object):
        closed = asyncio.run(_first_message_close(live.stream_url, message))
        assert closed is not None and closed.code == 4400, closed
        assert "token" in closed.reason
