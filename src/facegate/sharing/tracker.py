"""The expression tracker: frames in, shareable :class:`ExpressionRecord` values out.

A record holds only what may be shared with consent: the 52 blend-shape coefficients,
head pose, gaze and the identity-free face map (:mod:`facegate.sharing.face_map`).
It never holds an identity embedding, raw landmarks or pixels; the mesh's landmarks
are used for nothing but the frame they come from.

Sources are processed in turn, each in the running mode that fits it: stills in IMAGE
mode (each independent, never smoothed), video files and cameras in VIDEO mode with
their own timestamps (a fresh tracker per source, so one video's face never seeds
the next). Optional One Euro smoothing (:mod:`facegate.sharing.one_euro`) steadies
blend shapes and pose on video; it is off by default because it softens fast events
such as blinks, and the face map and gaze are derived from the smoothed coefficients
so the fields of a record always agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from facegate.models import ModelFiles
from facegate.sharing.face_map import FaceMapModel
from facegate.sharing.one_euro import OneEuroFilter, OneEuroOptions
from facegate.vision.blendshapes import NAMES, NOT_MEASURED
from facegate.vision.mesh import (
    FaceMesh,
    FaceMesher,
    Gaze,
    HeadPose,
    MeshOptions,
    RunningMode,
    next_timestamp_ms,
)
from facegate.vision.sources import SourceKind, iter_frames, source_kind

RECORD_KEYS = ("t", "source", "blendshapes", "head_pose", "gaze", "face_map", "face_found")
"""The exact keys of :meth:`ExpressionRecord.to_json`, in order."""

STILL_OPTIONS = MeshOptions(running_mode=RunningMode.IMAGE, num_faces=2)
VIDEO_OPTIONS = MeshOptions(running_mode=RunningMode.VIDEO, num_faces=1)
"""Stills look for two faces and keep the larger; video tracks one face from frame to
frame (MediaPipe re-seeds from the previous frame, which keeps the same person), at
the speed of a single-face search."""

# Smoothing, per group of channels, set by the One Euro authors' procedure (beta = 0,
# lower min_cutoff until jitter at rest is gone, then raise beta until fast moves stop
# lagging), by eye on webcam video; not fitted to any data set.
BLENDSHAPE_SMOOTHING = OneEuroOptions(min_cutoff=1.5, beta=1.0)
ANGLE_SMOOTHING = OneEuroOptions(min_cutoff=1.0, beta=0.05)  # beta per degree / s
POSITION_SMOOTHING = OneEuroOptions(min_cutoff=1.0, beta=0.1)  # beta per cm / s


@dataclass(frozen=True)
class ExpressionRecord:
    """One frame's shareable expression data.

    t            seconds from the start of the source (0.0 for a still)
    source       the source as given (a path, or ``camera:N``); kept on this machine
    face_found   False when no face was found; then the other fields are None / empty
    blendshapes  the 52 ARKit names -> activation in [0, 1]; tongueOut is None
    head_pose    :class:`facegate.vision.mesh.HeadPose` (degrees, cm)
    gaze         :class:`facegate.vision.mesh.Gaze` (unitless, head-relative)
    face_map     ((x, y, z), ...) in canonical cm, at most 300 vertices, quantised
    """

    t: float
    source: str
    face_found: bool
    blendshapes: Mapping[str, float | None] | None = None
    head_pose: HeadPose | None = None
    gaze: Gaze | None = None
    face_map: tuple[tuple[float, ...], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        parts = (self.blendshapes, self.head_pose, self.gaze)
        if self.face_found and (any(p is None for p in parts) or not self.face_map):
            raise ValueError("a record with face_found=True needs every field")
        if not self.face_found and (any(p is not None for p in parts) or self.face_map):
            raise ValueError("a record with face_found=False must have empty fields")
        if self.blendshapes is not None and tuple(self.blendshapes) != NAMES:
            raise ValueError("ExpressionRecord.blendshapes must hold the 52 names in order")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with exactly the keys of :data:`RECORD_KEYS`."""
        return {
            "t": self.t,
            "source": self.source,
            "blendshapes": None if self.blendshapes is None else dict(self.blendshapes),
            "head_pose": None if self.head_pose is None else self.head_pose.as_dict(),
            "gaze": None if self.gaze is None else self.gaze.as_dict(),
            "face_map": [list(point) for point in self.face_map],
            "face_found": self.face_found,
        }


