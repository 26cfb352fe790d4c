"""Verification error rates, in the vocabulary of ISO/IEC 19795-1.

Scores are *similarities*: a higher score means the two faces are more alike, and a
comparison is **accepted when ``score >= threshold``**. Every rate below is a fraction
in [0, 1] (not a percentage) and every threshold is in the score's own units.

- FMR (false match rate): share of impostor comparisons accepted, ``score >= t``.
- FNMR (false non-match rate): share of genuine comparisons rejected, ``score < t``.
- FTA (failure-to-acquire rate): share of acquisition attempts that produced no usable
  sample. It is reported beside FMR/FNMR rather than folded into them, because the
  comparison rates are measured only over comparisons that actually took place.

All functions are pure and vectorised, so they stay fast on a million impostor scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

DEFAULT_TARGETS: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6)
"""FMR operating points reported by default, from a convenience lock to a high-security one."""


@dataclass(frozen=True)
class OperatingPoint:
    """The error counts behind one "FNMR at FMR = target" figure.

    A rate alone hides how much evidence supports it, so the counts travel with it.
    When there are too few impostor comparisons to observe even one false match at the
    target (``n_impostor * target < 1``) the point is *unsupported* and every measured
    field is ``None``; ``impostors_needed`` says how many comparisons would support it.
    """

    key: str
    target_fmr: float
    impostors_needed: int
    threshold: float | None
    fmr: float | None
    fnmr: float | None
    false_matches: int | None
    false_non_matches: int | None


@dataclass(frozen=True, eq=False)
class DetCurve:
    """Points of a detection error trade-off curve, ordered by increasing threshold.

    ``fmr`` is non-increasing and ``fnmr`` non-decreasing along the arrays (accept when
    ``score >= threshold``). The arrays are read-only, so the value really is frozen.
    ``eer`` and ``eer_threshold`` are carried along so a plot can mark the EER point
    without computing anything itself.
    """

    thresholds: NDArray[np.float64]
    fmr: NDArray[np.float64]
    fnmr: NDArray[np.float64]
    eer: float
    eer_threshold: float

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.thresholds, self.fmr, self.fnmr)}
        if len(shapes) != 1 or self.thresholds.ndim != 1 or self.thresholds.size == 0:
            raise ValueError(
                "DetCurve expected three non-empty 1-D arrays of equal length, got shapes "
                f"{self.thresholds.shape}, {self.fmr.shape}, {self.fnmr.shape}"
            )
        for array in (self.thresholds, self.fmr, self.fnmr):
            array.setflags(write=False)


@dataclass(frozen=True)
class VerificationSummary:
    """Everything a verification report states, with the counts behind each rate.

    Rates are fractions in [0, 1]; thresholds are similarity scores (accept when
    ``score >= threshold``); ``ms_per_image`` is mean wall-clock milliseconds per image.
    ``fnmr_at_fmr`` and ``thresholds_at_fmr`` are keyed like ``"1e-4"`` and hold ``None``
    where the impostor set is too small to support the target.
    """

    n_genuine: int
    n_impostor: int
    n_attempts: int
    n_failed_acquisitions: int
    fta: float
    eer: float
    eer_threshold: float
    eer_false_matches: int
    eer_false_non_matches: int
    fnmr_at_fmr: dict[str, float | None]
    thresholds_at_fmr: dict[str, float | None]
    operating_points: tuple[OperatingPoint, ...]
    ms_per_image: float

    def __post_init__(self) -> None:
        if self.n_genuine < 1 or self.n_impostor < 1:
            raise ValueError(
                "expected at least one genuine and one impostor comparison, got "
                f"n_genuine={self.n_genuine}, n_impostor={self.n_impostor}"
            )
        for name in ("fta", "eer"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a rate: expected a value in [0, 1], got {value!r}")
        if not math.isfinite(self.eer_threshold):
            raise ValueError(f"expected a finite eer_threshold, got {self.eer_threshold!r}")
        if not (math.isfinite(self.ms_per_image) and self.ms_per_image >= 0.0):
            raise ValueError(
                f"expected a finite, non-negative ms_per_image, got {self.ms_per_image!r}"
            )
        keys = [p.key for p in self.operating_points]
        if list(self.fnmr_at_fmr) != keys or list(self.thresholds_at_fmr) != keys:
            raise ValueError(
                f"expected fnmr_at_fmr and thresholds_at_fmr keyed {keys}, got "
                f"{list(self.fnmr_at_fmr)} and {list(self.thresholds_at_fmr)}"
            )


def fmr_fnmr(genuine: ArrayLike, impostor: ArrayLike, threshold: float) -> tuple[float, float]:
    """FMR and FNMR, as fractions, at one similarity threshold.

    A comparison is accepted when ``score >= threshold``, so FMR counts impostor scores
    at or above it and FNMR counts genuine scores strictly below it; a score equal to the
    threshold is therefore a match, which is what the unlock decision does too.
    """
    gen = _scores("genuine", genuine)
    imp = _scores("impostor", impostor)
    t = _threshold(threshold)
    return np.count_nonzero(imp >= t) / imp.size, np.count_nonzero(gen < t) / gen.size


def threshold_at_fmr(impostor: ArrayLike, target: float) -> float:
    """The lowest similarity threshold whose FMR is at most ``target``.

    ``k``, the largest number of false matches with ``k / n <= target``, are allowed; the
    threshold is the next float above the ``(k+1)``-th highest impostor score, so that
    score and every score tied with it are rejected. The bound therefore holds exactly,
    ties included, while any lower threshold would exceed it. One ``np.partition`` keeps
    this linear in the number of scores. ``target`` is a fraction in [0, 1).
    """
    imp = _scores("impostor", impostor)
    if not (isinstance(target, int | float) and 0.0 <= target < 1.0):
        raise ValueError(f"expected a target FMR in [0, 1), got {target!r}")
    n = imp.size
    pivot = n - 1 - _allowed_false_matches(n, float(target))
    return _just_above(float(np.partition(imp, pivot)[pivot]))


def fnmr_at_fmr(
    genuine: ArrayLike, impostor: ArrayLike, targets: Sequence[float] = DEFAULT_TARGETS
) -> dict[str, float | None]:
    """FNMR (fraction) at the threshold meeting each FMR target, keyed like ``"1e-4"``.

    ``None`` marks a target the impostor set cannot support (``n_impostor * target < 1``):
    with fewer comparisons than ``1 / target`` not even one false match could be
    observed, so any FNMR quoted there would be a guess, not a measurement.
    """
    points = operating_points(genuine, impostor, targets)
    return {p.key: p.fnmr for p in points}


def thresholds_at_fmr(
    genuine: ArrayLike, impostor: ArrayLike, targets: Sequence[float] = DEFAULT_TARGETS
) -> dict[str, float | None]:
    """The similarity thresholds behind :func:`fnmr_at_fmr`, same keys, same ``None`` rule."""
    points = operating_points(genuine, impostor, targets)
    return {p.key: p.threshold for p in points}


def operating_points(
    genuine: ArrayLike, impostor: ArrayLike, targets: Sequence[float] = DEFAULT_TARGETS
) -> tuple[OperatingPoint, ...]:
    """One :class:`OperatingPoint` per FMR target, in the order given, with its counts."""
    gen = np.sort(_scores("genuine", genuine))
    imp = np.sort(_scores("impostor", impostor))
    return _operating_points(gen, imp, _targets(targets))


def eer(genuine: ArrayLike, impostor: ArrayLike) -> tuple[float, float]:
    """Equal error rate (fraction) and the similarity threshold where it occurs.

    Every distinct score, plus one threshold above them all, is a candidate; FMR and
    FNMR are evaluated exactly at each with ``searchsorted`` (accept when
    ``score >= threshold``). At the crossing, the candidate where ``|FMR - FNMR|`` is
    smallest, the EER is the mean of the two rates: the curves are step functions, so
    they rarely meet exactly and the mean is the unbiased midpoint.
    """
    gen = np.sort(_scores("genuine", genuine))
    imp = np.sort(_scores("impostor", impostor))
    thresholds, fmr, fnmr = _error_curves(gen, imp)
    i = _crossing(fmr, fnmr)
    return float((fmr[i] + fnmr[i]) / 2.0), float(thresholds[i])


def det_curve(genuine: ArrayLike, impostor: ArrayLike, max_points: int = 2000) -> DetCurve:
    """The DET curve, thinned to at most ``max_points`` points for plotting.

    A million scores give a million steps, far more than a plot can show. Evenly spaced
    indices alone would starve the low-FMR tail that matters most for security, so the
    kept points are a union of indices evenly spaced along the curve and of points
    log-spaced in FMR and in FNMR; both ends of the curve are always kept.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise ValueError(f"expected max_points to be an integer >= 2, got {max_points!r}")
    gen = np.sort(_scores("genuine", genuine))
    imp = np.sort(_scores("impostor", impostor))
    thresholds, fmr, fnmr = _error_curves(gen, imp)
    i = _crossing(fmr, fnmr)
    keep = _thin(fmr, fnmr, gen.size, imp.size, max_points)
    return DetCurve(
        thresholds=thresholds[keep],
        fmr=fmr[keep],
        fnmr=fnmr[keep],
        eer=float((fmr[i] + fnmr[i]) / 2.0),
        eer_threshold=float(thresholds[i]),
    )


