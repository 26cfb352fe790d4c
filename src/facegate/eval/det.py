"""Drawing DET (detection error trade-off) plots; no metric is computed here.

Both axes use the normal-deviate scale of ISO/IEC 19795-1 DET plots, which turns the
error curves of roughly Gaussian score distributions into near-straight lines and
spreads out the low error rates that matter for an unlock decision. x is FMR, y is FNMR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.eval.metrics import DetCurve

RATE_FLOOR = 1e-7
"""Rates are clipped to [RATE_FLOOR, 1 - RATE_FLOOR]: a rate of 0 or 1 has no deviate."""


@dataclass(frozen=True)
class DetAxes:
    """What a DET plot's axes say and span; rates are fractions, shown in percent."""

    x_label: str
    y_label: str
    ticks: tuple[tuple[float, str], ...]
    span: tuple[float, float]
    """Lowest and highest rate shown on both axes."""
    mark_eer: bool = True


VERIFICATION = DetAxes(
    x_label="False match rate (FMR)",
    y_label="False non-match rate (FNMR)",
    ticks=(
        (1e-5, "0.001%"),
        (1e-4, "0.01%"),
        (1e-3, "0.1%"),
        (1e-2, "1%"),
        (0.05, "5%"),
        (0.2, "20%"),
        (0.4, "40%"),
    ),
    span=(RATE_FLOOR, 0.5),
)
"""ISO/IEC 19795-1 verification: a curve per comparison set."""

PAD = DetAxes(
    x_label="APCER (attacks accepted as bona fide)",
    y_label="BPCER (bona fide presentations refused)",
    ticks=((1e-3, "0.1%"), (1e-2, "1%"), (0.05, "5%"), (0.2, "20%"), (0.5, "50%")),
    span=(1e-4, 0.6),
    mark_eer=False,
)
"""ISO/IEC 30107-3 presentation attack detection: a curve per attack type, from
:func:`facegate.eval.metrics.det_curve` of (bona fide, attack) scores, whose FMR is the
APCER and whose FNMR the BPCER (a PAD score is a bona fide belief)."""


def plot_det(
    curves: Mapping[str, DetCurve], path: Path, title: str, axes: DetAxes = VERIFICATION
) -> None:
    """Write a PNG DET plot of ``curves`` (legend label -> curve) to ``path``.

    Each curve's EER is given in its label and, when ``axes.mark_eer``, marked on the
    diagonal. Matplotlib is imported here, through an explicit Agg canvas rather than
    pyplot, so importing this module never picks a GUI backend or touches global
    figure state.
    """
    if not curves:
        raise ValueError("expected at least one DET curve to plot, got none")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.stats import norm

    figure = Figure(figsize=(6.4, 6.0), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    plot = figure.add_subplot()
    for label, curve in curves.items():
        x = norm.ppf(_clip(curve.fmr))
        y = norm.ppf(_clip(curve.fnmr))
        (line,) = plot.plot(x, y, linewidth=1.5, label=f"{label} (EER {100 * curve.eer:.2f}%)")
        if axes.mark_eer:
            eer_deviate = norm.ppf(_clip(np.array([curve.eer])))[0]
            plot.plot(
                [eer_deviate], [eer_deviate], marker="o", markersize=6, color=line.get_color()
            )
    low, high = norm.ppf(axes.span)
    if axes.mark_eer:
        plot.plot([low, high], [low, high], linestyle=":", linewidth=0.8, color="grey")
    ticks = norm.ppf([rate for rate, _ in axes.ticks])
    labels = [text for _, text in axes.ticks]
    plot.set_xticks(ticks, labels)
    plot.set_yticks(ticks, labels)
    plot.set_xlim(low, high)
    plot.set_ylim(low, high)
    plot.set_xlabel(axes.x_label)
    plot.set_ylabel(axes.y_label)
    plot.set_title(title)
    plot.grid(True, linestyle="--", linewidth=0.5, alpha=0.6)
    plot.legend(loc="upper right", fontsize="small")
    figure.savefig(Path(path), format="png")


def _clip(rates: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.clip(rates, RATE_FLOOR, 1.0 - RATE_FLOOR)
