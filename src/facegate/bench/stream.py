"""Frame-to-client latency of the expression stream, measured end to end on loopback.

What is timed: from the moment the feed hands a record to the service (just before
it is filtered by scope and encoded) to the moment a client has received and
decoded the frame with ``facegate.client.streaming``. Tracking time is not included:
the records are real tracker output over a synthetic clip of scikit-image's
astronaut photo (public domain), recorded once and replayed at ``fps``, so the
figure is the stream's own cost. The service (uvicorn, in a thread), the feed and
the clients share one Python process, which is pessimistic for the clients.

Every run uses a throw-away FaceGate home with a real sharing database, a
registered app, approved grants (one per client) and real tokens.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.bench.timing import machine_description
from facegate.client.streaming import stream
from facegate.config import Settings, load_settings
from facegate.models import ModelFiles
from facegate.server.app import create_app
from facegate.server.feeds import ReplayFeed
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.apps import AppRegistration
from facegate.sharing.keys import public_key_b64
from facegate.sharing.scopes import Scope
from facegate.sharing.service import Sharing, Via
from facegate.sharing.terms import CURRENT_VERSION

CLIP_FRAMES = 60
CLIP_FPS = 30.0


@dataclass(frozen=True)
class StreamBenchResult:
    clients: int
    frames_per_client: int
    fps: float
    scopes: list[str]
    samples: int
    sessions_completed: int
    median_ms: float
    p90_ms: float
    max_ms: float
    machine: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_sample_clip(path: Path, frames: int = CLIP_FRAMES, fps: float = CLIP_FPS) -> Path:
    """A short MJPG clip of the astronaut photo, turning and tilting, 640x480.

    The head rolls by up to 12 degrees and the framing shifts, so the tracker's head
    pose and expression values change from frame to frame.
    """
    from skimage import data

    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (400, 400))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[40:440, 120:520] = face
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (640, 480))
    try:
        for i in range(frames):
            phase = 2 * np.pi * i / frames
            angle = 12.0 * np.sin(phase)
            scale = 1.0 + 0.06 * np.sin(2 * phase)
            matrix = cv2.getRotationMatrix2D((320, 240), angle, scale)
            matrix[0, 2] += 20 * np.sin(phase)
            frame = cv2.warpAffine(canvas, matrix, (640, 480), borderValue=(90, 90, 90))
            writer.write(frame)
    finally:
        writer.release()
    return path


def sample_records(settings: Settings, frames: int = CLIP_FRAMES) -> list[Mapping[str, Any]]:
    """Real tracker output (``ExpressionRecord.to_json()``) over the sample clip."""
    from facegate.sharing.tracker import track

    with tempfile.TemporaryDirectory() as tmp:
        clip = write_sample_clip(Path(tmp) / "astronaut.avi", frames)
        return [record.to_json() for record in track([str(clip)], models=ModelFiles.of(settings))]


def grant_tokens(sharing: Sharing, count: int, scopes: Sequence[Scope]) -> list[str]:
    """Register a benchmark app and approve ``count`` grants for it; returns their tokens."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    app = sharing.register_app(
        AppRegistration(
            name="Stream benchmark",
            developer="This machine's benchmark",
            contact="bench@localhost",
            purpose="Measure the stream's latency on this machine",
            retention_days=0,
            webhook_url="http://127.0.0.1:9/",
            public_key=public_key_b64(Ed25519PrivateKey.generate()),
            allow_local_webhook=True,
        ),
        Via.CLI,
    )
    sharing.accept_terms(app.id, CURRENT_VERSION)
    tokens = []
    for _ in range(count):
        request = sharing.request_consent(app.id, list(scopes), 3600)
        sharing.approve(request.id, Via.CLI)
        tokens.append(sharing.claim_token(app.id, request.id).token)
    return tokens


async def _client(
    url: str, token: str, frames: int, emitted: dict[float, int], out: list[float]
) -> bool:
    got = 0
    async for frame in stream(url, token, max_frames=frames):
        received = time.perf_counter_ns()
        sent = emitted.get(frame.t)
        if sent is not None:
            out.append((received - sent) / 1e6)
        got += 1
    return got == frames


async def _run_clients(
    url: str, tokens: list[str], frames: int, emitted: dict[float, int]
) -> tuple[list[float], int]:
    latencies: list[float] = []
    results = await asyncio.gather(
        *(_client(url, token, frames, emitted, latencies) for token in tokens)
    )
    return latencies, sum(results)


def run_stream_bench(
    clients: int = 1,
    frames: int = 300,
    fps: float = 30.0,
    scopes: Sequence[Scope] = (Scope.EXPRESSIONS, Scope.HEAD_POSE),
    records: Sequence[Mapping[str, Any]] | None = None,
) -> StreamBenchResult:
    """Stream ``frames`` frames to each of ``clients`` clients and time every frame."""
    if clients < 1 or frames < 1:
        raise ValueError("clients and frames must be at least 1")
    emitted: dict[float, int] = {}

    def on_emit(t: float) -> None:
        emitted[t] = time.perf_counter_ns()

    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as home:
        settings = load_settings(Path(home))
        replay = list(records) if records is not None else sample_records(settings)
        with Sharing.open(settings) as sharing:
            tokens = grant_tokens(sharing, clients, scopes)
            feed = ReplayFeed(replay, fps, on_emit=on_emit)
            app = create_app(sharing, feed, new_user_token())
            with BackgroundServer(app) as server:
                url = f"ws://127.0.0.1:{server.port}/api/v1/stream"
                latencies, completed = asyncio.run(_run_clients(url, tokens, frames, emitted))
    if not latencies:
        raise RuntimeError("no frame was received: the benchmark could not measure anything")
    samples = np.asarray(latencies)
    return StreamBenchResult(
        clients=clients,
        frames_per_client=frames,
        fps=fps,
        scopes=[scope.value for scope in scopes],
        samples=len(latencies),
        sessions_completed=completed,
        median_ms=float(np.median(samples)),
        p90_ms=float(np.percentile(samples, 90)),
        max_ms=float(samples.max()),
        machine=machine_description(),
    )
