"""PAD latency: the time from a detected face box to a bona fide score.

Timed on the same public-domain frame as ``facegate bench stages`` (scikit-image's
astronaut on a 640x480 canvas), after a warm-up; median and 90th percentile in
milliseconds. Detection, which unlock runs anyway, is timed separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from facegate.bench.frames import sample_frame
from facegate.bench.timing import machine_description, time_call
from facegate.config import load_settings
from facegate.liveness.features import colourless, pad_features
from facegate.liveness.pad import PadModel
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector


@dataclass(frozen=True)
class PadTiming:
    """Milliseconds per frame: PAD (features + model + colour check) and, for scale,
    detection."""

    pad_median_ms: float
    pad_p90_ms: float
    features_median_ms: float
    detect_median_ms: float
    runs: int
    machine: str


def run_pad_bench(runs: int = 200) -> PadTiming:
    """Time the PAD on the sample frame's face ``runs`` times."""
    image = sample_frame()
    model = PadModel.load()
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        box = detector.detect(image).boxes[0]
        detect = time_call(lambda: detector.detect(image), max(runs // 10, 5))
    # What an attempt runs per scored frame: the score and the colour check.
    pad = time_call(lambda: (model.score(image, box), colourless(image, box, model.spec)), runs)
    features = time_call(lambda: pad_features(image, box, model.spec), runs)
    return PadTiming(
        pad.median_ms, pad.p90_ms, features.median_ms, detect.median_ms, runs, machine_description()
    )
