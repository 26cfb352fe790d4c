"""A calibrated blink signal, beside the faithful eyeBlink blend shapes.

MediaPipe's ``eyeBlinkLeft`` / ``eyeBlinkRight`` are faithful but not calibrated: the
open-eye level differs from person to person (0.05 for one, 0.15 for another), half
blinks caught by a slow webcam barely move them, and one fixed threshold on them finds
only about 60 % of blinks. This module turns each frame into an eye-closure value
relative to the person's own open eye, and finds blinks as short peaks of it.

Per frame and per eye:

- **EAR** (eye aspect ratio): mean lid-to-lid distance over corner-to-corner width,
  from the 478 landmarks in pixels (so it does not depend on the frame's aspect).
- **Open-eye baseline**: a running high percentile of the EAR over the last few
  seconds (the eye is open most of the time), so the signal adapts to each person,
  distance and head pose.
- **Closure** = ``(1 - w) * (1 - EAR / baseline) + w * (eyeBlink - its running
  median)``: 0 with the eye as open as usual, about 0.6-0.7 fully shut.
- The frame's closure is the smaller of the two eyes' (a blink closes both; a wink or
  a one-sided landmark jitter does not count).

A **blink** is a peak of closure that stands out by at least its prominence threshold
above the higher of the open levels just before and just after it (within
``peak_window_seconds``), so a blink followed by a lasting squint or a look downwards is
still one short event. The threshold is ``max(min_prominence, noise_factor * noise)``,
where ``noise`` is the running robust spread (1.4826 MAD) of the closure: a jittery
low-frame-rate stream needs a deeper dip than a steady one. The two levels form a
hysteresis: a blink must rise by the full threshold to count, and its frames then run
down to half its prominence on either side. Events shorter than
``min_duration_seconds`` or longer than ``max_duration_seconds`` (eyes kept closed,
not a blink) are dropped.

The detector streams: each :meth:`BlinkDetector.update` may finalise earlier blinks,
with a latency of half the peak window plus the event's own length; :meth:`flush`
finalises the rest at the end.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks, peak_widths

from facegate.errors import ConfigError
from facegate.vision import landmarks
from facegate.vision.blendshapes import BlendShape
from facegate.vision.mesh import FaceMesh

# Each eye: its two corners, then its (upper, lower) lid pairs.
LEFT_EYE = (landmarks.LEFT_EYE_OUTER, landmarks.LEFT_EYE_INNER, landmarks.LEFT_LIDS)
RIGHT_EYE = (landmarks.RIGHT_EYE_OUTER, landmarks.RIGHT_EYE_INNER, landmarks.RIGHT_LIDS)

MAD_TO_SIGMA = 1.4826  # scales a median absolute deviation to a Gaussian sigma


@dataclass(frozen=True)
class EyeState:
    """The eye measurements of one frame.

    ear_left, ear_right     eye aspect ratios (unitless; about 0.25-0.4 open, < 0.15 shut)
    blink_left, blink_right MediaPipe's eyeBlinkLeft / eyeBlinkRight in [0, 1]
    """

    ear_left: float
    ear_right: float
    blink_left: float
    blink_right: float

    @classmethod
    def from_mesh(cls, mesh: FaceMesh) -> EyeState:
        points = mesh.pixels()[:, :2].astype(np.float64)
        return cls(
            ear_left=_ear(points, LEFT_EYE),
            ear_right=_ear(points, RIGHT_EYE),
            blink_left=float(mesh.blendshapes[BlendShape.EYE_BLINK_LEFT.value] or 0.0),
            blink_right=float(mesh.blendshapes[BlendShape.EYE_BLINK_RIGHT.value] or 0.0),
        )


def _ear(points: np.ndarray, eye: tuple[int, int, tuple[tuple[int, int], ...]]) -> float:
    corner_a, corner_b, pairs = eye
    width = float(np.linalg.norm(points[corner_a] - points[corner_b]))
    height = float(np.mean([np.linalg.norm(points[u] - points[d]) for u, d in pairs]))
    return height / width if width > 0 else 0.0


@dataclass(frozen=True)
class BlinkOptions:
    """Blink detector settings.

    ``blend_weight``, ``min_prominence`` and ``noise_factor`` were chosen by grid search
    on the five FOCUS webcam videos (2 people, 6-30 fps, 49 labelled blinks);
    reproduce with ``.venv/bin/python scripts/calibrate_blink.py
    ../shared/data/blink_webcam_videos --out out/blink-calibration``. Pooled
    leave-one-video-out figures, the estimate for an unseen webcam: event recall
    45/49 (91.8 %), tolerant frame F1 0.769, 1.0 false events per minute. The others are
    fixed by design: seconds of history for the baselines, the high percentile taken
    as "open", the peak window, and physiological limits on a blink's length.
    Raising ``min_prominence`` or ``noise_factor`` is stricter (fewer, surer blinks).
    """

    blend_weight: float = 0.75
    min_prominence: float = 0.04
    noise_factor: float = 4.0
    baseline_seconds: float = 4.0
    open_percentile: float = 90.0
    peak_window_seconds: float = 1.0
    extent: float = 0.5
    min_duration_seconds: float = 0.05
    max_duration_seconds: float = 0.8

    def __post_init__(self) -> None:
        checks = (
            ("blend_weight", 0.0 <= self.blend_weight <= 1.0),
            ("min_prominence", self.min_prominence > 0.0),
            ("noise_factor", self.noise_factor >= 0.0),
            ("baseline_seconds", self.baseline_seconds > 0.0),
            ("open_percentile", 50.0 <= self.open_percentile <= 100.0),
            ("peak_window_seconds", self.peak_window_seconds > 0.0),
            ("extent", 0.0 < self.extent < 1.0),
            ("max_duration_seconds", self.max_duration_seconds > self.min_duration_seconds >= 0),
        )
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"BlinkOptions.{name} is out of range: {getattr(self, name)}")


@dataclass(frozen=True)
class Blink:
    """One blink. Frame indices count the detector's updates from 0, both inclusive;
    times are the seconds passed to :meth:`BlinkDetector.update`. ``depth`` is the
    peak's prominence in closure units (about 0.6 for a full blink)."""

    start_index: int
    end_index: int
    start_t: float
    end_t: float
    depth: float


