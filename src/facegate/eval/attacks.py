"""Unlock evaluation with liveness: PAD on genuine probes, and attack presentations.

Each attack image is probed against the template of the identity it shows, as an
attacker holding that person's photo would. An attack is *accepted* when its face
matches that template at the level's threshold **and** passes the PAD, so IAPAR
(impostor attack presentation acceptance rate, ISO/IEC 30107-3) is

    IAPAR = accepted attacks / attack presentations against an enrolled identity

Attacks where no usable face is found count in the denominator as refused. Genuine
probes refused by the PAD count as false non-matches, since that is what a user gets.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.biometrics.match import template_score
from facegate.biometrics.template import Template
from facegate.errors import FaceGateError, InputError
from facegate.eval.dataset import EmbeddedSet, Sample
from facegate.liveness.pad import PadModel
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image


@dataclass(frozen=True)
class AttackSample:
    """One attack image, the identity it shows, and its attack type (``label``)."""

    sample: Sample
    label: str


def read_attacks(csv_path: Path) -> list[AttackSample]:
    """Rows of a ``path,identity,label`` CSV; paths are relative to the CSV's folder."""
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such attacks file")
    rows = []
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "identity", "label"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            path = csv_path.parent / row["path"]
            if not path.is_file():
                raise InputError(f"{csv_path}:{line}: {path} does not exist")
            rows.append(AttackSample(Sample(row["identity"], path, row["path"]), row["label"]))
    if not rows:
        raise InputError(f"{csv_path}: no rows")
    return rows


def pad_scores(
    data: EmbeddedSet,
    pipeline: FacePipeline,
    model: PadModel,
    progress: Callable[[], None] | None = None,
) -> np.ndarray:
    """(N,) bona fide score of each usable sample's face; NaN where none is usable."""
    scores = np.full(len(data.samples), np.nan)
    for i in np.flatnonzero(data.usable):
        try:
            image = read_image(data.samples[i].path).image
        except FaceGateError:
            continue
        faces = pipeline.detector.detect(image)
        if len(faces):
            scores[i] = model.score(image, faces.boxes[0])
        if progress is not None:
            progress()
    return scores


@dataclass(frozen=True)
class AttackOutcome:
    """Per attack presentation against an enrolled identity: its match score (NaN when
    no usable face), PAD verdict, the identity whose template it was scored against and
    its capture-class value ("" when no face); ``n_unenrolled`` attacks showed nobody
    enrolled."""

    scores: np.ndarray = field(repr=False)
    live: np.ndarray = field(repr=False)
    labels: np.ndarray
    n_unenrolled: int
    owners: np.ndarray = field(default_factory=lambda: np.array([], str), repr=False)
    captures: np.ndarray = field(default_factory=lambda: np.array([], str), repr=False)

    def accepted(self, threshold: float | np.ndarray) -> np.ndarray:
        """(N,) bool: matched at ``threshold`` (score >= it; one value, or one per
        attack) and passed the PAD."""
        return (np.nan_to_num(self.scores, nan=-np.inf) >= threshold) & self.live


def probe_attacks(
    attacks: EmbeddedSet,
    labels: list[str],
    live: np.ndarray,
    templates: dict[str, Template],
) -> AttackOutcome:
    """Score each attack against the template of the identity it shows."""
    ids = attacks.identities
    keep = np.array([ident in templates for ident in ids.tolist()], bool)
    scores = np.full(len(ids), np.nan)
    for i in np.flatnonzero(keep & attacks.usable):
        scores[i] = template_score(templates[ids[i]], attacks.embeddings[i])
    return AttackOutcome(
        scores=scores[keep],
        live=live[keep],
        labels=np.array(labels)[keep],
        n_unenrolled=int((~keep).sum()),
        owners=ids[keep],
        captures=np.array([c or "" for c in attacks.captures])[keep],
    )
