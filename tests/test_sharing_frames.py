"""Frames are built from an allow-list: only granted fields, never identity data."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from facegate.sharing.frames import build_frame, encode_frame, frame_keys
from facegate.sharing.scopes import Scope
from facegate.vision.blendshapes import NAMES

RECORD = {
    "t": 1.5,
    "source": "/home/someone/private/video.avi",
    "face_found": True,
    "blendshapes": {**dict.fromkeys(NAMES, 0.25), "tongueOut": None},
    "head_pose": {"yaw": 1.0, "pitch": 2.0, "roll": 3.0, "tx": 0.1, "ty": 0.2, "tz": -60.0},
    "gaze": {"horizontal": 0.1, "vertical": -0.2},
    "face_map": [[0.0, 1.0, 2.0]] * 300,
    # What a careless tracker might add one day: none of it may ever reach an app.
    "embedding": [0.1] * 128,
    "landmarks": [[0.0, 0.0, 0.0]] * 478,
    "image": "base64...",
}
SCOPE_SETS = [frozenset(c) for n in range(1, 4) for c in itertools.combinations(list(Scope), n)]


@pytest.mark.parametrize("scopes", SCOPE_SETS, ids=lambda s: "+".join(sorted(s)))
def test_a_frame_holds_exactly_the_granted_fields(scopes: frozenset[Scope]) -> None:
    frame = build_frame(RECORD, scopes)
    assert set(frame) == frame_keys(scopes)
    assert {"type", "t", "face_found"} <= set(frame)
    assert ("blendshapes" in frame) == ("gaze" in frame) == (Scope.EXPRESSIONS in scopes)
    assert ("head_pose" in frame) == (Scope.HEAD_POSE in scopes)
    assert ("face_map" in frame) == (Scope.FACE_MAP in scopes)
    text = encode_frame(RECORD, scopes)
    for secret in ("source", "private", "embedding", "landmarks", "image"):
        assert secret not in text


def test_values_are_re_keyed_and_cleaned() -> None:
    record = {
        **RECORD,
        "blendshapes": {**RECORD["blendshapes"], "jawOpen": math.nan, "extra": 1.0},  # type: ignore[dict-item]
        "head_pose": {"yaw": math.inf, "secret": 1.0},
    }
    frame = json.loads(encode_frame(record, set(Scope)))
    assert list(frame["blendshapes"]) == list(NAMES)
    assert frame["blendshapes"]["jawOpen"] is None
    assert frame["head_pose"] == dict.fromkeys(["yaw", "pitch", "roll", "tx", "ty", "tz"])


def test_the_raw_mesh_can_never_pass_as_a_face_map() -> None:
    with pytest.raises(ValueError, match="too dense to share"):
        build_frame({**RECORD, "face_map": [[0.0, 0.0, 0.0]] * 478}, {Scope.FACE_MAP})


def test_no_face_found_keeps_the_key_set() -> None:
    empty = {"t": 2.0, "source": "camera:0", "face_found": False, "blendshapes": None,
             "head_pose": None, "gaze": None, "face_map": []}  # fmt: skip
    frame = build_frame(empty, set(Scope))
    assert set(frame) == frame_keys(set(Scope))
    assert frame["face_found"] is False and frame["blendshapes"] is None