def summarise(
    genuine: ArrayLike,
    impostor: ArrayLike,
    *,
    n_attempts: int,
    n_failed_acquisitions: int,
    seconds_per_image: float,
    targets: Sequence[float] = DEFAULT_TARGETS,
) -> VerificationSummary:
    """All headline figures of one evaluation run, sorting each score set only once.

    ``n_attempts`` is the number of acquisition attempts (images offered to the
    detector) and ``n_failed_acquisitions`` how many of them yielded no usable face, so
    FTA = failed / attempts. ``seconds_per_image`` is the mean wall-clock seconds spent
    per image; it is reported in milliseconds.
    """
    gen = np.sort(_scores("genuine", genuine))
    imp = np.sort(_scores("impostor", impostor))
    attempts = _count("n_attempts", n_attempts)
    failed = _count("n_failed_acquisitions", n_failed_acquisitions)
    if attempts < 1 or failed > attempts:
        raise ValueError(
            "expected n_attempts >= 1 and n_failed_acquisitions <= n_attempts, got "
            f"n_attempts={attempts}, n_failed_acquisitions={failed}"
        )
    if not (
        isinstance(seconds_per_image, int | float)
        and math.isfinite(seconds_per_image)
        and seconds_per_image >= 0
    ):
        raise ValueError(
            f"expected seconds_per_image to be a finite number >= 0, got {seconds_per_image!r}"
        )
    thresholds, fmr, fnmr = _error_curves(gen, imp)
    i = _crossing(fmr, fnmr)
    eer_threshold = float(thresholds[i])
    eer_fm, eer_fnm = _counts(gen, imp, eer_threshold)
    points = _operating_points(gen, imp, _targets(targets))
    return VerificationSummary(
        n_genuine=gen.size,
        n_impostor=imp.size,
        n_attempts=attempts,
        n_failed_acquisitions=failed,
        fta=failed / attempts,
        eer=float((fmr[i] + fnmr[i]) / 2.0),
        eer_threshold=eer_threshold,
        eer_false_matches=eer_fm,
        eer_false_non_matches=eer_fnm,
        fnmr_at_fmr={p.key: p.fnmr for p in points},
        thresholds_at_fmr={p.key: p.threshold for p in points},
        operating_points=points,
        ms_per_image=float(seconds_per_image) * 1000.0,
    )


