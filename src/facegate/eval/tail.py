"""A score threshold at a tiny FMR from the tail of the impostor scores, not their maximum.

The empirical threshold at FMR 1e-5 over ~100,000 impostor decisions is set by the one
or two highest of them: whichever pair of look-alikes a fold happens to hold moves it
by most of a standard deviation (cohort ``z`` for side light ranged 4.84-5.85 between
held-out folds). Extreme value theory estimates the same quantile from many decisions:
above a high threshold ``u`` the exceedances of almost any score distribution follow a
generalised Pareto distribution (Pickands-Balkema-de Haan), so fitting one to the top
``exceed_fraction`` of the scores and extrapolating to the target uses hundreds of
decisions where the empirical rule uses a handful.

``exceed_fraction`` is 1 %: it leaves several hundred exceedances in the smallest class
of a held-out fold (~40,000 dark-light decisions), while 0.1 % would leave a few dozen
and 2-5 % would fit the near-Gaussian body of the score distribution rather than its
tail. It was fixed before any held-out figure was measured with it.

Measured on held-out people (``scripts/held_out_folds.py --tail gpd``, two seeds, two
folds) it is *not* steadier than the empirical rule and is not shipped: cohort ``z`` at
`standard` ranged 4.60-7.14 between folds against 4.84-5.85, one fold gained two held-out
NUAA false matches, another rejected half its Yale B genuine probes. The top 1 % of a
class's decisions comes from 7-217 pairs of people (in one fold a single pair held the
top ten decisions in even and in side light), so a fit to it samples people, not
decisions, and its shape swings with them (-0.16 to +0.13 in even light). See
``docs/accuracy.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import genpareto

from facegate.errors import InputError
from facegate.eval.metrics import threshold_at_fmr

EXCEED_FRACTION = 0.01
MIN_EXCEEDANCES = 100  # fewer would make the fitted shape as unstable as the maximum


class TailRule(StrEnum):
    """How a threshold at a target FMR is read off impostor scores."""

    EMPIRICAL = "empirical"  # the lowest threshold the scores themselves show meets it
    GPD = "gpd"  # extrapolated from a generalised Pareto fit to the top 1 %


@dataclass(frozen=True)
class TailFit:
    """A generalised Pareto fit to the scores above ``threshold``.

    ``exceed_rate`` is the fraction of all scores above ``threshold`` (``n_exceed /
    n``); ``shape`` (xi) and ``scale`` (sigma) are those of the exceedances ``score -
    threshold``; ``shape`` < 0 is a bounded tail, as cosine scores have.
    """

    threshold: float
    exceed_rate: float
    n_exceed: int
    n: int
    shape: float
    scale: float

    def quantile(self, target: float) -> float:
        """The score exceeded with probability ``target`` (< ``exceed_rate``)."""
        if not 0.0 < target < self.exceed_rate:
            raise ValueError(f"target {target!r} is not inside the fitted tail")
        ratio = self.exceed_rate / target
        if abs(self.shape) < 1e-9:
            return self.threshold + self.scale * float(np.log(ratio))
        return self.threshold + self.scale / self.shape * (ratio**self.shape - 1.0)


def fit_tail(scores: ArrayLike, exceed_fraction: float = EXCEED_FRACTION) -> TailFit:
    """Fit the top ``exceed_fraction`` of ``scores`` (maximum likelihood, location 0).

    ``threshold`` is the highest score not among the top ``round(exceed_fraction * n)``,
    so exactly that many exceed it (ties at it fall below)."""
    s = np.sort(np.asarray(scores, np.float64).ravel())
    n = s.size
    k = round(exceed_fraction * n)
    if k < MIN_EXCEEDANCES:
        raise InputError(
            f"{n} impostor scores leave {k} above the top {exceed_fraction:.0%}: a tail fit "
            f"needs at least {MIN_EXCEEDANCES}; add people or use the empirical rule"
        )
    threshold = float(s[n - k - 1])
    excess = s[n - k :] - threshold
    excess = excess[excess > 0]
    shape, _, scale = genpareto.fit(excess, floc=0.0)
    return TailFit(threshold, len(excess) / n, len(excess), n, float(shape), float(scale))


def tail_threshold(scores: ArrayLike, target: float) -> float:
    """The score threshold at FMR ``target`` from a tail fit (see the module docstring)."""
    return fit_tail(scores).quantile(target)


def estimator(rule: TailRule) -> Callable[[ArrayLike, float], float]:
    """``(scores, target) -> threshold`` for ``rule``."""
    return tail_threshold if rule is TailRule.GPD else threshold_at_fmr
