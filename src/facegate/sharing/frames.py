"""What an app receives: a tracker record cut down to the granted scopes.

A frame is built by naming the fields a grant allows (an allow-list), never by
copying a record and deleting what is not allowed, so a field the tracker adds
tomorrow reaches no app until a scope names it here. ``t`` (seconds from the
stream's start) and ``face_found`` are always sent; the record's ``source`` (a
camera index or a file path on this machine) never is.

Scope -> fields:

    expressions  blendshapes (the 52 ARKit names), gaze (derived from the eyeLook*
                 coefficients, so it belongs with them: a head_pose-only grant must not
                 reveal part of the expressions)
    head_pose    head_pose {yaw, pitch, roll, tx, ty, tz}
    face_map     face_map, a coarse mesh of at most ~300 [x, y, z] vertices

As a last guard against identity data, a face map with as many points as the raw
MediaPipe mesh is refused, and blend shapes are re-keyed from the one list of names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from facegate.sharing.scopes import Scope
from facegate.vision.blendshapes import NAMES

FRAME_TYPE = "frame"
ALWAYS_SENT = ("t", "face_found")
SCOPE_FIELDS: Mapping[Scope, tuple[str, ...]] = {
    Scope.EXPRESSIONS: ("blendshapes", "gaze"),
    Scope.HEAD_POSE: ("head_pose",),
    Scope.FACE_MAP: ("face_map",),
}
HEAD_POSE_KEYS = ("yaw", "pitch", "roll", "tx", "ty", "tz")
MAX_FACE_MAP_VERTICES = 400
"""Fewer than MediaPipe's 478 landmarks: the raw mesh can never pass as a face map."""


def frame_keys(scopes: Iterable[Scope]) -> frozenset[str]:
    """The exact top-level keys of a frame sent under ``scopes`` (``type`` included)."""
    keys = {"type", *ALWAYS_SENT}
    for scope in set(scopes):
        keys.update(SCOPE_FIELDS[scope])
    return frozenset(keys)


def _number(value: object) -> float | None:
    """A finite float, or None: JSON has no NaN, and a client must not choke on one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _blendshapes(value: object) -> dict[str, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    return {name: _number(value.get(name)) for name in NAMES}


def _head_pose(value: object) -> dict[str, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    return {key: _number(value.get(key)) for key in HEAD_POSE_KEYS}


def _gaze(value: object) -> dict[str, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(key): _number(item) for key, item in value.items()}


def _face_map(value: object) -> list[list[float | None]] | None:
    if not isinstance(value, list | tuple):
        return None
    points = list(value)
    if len(points) > MAX_FACE_MAP_VERTICES:
        raise ValueError(
            f"a face map of {len(points)} vertices is too dense to share "
            f"(at most {MAX_FACE_MAP_VERTICES})"
        )
    return [[_number(c) for c in point] for point in points if isinstance(point, list | tuple)]


_ENCODERS = {
    "blendshapes": _blendshapes,
    "head_pose": _head_pose,
    "gaze": _gaze,
    "face_map": _face_map,
}


def build_frame(record: Mapping[str, Any], scopes: Iterable[Scope]) -> dict[str, Any]:
    """The frame for one tracker record (``ExpressionRecord.to_json()``) under ``scopes``."""
    frame: dict[str, Any] = {
        "type": FRAME_TYPE,
        "t": _number(record.get("t")),
        "face_found": bool(record.get("face_found")),
    }
    granted = set(scopes)
    for scope in Scope:  # the enum's order, so every frame lists its keys the same way
        if scope in granted:
            for key in SCOPE_FIELDS[scope]:
                frame[key] = _ENCODERS[key](record.get(key))
    return frame


def encode_frame(record: Mapping[str, Any], scopes: Iterable[Scope]) -> str:
    """``build_frame`` as compact JSON text, ready for the WebSocket."""
    return json.dumps(build_frame(record, scopes), separators=(",", ":"), allow_nan=False)
