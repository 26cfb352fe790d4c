"""Stage latencies on one 640x480 frame, against the dlib HOG pipeline Howdy uses.

Each stage is timed ``runs`` times after a warm-up; the table reports the median and
the 90th percentile. The frame is the public-domain astronaut photo from
scikit-image, placed on a 640x480 canvas, so every machine times the same pixels.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.biometrics.match import template_score
from facegate.biometrics.template import build_template
from facegate.config import load_settings
from facegate.models import resolve
from facegate.vision.align import align
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame


@dataclass(frozen=True)
class StageTiming:
    stage: str
    median_ms: float
    p90_ms: float


@dataclass(frozen=True)
class BenchResult:
    rows: list[StageTiming]
    speedup: float | None
    machine: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": [asdict(r) for r in self.rows],
            "speedup": self.speedup,
            "machine": self.machine,
        }


def sample_frame() -> np.ndarray:
    """The astronaut photo (scikit-image, public domain) centred on a 640x480 canvas."""
    from skimage import data

    rgb = data.astronaut()
    face = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (420, 420))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[30:450, 110:530] = face
    return canvas


def side_lit(image: np.ndarray) -> np.ndarray:
    """``image`` under a hard light from its right, the left half in deep shadow: the
    frame that takes the pipeline's slow path (shadow lift, relocation, mesh points,
    four lighting variants)."""
    ramp = np.clip(np.linspace(-0.6, 1.4, image.shape[1]), 0.04, 1.0).astype(np.float32)
    return (image.astype(np.float32) * ramp[None, :, None]).astype(np.uint8)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), {platform.system()}"
    )


def time_call(func: Callable[[], object], runs: int) -> StageTiming:
    """Median and 90th percentile milliseconds of ``runs`` calls after one warm-up call
    (the warm-up pays for lazy model loads, which no later call repeats)."""
    func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return StageTiming("", float(np.median(samples)), float(np.percentile(samples, 90)))


def _named(name: str, timing: StageTiming) -> StageTiming:
    return StageTiming(name, timing.median_ms, timing.p90_ms)


def run_bench(runs: int = 30, baseline: bool = True) -> BenchResult:
    """Time detect, align, embed, match and the whole verify on the sample frame."""
    settings = load_settings()
    image = sample_frame()
    frame = Frame(image=image, source="bench")
    with FacePipeline(settings) as pipeline:
        faces = pipeline.detector.detect(image)
        crop = align(image, faces)
        obs = pipeline.observe(frame)
        embedding = obs.embedding
        if embedding is None:
            raise RuntimeError(f"benchmark frame was refused: {obs.reason}")
        template = build_template([embedding] * 5, time.time())

        def verify(target: Frame) -> float:
            seen = pipeline.observe(target)
            if seen.embedding is None:
                raise RuntimeError(f"benchmark frame was refused: {seen.reason}")
            return template_score(template, seen.embedding)

        dark = Frame(image=side_lit(image), source="bench-side-lit")
        verify_row = _named(
            "verify one frame (all of the above)", time_call(lambda: verify(frame), runs)
        )

        rows = [
            _named("detect (YuNet)", time_call(lambda: pipeline.detector.detect(image), runs)),
            _named("align", time_call(lambda: align(image, faces), runs)),
            _named(
                "embed (SFace, lighting variants)",
                time_call(lambda: pipeline.embed_crop(crop), runs),
            ),
            _named(
                "match (template of 5)",
                time_call(lambda: template_score(template, embedding), runs),
            ),
            verify_row,
            _named("verify one side-lit frame (slow path)", time_call(lambda: verify(dark), runs)),
            _named("unlock attempt (+ lockout slot, 2 vault writes)", _attempt(frame, runs)),
        ]
    speedup = None
    if baseline:
        dlib_row = _named("dlib HOG + 5-point + ResNet verify", _dlib_baseline(image, runs))
        rows.append(dlib_row)
        speedup = dlib_row.median_ms / verify_row.median_ms
    return BenchResult(rows=rows, speedup=speedup, machine=machine_description())


def _attempt(frame: Frame, runs: int) -> StageTiming:
    """A whole ``Unlocker.verify`` in a throw-away vault, liveness and attention off, so
    the row adds only the decision and the lockout slot's two durable writes."""
    from facegate.biometrics.policy import UnlockOptions
    from facegate.config import KeySource, Settings
    from facegate.demo import _captures
    from facegate.liveness.check import LivenessMode
    from facegate.session import Session

    options = UnlockOptions(
        liveness=LivenessMode.OFF, require_attention=False, adaptive_update=False
    )
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        settings = Settings(home=Path(tmp), key_source=KeySource.KEYFILE)
        with Session(settings, FacePipeline(settings)) as session:
            session.unlocker.enroll("bench", _captures(frame.image, "bench"))
            return time_call(lambda: session.unlocker.verify("bench", [frame], options), runs)


def _dlib_baseline(image: np.ndarray, runs: int) -> StageTiming:
    """The face_recognition / Howdy pipeline: HOG detector, 5 points, ResNet descriptor."""
    import dlib

    settings = load_settings()
    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(resolve("dlib_shape5", settings).path))
    net = dlib.face_recognition_model_v1(str(resolve("dlib_resnet", settings).path))
    reference = np.zeros(128)

    def once() -> float:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        rects = hog(rgb, 1)
        if not rects:
            raise RuntimeError("dlib found no face in the benchmark frame")
        descriptor = np.array(net.compute_face_descriptor(rgb, shape(rgb, rects[0])))
        return float(np.linalg.norm(descriptor - reference))

    return time_call(once, runs)
