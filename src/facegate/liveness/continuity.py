"""Temporal continuity: whether the frames before an action show one face moving, not
a cut from one photo to another.

A slideshow of the owner's photos (neutral, then eyes shut, then smiling) meets every
per-frame rule of the challenge: each photo is a real face, and the change from one to
the next is a real expression. What it cannot show is how a face gets there. At
camera frame rates a real head moves a little on every frame, by amounts that change
smoothly; a slideshow holds a photo still, then replaces the whole face at once. Even
photos of one sitting differ in where the head is, so at the cut the face's *rigid*
points (eye corners, nose, temples, forehead: no action moves them) jump, in one
frame (or over the few frames of a crossfade), by many times the motion of the
frames around it.

:func:`jump` measures that: over the second up to an action's onset, the largest
step of the rigid points between consecutive frames, over the median step plus a
floor. The floor is MediaPipe's own jitter on a face held still (so that a steady
person, whose steps are all tiny, does not divide by ~0), and it also means that
noise added to a slideshow to unfreeze it only lowers the ratio to the cut's size
over the noise's jitter, which stays far above any real face's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from facegate.vision.landmarks import EYE_CORNERS, RIGID
from facegate.vision.mesh import FaceMesh


@dataclass(frozen=True)
class Pose:
    """One frame's face as continuity sees it: its rigid points in pixels and the
    distance between its eye centres, which scales every step."""

    points: np.ndarray
    eye_distance: float

    @classmethod
    def of(cls, mesh: FaceMesh) -> Pose:
        pixels = mesh.pixels()[:, :2].astype(np.float64)
        right, left = (pixels[list(corners)].mean(axis=0) for corners in EYE_CORNERS)
        return cls(pixels[list(RIGID)], max(float(np.linalg.norm(left - right)), 1.0))


@dataclass(frozen=True)
class ContinuityOptions:
    """window_seconds: how far before an action's onset its run-up is judged (a second
    holds the onset of a smile or blink and the still frames of a slideshow around a
    cut); min_steps: fewer frame-to-frame steps than this in the window show no
    transition at all; floor: added to the median step, as a share of the eye
    distance (MediaPipe's jitter on a still webcam face: median steps 0.0003-0.001
    in the blink videos); max_jump: the largest jump allowed (genuine webcam windows
    and slideshows: ``scripts/measure_continuity.py``, docs/liveness.md)."""

    window_seconds: float = 1.0
    min_steps: int = 2
    floor: float = 0.001
    max_jump: float = 25.0


def steps(poses: Sequence[Pose | None]) -> np.ndarray:
    """The median move of the rigid points between consecutive frames that both show
    a face (None: a frame without one), as a share of the eye distance (the median,
    so one mislocated point does not make a jump)."""
    return np.array(
        [
            float(np.median(np.linalg.norm(b.points - a.points, axis=1))) / b.eye_distance
            for a, b in pairwise(poses)
            if a is not None and b is not None
        ]
    )


def jump(poses: Sequence[Pose | None], options: ContinuityOptions) -> float | None:
    """The largest step over the median step plus ``floor``; None with too few steps."""
    moves = steps(poses)
    if len(moves) < options.min_steps:
        return None
    return float(moves.max() / (np.median(moves) + options.floor))


def continuous(
    frames: Sequence[tuple[float, Pose | None]], onset_t: float, options: ContinuityOptions
) -> bool:
    """Whether the frames (time, pose or None) of the window ending at an action's
    onset ``onset_t`` (its first frame seen active: where a slideshow cuts to the
    next photo) show a face moving on its own rather than a cut between stills. The
    window ends at the onset, not at the peak, so that a photo held after the cut
    cannot push the cut out of it."""
    window = [p for t, p in frames if onset_t - options.window_seconds <= t <= onset_t]
    value = jump(window, options)
    return value is not None and value <= options.max_jump
