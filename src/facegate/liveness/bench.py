"""PAD latency: the time from a detected face box to a bona fide score.

Timed on the same public-domain frame as ``facegate bench`` (scikit-image's
astronaut on a 640x480 canvas), after a warm-up; median and 90th percentile in
milliseconds. Detection, which unlock runs anyway, is timed separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facegate.bench import machine_description, sample_frame
from facegate.config import load_settings
from facegate.liveness.features import pad_features
from facegate.liveness.pad import PadModel
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector


@dataclass(frozen=True)
class PadTiming:
    """Milliseconds per frame: PAD (features + model) and, for scale, detection."""

    pad_median_ms: float
    pad_p90_ms: float
    features_median_ms: float
    detect_median_ms: float
    runs: int
    machine: str


def _time(func: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, p90) milliseconds of ``runs`` calls after one warm-up call."""
    func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(samples)), float(np.percentile(samples, 90))


def run_pad_bench(runs: int = 200) -> PadTiming:
    """Time the PAD on the sample frame's face ``runs`` times."""
    image = sample_frame()
    model = PadModel.load()
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        box = detector.detect(image).boxes[0]
        detect = _time(lambda: detector.detect(image), max(runs // 10, 5))
    pad = _time(lambda: model.score(image, box), runs)
    features = _time(lambda: pad_features(image, box, model.spec), runs)
    return PadTiming(pad[0], pad[1], features[0], detect[0], runs, machine_description())
