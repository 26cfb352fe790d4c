"""Drawing PAD DET plots (APCER against BPCER); no metric is computed here.

The axes use the normal-deviate scale of ISO/IEC 19795-1 DET plots, as
:mod:`facegate.eval.det` does, but are labelled in ISO/IEC 30107-3 terms: x is the
APCER of one attack type, y the BPCER, each curve sweeping the bona fide threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from facegate.eval.det import RATE_FLOOR
from facegate.eval.metrics import det_curve


def plot_pad_det(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str
) -> None:
    """Write a PNG with one curve per attack type: label -> (bona fide, attack) scores.

    A PAD score is a bona fide belief (accept when score >= threshold), which is the
    similarity convention of :func:`facegate.eval.metrics.det_curve`: its FMR is the
    APCER and its FNMR the BPCER.
    """
    if not curves:
        raise ValueError("expected at least one attack type to plot, got none")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.stats import norm

    figure = Figure(figsize=(6.4, 6.0), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, (bona_fide, attack) in curves.items():
        curve = det_curve(bona_fide, attack)
        x = norm.ppf(np.clip(curve.fmr, RATE_FLOOR, 1 - RATE_FLOOR))
        y = norm.ppf(np.clip(curve.fnmr, RATE_FLOOR, 1 - RATE_FLOOR))
        axes.plot(x, y, linewidth=1.5, label=f"{label} (EER {100 * curve.eer:.2f}%)")
    ticks = [1e-3, 1e-2, 0.05, 0.2, 0.5]
    axes.set_xticks(norm.ppf(ticks), [f"{100 * t:g}%" for t in ticks])
    axes.set_yticks(norm.ppf(ticks), [f"{100 * t:g}%" for t in ticks])
    low, high = norm.ppf([1e-4, 0.6])
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel("APCER (attacks accepted as bona fide)")
    axes.set_ylabel("BPCER (bona fide presentations refused)")
    axes.set_title(title)
    axes.grid(True, linestyle="--", linewidth=0.5, alpha=0.6)
    axes.legend(loc="upper right", fontsize="small")
    figure.savefig(Path(path), format="png")
