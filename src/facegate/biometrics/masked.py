"""Unlock with a mask: what the occlusion map says is covered, and the masked thresholds.

A mask is a *mode*, not a failure: the probe is matched with the same SFace score as
always (``docs/masks.md`` lists the masked-matching options that were measured), but
held to a threshold calibrated on *masked* impostor decisions. Masked faces look more
alike than bare ones (the lower face is one piece of cloth), so a threshold calibrated
on bare faces would not hold its false-match rate on them. The decision
(:mod:`facegate.biometrics.decision`) never lets a mask loosen a threshold: a masked
attempt needs the larger of the masked and the bare threshold.

Covered eyes (sunglasses, a hand) are named in a non-match's reason, ``eyes_covered``,
so the person knows what to change; the attempt still counts, like any non-match.

All thresholds live in ``masked_calibration.json``, produced by
``scripts/calibrate_masked.py`` (its command is recorded inside), tuned on half of
the RMFRD people and reported on the other half.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from facegate.biometrics.match import SecurityLevel
from facegate.errors import ConfigError
from facegate.vision.occlusion import OcclusionMap, Region

CALIBRATION_FILE = "masked_calibration.json"


@dataclass(frozen=True)
class MaskedCalibration:
    """Thresholds for the masked mode, with the command that produced them.

    thresholds   per level, cosine similarity (accept when score >= threshold; higher
                 is stricter), or None where the level allows no masked unlock.
    target_fmr   per level, the false-match rate each threshold was set to (None likewise).
    mask_mouth   mouth occlusion value (in [0, 1]) at or above which the mouth is covered.
    mask_nose    nose occlusion value at or above which the nose is covered; a face is
                 masked when both are (a mask covers mouth and nose).
    eyes_covered the larger eye occlusion value at or above which the eyes are covered.
    """

    thresholds: MappingProxyType[SecurityLevel, float | None]
    target_fmr: MappingProxyType[SecurityLevel, float | None]
    mask_mouth: float
    mask_nose: float
    eyes_covered: float
    command: str

    def __post_init__(self) -> None:
        if set(self.thresholds) != set(SecurityLevel):
            raise ValueError("MaskedCalibration needs a threshold (or None) for every level")
        for name in ("mask_mouth", "mask_nose", "eyes_covered"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"MaskedCalibration.{name} must be in [0, 1]")

    def threshold(self, level: SecurityLevel) -> float | None:
        """The masked threshold of ``level``, or None when it allows no masked unlock."""
        return self.thresholds[level]


def parse_masked_calibration(raw: dict[str, Any]) -> MaskedCalibration:
    """A calibration record (as ``scripts/calibrate_masked.py`` writes it) as a value."""
    try:
        levels = raw["levels"]
        return MaskedCalibration(
            thresholds=MappingProxyType(
                {lvl: _optional(levels[lvl.value]["threshold"]) for lvl in SecurityLevel}
            ),
            target_fmr=MappingProxyType(
                {lvl: _optional(levels[lvl.value]["target_fmr"]) for lvl in SecurityLevel}
            ),
            mask_mouth=float(raw["occlusion"]["mask_mouth"]),
            mask_nose=float(raw["occlusion"]["mask_nose"]),
            eyes_covered=float(raw["occlusion"]["eyes_covered"]),
            command=str(raw["command"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{CALIBRATION_FILE} is malformed: {err}") from err


def load_masked_calibration() -> MaskedCalibration:
    """The masked calibration shipped with the package."""
    text = resources.files("facegate.biometrics").joinpath(CALIBRATION_FILE).read_text()
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{CALIBRATION_FILE} is not JSON: {err}") from err
    return parse_masked_calibration(raw)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Cover:
    """What the occlusion maps of one attempt's usable frames say is covered.

    masked: mouth and nose are covered on at least one frame (a mask); the attempt
        is then held to the level's masked threshold, never a looser one, and a level
        without masked unlock refuses it. Both regions are asked for because the mouth
        alone also flags a few bare grey or side-lit faces (ORL, Yale), which ``high``
        would then refuse.
    eyes_covered: an eye is covered on at least half of the frames (sunglasses, a
        hand); a non-match then says ``eyes_covered``, so the person knows what to
        change. Half, not any: the eye regions read up to 0.48 on a bare webcam face
        (blinks, glare), and the reason only names a failure that counts either way.

    The two are independent on purpose: sunglasses worn with a mask must not take a
    masked face back to the bare threshold.
    """

    masked: bool
    eyes_covered: bool


def cover_of(maps: Sequence[OcclusionMap], calibration: MaskedCalibration) -> Cover:
    """The :class:`Cover` of an attempt from its usable frames' occlusion maps (any
    frame covered counts: an attacker chooses the frames, so one masked frame among
    bare ones still makes the attempt masked)."""
    if not maps:
        raise ValueError("cover_of needs the occlusion map of at least one frame")
    masked = any(
        m[Region.MOUTH] >= calibration.mask_mouth and m[Region.NOSE] >= calibration.mask_nose
        for m in maps
    )
    eyes = sum(
        max(m[Region.LEFT_EYE], m[Region.RIGHT_EYE]) >= calibration.eyes_covered for m in maps
    )
    return Cover(masked=masked, eyes_covered=2 * eyes >= len(maps))
