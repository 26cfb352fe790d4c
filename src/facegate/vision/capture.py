"""The capture class of a face: the measured condition a threshold is calibrated for.

Impostor scores are not the same in every light: in a face lit hard from one side
or mostly in shadow, much of what SFace sees is the shading, and two different
people in the same light look more alike than they do in even light. A threshold
calibrated on evenly lit faces then admits far more impostors than its level
promises. So each usable observation carries the class of its aligned crop, and the
biometric decision uses the threshold calibrated for that class.

The classes are measured on the final aligned 112x112 crop with the same figures the
pipeline already uses to pick its slow path (``illumination.is_poorly_lit``): DARK
when the crop's mean grey is below ``illumination.DARK_MEAN``, else SIDE_LIT when its
halves differ by more than ``illumination.SIDE_CONTRAST``, else EVEN. The enum is
closed but open to growth: an occlusion state (a masked face) would be a further
member with its own calibrated thresholds.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from facegate.vision.illumination import DARK_MEAN, SIDE_CONTRAST


class CaptureClass(StrEnum):
    """Lighting of an aligned face crop, easiest first; values are stable strings
    (calibration keys)."""

    EVEN = "even"
    SIDE_LIT = "side_lit"
    DARK = "dark"


def capture_class(crop: np.ndarray) -> CaptureClass:
    """The class of an aligned BGR crop (grey levels 0-255; darker wins over side light)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    half = grey.shape[1] // 2
    if float(grey.mean()) < DARK_MEAN:
        return CaptureClass.DARK
    if abs(float(grey[:, :half].mean()) - float(grey[:, half:].mean())) > SIDE_CONTRAST:
        return CaptureClass.SIDE_LIT
    return CaptureClass.EVEN
