"""Per-region occlusion map: how likely each part of the face is covered.

The face is judged on the recogniser's aligned 112x112 crop (:mod:`facegate.vision.align`),
where the eyes, nose tip and mouth corners always sit at the same pixels, so eight
fixed boxes (:class:`Region`, ``REGION_BOXES``) land on the same parts of every roughly
frontal face, and the unlock path reuses the very crop it matches.

A region's value is in [0, 1]: the probability, by that region's logistic model, that
something covers it (a mask, a hand, sunglasses, a cap or hair). 0 = surely visible,
1 = surely covered, 0.5 = undecided. The models (``occlusion_weights.npz``) were
trained by ``scripts/train_occlusion.py`` on real photos of half the RMFRD people
(masked and unmasked), the RWMFD masked sample and the dev set's ORL and NUAA faces,
plus drawn sunglasses, hands and caps for the upper face (no real photos of those are
available); the command is recorded in the file.

The evidence each model weighs (:func:`region_features`) is offline and cheap:

* shape: a histogram of oriented gradients of the region's lightness (lips, nostrils
  and eyelids have edges that a mask or a lens lacks);
* colour and texture against the person's *own* skin: a reference sampled where masks,
  hands and sunglasses rarely reach (between the eyebrows, and the forehead just above
  them), summarised per channel (CIE Lab and gradient magnitude) by a median and a
  robust spread; the region's median and spread in those units;
* the share of the region's pixels unlike that skin (:func:`unlike_skin`: farther than
  ``OUTLIER_DISTANCE`` spreads). Grey images (ORL, Yale) carry no hue; spreads are
  floored at ``MIN_SPREAD`` so their lightness and texture cues still work.

Measured: ``facegate eval occlusion`` (docs/masks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from facegate.errors import ModelError
from facegate.vision.align import CROP_SIZE, align, similarity_matrix
from facegate.vision.detect import Faces
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame


class Region(StrEnum):
    """The eight regions, named for the subject (left_eye is the subject's own left eye,
    on the image's right on an unmirrored camera, as in ARKit and MediaPipe)."""

    FOREHEAD = "forehead"
    LEFT_EYE = "left_eye"
    RIGHT_EYE = "right_eye"
    NOSE = "nose"
    MOUTH = "mouth"
    CHIN = "chin"
    LEFT_CHEEK = "left_cheek"
    RIGHT_CHEEK = "right_cheek"


# Region boxes in the aligned crop's pixels: (x0, y0, x1, y1), x1 and y1 exclusive.
# The crop has the subject's right eye at (38.3, 51.7), left eye at (73.5, 51.5),
# nose tip at (56.0, 71.7) and mouth corners at (41.5, 92.4) and (70.7, 92.2).
REGION_BOXES: Mapping[Region, tuple[int, int, int, int]] = MappingProxyType(
    {
        Region.FOREHEAD: (30, 10, 82, 38),
        Region.RIGHT_EYE: (25, 42, 52, 61),
        Region.LEFT_EYE: (60, 42, 87, 61),
        Region.NOSE: (46, 56, 66, 79),
        Region.MOUTH: (37, 83, 75, 101),
        Region.CHIN: (40, 102, 72, 112),
        Region.RIGHT_CHEEK: (16, 64, 40, 88),
        Region.LEFT_CHEEK: (72, 64, 96, 88),
    }
)
# Where the person's own skin is sampled: between the brows, and the forehead above them.
REFERENCE_BOXES = ((48, 36, 64, 52), (36, 26, 76, 37))

# A pixel is unlike skin beyond this many robust spreads from the reference median
# (Euclidean over L, a, b and texture in spread units). 3.37 is the 99 % point of the
# chi distribution with 3 degrees of freedom: a definition of "outside the person's
# own skin colour", not a tuned value.
OUTLIER_DISTANCE = 3.37
# Floor of each channel's spread (OpenCV's 8-bit Lab units and gradient units): camera
# noise and JPEG rounding, so a perfectly flat reference does not make every pixel odd.
MIN_SPREAD = 4.0

HOG_SIZE = (32, 24)  # (width, height) each region is resized to before its HOG
HOG_CELL = 8
HOG_BINS = 8
N_FEATURES = (HOG_SIZE[0] // HOG_CELL) * (HOG_SIZE[1] // HOG_CELL) * HOG_BINS + 4 + 4 + 1
WEIGHTS_FILE = "occlusion_weights.npz"


@dataclass(frozen=True)
class OcclusionMap:
    """values: for each Region, the probability in [0, 1] that something covers it
    (0 = surely visible, 1 = surely covered, 0.5 = undecided; see the module docstring).
    Values are comparable with the same region on other faces, which is how the
    thresholds that use them (``biometrics/masked_calibration.json``) were set."""

    values: Mapping[Region, float]

    def __post_init__(self) -> None:
        if set(self.values) != set(Region):
            raise ValueError(f"OcclusionMap needs all of {[r.value for r in Region]}")
        for region, value in self.values.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"OcclusionMap.{region.value} must be in [0, 1], got {value}")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __getitem__(self, region: Region) -> float:
        return self.values[region]

    def as_dict(self) -> dict[str, float]:
        """Region names to values, in :class:`Region` order, rounded to 3 decimals."""
        return {r.value: round(float(self.values[r]), 3) for r in Region}


def _features(crop: np.ndarray) -> np.ndarray:
    """(112, 112, 4) float32: L, a, b (OpenCV 8-bit Lab) and gradient magnitude."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    grey = cv2.GaussianBlur(lab[:, :, 0], (3, 3), 0)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    texture = cv2.GaussianBlur(np.hypot(gx, gy), (5, 5), 0)
    return np.dstack([lab, texture])


def _check(crop: np.ndarray) -> None:
    if crop.shape != (CROP_SIZE, CROP_SIZE, 3) or crop.dtype != np.uint8:
        raise ValueError(
            f"expected a (112, 112, 3) uint8 aligned crop, got {crop.dtype} {crop.shape}"
        )


def _against_skin(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, reference median, reference spread) of one aligned crop."""
    _check(crop)
    feats = _features(crop)
    ref = np.concatenate([feats[y0:y1, x0:x1].reshape(-1, 4) for x0, y0, x1, y1 in REFERENCE_BOXES])
    median = np.median(ref, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(ref - median), axis=0), MIN_SPREAD)
    return feats, median, spread


