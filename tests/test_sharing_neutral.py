"""The privacy filter takes each session's resting face out of what apps receive, and
keeps expressions: two people's neutral faces reach apps identical, a smile still smiles."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.server.app import create_app
from facegate.server.feeds import ReplayFeed
from facegate.server.run import BackgroundServer, new_user_token
from facegate.sharing.face_map import FaceMapModel
from facegate.sharing.neutral import NeutralStream, as_shapes
from facegate.vision.blendshapes import NAMES
from sharing_service import add_app, approved_token, open_sharing


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FaceMapModel:
    return FaceMapModel.load(ModelFiles.of(load_settings(tmp_path_factory.mktemp("home"))))


def _record(t: float, shapes: dict[str, float | None], tz: float) -> dict[str, Any]:
    return {
        "t": t,
        "face_found": True,
        "blendshapes": shapes,
        "head_pose": {"yaw": 2.0, "pitch": -3.0, "roll": 1.0, "tx": 1.0, "ty": -2.0, "tz": tz},
        "gaze": {"horizontal": 0.0, "vertical": 0.0},
        "face_map": [],
    }


def _resting(model: FaceMapModel, offset: float) -> dict[str, float | None]:
    """A person whose face at rest sits ``offset`` away from the population's."""
    rest = np.clip(model.rest.astype(np.float64) + offset, 0, 1)
    shapes = as_shapes(rest)
    shapes["tongueOut"] = None
    return shapes


def _session(model: FaceMapModel, offset: float, tz: float) -> list[dict[str, Any]]:
    stream = NeutralStream(model)
    neutral = _resting(model, offset)
    smile = dict(neutral, mouthSmileLeft=0.9, mouthSmileRight=0.9)
    frames = [stream(_record(i / 30, neutral, tz)) for i in range(60)]
    frames.append(stream(_record(2.0, smile, tz)))
    return frames


def test_two_peoples_resting_faces_reach_apps_the_same(model: FaceMapModel) -> None:
    first = _session(model, +0.08, tz=-45.0)
    second = _session(model, -0.05, tz=-70.0)
    for key in ("blendshapes", "face_map", "gaze", "head_pose"):
        assert first[59][key] == second[59][key], key
    rest = model.rest.astype(np.float64)
    sent = first[59]["blendshapes"]
    for i, name in enumerate(NAMES):
        if sent[name] is not None:
            assert sent[name] == pytest.approx(rest[i], abs=1e-9), name
    assert first[59]["face_map"] == model.face_map(as_shapes(rest))
    assert first[59]["head_pose"] == {k: 0.0 for k in first[59]["head_pose"]}


def test_a_smile_still_smiles_after_the_filter(model: FaceMapModel) -> None:
    for offset in (+0.08, -0.05):
        frames = _session(model, offset, tz=-50.0)
        neutral, smile = frames[59]["blendshapes"], frames[-1]["blendshapes"]
        own = _resting(model, offset)["mouthSmileLeft"]
        assert own is not None
        rise = smile["mouthSmileLeft"] - neutral["mouthSmileLeft"]
        assert rise > 0
        rest = float(neutral["mouthSmileLeft"])
        assert rise == pytest.approx((1 - rest) * (0.9 - own) / (1 - own), abs=1e-6)
        assert frames[-1]["face_map"] != frames[59]["face_map"]


def test_a_sessions_extremes_do_not_show_the_resting_face(model: FaceMapModel) -> None:
    """The outside review's attack: a coefficient cannot go below 0 (or above 1), so with
    a plain shift the lowest value sent showed ``rest - baseline``. Two people who
    rest differently but both fully relax and fully use a coefficient must reach
    apps with the same lowest and highest values."""
    extremes = []
    for offset in (+0.08, -0.05):
        stream = NeutralStream(model)
        neutral = _resting(model, offset)
        frames = [stream(_record(i / 30, neutral, -50.0)) for i in range(60)]
        for t, value in ((2.0, 0.0), (2.1, 1.0)):
            frames.append(stream(_record(t, dict(neutral, browDownLeft=value), -50.0)))
        sent = [f["blendshapes"]["browDownLeft"] for f in frames]
        extremes.append((min(sent), max(sent)))
    assert extremes[0] == extremes[1] == (0.0, 1.0)


def test_a_frame_without_a_face_passes_unchanged(model: FaceMapModel) -> None:
    empty = {"t": 0.0, "face_found": False, "blendshapes": None, "head_pose": None}
    assert NeutralStream(model)(empty) == empty


def test_the_service_filters_before_any_app_sees_a_frame(
    model: FaceMapModel, tmp_path: Path
) -> None:
    records = [_record(i / 30, _resting(model, 0.1), -60.0) for i in range(30)]
    with open_sharing(tmp_path / "home") as sharing:
        app = create_app(
            sharing, ReplayFeed(records), new_user_token(), record_filter=NeutralStream(model)
        )
        with BackgroundServer(app) as server:
            registered, _ = add_app(sharing)
            issued = approved_token(sharing, registered.id)

            async def frames() -> list[dict[str, Any]]:
                async with connect(f"ws://127.0.0.1:{server.port}/api/v1/stream", proxy=None) as ws:
                    await ws.send(json.dumps({"token": issued.token}))
                    got = [json.loads(await ws.recv()) for _ in range(6)]
                return [m for m in got if m["type"] == "frame"]

            got = asyncio.run(frames())
    assert got
    rest = model.rest.astype(np.float64)
    smile = NAMES.index("mouthSmileLeft")
    for frame in got:
        assert frame["blendshapes"]["mouthSmileLeft"] == pytest.approx(rest[smile], abs=1e-6)
        assert frame["head_pose"]["tz"] == pytest.approx(0.0, abs=1e-9)
