"""Cheap image transforms an attacker applies to a print or replay, for PAD training.

Light Gaussian noise (sigma 6-10 grey levels) replaced a printed photo's texture
statistics with ones typical of webcam sensor noise, and a grey print tinted by a few
percent got past the colour check, so the PAD accepted most NUAA prints of an enrolled
person (outside test, 2026-12-01). Training on such copies teaches the model that
neither cue is evidence of a live face: the attack class gets noised and grey-tinted
copies, the bona fide class gets the same noise (so noise stops being a live cue),
and no live copy is tinted (a tint is the attacker's, never the camera's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """noise: (low, high) sigma of additive Gaussian noise, in 8-bit grey levels, drawn
    uniformly per copy; tint: (low, high) fraction by which red is scaled up and blue
    down (or the reverse, at random) after turning the image grey; seed: the draws
    are reproducible per presentation (seeded by ``seed`` and its index)."""

    noise: tuple[float, float] = (2.0, 12.0)
    tint: tuple[float, float] = (0.02, 0.08)
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"noise": list(self.noise), "tint": list(self.tint), "seed": self.seed}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Augmentation:
        """The augmentation recorded in a weights file (:meth:`as_dict`)."""
        low, high = raw["noise"]
        tint_low, tint_high = raw["tint"]
        return cls((float(low), float(high)), (float(tint_low), float(tint_high)), int(raw["seed"]))


def noised(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` (uint8) plus independent Gaussian noise of ``sigma`` on every value."""
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def grey_tinted(image: np.ndarray, amount: float) -> np.ndarray:
    """BGR ``image`` turned grey, then blue scaled by 1 - amount and red by 1 + amount."""
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    gains = np.array([1.0 - amount, 1.0, 1.0 + amount])
    return np.clip(grey.astype(np.float64) * gains, 0, 255).astype(np.uint8)


def copies(image: np.ndarray, bona_fide: bool, index: int, aug: Augmentation) -> list[np.ndarray]:
    """The augmented copies of presentation number ``index``: one noised copy, and for
    an attack also one grey-tinted copy."""
    rng = np.random.default_rng([aug.seed, index])
    out = [noised(image, float(rng.uniform(*aug.noise)), rng)]
    if not bona_fide:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out.append(grey_tinted(image, sign * float(rng.uniform(*aug.tint))))
    return out
