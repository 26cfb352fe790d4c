"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012), over a vector of channels.

A low-pass filter whose cutoff rises with speed: at rest it removes landmark jitter
(a low cutoff), and when a value moves fast, such as a blink or a head turn, the cutoff
opens up so the output does not lag. Per channel::

    cutoff = min_cutoff + beta * |smoothed derivative|     (Hz)
    alpha  = 1 / (1 + 1 / (2 pi cutoff dt))
    out    = out_prev + alpha * (x - out_prev)

Timestamps are seconds, so the filter follows the real frame rate, not the frame
count; a repeated or backwards timestamp leaves the output unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroOptions:
    """min_cutoff in Hz (lower = smoother at rest); beta in 1 / (units of x) (higher =
    less lag on fast moves); d_cutoff in Hz, for the derivative estimate."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"One Euro options must be positive (beta >= 0), got {self}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters one vector per timestamp; call :meth:`reset` when the signal breaks off."""

    def __init__(self, options: OneEuroOptions) -> None:
        self.options = options
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._t = self._x = self._dx = None

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        value = np.asarray(x, np.float64)
        if self._t is None or self._x is None or self._dx is None:
            self._t, self._x, self._dx = t, value.copy(), np.zeros_like(value)
            return value.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        opts = self.options
        dx = (value - self._x) / dt
        self._dx = self._dx + _alpha(opts.d_cutoff, dt) * (dx - self._dx)
        cutoff = opts.min_cutoff + opts.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (value - self._x)
        self._t = t
        return self._x.copy()
