"""Stage latencies on one 640x480 frame, against the dlib HOG pipeline Howdy uses.

Each stage is timed ``runs`` times after a warm-up; the table reports the median and
the 90th percentile. The video rows time the same frame as a video frame, so detection
follows the face from the previous frame (``vision.follow``), as an unlock from a
camera does after its first frame. Two rows time that video frame at one OpenCV thread
and at the default count, in turn: the outputs are the same at any count, so only the
time can choose. The attempt rows say what an unlock adds to its frame's verify, and
how much of that is the lockout slot's two durable writes, which wait on the disk. The
frame is the public-domain astronaut photo from scikit-image, placed on a 640x480
canvas, so every machine times the same pixels.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.bench.frames import sample_frame, side_lit
from facegate.bench.timing import (
    StageTiming,
    machine_description,
    time_alternating,
    time_by_threads,
    time_call,
    time_extra,
)
from facegate.biometrics.match import template_score
from facegate.biometrics.template import build_template
from facegate.config import load_settings
from facegate.models import ModelFiles, resolve
from facegate.vision.align import align
from facegate.vision.occlusion import RegionModels
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame, SourceKind


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


def _named(name: str, timing: StageTiming) -> StageTiming:
    return StageTiming(name, timing.median_ms, timing.p90_ms)


def run_bench(runs: int = 30, baseline: bool = True) -> BenchResult:
    """Time detect, align, embed, match and the whole verify on the sample frame."""
    settings = load_settings()
    image = sample_frame()
    frame = Frame(image=image, source="bench")
    with FacePipeline(ModelFiles.of(settings)) as pipeline:
        faces = pipeline.detector.detect(image)
        crop = align(image, faces)
        obs = pipeline.observe(frame)
        embedding = obs.embedding
        if embedding is None:
            raise RuntimeError(f"benchmark frame was refused: {obs.reason}")
        template = build_template([embedding] * 5, time.time())
        occlusion = RegionModels.load()

        def verify(target: Frame) -> float:
            seen = pipeline.observe(target)
            if seen.embedding is None:
                raise RuntimeError(f"benchmark frame was refused: {seen.reason}")
            return template_score(template, seen.embedding)

        dark = Frame(image=side_lit(image), source="bench-side-lit")
        video = Frame(image=image, source="bench-video", kind=SourceKind.VIDEO)
        follower = pipeline.follower()

        def verify_video() -> float:
            seen = pipeline.observe(video, follower=follower)
            if seen.embedding is None:
                raise RuntimeError(f"benchmark video frame was refused: {seen.reason}")
            return template_score(template, seen.embedding)

        still_timing, video_timing = time_alternating(lambda: verify(frame), verify_video, runs)
        verify_row = _named("verify one frame (all of the above)", still_timing)
        box = faces.boxes[0]
        default_threads = cv2.getNumThreads()
        one_thread, all_threads = time_by_threads(verify_video, (1, default_threads), runs)

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
            _named(
                "video: verify one frame, face followed (taken in turn with verify)", video_timing
            ),
            _named("video frame, 1 OpenCV thread (in turn with the next row)", one_thread),
            _named(f"video frame, {default_threads} OpenCV threads (the default)", all_threads),
            _named(
                "video: detect near the last box",
                time_call(lambda: pipeline.detector.detect_near(image, box), runs),
            ),
            _named(
                "video: detect on the downscaled frame",
                time_call(lambda: pipeline.detector.detect_coarse(image), runs),
            ),
            _named("verify one side-lit frame (slow path)", time_call(lambda: verify(dark), runs)),
            _named(
                "occlusion map (per usable frame of an unlock)",
                time_call(lambda: occlusion.map(crop), runs),
            ),
            *_attempt(frame, runs),
        ]
    speedup = None
    if baseline:
        dlib_row = _named("dlib HOG + 5-point + ResNet verify", _dlib_baseline(image, runs))
        rows.append(dlib_row)
        speedup = dlib_row.median_ms / verify_row.median_ms
    return BenchResult(rows=rows, speedup=speedup, machine=machine_description())


def _attempt(frame: Frame, runs: int) -> list[StageTiming]:
    """A whole ``Unlocker.verify`` in a throw-away vault, liveness and attention off, so
    it adds to its frame's verify only the decision, the occlusion map and the lockout
    slot; what it adds, each attempt timed in turn with a verify of the same frame;
    and the slot alone (``begin_attempt`` then ``finish_attempt``), two durable SQLite
    transactions whose fsyncs cost what the disk makes them cost."""
    from facegate.biometrics.policy import UnlockOptions
    from facegate.config import KeySource, Settings
    from facegate.demo import _captures
    from facegate.liveness.check import LivenessMode
    from facegate.session import Session
    from facegate.vault.base import Outcome

    options = UnlockOptions(
        liveness=LivenessMode.OFF, require_attention=False, adaptive_update=False
    )
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        settings = Settings(home=Path(tmp), key_source=KeySource.KEYFILE)
        with Session(settings, FacePipeline(ModelFiles.of(settings))) as session:
            session.unlocker.enroll("bench", _captures(frame.image, "bench"))
            vault = session.vault

            def slot() -> None:
                vault.finish_attempt(vault.begin_attempt("bench"), Outcome.NEUTRAL)

            attempt, extra = time_extra(
                lambda: session.pipeline.observe(frame),
                lambda: session.unlocker.verify("bench", [frame], options),
                runs,
            )
            return [
                _named("unlock attempt (+ lockout slot, 2 vault writes, occlusion map)", attempt),
                _named("  beyond its frame's verify (each pair taken in turn)", extra),
                _named(
                    "  of which the lockout slot (2 durable vault writes)", time_call(slot, runs)
                ),
            ]


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
