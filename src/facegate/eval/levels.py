"""Each security level's error rates per capture class, at the shipped thresholds.

A level's promise is an FMR; whether it holds in hard light is only visible when the
false matches are counted per class of probe, beside how many decisions there were.
With no false match in ``n`` decisions the FMR is not zero but "below 3 / n with 95 %
confidence" (the rule of three): a class with 2,000 impostor decisions cannot back a
promise of 1 in 100,000, and the table says so.

Each decision is judged as unlock judges it: at its template's cohort threshold
(``mean + z * std``) when the template's cohort statistics are given, else at the
class's cosine threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facegate.biometrics.match import Calibration, SecurityLevel
from facegate.eval.metrics import rule_of_three
from facegate.vision.capture import CaptureClass

ALL = "all"


@dataclass(frozen=True)
class ClassRates:
    """Counts at one level for probes of one capture class (``capture`` "all" = every
    class, each decision at its own class's threshold)."""

    level: SecurityLevel
    capture: str
    n_genuine: int
    false_non_matches: int
    n_impostor: int
    false_matches: int

    @property
    def fnmr(self) -> float | None:
        return self.false_non_matches / self.n_genuine if self.n_genuine else None

    @property
    def fmr(self) -> float | None:
        return self.false_matches / self.n_impostor if self.n_impostor else None

    @property
    def fmr_upper95(self) -> float | None:
        return rule_of_three(self.false_matches, self.n_impostor)

    @property
    def supports_target(self) -> bool:
        """Whether this many decisions could show the level's FMR at all (n >= 1/FMR)."""
        return self.n_impostor * self.level.target_fmr >= 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "capture": self.capture,
            "n_genuine": self.n_genuine,
            "false_non_matches": self.false_non_matches,
            "fnmr": self.fnmr,
            "n_impostor": self.n_impostor,
            "false_matches": self.false_matches,
            "fmr": self.fmr,
            "fmr_upper95": self.fmr_upper95,
            "supports_target": self.supports_target,
        }


def decision_thresholds(
    calibration: Calibration,
    level: SecurityLevel,
    captures: np.ndarray,
    cohort: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) cosine threshold of each decision from its capture-class value ("" =
    unknown, which gets the level's strictest class) and, with ``cohort`` (N, 2) the
    cohort mean and std of its template, from ``mean + z * std`` as unlock sets it."""
    if cohort is not None and calibration.z_thresholds:
        z_by = {c.value: z for c, z in calibration.z_thresholds[level].items()}
        strictest_z = max(z_by.values())
        z = np.array([z_by.get(str(c), strictest_z) for c in captures], np.float64)
        return np.asarray(cohort[:, 0] + z * cohort[:, 1], np.float64)
    by_value = {c.value: calibration.threshold(level, c) for c in CaptureClass}
    strictest = calibration.threshold(level)
    return np.array([by_value.get(str(c), strictest) for c in captures], np.float64)


def level_rates(
    calibration: Calibration,
    genuine: np.ndarray,
    genuine_captures: np.ndarray,
    impostor: np.ndarray,
    impostor_captures: np.ndarray,
    refused: np.ndarray | None = None,
    *,
    genuine_cohort: np.ndarray | None = None,
    impostor_cohort: np.ndarray | None = None,
) -> list[ClassRates]:
    """Rates per level and class, then over all classes. ``refused`` (G,) bool marks
    genuine probes refused for another reason (liveness), counted as non-matches;
    ``genuine_cohort`` / ``impostor_cohort`` (N, 2) the cohort statistics of each
    decision's template (see :func:`decision_thresholds`)."""
    extra = np.zeros(len(genuine), bool) if refused is None else refused
    out: list[ClassRates] = []
    for level in SecurityLevel:
        g_thr = decision_thresholds(calibration, level, genuine_captures, genuine_cohort)
        i_thr = decision_thresholds(calibration, level, impostor_captures, impostor_cohort)
        g_ok, i_hit = genuine >= g_thr, impostor >= i_thr
        for name in [c.value for c in CaptureClass] + [ALL]:
            g = np.ones(len(genuine), bool) if name == ALL else genuine_captures == name
            i = np.ones(len(impostor), bool) if name == ALL else impostor_captures == name
            out.append(
                ClassRates(
                    level,
                    name,
                    int(g.sum()),
                    int((g & (~g_ok | extra)).sum()),
                    int(i.sum()),
                    int((i & i_hit).sum()),
                )
            )
    return out


def markdown(rates: list[ClassRates]) -> str:
    """A Markdown table of ``rates`` with counts beside every rate."""
    lines = [
        "| level | capture | FNMR | false non-matches | FMR | false matches | FMR 95 % bound |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rates:
        bound = "n/a" if r.fmr_upper95 is None else f"< {r.fmr_upper95:.2g}"
        lines.append(
            f"| {r.level.value} | {r.capture} | {_pct(r.fnmr)} | {r.false_non_matches:,} / "
            f"{r.n_genuine:,} | {_rate(r.fmr)} | {r.false_matches:,} / {r.n_impostor:,} | {bound} |"
        )
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.3g} %"


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2g}"