class BlinkDetector:
    """Streaming blink detection over a sequence of frames of one person."""

    def __init__(self, options: BlinkOptions | None = None) -> None:
        self.options = options or BlinkOptions()
        self._count = 0
        self._history: deque[tuple[float, EyeState]] = deque()
        # Buffered per-frame values: absolute index, time, closure, noise.
        self._index: deque[int] = deque()
        self._t: deque[float] = deque()
        self._closure: deque[float] = deque()
        self._noise: deque[float] = deque()
        self._recent: deque[float] = deque()
        self._done_until = -1  # peaks at or before this index have been decided
        self._last_end = -1

    def update(self, t: float, eyes: EyeState | None) -> list[Blink]:
        """Add one frame (``eyes`` None when no face was found); return finished blinks."""
        closure, noise = self._measure(t, eyes)
        self._index.append(self._count)
        self._t.append(float(t))
        self._closure.append(closure)
        self._noise.append(noise)
        self._count += 1
        half = self._half_window()
        blinks = self._decide(final_before=self._count - 1 - half)
        self._trim(half)
        return blinks

    def flush(self) -> list[Blink]:
        """Finish the stream: decide every remaining peak."""
        return self._decide(final_before=self._count)

    def _measure(self, t: float, eyes: EyeState | None) -> tuple[float, float]:
        opts = self.options
        if eyes is None:
            return 0.0, self._noise[-1] if self._noise else 0.0
        history = self._history
        history.append((float(t), eyes))
        while history and history[0][0] < t - opts.baseline_seconds:
            history.popleft()
        ears = np.array([(e.ear_left, e.ear_right) for _, e in history])
        blinks = np.array([(e.blink_left, e.blink_right) for _, e in history])
        base = np.percentile(ears, opts.open_percentile, axis=0)
        rest = np.median(blinks, axis=0)
        current_ear = np.array([eyes.ear_left, eyes.ear_right])
        current_blink = np.array([eyes.blink_left, eyes.blink_right])
        by_ear = 1.0 - current_ear / np.maximum(base, 1e-6)
        by_blend = current_blink - rest
        closure = float(np.min((1 - opts.blend_weight) * by_ear + opts.blend_weight * by_blend))
        recent = self._recent
        recent.append(closure)
        while len(recent) > len(history):
            recent.popleft()
        values = np.asarray(recent)
        noise = MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))
        return closure, noise

    def _frame_interval(self) -> float:
        if len(self._t) < 2:
            return 1.0 / 30.0
        return float(np.median(np.diff(np.asarray(self._t)))) or 1.0 / 30.0

    def _half_window(self) -> int:
        return max(1, round(self.options.peak_window_seconds / self._frame_interval() / 2))

    def _decide(self, final_before: int) -> list[Blink]:
        """Judge every peak whose window is complete (index <= final_before)."""
        if final_before <= self._done_until or len(self._closure) < 3:
            return []
        opts = self.options
        signal = np.asarray(self._closure)
        first = self._index[0]
        half = self._half_window()
        with warnings.catch_warnings():
            # A flat run of equal closures (a still photo, repeated frames) is a
            # "peak" of prominence 0 within the window; the floor below drops it.
            warnings.filterwarnings("ignore", message="some peaks have a prominence of 0")
            peaks, props = find_peaks(signal, prominence=1e-9, wlen=2 * half + 1)
        dt = self._frame_interval()
        blinks = []
        for i, peak in enumerate(peaks):
            absolute = first + int(peak)
            if absolute <= self._done_until or absolute > final_before:
                continue
            prominence = float(props["prominences"][i])
            if prominence < max(opts.min_prominence, opts.noise_factor * self._noise[peak]):
                continue
            _, _, left, right = peak_widths(
                signal,
                [peak],
                rel_height=opts.extent,
                prominence_data=(
                    props["prominences"][i : i + 1],
                    props["left_bases"][i : i + 1],
                    props["right_bases"][i : i + 1],
                ),
            )
            start = min(math.ceil(left[0]), int(peak))
            end = max(math.floor(right[0]), int(peak))
            duration = (end - start + 1) * dt
            if not opts.min_duration_seconds <= duration <= opts.max_duration_seconds:
                continue
            if first + start <= self._last_end:
                continue
            self._last_end = first + end
            blinks.append(
                Blink(
                    start_index=first + start,
                    end_index=first + end,
                    start_t=self._t[start],
                    end_t=self._t[end],
                    depth=prominence,
                )
            )
        self._done_until = max(self._done_until, final_before)
        return blinks

    def _trim(self, half: int) -> None:
        """Keep enough frames to judge the peaks still pending, plus their windows."""
        keep = 4 * half + 4 + round(self.options.max_duration_seconds / self._frame_interval())
        while len(self._index) > keep:
            for buffer in (self._index, self._t, self._closure, self._noise):
                buffer.popleft()


def blink_flags(blinks: list[Blink], n_frames: int) -> np.ndarray:
    """Per-frame 0/1 (1 = inside a detected blink) for ``n_frames`` frames."""
    flags = np.zeros(n_frames, np.int8)
    for blink in blinks:
        flags[blink.start_index : blink.end_index + 1] = 1
    return flags