def unlike_skin(crop: np.ndarray) -> np.ndarray:
    """(112, 112) bool: True where a pixel of the aligned crop is unlike the person's skin."""
    return _unlike(*_against_skin(crop))


def _unlike(feats: np.ndarray, median: np.ndarray, spread: np.ndarray) -> np.ndarray:
    z = (feats - median) / spread
    # Smoother than skin is no occlusion cue: only excess texture counts.
    z[:, :, 3] = np.maximum(z[:, :, 3], 0.0)
    return np.asarray(np.sqrt((z**2).sum(axis=2)) > OUTLIER_DISTANCE)


def region_features(crop: np.ndarray) -> dict[Region, np.ndarray]:
    """Per region, (N_FEATURES,) float32: the evidence the region models weigh.

    Shape (HOG of the region's lightness: lips, nostrils and eyelids have edges a
    mask or lens lacks), colour against the person's own skin (the region's median
    L, a, b and texture minus the reference's, in reference spreads; their spread
    within the region) and the share of pixels unlike skin (:func:`unlike_skin`).
    """
    feats, median, spread = _against_skin(crop)
    odd = _unlike(feats, median, spread)
    grey = feats[:, :, 0]
    out = {}
    for region, (x0, y0, x1, y1) in REGION_BOXES.items():
        patch = feats[y0:y1, x0:x1].reshape(-1, 4)
        shape = hog(cv2.resize(grey[y0:y1, x0:x1], HOG_SIZE, interpolation=cv2.INTER_AREA))
        low, mid, high = quartiles(patch)
        colour = (mid - median) / spread
        within = (high - low) / spread
        out[region] = np.concatenate([shape, colour, within, [odd[y0:y1, x0:x1].mean()]]).astype(
            np.float32
        )
    return out


def quartiles(values: np.ndarray) -> np.ndarray:
    """(3, C): the 25th, 50th and 75th percentiles of (N, C) ``values`` per column, with
    ``np.percentile``'s linear interpolation, from one sort (it is a fifth of the cost)."""
    ordered = np.sort(values, axis=0)
    position = np.array([0.25, 0.5, 0.75]) * (len(ordered) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(ordered) - 1)
    t = (position - lower)[:, None]
    a, b = ordered[lower], ordered[upper]
    return np.asarray(np.where(t < 0.5, a + (b - a) * t, b - (b - a) * (1 - t)))


