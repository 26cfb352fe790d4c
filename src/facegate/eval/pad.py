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


def threshold_at_apcer(attack: ArrayLike, target: float) -> float:
    """The lowest (most lenient) threshold whose APCER is at most ``target``.

    With ``k`` the largest count of acceptances such that ``k / n <= target``, the
    threshold lies just above the ``(k+1)``-th highest attack score, so at most ``k``
    attack scores reach it, ties included.
    """
    scores = np.sort(_scores("attack", attack))[::-1]
    if not 0.0 <= target < 1.0:
        raise ValueError(f"expected a target APCER in [0, 1), got {target!r}")
    k = min(int(np.floor(target * scores.size + 1e-9)), scores.size - 1)
    return float(np.nextafter(scores[k], np.inf))


@dataclass(frozen=True)
class PadBand:
    """The three-way decision's two thresholds: LIVE at ``score >= accept_at``,
    ATTACK at ``score < refuse_below``, UNCERTAIN between (refuse_below <= accept_at)."""

    refuse_below: float
    accept_at: float


def band_per_group(
    scores: ArrayLike,
    bona_fide: ArrayLike,
    groups: ArrayLike,
    target_bpcer: float,
    target_apcer: float,
) -> PadBand:
    """The widest-evidence band that keeps *every* group within its targets.

    ``refuse_below`` is the lowest of the groups' BPCER-target thresholds (no bona
    fide group has more than ``target_bpcer`` of its presentations refused outright)
    and ``accept_at`` the highest of the groups' APCER-target thresholds (no attack
    group has more than ``target_apcer`` accepted on the PAD alone). When the two
    cross, the band closes at ``accept_at``: a score that is confidently live for the
    attacks' sake is not also refused.
    """
    s = _scores("all", scores)
    live = np.asarray(bona_fide, bool)
    g = np.asarray(groups)
    refuse = min(
        threshold_at_bpcer(s[live & (g == name)], target_bpcer) for name in np.unique(g[live])
    )
    accept = max(
        threshold_at_apcer(s[~live & (g == name)], target_apcer) for name in np.unique(g[~live])
    )
    accept = float(min(max(accept, np.nextafter(0.0, 1.0)), np.nextafter(1.0, 0.0)))
    return PadBand(min(refuse, accept), accept)


@dataclass(frozen=True)
class Outcomes:
    """How one group's presentations were decided by a band: counts of each decision.

    For bona fide presentations BPCER counts only outright refusals (``attack``);
    ``uncertain`` ones go on to a challenge where the source can answer one. For
    attacks APCER counts only those accepted on the PAD alone (``live``).
    """

    live: int
    uncertain: int
    attack: int

    @property
    def n(self) -> int:
        return self.live + self.uncertain + self.attack

    def as_dict(self) -> dict[str, int]:
        return {"live": self.live, "uncertain": self.uncertain, "attack": self.attack}


def outcomes(scores: ArrayLike, band: PadBand, colourless: ArrayLike | None = None) -> Outcomes:
    """Count the three decisions of ``scores`` under ``band``; ``colourless`` faces
    are never LIVE on their score (see :meth:`facegate.liveness.pad.PadModel.decide`)."""
    s = np.asarray(scores, dtype=np.float64)
    grey = np.zeros(s.size, bool) if colourless is None else np.asarray(colourless, bool)
    live = int(np.count_nonzero((s >= band.accept_at) & ~grey))
    attack = int(np.count_nonzero(s < band.refuse_below))
    return Outcomes(live, s.size - live - attack, attack)
