"""Texture and colour features for passive presentation-attack detection (PAD).

A printed photo or a screen re-captured by a webcam loses fine skin texture and
shifts colour: print dots, paper grain and screen pixels change the local binary
patterns, and the narrower gamut of ink or a panel shows most clearly in the
chroma channels. So the face is cut out *with context* (the border of a held-up
photo or phone often falls just outside the face box), and multi-scale uniform
LBP histograms are taken in every channel of YCrCb and HSV.

Everything about the features is a :class:`FeatureSpec` value that is stored in
the weights file, so a model is always scored with the features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

_CONVERSIONS = {"ycrcb": cv2.COLOR_BGR2YCrCb, "hsv": cv2.COLOR_BGR2HSV}


@dataclass(frozen=True)
class FeatureSpec:
    """How a face becomes a feature vector.

    context: side of the square crop as a multiple of the longer side of the face box
        (1.0 = the box alone; 1.3 keeps a band of background and hair around it).
    side: the crop is resampled to side x side pixels before LBP.
    scales: (P, R) pairs: P neighbours on a circle of radius R pixels.
    spaces: colour spaces whose three channels each give one histogram per scale.
    """

    context: float = 1.3
    side: int = 64
    scales: tuple[tuple[int, int], ...] = ((8, 1), (8, 2))
    spaces: tuple[str, ...] = ("ycrcb", "hsv")

    def __post_init__(self) -> None:
        unknown = set(self.spaces) - set(_CONVERSIONS)
        if unknown:
            raise ValueError(
                f"unknown colour space(s) {sorted(unknown)}; known: {sorted(_CONVERSIONS)}"
            )
        if not (0.5 <= self.context <= 4.0 and 16 <= self.side <= 256 and self.scales):
            raise ValueError(f"FeatureSpec out of range: {self}")

    @property
    def dim(self) -> int:
        """Length of the feature vector: one 'nri_uniform' histogram of P(P-1)+3 bins
        per channel, scale and colour space."""
        bins = sum(p * (p - 1) + 3 for p, _ in self.scales)
        return 3 * len(self.spaces) * bins

    def as_dict(self) -> dict[str, object]:
        return {
            "context": self.context,
            "side": self.side,
            "scales": [list(s) for s in self.scales],
            "spaces": list(self.spaces),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> FeatureSpec:
        scales = raw["scales"]
        spaces = raw["spaces"]
        if not isinstance(scales, list) or not isinstance(spaces, list):
            raise ValueError("scales and spaces must be lists")
        return cls(
            context=float(raw["context"]),  # type: ignore[arg-type]
            side=int(raw["side"]),  # type: ignore[call-overload]
            scales=tuple((int(p), int(r)) for p, r in scales),
            spaces=tuple(str(s) for s in spaces),
        )


def face_crop(image: np.ndarray, box: np.ndarray, context: float, side: int) -> np.ndarray:
    """The (side, side, 3) uint8 BGR square centred on ``box`` (x, y, w, h pixels).

    Its side is ``context`` times the longer side of the box; parts outside the frame
    are mirrored in, so a face at the border still gives a full crop.
    """
    x, y, w, h = (float(v) for v in box[:4])
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have a positive size, got {w}x{h}")
    scale = side / (context * max(w, h))
    cx, cy = x + w / 2.0, y + h / 2.0
    matrix = np.array(
        [[scale, 0.0, side / 2.0 - cx * scale], [0.0, scale, side / 2.0 - cy * scale]],
        np.float32,
    )
    return cv2.warpAffine(
        image, matrix, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )


def pad_features(image: np.ndarray, box: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(spec.dim,) float32 features of the face in ``box`` of a BGR frame.

    Each histogram is normalised to sum 1 and square-rooted (the Hellinger map), which
    lets a linear model compare histograms the way a chi-square kernel would.
    """
    crop = face_crop(image, box, spec.context, spec.side)
    parts = []
    for space in spec.spaces:
        converted = cv2.cvtColor(crop, _CONVERSIONS[space])
        for channel in range(3):
            plane = np.ascontiguousarray(converted[:, :, channel])
            for points, radius in spec.scales:
                codes = local_binary_pattern(plane, points, radius, "nri_uniform")
                hist = np.bincount(
                    codes.astype(np.intp).ravel(), minlength=points * (points - 1) + 3
                ).astype(np.float64)
                parts.append(np.sqrt(hist / hist.sum()))
    return np.concatenate(parts).astype(np.float32)


# Chroma spread (8-bit YCrCb units, after CHROMA_SMOOTH) below which a face counts as
# having no colour. A grey image or an IR camera gives 0; a grey image tinted by
# scaling its channels gives chroma that is a function of luminance: at most 1.55
# with a 7 % tint (clipping bends it), noise of sigma 10 on top included, where colour
# faces of every source gave at least 2.01 (``scripts/measure_colour_spread.py``,
# docs/liveness.md). The margin is thin on both sides; the training copies
# (:mod:`facegate.eval.pad_augment`) are the second line against tints.
COLOURLESS_SPREAD = 1.7
# Gaussian sigma (crop pixels) that smooths chroma before its spread is measured, so
# added pixel noise, which a tint cannot hide behind otherwise, does not count as colour.
CHROMA_SMOOTH = 2.0


def chroma_spread(crop: np.ndarray) -> float:
    """Spread of a BGR crop's chroma that a cubic in its luminance cannot explain.

    Why not the chroma itself: a grey print tinted by a few percent has chroma far from
    neutral, but every pixel's chroma follows from its brightness alone; a live face's
    lips, eyes, skin and hair differ in hue at the same brightness. Smoothing first
    removes pixel noise, which would otherwise count as colour.
    """
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    smooth = cv2.GaussianBlur(ycc, (0, 0), CHROMA_SMOOTH)
    luma = smooth[:, :, 0].ravel() / 255.0
    basis = np.stack([luma**power for power in range(4)], axis=1)
    spreads = []
    for channel in (1, 2):
        chroma = smooth[:, :, channel].ravel()
        coef, *_ = np.linalg.lstsq(basis, chroma, rcond=None)
        spreads.append(float(np.std(chroma - basis @ coef)))
    return max(spreads)


def colourless(image: np.ndarray, box: np.ndarray, spec: FeatureSpec) -> bool:
    """True when the face's colour says nothing: a grey image, an IR camera, or a grey
    image given a uniform tint (:func:`chroma_spread` below COLOURLESS_SPREAD).

    Colour (a display's gamut and white point, ink) is half of what separates a live
    face from a screen or print, and every grey face the PAD was trained on was live,
    so on a colourless frame its score is no evidence: a colour photo turned grey
    would otherwise look live, and a faint tint must not be enough to hide that.
    """
    return chroma_spread(face_crop(image, box, spec.context, spec.side)) < COLOURLESS_SPREAD