def hog(patch: np.ndarray) -> np.ndarray:
    """Histogram of oriented gradients of a (24, 32) lightness patch: 4 x 3 cells of 8
    pixels, 8 unsigned orientations each, each cell L2-normalised (96 numbers)."""
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / np.pi * HOG_BINS).astype(int), HOG_BINS - 1)
    rows, cols = patch.shape[0] // HOG_CELL, patch.shape[1] // HOG_CELL
    h, w = rows * HOG_CELL, cols * HOG_CELL
    # One bincount over (cell, orientation) keys: each cell's pixels are summed in the
    # same row-major order as cell by cell, for a sixth of the time.
    cell = (np.arange(h)[:, None] // HOG_CELL) * cols + np.arange(w)[None, :] // HOG_CELL
    keys = (cell * HOG_BINS + bins[:h, :w]).ravel()
    sums = np.bincount(keys, magnitude[:h, :w].ravel(), rows * cols * HOG_BINS)
    cells = sums.reshape(rows, cols, HOG_BINS).astype(np.float32)
    cells /= np.linalg.norm(cells, axis=2, keepdims=True) + 1e-3
    return cells.ravel()


@dataclass(frozen=True)
class RegionModels:
    """One logistic model per region over :func:`region_features`.

    mean, scale (R, F): feature standardisation; weights (R, F); bias (R,); rows in
    :class:`Region` order. ``command`` and ``meta`` record how they were trained.
    """

    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    command: str = ""

    def __post_init__(self) -> None:
        shape = (len(Region), N_FEATURES)
        for name in ("mean", "scale", "weights"):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise ValueError(f"RegionModels.{name} must be {shape}, got {arr.shape}")
        if self.bias.shape != (len(Region),):
            raise ValueError(f"RegionModels.bias must be ({len(Region)},), got {self.bias.shape}")

    @classmethod
    def load(cls, path: Path | None = None) -> RegionModels:
        """The models shipped with the package (``vision/occlusion_weights.npz``)."""
        source = path or Path(str(resources.files("facegate.vision").joinpath(WEIGHTS_FILE)))
        try:
            with np.load(source, allow_pickle=False) as raw:
                return cls(
                    mean=raw["mean"].astype(np.float32),
                    scale=raw["scale"].astype(np.float32),
                    weights=raw["weights"].astype(np.float32),
                    bias=raw["bias"].astype(np.float32),
                    command=str(raw["command"]),
                )
        except (OSError, KeyError, ValueError) as err:
            raise ModelError(
                f"occlusion models at {source} are missing or malformed: {err}"
            ) from err

    def logits(self, features: Mapping[Region, np.ndarray]) -> np.ndarray:
        """(R,) log-odds that each region is covered."""
        x = np.stack([features[r] for r in Region])
        z = (x - self.mean) / self.scale
        return np.asarray((z * self.weights).sum(axis=1) + self.bias)

    def map(self, crop: np.ndarray) -> OcclusionMap:
        """The occlusion map of one aligned (112, 112, 3) uint8 BGR crop."""
        p = 1.0 / (1.0 + np.exp(-self.logits(region_features(crop))))
        return OcclusionMap({r: float(v) for r, v in zip(Region, p, strict=True)})


def region_corners(faces: Faces, index: int = 0) -> dict[Region, np.ndarray]:
    """Each region's box as a (4, 2) float32 polygon in the frame's pixels, for drawing:
    the aligned crop's boxes mapped back through the inverse of the alignment."""
    inverse = cv2.invertAffineTransform(similarity_matrix(faces.landmarks[index]))
    out = {}
    for region, (x0, y0, x1, y1) in REGION_BOXES.items():
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        out[region] = (box @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
    return out


@dataclass(frozen=True)
class FaceOcclusion:
    """The occlusion of one frame's primary face; ``map`` is None when no face was found.

    corners: each region's (4, 2) polygon in frame pixels (empty when no face).
    """

    source: str
    index: int
    map: OcclusionMap | None
    corners: Mapping[Region, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def face_found(self) -> bool:
        return self.map is not None


class OcclusionAssessor:
    """Occlusion maps of frames: the pipeline locates the face, the region models judge it.

    ``pipeline`` is the process's one :class:`FacePipeline` (its detector and
    relocation of badly lit faces are reused, so the map is drawn on the very crop
    unlock matches); ``models`` default to the shipped ones.
    """

    def __init__(self, pipeline: FacePipeline, models: RegionModels | None = None) -> None:
        self.pipeline = pipeline
        self.models = models or RegionModels.load()

    def assess(self, frame: Frame) -> FaceOcclusion:
        """The primary face's map, or a FaceOcclusion with ``map`` None when no face."""
        faces = self.pipeline.observe(frame).faces
        return self.assess_faces(frame, faces)

    def assess_faces(self, frame: Frame, faces: Faces) -> FaceOcclusion:
        """The map of face 0 of ``faces`` (as an Observation holds them) in ``frame``."""
        if not len(faces):
            return FaceOcclusion(frame.source, frame.index, None)
        crop = align(frame.image, faces, 0)
        return FaceOcclusion(
            frame.source, frame.index, self.models.map(crop), region_corners(faces, 0)
        )
