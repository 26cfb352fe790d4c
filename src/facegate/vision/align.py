"""Similarity transform from five detected points to the recogniser's crop.

SFace (like ArcFace) was trained on 112x112 crops whose eyes, nose and mouth sit at
fixed places; putting a probe's points there is most of what makes embeddings of
the same person agree. Only rotation, uniform scale and translation are allowed,
so the face is never sheared.
"""

from __future__ import annotations

import cv2
import numpy as np

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
    """2x3 matrix taking five (5, 2) pixel points onto REFERENCE_POINTS (least squares)."""
    matrix, _ = cv2.estimateAffinePartial2D(points.astype(np.float32), REFERENCE_POINTS)
    if matrix is None:
        raise ValueError("the five points are degenerate; no similarity transform exists")
    return matrix


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
