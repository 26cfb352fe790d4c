"""Presentation-attack detection (PAD) error rates, in the vocabulary of ISO/IEC 30107-3.

A PAD score is the model's belief that a presentation is *bona fide* (a live person),
in [0, 1]; a presentation is **accepted as bona fide when ``score >= threshold``**, so
a higher threshold is stricter: it refuses more attacks and more bona fide users.

- APCER (attack presentation classification error rate): share of attack
  presentations of one attack type (presentation attack instrument species, e.g. a
  printed photo) wrongly accepted as bona fide. It is reported *per type*, and the
  headline is the worst type, as the standard asks.
- BPCER (bona fide presentation classification error rate): share of bona fide
  presentations wrongly refused as attacks.

Rates are fractions in [0, 1] and always travel with the counts behind them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class AttackRate:
    """APCER of one attack type: ``accepted`` of ``n`` attack presentations passed."""

    apcer: float
    accepted: int
    n: int


@dataclass(frozen=True)
class PadSummary:
    """Error rates of a PAD at one threshold (accept as bona fide when score >= it)."""

    threshold: float
    bpcer: float
    bona_fide_refused: int
    n_bona_fide: int
    apcer: Mapping[str, AttackRate]

    @property
    def n_attack(self) -> int:
        return sum(rate.n for rate in self.apcer.values())

    @property
    def max_apcer(self) -> float:
        """The worst attack type's APCER (0 when there are no attacks)."""
        return max((rate.apcer for rate in self.apcer.values()), default=0.0)

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "bpcer": self.bpcer,
            "bona_fide_refused": self.bona_fide_refused,
            "n_live": self.n_bona_fide,
            "n_attack": self.n_attack,
            "apcer": {k: r.apcer for k, r in self.apcer.items()},
            "attacks_accepted": {k: r.accepted for k, r in self.apcer.items()},
            "n_attack_by_type": {k: r.n for k, r in self.apcer.items()},
            "max_apcer": self.max_apcer,
        }


def _scores(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name} scores: expected a non-empty 1-D array of finite numbers")
    return array


def threshold_at_bpcer(bona_fide: ArrayLike, target: float) -> float:
    """The highest (strictest) threshold whose BPCER is at most ``target``.

    With ``k`` the largest count of refusals such that ``k / n <= target``, the
    threshold is the ``(k+1)``-th lowest bona fide score: only scores strictly below
    it are refused, so at most ``k`` are, ties included.
    """
    scores = np.sort(_scores("bona fide", bona_fide))
    if not 0.0 <= target < 1.0:
        raise ValueError(f"expected a target BPCER in [0, 1), got {target!r}")
    n = scores.size
    k = min(int(np.floor(target * n + 1e-9)), n - 1)
    return float(scores[k])


def pad_summary(
    bona_fide: ArrayLike, attacks: Mapping[str, ArrayLike], threshold: float
) -> PadSummary:
    """APCER per attack type and BPCER at ``threshold``; types with no scores are left out."""
    live = _scores("bona fide", bona_fide)
    refused = int(np.count_nonzero(live < threshold))
    rates = {}
    for kind, values in sorted(attacks.items()):
        arr = np.asarray(values, dtype=np.float64)
        if arr.size == 0:
            continue
        accepted = int(np.count_nonzero(_scores(kind, arr) >= threshold))
        rates[kind] = AttackRate(accepted / arr.size, accepted, int(arr.size))
    return PadSummary(threshold, refused / live.size, refused, int(live.size), rates)
