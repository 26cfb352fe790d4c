"""Scores and security levels, with a threshold per capture class and per template.

A score is the cosine similarity between a probe embedding and the closest
embedding in the template (higher = more alike; accept when score >= threshold,
so a higher threshold is stricter). Each security level names a false-match
rate; its threshold depends on the probe's capture class (even light, side light,
dark), because impostor scores rise in hard light, and on the template, because
strangers score higher against some faces (and populations) than against others:
the threshold is ``mean + z * std`` of the template's scores against an impostor
cohort (:mod:`facegate.biometrics.cohort`), with ``z`` per level and class. Both are
read from ``calibration.json`` (and ``cohort.npz``), which the command recorded
inside it produced from measured impostor decisions, never guessed.

Without a template (a caller that cannot name one) the per-class cosine thresholds
calibrated without the cohort apply; they are stricter for most templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["Calibration", "SecurityLevel", "load_calibration", "template_score"]

from facegate.biometrics.cohort import Cohort
from facegate.biometrics.levels import SecurityLevel
from facegate.biometrics.template import ADAPTIVE_LIFT, Template
from facegate.errors import ConfigError
from facegate.vision.capture import CaptureClass


@dataclass(frozen=True)
class Calibration:
    """Thresholds per level and capture class, with the provenance to reproduce them.

    ``thresholds``: cosine thresholds per level and class, for a decision whose
    template is not known. ``z_thresholds`` with ``cohort``: per level and class, how
    many cohort standard deviations above the template's cohort mean a score must be
    (see the module docstring). ``consistency_threshold`` (single image pairs at FMR
    1e-3) only decides whether enrolment captures show one person; it is loose on
    purpose, so an unusual but genuine capture (a turned head) stays in the template.
    """

    thresholds: dict[SecurityLevel, dict[CaptureClass, float]]
    consistency_threshold: float
    embedding_model: str
    n_impostor: int
    command: str
    z_thresholds: dict[SecurityLevel, dict[CaptureClass, float]] = field(default_factory=dict)
    cohort: Cohort | None = field(default=None, repr=False)

    def threshold(self, level: SecurityLevel, capture: CaptureClass | None = None) -> float:
        """The cosine score a probe of class ``capture`` needs at ``level`` when the
        template is not known (accept when >=).

        ``None`` (class unknown) gives the strictest threshold of the level over all
        classes, so a caller that does not know the class never gets a looser one.
        """
        by_class = self.thresholds[level]
        return max(by_class.values()) if capture is None else by_class[capture]

    def decision_threshold(
        self,
        level: SecurityLevel,
        captures: list[CaptureClass],
        template: Template | None = None,
    ) -> float:
        """The cosine threshold for a score averaged over frames of these classes, matched
        against ``template``: the strictest of the classes', so no frame's class is held
        to less than its own calibration (no class known: the strictest class).

        With a template and a cohort it is ``mean + z * std`` of the cohort scores of the
        template's *enrolled* entries (learnt ones never move a threshold, so a series
        of learnt frames cannot lower it); without either, the per-class cosine
        threshold. The value is derived from the template: use it for the decision
        only, never log or return it.
        """
        classes = captures or list(CaptureClass)
        if template is None or self.cohort is None or not self.z_thresholds:
            return max(self.threshold(level, c) for c in classes)
        stats = self.cohort.stats(template.embeddings[~template.adaptive])
        z = max(self.z_thresholds[level][c] for c in classes)
        return stats.mean + z * stats.std


def _by_level(raw: dict[str, dict[str, float]]) -> dict[SecurityLevel, dict[CaptureClass, float]]:
    table = {
        SecurityLevel(level): {CaptureClass(c): float(t) for c, t in by_class.items()}
        for level, by_class in raw.items()
    }
    for level, by_class in table.items():
        missing = set(CaptureClass) - set(by_class)
        if missing:
            raise ValueError(f"{level.value} has no threshold for {sorted(missing)}")
    return table


def load_calibration(path: Path | None = None) -> Calibration:
    """The calibration shipped with the package (``biometrics/calibration.json`` and the
    cohort it was measured against, ``biometrics/cohort.npz``), or the one at ``path``
    (a ``calibration.json`` written by ``facegate eval calibrate``, its cohort beside
    it), so an evaluation script can judge a candidate calibration before it ships."""
    source = path or Path(str(resources.files("facegate.biometrics") / "calibration.json"))
    text = source.read_text()
    try:
        raw = json.loads(text)
        normalisation = raw["cohort_normalisation"]
        cohort = Cohort.load(
            source.with_name(str(normalisation["file"])), str(normalisation["sha256"])
        )
        return Calibration(
            thresholds=_by_level(raw["thresholds"]),
            consistency_threshold=float(raw["consistency_threshold"]),
            embedding_model=str(raw["embedding_model"]),
            n_impostor=int(raw["n_impostor"]),
            command=str(raw["command"]),
            z_thresholds=_by_level(normalisation["z_thresholds"]),
            cohort=cohort,
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