def fmr_key(target: float) -> str:
    """The stable report key for an FMR target: ``1e-3`` gives ``"1e-3"``."""
    return np.format_float_scientific(target, trim="-", exp_digits=1)


def impostors_needed(target: float) -> int:
    """Fewest impostor comparisons that support ``target``, i.e. with ``n * target >= 1``."""
    n = max(1, math.ceil(1.0 / target))
    while n * target < 1.0:
        n += 1
    while n > 1 and (n - 1) * target >= 1.0:
        n -= 1
    return n


def _scores(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """``values`` as a 1-D float64 array, or a ValueError saying what was wrong."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} scores: expected real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} scores: expected a 1-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} scores: expected at least one score, got an empty array")
    scores = array.astype(np.float64)
    bad = np.count_nonzero(~np.isfinite(scores))
    if bad:
        raise ValueError(f"{name} scores: expected finite values, got {bad} NaN or infinite")
    return scores


def _threshold(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"expected a numeric threshold, got {value!r}")
    if math.isnan(value):
        raise ValueError("expected a threshold that is a number, got NaN")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"expected {name} to be a non-negative integer, got {value!r}")
    return int(value)


def _targets(targets: Iterable[float]) -> tuple[float, ...]:
    checked = tuple(float(t) for t in targets)
    if not checked or not all(0.0 < t < 1.0 for t in checked):
        raise ValueError(f"expected one or more FMR targets in (0, 1), got {checked!r}")
    keys = [fmr_key(t) for t in checked]
    if len(set(keys)) != len(keys):
        raise ValueError(f"expected distinct FMR targets, got {keys}")
    return checked


def _allowed_false_matches(n: int, target: float) -> int:
    """Largest ``k`` with ``k / n <= target`` evaluated in floats, as FMR itself is."""
    k = min(math.floor(target * n), n - 1)
    while k + 1 < n and (k + 1) / n <= target:
        k += 1
    while k > 0 and k / n > target:
        k -= 1
    return k


def _just_above(score: float) -> float:
    return float(np.nextafter(score, np.inf))


def _counts(
    gen_sorted: NDArray[np.float64], imp_sorted: NDArray[np.float64], threshold: float
) -> tuple[int, int]:
    """False matches and false non-matches at ``threshold`` (accept when score >= it)."""
    false_matches = imp_sorted.size - int(np.searchsorted(imp_sorted, threshold, side="left"))
    false_non_matches = int(np.searchsorted(gen_sorted, threshold, side="left"))
    return false_matches, false_non_matches


def _operating_points(
    gen_sorted: NDArray[np.float64], imp_sorted: NDArray[np.float64], targets: tuple[float, ...]
) -> tuple[OperatingPoint, ...]:
    n_imp = imp_sorted.size
    points = []
    for target in targets:
        key, needed = fmr_key(target), impostors_needed(target)
        if n_imp * target < 1.0:
            points.append(OperatingPoint(key, target, needed, None, None, None, None, None))
            continue
        pivot = n_imp - 1 - _allowed_false_matches(n_imp, target)
        threshold = _just_above(float(imp_sorted[pivot]))
        fm, fnm = _counts(gen_sorted, imp_sorted, threshold)
        points.append(
            OperatingPoint(
                key=key,
                target_fmr=target,
                impostors_needed=needed,
                threshold=threshold,
                fmr=fm / n_imp,
                fnmr=fnm / gen_sorted.size,
                false_matches=fm,
                false_non_matches=fnm,
            )
        )
    return tuple(points)


def _error_curves(
    gen_sorted: NDArray[np.float64], imp_sorted: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Thresholds (every distinct score, then one above all) with exact FMR and FNMR."""
    distinct = np.unique(np.concatenate([gen_sorted, imp_sorted]))
    thresholds = np.append(distinct, np.nextafter(distinct[-1], np.inf))
    accepted_impostors = imp_sorted.size - np.searchsorted(imp_sorted, thresholds, side="left")
    rejected_genuine = np.searchsorted(gen_sorted, thresholds, side="left")
    fmr = accepted_impostors / imp_sorted.size
    fnmr = rejected_genuine / gen_sorted.size
    return thresholds, fmr.astype(np.float64), fnmr.astype(np.float64)


def _crossing(fmr: NDArray[np.float64], fnmr: NDArray[np.float64]) -> int:
    """Index where FMR (falling) and FNMR (rising) are closest; first one on a tie."""
    return int(np.argmin(np.abs(fmr - fnmr)))


def _thin(
    fmr: NDArray[np.float64],
    fnmr: NDArray[np.float64],
    n_genuine: int,
    n_impostor: int,
    max_points: int,
) -> NDArray[np.intp]:
    """Indices of at most ``max_points`` curve points that keep its shape in both tails."""
    m = fmr.size
    if m <= max_points:
        return np.arange(m)
    share = max(max_points // 3, 2)
    even = np.linspace(0, m - 1, share).round().astype(np.intp)
    # fnmr rises with the index: the first index reaching each log-spaced level.
    fnmr_levels = np.geomspace(1.0 / n_genuine, 1.0, share)
    by_fnmr = np.searchsorted(fnmr, fnmr_levels, side="left")
    # fmr falls with the index: search its reversal, then map back.
    fmr_levels = np.geomspace(1.0 / n_impostor, 1.0, share)
    by_fmr = m - 1 - np.searchsorted(fmr[::-1], fmr_levels, side="left")
    keep = np.unique(np.clip(np.concatenate([even, by_fnmr, by_fmr, [0, m - 1]]), 0, m - 1))
    if keep.size > max_points:
        keep = keep[np.linspace(0, keep.size - 1, max_points).round().astype(np.intp)]
    return keep


def rule_of_three(false_matches: int, n: int) -> float | None:
    """Upper 95 % bound of an FMR measured with no false match in ``n`` decisions:
    3 / n (the rule of three). None when some false match was seen (the rate itself is
    then a measurement) or when there were no decisions at all."""
    if _count("n", n) == 0 or _count("false_matches", false_matches) > 0:
        return None
    return 3.0 / n
