"""The frames benchmarks time: the same public-domain pixels on every machine."""

from __future__ import annotations

import cv2
import numpy as np


def sample_frame() -> np.ndarray:
    """The astronaut photo (scikit-image, public domain) centred on a 640x480 canvas."""
    from skimage import data

    rgb = data.astronaut()
    face = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (420, 420))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[30:450, 110:530] = face
    return canvas


def side_lit(image: np.ndarray) -> np.ndarray:
    """``image`` under a hard light from its right, the left half in deep shadow: the
    frame that takes the pipeline's slow path (shadow lift, relocation, mesh points,
    four lighting variants)."""
    ramp = np.clip(np.linspace(-0.6, 1.4, image.shape[1]), 0.04, 1.0).astype(np.float32)
    return (image.astype(np.float32) * ramp[None, :, None]).astype(np.uint8)
