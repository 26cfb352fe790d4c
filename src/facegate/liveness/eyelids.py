"""Eyelid appearance: whether the eyes changed as a real eyelid changes them, not as a print.

A printed face is flat, so whatever a tilt does to it (MediaPipe may read a squashed
print as a half-closed eye), one homography maps one frame of the print onto another,
eyes included: after the whole face is aligned, its eyes look exactly as before,
up to resampling and sensor noise. A real blink is different: the rigid face still
aligns, but the upper lid has come down over the iris, so the eyes no longer match.

Per frame, :meth:`FaceCrop.of` keeps a small grey crop of the face, normalised for
scale and roll (so a judge keeps a few kilobytes per frame, never whole frames).
:func:`eye_change` aligns one crop onto another with a homography started from the
rigid landmarks and refined on the pixels of the face *without* the eyes (OpenCV's
ECC), then measures how much the eyes and the rest of the face changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from facegate.vision.landmarks import EYE_CORNERS, FACE_OVAL, RIGID
from facegate.vision.mesh import N_LANDMARKS, FaceMesh

EYE_DISTANCE = 48.0  # pixels between the eye centres in a crop
CROP_SIZE = (120, 96)  # (width, height) in pixels: 2.5 x 2 eye distances
_EYES_AT = (0.5, 0.4)  # where the eye midpoint falls, as shares of the crop size
# An eye's box: its corner-to-corner width times these, either way from its centre.
_EYE_HALF_WIDTH, _EYE_HALF_HEIGHT = 0.65, 0.4
# Narrower eyes (corner to corner, crop pixels) are seen too edge-on to judge: a
# few pixels' correlation is noise. Webcam faces: 19.9-22.6.
MIN_EYE_WIDTH = 0.3 * EYE_DISTANCE
_ECC_ITERATIONS, _ECC_EPSILON, _ECC_SMOOTHING = 50, 1e-5, 3


@dataclass(frozen=True, eq=False)
class FaceCrop:
    """One frame's face in a small normalised view.

    image   (96, 120) uint8 grey: the frame rotated, scaled and shifted so that the eye
            centres lie level, :data:`EYE_DISTANCE` pixels apart, the eye midpoint at
            (60, 38.4); the eyes, brows, nose and cheeks are in view.
    points  (478, 2) float32: the mesh landmarks in crop pixels (x right, y down);
            they may fall outside the crop.
    in_frame  whether every crop pixel was sampled inside the frame; where it was not,
            the crop repeats the frame's edge, which shows nothing of the face.
    """

    image: np.ndarray = field(repr=False)
    points: np.ndarray = field(repr=False)
    in_frame: bool = True

    def __post_init__(self) -> None:
        width, height = CROP_SIZE
        if self.image.shape != (height, width) or self.image.dtype != np.uint8:
            raise ValueError(
                f"FaceCrop.image must be uint8 ({height}, {width}), "
                f"got {self.image.dtype} {self.image.shape}"
            )
        if self.points.shape != (N_LANDMARKS, 2) or self.points.dtype != np.float32:
            raise ValueError(
                f"FaceCrop.points must be float32 ({N_LANDMARKS}, 2), "
                f"got {self.points.dtype} {self.points.shape}"
            )
        self.image.setflags(write=False)
        self.points.setflags(write=False)

    @classmethod
    def of(cls, image: np.ndarray, mesh: FaceMesh) -> FaceCrop:
        """The crop of ``image`` (H, W, 3) uint8 BGR around the face ``mesh`` found in it."""
        p = mesh.pixels()[:, :2].astype(np.float64)
        right = (p[EYE_CORNERS[0][0]] + p[EYE_CORNERS[0][1]]) / 2
        left = (p[EYE_CORNERS[1][0]] + p[EYE_CORNERS[1][1]]) / 2
        dx, dy = left - right
        scale = EYE_DISTANCE / max(math.hypot(dx, dy), 1e-6)
        angle = math.atan2(dy, dx)
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
        width, height = CROP_SIZE
        target = np.array([_EYES_AT[0] * width, _EYES_AT[1] * height])
        matrix[:, 2] = target - matrix[:, :2] @ ((right + left) / 2)
        points = p @ matrix[:, :2].T + matrix[:, 2]
        # Only the part of the frame the crop samples is converted and smoothed.
        sigma = 0.5 * math.sqrt(1.0 / scale**2 - 1.0) if scale < 1.0 else 0.0
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
        source = corners @ inverse[:, :2].T + inverse[:, 2]
        margin = 3 * sigma + 2
        h, w = image.shape[:2]
        in_frame = bool(np.all((source >= 0) & (source <= [w - 1, h - 1])))
        x0, y0 = np.clip(np.floor(source.min(axis=0) - margin), 0, [w - 1, h - 1]).astype(int)
        x1, y1 = np.clip(np.ceil(source.max(axis=0) + margin), [x0 + 1, y0 + 1], [w, h]).astype(int)
        grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        if sigma > 0:
            # Smooth before shrinking, so the lashes and iris edges do not alias into
            # patterns that change from frame to frame with the face's distance.
            grey = cv2.GaussianBlur(grey, (0, 0), sigma)
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
        crop = cv2.warpAffine(
            grey, matrix, CROP_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return cls(crop, points.astype(np.float32), in_frame)


@dataclass(frozen=True)
class EyeChange:
    """How one crop differs from a reference after the face was aligned onto it.

    Both are 1 - normalised cross-correlation of grey levels (0 identical, 1
    uncorrelated; unaffected by brightness and contrast):

    eyes    of the eye that changed less (a blink closes both eyes);
    face    of the face outline without the eyes: small when the alignment held.
    """

    eyes: float
    face: float


def eye_change(reference: FaceCrop, current: FaceCrop) -> EyeChange | None:
    """The change from ``reference`` to ``current``; None when either crop reaches
    beyond its frame (the eyes may not be in view), shows an eye narrower than
    :data:`MIN_EYE_WIDTH`, or no alignment was found."""
    crops = (reference, current)
    if not all(c.in_frame for c in crops) or min(map(_narrowest_eye, crops)) < MIN_EYE_WIDTH:
        return None
    rigid = list(RIGID)
    start, _ = cv2.findHomography(current.points[rigid], reference.points[rigid], 0)
    if start is None:
        return None
    ref = reference.image.astype(np.float32)
    width, height = CROP_SIZE
    warped = cv2.warpPerspective(
        current.image.astype(np.float32),
        start,
        CROP_SIZE,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    boxes = [_eye_box(reference.points, *corners) for corners in EYE_CORNERS]
    face = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(face, np.round(reference.points[list(FACE_OVAL)]).astype(np.int32), 255)
    for x0, y0, x1, y1 in boxes:
        face[y0:y1, x0:x1] = 0
    # The landmarks already brought ``warped`` close to the reference, so the face mask
    # drawn on the reference also marks the face in ``warped`` (ECC's input mask).
    try:
        _, refine = cv2.findTransformECC(
            ref,
            warped,
            np.eye(3, dtype=np.float32),
            cv2.MOTION_HOMOGRAPHY,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, _ECC_ITERATIONS, _ECC_EPSILON),
            face,
            _ECC_SMOOTHING,
        )
    except cv2.error:  # ECC found no alignment (too little texture, too far apart)
        return None
    aligned = cv2.warpPerspective(
        warped,
        refine,
        CROP_SIZE,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    eyes = max(_ncc(ref[y0:y1, x0:x1], aligned[y0:y1, x0:x1]) for x0, y0, x1, y1 in boxes)
    rest = face > 0
    return EyeChange(eyes=1.0 - eyes, face=1.0 - _ncc(ref[rest], aligned[rest]))


def _narrowest_eye(crop: FaceCrop) -> float:
    """The smaller corner-to-corner width of the two eyes, crop pixels."""
    return min(float(np.linalg.norm(crop.points[a] - crop.points[b])) for a, b in EYE_CORNERS)


def _eye_box(points: np.ndarray, corner_a: int, corner_b: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) crop pixels of one eye with its lids, clipped to the crop."""
    a, b = points[corner_a].astype(np.float64), points[corner_b].astype(np.float64)
    size = float(np.linalg.norm(b - a))
    half = np.array([_EYE_HALF_WIDTH * size, _EYE_HALF_HEIGHT * size])
    centre = (a + b) / 2
    x0, y0 = np.clip(np.round(centre - half), 0, CROP_SIZE).astype(int)
    x1, y1 = np.clip(np.round(centre + half), 0, CROP_SIZE).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-shaped arrays. A flat (or empty) patch
    is no evidence of change, so it counts as a perfect match (1)."""
    a = a - a.mean() if a.size else a
    b = b - b.mean() if b.size else b
    norm = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 1.0
