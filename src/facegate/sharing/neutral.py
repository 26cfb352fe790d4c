"""Taking a person's resting face out of what apps receive.

How a face sits at rest (brows a little low, eyelids a little closed, the mouth a
little wide) shows up as small, steady offsets of the blend-shape coefficients, and
those offsets identify people; where the head usually sits in front of the camera
(its distance follows the size of the face) does too. Expressions are *changes* from
that resting face. This filter therefore maps each stream session's own range onto
the population's, piecewise linearly:

    shared = rest * x / baseline                                  for x <= baseline
    shared = rest + (1 - rest) * (x - baseline) / (1 - baseline)  above it

``baseline`` is the session's own median of each coefficient over the last
``window_seconds`` (the person's neutral face, learnt from their frames), ``rest``
the population's median (``FaceMapModel.rest``). A neutral face is sent as the
population's neutral face, 0 stays 0 and 1 stays 1; a smile, a blink or an open jaw
rise above rest in proportion to how far they rise above the person's own neutral.
A plain shift (``x - baseline + rest``) is not enough: coefficients cannot go below
0, so the lowest value a session sends would show ``rest - baseline``, the very
offset this filter hides (an outside review separated people by it). Gaze and the face map are then
derived from the re-centred coefficients. The head pose is sent relative to the
session's median pose (degrees and centimetres from where the person usually holds
their head), so the absolute distance to the camera is no longer sent.

``quantum`` (0 = off) rounds re-centred coefficients to a grid; see docs/privacy.md
for what each step costs and buys.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from facegate.sharing.face_map import FaceMapModel
from facegate.vision.blendshapes import NAMES
from facegate.vision.mesh import Gaze

POSE_KEYS = ("yaw", "pitch", "roll", "tx", "ty", "tz")
BASELINE_EPS = 1e-6  # a neutral this close to 0 or 1 has no range on that side


@dataclass(frozen=True)
class NeutralOptions:
    """``window_seconds`` of history make the baseline; ``quantum`` 0 keeps full precision."""

    window_seconds: float = 60.0
    quantum: float = 0.0
    relative_pose: bool = True

    def __post_init__(self) -> None:
        if self.window_seconds <= 0 or not 0 <= self.quantum < 1:
            raise ValueError(f"neutral options out of range: {self}")


def recentre(
    values: np.ndarray, baseline: np.ndarray, rest: np.ndarray, quantum: float = 0.0
) -> np.ndarray:
    """The person's range mapped onto the population's (module docstring), rounded to
    ``quantum`` when it is > 0.

    All three are (..., 52) arrays in ``NAMES`` order; NaN (not measured) stays NaN.
    """
    own = np.clip(baseline, BASELINE_EPS, 1.0 - BASELINE_EPS)
    # A neutral at the very floor (or ceiling) has no range on that side: it is rest.
    below = np.where(baseline > BASELINE_EPS, rest - rest * (own - values) / own, rest)
    above = np.where(
        baseline < 1.0 - BASELINE_EPS, rest + (1.0 - rest) * (values - own) / (1.0 - own), rest
    )
    shifted = np.clip(np.where(values <= own, below, above), 0.0, 1.0)
    if quantum > 0:
        shifted = np.round(shifted / quantum) * quantum
    return shifted


def nanmedian_rows(rows: np.ndarray) -> np.ndarray:
    """The median of each column, NaN for a column that is all NaN (``tongueOut``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(rows, axis=0)


def coefficients(shapes: Mapping[str, float | None]) -> np.ndarray:
    """A (52,) array in ``NAMES`` order; a coefficient that is not measured is NaN."""
    return np.array(
        [np.nan if (v := shapes.get(name)) is None else float(v) for name in NAMES], np.float64
    )


def as_shapes(values: np.ndarray) -> dict[str, float | None]:
    return {name: None if np.isnan(v) else float(v) for name, v in zip(NAMES, values, strict=True)}


class SessionNormaliser:
    """The filter for one stream session (one person at the camera), fed frame by frame."""

    def __init__(self, rest: np.ndarray, options: NeutralOptions | None = None) -> None:
        self.options = options or NeutralOptions()
        self._rest = np.asarray(rest, np.float64)
        self._shapes: deque[tuple[float, np.ndarray]] = deque()
        self._poses: deque[tuple[float, np.ndarray]] = deque()

    def _remember(
        self, history: deque[tuple[float, np.ndarray]], t: float, row: np.ndarray
    ) -> np.ndarray:
        history.append((t, row))
        while history and history[0][0] < t - self.options.window_seconds:
            history.popleft()
        return nanmedian_rows(np.array([r for _, r in history]))

    def shapes(self, t: float, shapes: Mapping[str, float | None]) -> dict[str, float | None]:
        """The re-centred coefficients of a frame at ``t`` seconds."""
        values = coefficients(shapes)
        baseline = self._remember(self._shapes, t, values)
        return as_shapes(recentre(values, baseline, self._rest, self.options.quantum))

    def pose(self, t: float, pose: Mapping[str, float | None]) -> dict[str, float | None]:
        """The pose relative to the session's median pose (or as given, if so configured)."""
        if not self.options.relative_pose or any(pose.get(k) is None for k in POSE_KEYS):
            return dict(pose)
        row = np.array([float(pose[k]) for k in POSE_KEYS])  # type: ignore[arg-type]
        baseline = self._remember(self._poses, t, row)
        return {k: float(v) for k, v in zip(POSE_KEYS, row - baseline, strict=True)}


class NeutralStream:
    """The filter applied to tracker records before any app sees them (``StreamHub``).

    Re-centres the coefficients, then derives gaze and the face map again from the
    re-centred ones, and makes the pose relative; a record without a face passes
    unchanged. ``reset`` starts a new session (the service calls it when the feed
    restarts, since another person may be at the camera by then).
    """

    def __init__(self, model: FaceMapModel, options: NeutralOptions | None = None) -> None:
        self._model = model
        self.options = options or NeutralOptions()
        self.reset()

    def reset(self) -> None:
        self._session = SessionNormaliser(self._model.rest.astype(np.float64), self.options)

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        shapes = record.get("blendshapes")
        if not record.get("face_found") or not isinstance(shapes, Mapping):
            return out
        t = float(record.get("t") or 0.0)
        recentred = self._session.shapes(t, shapes)
        out["blendshapes"] = recentred
        out["gaze"] = Gaze.from_blendshapes(recentred).as_dict()
        out["face_map"] = self._model.face_map(recentred)
        pose = record.get("head_pose")
        if isinstance(pose, Mapping):
            out["head_pose"] = self._session.pose(t, pose)
        return out