def _record(
    t: float, source: str, mesh: FaceMesh | None, face_map: FaceMapModel
) -> ExpressionRecord:
    if mesh is None:
        return ExpressionRecord(t=t, source=source, face_found=False)
    return ExpressionRecord(
        t=t,
        source=source,
        face_found=True,
        blendshapes=mesh.blendshapes,
        head_pose=mesh.head_pose,
        gaze=mesh.gaze,
        face_map=tuple(tuple(p) for p in face_map.face_map(mesh.blendshapes)),
    )


_MEASURED = tuple(i for i, name in enumerate(NAMES) if name not in NOT_MEASURED)


class _Smoother:
    """One Euro filters for one video source's blend shapes and pose."""

    def __init__(self) -> None:
        self._shapes = OneEuroFilter(BLENDSHAPE_SMOOTHING)
        self._angles = OneEuroFilter(ANGLE_SMOOTHING)
        self._position = OneEuroFilter(POSITION_SMOOTHING)

    def reset(self) -> None:
        for f in (self._shapes, self._angles, self._position):
            f.reset()

    def __call__(self, t: float, mesh: FaceMesh) -> tuple[dict[str, float | None], HeadPose]:
        values = list(mesh.blendshapes.values())
        raw = np.array([values[i] for i in _MEASURED], np.float64)
        smooth = np.clip(self._shapes(t, raw), 0.0, 1.0)
        shapes: dict[str, float | None] = dict.fromkeys(NAMES)
        for i, value in zip(_MEASURED, smooth.tolist(), strict=True):
            shapes[NAMES[i]] = value
        p = mesh.head_pose
        yaw, pitch, roll = self._angles(t, np.array([p.yaw, p.pitch, p.roll])).tolist()
        tx, ty, tz = self._position(t, np.array([p.tx, p.ty, p.tz])).tolist()
        return shapes, HeadPose(yaw, pitch, roll, tx, ty, tz)


def _smoothed(t: float, mesh: FaceMesh, smoother: _Smoother) -> FaceMesh:
    shapes, pose = smoother(t, mesh)
    return FaceMesh(
        landmarks=mesh.landmarks,
        blendshapes=MappingProxyType(shapes),
        head_pose=pose,
        gaze=Gaze.from_blendshapes(shapes),
        image_size=mesh.image_size,
        from_crop=mesh.from_crop,
    )


def track(
    sources: Sequence[str | Path], *, smoothing: bool = False, models: ModelFiles | None = None
) -> Iterator[ExpressionRecord]:
    """Records for every frame of every source, in order.

    ``sources``: image files (one record each), video files, or cameras (``"0"`` or
    ``"camera:0"``; endless until the caller stops iterating). Raises UnreadableSource
    for a missing, corrupt or empty source (the records of earlier sources have been
    yielded by then), ModelMissing / ModelTampered for the model files. ``models``:
    where they are (default: the installed wheels).
    """
    models = models or ModelFiles()
    face_map = FaceMapModel.load(models)
    still_mesher: FaceMesher | None = None
    try:
        for source in sources:
            name = str(source)
            if source_kind(source) is SourceKind.STILL:
                if still_mesher is None:
                    still_mesher = FaceMesher.create_from_options(STILL_OPTIONS, models)
                for frame in iter_frames(name):
                    yield _record(0.0, name, still_mesher.detect(frame.image), face_map)
            else:
                yield from _track_video(name, smoothing, models, face_map)
    finally:
        if still_mesher is not None:
            still_mesher.close()


def _track_video(
    name: str, smoothing: bool, models: ModelFiles, face_map: FaceMapModel
) -> Iterator[ExpressionRecord]:
    smoother = _Smoother() if smoothing else None
    last_ms: int | None = None
    with FaceMesher.create_from_options(VIDEO_OPTIONS, models) as mesher:
        for frame in iter_frames(name):
            last_ms = next_timestamp_ms(frame.t, last_ms)
            mesh = mesher.detect_for_video(frame.image, last_ms)
            source = frame.source
            if smoother is not None:
                if mesh is None:
                    smoother.reset()
                else:
                    mesh = _smoothed(frame.t, mesh, smoother)
            yield _record(frame.t, source, mesh, face_map)
