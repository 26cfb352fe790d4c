"""Drawing DET (detection error trade-off) plots; no metric is computed here.

Both axes use the normal-deviate scale of ISO/IEC 19795-1 DET plots, which turns the
error curves of roughly Gaussian score distributions into near-straight lines and
spreads out the low error rates that matter for an unlock decision. x is FMR, y is FNMR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.eval.metrics import DetCurve

RATE_FLOOR = 1e-7
"""Rates are clipped to [RATE_FLOOR, 1 - RATE_FLOOR]: a rate of 0 or 1 has no deviate."""

_TICKS: tuple[tuple[float, str], ...] = (
    (1e-5, "0.001%"),
    (1e-4, "0.01%"),
    (1e-3, "0.1%"),
    (1e-2, "1%"),
    (0.05, "5%"),
    (0.2, "20%"),
    (0.4, "40%"),
)
_UPPER = 0.5


def plot_det(curves: dict[str, DetCurve], path: Path, title: str) -> None:
    """Write a PNG DET plot of ``curves`` (legend label -> curve) to ``path``.

    Rates are fractions and are shown in percent; each curve's EER point is marked.
    Matplotlib is imported here, through an explicit Agg canvas rather than pyplot, so
    importing this module never picks a GUI backend or touches global figure state.
    """
    if not curves:
        raise ValueError("expected at least one DET curve to plot, got none")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.stats import norm

    figure = Figure(figsize=(6.4, 6.0), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, curve in curves.items():
        x = norm.ppf(_clip(curve.fmr))
        y = norm.ppf(_clip(curve.fnmr))
        (line,) = axes.plot(x, y, linewidth=1.5, label=f"{label} (EER {100 * curve.eer:.2f}%)")
        eer_deviate = norm.ppf(_clip(np.array([curve.eer])))[0]
        axes.plot([eer_deviate], [eer_deviate], marker="o", markersize=6, color=line.get_color())
    low, high = norm.ppf([RATE_FLOOR, _UPPER])
    axes.plot([low, high], [low, high], linestyle=":", linewidth=0.8, color="grey")
    ticks = norm.ppf([rate for rate, _ in _TICKS])
    labels = [text for _, text in _TICKS]
    axes.set_xticks(ticks, labels)
    axes.set_yticks(ticks, labels)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel("False match rate (FMR)")
    axes.set_ylabel("False non-match rate (FNMR)")
    axes.set_title(title)
    axes.grid(True, linestyle="--", linewidth=0.5, alpha=0.6)
    axes.legend(loc="upper right", fontsize="small")
    figure.savefig(Path(path), format="png")


def _clip(rates: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.clip(rates, RATE_FLOOR, 1.0 - RATE_FLOOR)
