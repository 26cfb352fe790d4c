"""Liveness modes: a closed set, kept apart from the models that implement them so the
command line can offer them without importing SciPy or MediaPipe."""

from __future__ import annotations

from enum import StrEnum


class LivenessMode(StrEnum):
    """How much liveness an unlock demands.

    - OFF: no liveness check (attention may still be required); never a default.
    - PASSIVE: the mean PAD score of the usable frames must reach the model's threshold.
    - ACTIVE: PASSIVE, plus a random 2-3 step challenge judged over the video frames.
    """

    OFF = "off"
    PASSIVE = "passive"
    ACTIVE = "active"
