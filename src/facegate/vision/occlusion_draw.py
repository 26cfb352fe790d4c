"""The occlusion heat map as a picture: each region shaded from green (uncovered) to red.

Drawing only: the values come from :mod:`facegate.vision.occlusion`. The picture
shows the photo, the eight region boxes mapped back onto the face, and each box
blended with its colour, so a person can see at a glance what the map thinks is
covered. No identity data is drawn (the photo is the user's own input).
"""

from __future__ import annotations

import cv2
import numpy as np

from facegate.vision.occlusion import FaceOcclusion, Region

ALPHA = 0.45  # weight of the heat colour over the photo inside a region
GREEN = np.array([60, 200, 60], np.float64)  # BGR at value 0
YELLOW = np.array([40, 220, 240], np.float64)  # BGR at value 0.5
RED = np.array([40, 40, 230], np.float64)  # BGR at value 1


def heat_colour(value: float) -> tuple[int, int, int]:
    """BGR colour of a region value in [0, 1]: green at 0, yellow at 0.5, red at 1."""
    v = float(np.clip(value, 0.0, 1.0))
    if v <= 0.5:
        colour = GREEN + (YELLOW - GREEN) * (v / 0.5)
    else:
        colour = YELLOW + (RED - YELLOW) * ((v - 0.5) / 0.5)
    b, g, r = (round(float(c)) for c in colour)
    return b, g, r


def region_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels inside one region's (4, 2) polygon."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def draw_heatmap(image: np.ndarray, occlusion: FaceOcclusion) -> np.ndarray:
    """A BGR copy of ``image`` with each region blended with its heat colour.

    Regions are drawn in :class:`Region` order; where two overlap, the later wins.
    Without a face, the picture says so in its top-left corner.
    """
    picture = image.copy()
    if occlusion.map is None:
        cv2.putText(picture, "no face", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2)
        return picture
    for region in Region:
        mask = region_mask(picture.shape[:2], occlusion.corners[region])
        colour = np.array(heat_colour(occlusion.map[region]), np.float64)
        blended = (1 - ALPHA) * picture[mask].astype(np.float64) + ALPHA * colour
        picture[mask] = np.round(blended).astype(np.uint8)
    for region in Region:
        polygon = np.round(occlusion.corners[region]).astype(np.int32)
        cv2.polylines(picture, [polygon], True, heat_colour(occlusion.map[region]), 1)
    return picture
