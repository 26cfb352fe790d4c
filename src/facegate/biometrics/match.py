"""Scores and security levels.

A score is the cosine similarity between a probe embedding and the closest
embedding in the template (higher = more alike; accept when score >= threshold,
so a higher threshold is stricter). Each security level names a false-match
rate, and its threshold is read from ``calibration.json``, which the command
recorded inside it produced from measured impostor scores, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Calibration", "SecurityLevel", "load_calibration", "template_score"]

from facegate.biometrics.levels import SecurityLevel
from facegate.biometrics.template import Template
from facegate.errors import ConfigError


@dataclass(frozen=True)
class Calibration:
    """Thresholds per level, with the provenance needed to reproduce them.

    ``consistency_threshold`` (single image pairs at FMR 1e-3) only decides whether
    enrolment captures show one person; it is loose on purpose, so an unusual but
    genuine capture (a turned head) stays in the template.
    """

    thresholds: dict[SecurityLevel, float]
    consistency_threshold: float
    embedding_model: str
    n_impostor: int
    command: str

    def threshold(self, level: SecurityLevel) -> float:
        return self.thresholds[level]


def load_calibration() -> Calibration:
    """The calibration shipped with the package (``biometrics/calibration.json``)."""
    text = resources.files("facegate.biometrics").joinpath("calibration.json").read_text()
    try:
        raw = json.loads(text)
        thresholds = {SecurityLevel(k): float(v) for k, v in raw["thresholds"].items()}
        return Calibration(
            thresholds=thresholds,
            consistency_threshold=float(raw["consistency_threshold"]),
            embedding_model=str(raw["embedding_model"]),
            n_impostor=int(raw["n_impostor"]),
            command=str(raw["command"]),
        )
    except (KeyError, ValueError, TypeError) as err:
        raise ConfigError(f"calibration.json is malformed: {err}") from err


def template_score(template: Template, embedding: np.ndarray) -> float:
    """Cosine similarity of ``embedding`` to its nearest template entry, in [-1, 1]."""
    return float(np.max(template.embeddings @ embedding.astype(np.float32)))
