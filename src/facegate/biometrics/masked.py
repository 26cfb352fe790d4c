"""Unlock with a mask: when the occlusion map says a mask is worn, and how strictly to match.

A mask is a *mode*, not a failure: the probe is matched with the same SFace score as
always (see ``docs/masks.md`` for the masked-matching options that were measured and
did not help), but against a threshold calibrated on *masked* impostor decisions.
Masked faces look more alike than bare ones (the lower face is one piece of cloth), so
a threshold calibrated on bare faces would not hold its false-match rate on them.

Eyes covered (sunglasses, a hand) is a refusal with its own reason, not a false
non-match: too little of the face is visible to say who it is.

All thresholds live in ``masked_calibration.json``, produced by
``scripts/calibrate_masked.py`` (its command is recorded inside), tuned on half of
the RMFRD people and reported on the other half.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

from facegate.biometrics.match import SecurityLevel
from facegate.errors import ConfigError
from facegate.vision.occlusion import OcclusionMap, Region

CALIBRATION_FILE = "masked_calibration.json"


class FaceMode(StrEnum):
    """What the occlusion map says about a probe.

    BARE: match as usual. MASKED: mouth covered; match against the masked threshold of
    the level (refused at levels that allow no masked unlock). EYES_COVERED: refuse
    with reason ``eyes_covered`` (takes precedence over a mask: eyes are what a masked
    match relies on).
    """

    BARE = "bare"
    MASKED = "masked"
    EYES_COVERED = "eyes_covered"


@dataclass(frozen=True)
class MaskedCalibration:
    """Thresholds for the masked mode, with the command that produced them.

    thresholds   per level, cosine similarity (accept when score >= threshold; higher
                 is stricter), or None where the level allows no masked unlock.
    target_fmr   per level, the false-match rate each threshold was set to (None likewise).
    mask_mouth   mouth occlusion value (in [0, 1]) at or above which a face is masked.
    eyes_covered the larger eye occlusion value at or above which the eyes are covered.
    """

    thresholds: MappingProxyType[SecurityLevel, float | None]
    target_fmr: MappingProxyType[SecurityLevel, float | None]
    mask_mouth: float
    eyes_covered: float
    command: str

    def __post_init__(self) -> None:
        if set(self.thresholds) != set(SecurityLevel):
            raise ValueError("MaskedCalibration needs a threshold (or None) for every level")
        for name in ("mask_mouth", "eyes_covered"):
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


def face_mode(occlusion: OcclusionMap, calibration: MaskedCalibration) -> FaceMode:
    """BARE, MASKED or EYES_COVERED for one probe's occlusion map."""
    eyes = max(occlusion[Region.LEFT_EYE], occlusion[Region.RIGHT_EYE])
    if eyes >= calibration.eyes_covered:
        return FaceMode.EYES_COVERED
    if occlusion[Region.MOUTH] >= calibration.mask_mouth:
        return FaceMode.MASKED
    return FaceMode.BARE


class Outcome(StrEnum):
    """What :func:`judge` decides; ``eyes_covered`` and ``mask_not_allowed`` are
    refusals that say nothing about who is there, so they must not count toward the
    lockout (like ``no_face``)."""

    MATCH = "match"
    NOT_MATCHED = "not_matched"
    EYES_COVERED = "eyes_covered"
    MASK_NOT_ALLOWED = "mask_not_allowed"


@dataclass(frozen=True)
class Judgement:
    """The masked mode's verdict on one probe: ``mask`` is the verdict's ``mask: yes``."""

    outcome: Outcome
    mode: FaceMode
    threshold: float | None

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.MATCH

    @property
    def mask(self) -> bool:
        return self.mode is FaceMode.MASKED


def judge(
    score: float,
    mode: FaceMode,
    level: SecurityLevel,
    bare_threshold: float,
    calibration: MaskedCalibration,
) -> Judgement:
    """The pure decision for one probe's SFace score (cosine, higher = more alike).

    BARE: today's rule, ``score >= bare_threshold``.
    MASKED: ``score >=`` the level's masked threshold; a level without one refuses
    with MASK_NOT_ALLOWED (``high``: payments need the whole face).
    EYES_COVERED: a probe that matches the bare threshold anyway is a match (the face
    was recognised despite sunglasses); otherwise EYES_COVERED instead of NOT_MATCHED,
    since too little of the face was visible to say it is someone else.
    """
    if mode is FaceMode.MASKED:
        limit = calibration.threshold(level)
        if limit is None:
            return Judgement(Outcome.MASK_NOT_ALLOWED, mode, None)
        outcome = Outcome.MATCH if score >= limit else Outcome.NOT_MATCHED
        return Judgement(outcome, mode, limit)
    if score >= bare_threshold:
        return Judgement(Outcome.MATCH, mode, bare_threshold)
    refusal = Outcome.EYES_COVERED if mode is FaceMode.EYES_COVERED else Outcome.NOT_MATCHED
    return Judgement(refusal, mode, bare_threshold)
