"""An impostor cohort, kept as the first two moments of its embeddings.

Why a cohort: impostor scores depend on whose template they are measured against.
Some faces (and some populations, as NIST's FRVT Part 3 found for every algorithm)
sit in a crowded part of the embedding space, so other people score high against
them, and one threshold per level admits more impostors for them than it promises.
Cohort z-normalisation measures how high strangers score against *this* template and
raises its threshold by that much: the level then promises a number of standard
deviations above the template's own impostor mean, not one cosine for everyone.

Why moments and not embeddings: the z-norm statistics of a template ``t`` against a
cohort are the mean and the standard deviation of ``t . x`` over the cohort's
embeddings ``x``. Both follow exactly from the cohort's mean ``m`` and covariance
``C`` (``t . m`` and ``sqrt(t^T C t)``), so the package ships those two arrays, a fitted
model like the PAD's weights, and no embedding of any person: the datasets they were
fitted on are research data that must not be redistributed, and an embedding is
biometric data of the person it came from. Nothing is stored per template either:
the statistics are recomputed from the template at each decision (a 128x128 product
per entry), so an adaptive update or re-enrolment can never leave stale ones behind.
The statistics and the threshold they give are derived from the template and, like
it, never leave the decision (no log line, verdict or API field carries them).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.errors import ConfigError
from facegate.vision.embed import EMBEDDING_DIM

__all__ = ["Cohort", "CohortStats"]


@dataclass(frozen=True)
class CohortStats:
    """How strangers score against a template: mean and standard deviation of the
    cosine scores of its entries against the cohort."""

    mean: float
    std: float


@dataclass(frozen=True)
class Cohort:
    """mean (D,) and covariance (D, D) float64 of unit cohort embeddings, each person
    weighted equally; ``n_identities`` people of ``populations`` behind them."""

    mean: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    n_identities: int
    populations: tuple[str, ...]

    def __post_init__(self) -> None:
        d = EMBEDDING_DIM
        if self.mean.shape != (d,) or self.covariance.shape != (d, d):
            raise ValueError(
                f"Cohort needs mean ({d},) and covariance ({d}, {d}), got "
                f"{self.mean.shape} and {self.covariance.shape}"
            )
        if not np.all(np.isfinite(self.covariance)) or np.any(np.diag(self.covariance) <= 0):
            raise ValueError("Cohort covariance must be finite with a positive diagonal")

    @classmethod
    def fit(cls, embeddings: np.ndarray, identities: np.ndarray, populations: list[str]) -> Cohort:
        """Moments of ``embeddings`` (N, D) unit rows, each identity weighted equally so a
        person with many photos does not stand for a population."""
        if len(embeddings) < 2:
            raise ValueError(f"a cohort needs at least 2 embeddings, got {len(embeddings)}")
        x = embeddings.astype(np.float64)
        _, inverse, counts = np.unique(identities, return_inverse=True, return_counts=True)
        weights = 1.0 / counts[inverse]
        weights /= weights.sum()
        mean = weights @ x
        centred = x - mean
        covariance = (weights[:, None] * centred).T @ centred
        return cls(mean, covariance, len(counts), tuple(populations))

    def stats(self, entries: np.ndarray) -> CohortStats:
        """Cohort statistics of a template's entries (K, D), averaged over the entries.

        The mean over entries, not the largest: a template that gained one hard-lit
        entry would otherwise have its spread set by that entry alone, and thresholds
        calibrated on varied templates were then too loose on plain enrolments
        (measured on held-out people, see ``docs/accuracy.md``)."""
        e = entries.astype(np.float64)
        means = e @ self.mean
        stds = np.sqrt(np.sum((e @ self.covariance) * e, axis=1))
        return CohortStats(float(means.mean()), float(stds.mean()))

    def digest(self) -> str:
        """sha256 of the arrays, recorded in ``calibration.json`` so thresholds measured
        against one cohort are never applied with another."""
        h = hashlib.sha256()
        for arr in (self.mean, self.covariance):
            h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        """Write the plain-array ``.npz`` (read back with ``allow_pickle=False``)."""
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                mean=self.mean,
                covariance=self.covariance,
                n_identities=np.array(self.n_identities),
                populations=np.array(self.populations),
            )

    @classmethod
    def load(cls, path: Path, digest: str) -> Cohort:
        """The cohort at ``path``; ConfigError unless its arrays hash to ``digest``, the
        value the calibration recorded when it measured its thresholds against it."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                cohort = cls(
                    npz["mean"].astype(np.float64),
                    npz["covariance"].astype(np.float64),
                    int(npz["n_identities"]),
                    tuple(str(p) for p in npz["populations"]),
                )
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise ConfigError(f"{path.name} is unreadable or malformed ({err})") from err
        if cohort.digest() != digest:
            raise ConfigError(
                f"{path.name} is not the cohort calibration.json was measured against; "
                "re-run the calibration command"
            )
        return cohort
