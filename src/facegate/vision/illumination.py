"""Lighting normalisation for badly lit face crops.

SFace was trained on ordinary photos; a face lit hard from one side, or mostly in
shadow, lands far from the same face in even light. For such crops the embedding
averages the plain crop, a contrast-equalised copy (CLAHE on lightness) and their
mirror images: mirroring swaps the lit side, and equalisation lifts the shadowed
detail. Evenly lit crops are embedded once, as they are: equalisation costs a
little accuracy there (measured on the pooled dev set), and each extra pass costs
one more SFace run on the unlock path.
"""

from __future__ import annotations

import cv2
import numpy as np

DARK_MEAN = 70.0  # grey mean of the 112x112 crop below which it counts as dark
SIDE_CONTRAST = 35.0  # grey-level difference between the crop's halves: side light


def lift_frame(image: np.ndarray) -> np.ndarray:
    """A whole frame with shadows lifted (gamma towards mid-grey, then CLAHE), for the
    detector only: in a dark or side-lit frame YuNet still finds the face but puts its
    five points in the wrong places, and a bad alignment ruins the embedding far more
    than the lighting itself (measured on a re-lit copy of the dev set)."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness = lab[:, :, 0]
    mean = max(float(lightness.mean()) / 255.0, 0.02)
    gamma = min(1.0, float(np.log(0.5) / np.log(mean)))
    lut = (np.linspace(0.0, 1.0, 256) ** gamma * 255.0).astype(np.uint8)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(
        cv2.LUT(lightness, lut)
    )
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def is_poorly_lit(crop: np.ndarray) -> bool:
    """True when the aligned crop is dark overall or lit strongly from one side."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    half = grey.shape[1] // 2
    side = abs(float(grey[:, :half].mean()) - float(grey[:, half:].mean()))
    return float(grey.mean()) < DARK_MEAN or side > SIDE_CONTRAST


def equalise(crop: np.ndarray) -> np.ndarray:
    """CLAHE on the L channel of Lab, which keeps hue while flattening shading."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def variants(crop: np.ndarray) -> list[np.ndarray]:
    """The crops whose embeddings are averaged: the crop alone when evenly lit; the crop,
    an equalised copy and both mirror images when poorly lit."""
    if not is_poorly_lit(crop):
        return [crop]
    eq = equalise(crop)
    return [crop, np.ascontiguousarray(crop[:, ::-1]), eq, np.ascontiguousarray(eq[:, ::-1])]
