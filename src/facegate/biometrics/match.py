"""Scores and security levels, with a threshold per capture class.

A score is the cosine similarity between a probe embedding and the closest
embedding in the template (higher = more alike; accept when score >= threshold,
so a higher threshold is stricter). Each security level names a false-match
rate; its threshold depends on the probe's capture class (even light, side light,
dark), because impostor scores rise in hard light, and is read from
``calibration.json``, which the command recorded inside it produced from measured
impostor decisions, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Calibration", "SecurityLevel", "load_calibration", "template_score"]

from facegate.biometrics.levels import SecurityLevel
from facegate.biometrics.template import ADAPTIVE_LIFT, Template
from facegate.errors import ConfigError
from facegate.vision.capture import CaptureClass


@dataclass(frozen=True)
class Calibration:
    """Thresholds per level and capture class, with the provenance to reproduce them.

    ``consistency_threshold`` (single image pairs at FMR 1e-3) only decides whether
    enrolment captures show one person; it is loose on purpose, so an unusual but
    genuine capture (a turned head) stays in the template.
    """

    thresholds: dict[SecurityLevel, dict[CaptureClass, float]]
    consistency_threshold: float
    embedding_model: str
    n_impostor: int
    command: str

    def threshold(self, level: SecurityLevel, capture: CaptureClass | None = None) -> float:
        """The score a probe of class ``capture`` needs at ``level`` (accept when >=).

        ``None`` (class unknown) gives the strictest threshold of the level over all
        classes, so a caller that does not know the class never gets a looser one.
        """
        by_class = self.thresholds[level]
        return max(by_class.values()) if capture is None else by_class[capture]

    def decision_threshold(self, level: SecurityLevel, captures: list[CaptureClass]) -> float:
        """The threshold for a score averaged over frames of these classes: the strictest
        of theirs, so no frame's class is held to less than its own calibration."""
        if not captures:
            return self.threshold(level)
        return max(self.threshold(level, c) for c in captures)


def load_calibration() -> Calibration:
    """The calibration shipped with the package (``biometrics/calibration.json``)."""
    text = resources.files("facegate.biometrics").joinpath("calibration.json").read_text()
    try:
        raw = json.loads(text)
        thresholds = {
            SecurityLevel(level): {CaptureClass(c): float(t) for c, t in by_class.items()}
            for level, by_class in raw["thresholds"].items()
        }
        for level, by_class in thresholds.items():
            missing = set(CaptureClass) - set(by_class)
            if missing:
                raise ValueError(f"{level.value} has no threshold for {sorted(missing)}")
        return Calibration(
            thresholds=thresholds,
            consistency_threshold=float(raw["consistency_threshold"]),
            embedding_model=str(raw["embedding_model"]),
            n_impostor=int(raw["n_impostor"]),
            command=str(raw["command"]),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"calibration.json is malformed: {err}") from err


def template_score(template: Template, embedding: np.ndarray) -> float:
    """Cosine similarity of ``embedding`` to its nearest template entry, in [-1, 1], a
    learnt entry counting at most ``ADAPTIVE_LIFT`` above the nearest enrolled one.

    Without the cap, a learnt entry halfway to another face (taught by a morph) would
    let that face in on its own."""
    sims = template.embeddings @ embedding.astype(np.float32)
    enrolled = float(np.max(sims[~template.adaptive]))
    if not template.adaptive.any():
        return enrolled
    learnt = float(np.max(sims[template.adaptive]))
    return max(enrolled, min(learnt, enrolled + ADAPTIVE_LIFT))


def enrolled_score(template: Template, embedding: np.ndarray) -> float:
    """Cosine similarity to the nearest *enrolled* entry, ignoring learnt ones.

    Whether a frame may be learnt is judged by this: were learnt entries counted, each
    learnt frame would only have to resemble the last one, and a series of morphs could
    walk the template to another person's face."""
    enrolled = template.embeddings[~template.adaptive]
    return float(np.max(enrolled @ embedding.astype(np.float32)))
