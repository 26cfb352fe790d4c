"""The expression stream as an async iterator of frames.

The token is sent as the first message (never in the URL). Frames hold only the
fields the grant's scopes allow; absent scopes read as ``None`` here. Proxies from
the environment are ignored: the service is on this machine. Neither the token nor
any frame is ever written to a log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

NORMAL_CLOSE = 1000
OPEN_TIMEOUT_SECONDS = 10.0


class _QuietFrames(logging.LoggerAdapter[logging.Logger]):
    """websockets logs every frame at DEBUG, the token message and face data included.

    Reporting DEBUG as disabled to it keeps both out of any log, whatever the
    application's logging configuration; its warnings and errors still get through.
    """

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_WS_LOG = _QuietFrames(logging.getLogger("facegate.client.websocket"), {})


class StreamClosed(Exception):
    """The service refused the stream or ended it; ``code`` is the WebSocket close code.

    4400: the first message was not ``{"token": "..."}`` (or its ``destination`` was
    not one printable line). 4401: unknown token.
    4403: no consent (revoked, expired, app banned). 4408: the token was not sent in
    time. 4409: the grant already has two streams open. 4429: over a budget (refused
    attempts, stream starts, failed tokens); wait a minute. 1011: the expression
    source failed.
    """

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"stream closed ({code}): {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class StreamFrame:
    """One frame. ``t`` is seconds since the stream's source started.

    blendshapes: the 52 ARKit names -> [0, 1] (``tongueOut`` is always None), or None
        without the ``expressions`` scope; ``gaze`` comes with it.
    head_pose: yaw, pitch, roll (degrees), tx, ty, tz (centimetres), from where the
        person usually holds their head in this session (``facegate serve`` re-centres
        each session; docs/apps.md), or None.
    face_map: at most ~300 [x, y, z] vertices, or None.
    """

    t: float
    face_found: bool
    blendshapes: Mapping[str, float | None] | None = None
    gaze: Mapping[str, float | None] | None = None
    head_pose: Mapping[str, float | None] | None = None
    face_map: list[list[float]] | None = field(default=None, repr=False)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> StreamFrame:
        return cls(
            t=float(message["t"] or 0.0),
            face_found=bool(message["face_found"]),
            blendshapes=message.get("blendshapes"),
            gaze=message.get("gaze"),
            head_pose=message.get("head_pose"),
            face_map=message.get("face_map"),
        )


async def stream(
    url: str, token: str, *, max_frames: int | None = None, destination: str | None = None
) -> AsyncIterator[StreamFrame]:
    """Frames from ``url`` (``ws://127.0.0.1:8765/api/v1/stream``) under ``token``.

    Stops after ``max_frames`` if given, or when the source ends; raises StreamClosed
    if the service refuses the token or ends the grant. An app that sends the frames
    on names where in ``destination`` (one printable line, e.g.
    ``osc.udp://127.0.0.1:39539``); the person's audit log then shows it.
    """
    sent = 0
    first = (
        {"token": token} if destination is None else {"token": token, "destination": destination}
    )
    async with connect(url, proxy=None, open_timeout=OPEN_TIMEOUT_SECONDS, logger=_WS_LOG) as ws:
        await ws.send(json.dumps(first))
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") != "frame":
                    continue
                yield StreamFrame.from_message(message)
                sent += 1
                if max_frames is not None and sent >= max_frames:
                    return
        except ConnectionClosed:
            pass
        received = ws.protocol.close_rcvd
        if received is None or received.code != NORMAL_CLOSE:
            code = None if received is None else received.code
            reason = "the connection was lost" if received is None else received.reason
            raise StreamClosed(code, reason)
