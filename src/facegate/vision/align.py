"""Similarity transform from five detected points to the recogniser's crop.

SFace (like ArcFace) was trained on 112x112 crops whose eyes, nose and mouth sit at
fixed places; putting a probe's points there is most of what makes embeddings of
the same person agree. Only rotation, uniform scale and translation are allowed,
so the face is never sheared.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from facegate.vision.detect import Faces

CROP_SIZE = 112
# Where the five points land in the 112x112 crop (pixels), in detect.POINT_NAMES order.
REFERENCE_POINTS = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_matrix(points: np.ndarray) -> np.ndarray:
    """2x3 matrix taking five (5, 2) pixel points onto REFERENCE_POINTS.

    A least-squares fit over all five points (Umeyama), the fit the recogniser's
    training crops were made with. A robust fit (RANSAC) would drop the points it
    finds off, but on a side-lit face the detector misplaces several points at once,
    and a fit on the remaining two or three tilts and scales the crop (measured on
    the re-lit proxy sets: README, "Extreme lighting").
    """
    fit = SimilarityTransform.from_estimate(
        points.astype(np.float64), REFERENCE_POINTS.astype(np.float64)
    )
    if not fit:
        raise ValueError("the five points are degenerate; no similarity transform exists")
    return np.asarray(fit.params[:2], dtype=np.float64)


def align(image: np.ndarray, faces: Faces, index: int = 0) -> np.ndarray:
    """The (112, 112, 3) uint8 BGR crop of face ``index``, ready for the recogniser."""
    matrix = similarity_matrix(faces.landmarks[index])
    return cv2.warpAffine(
        image,
        matrix,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
