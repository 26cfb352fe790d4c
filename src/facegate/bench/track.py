"""How fast the tracker runs: a benchmark command's library half, never a test.

The whole tracker is timed, as an app receives it: decode a frame, run the face mesh
in VIDEO mode, build the face map and the record. Each run tracks the full video
once, after one warm-up run (model load, file cache); the report gives every run's
frames per second (set-up of the video's tracker included), their median, and the
time between consecutive records: its median and 90th percentile, and the steady
throughput 1000 / mean (frames per second once tracking runs).

The default clip is scikit-image's astronaut (public domain): her head, at about the
size a laptop webcam sees a user, moving and turning on a 640x480 canvas, written to
a temporary MJPEG AVI, so every machine times the same pixels.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.sharing.tracker import track

CLIP_SIZE = (640, 480)
CLIP_FPS = 30.0


def write_sample_clip(path: Path, n_frames: int = 300) -> Path:
    """A 640x480 MJPEG clip of the astronaut's face gently moving and turning."""
    from skimage import data

    head = cv2.cvtColor(data.astronaut()[0:300, 90:360], cv2.COLOR_RGB2BGR)
    head = cv2.resize(head, (324, 360))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), CLIP_FPS, CLIP_SIZE)
    try:
        for i in range(n_frames):
            phase = 2.0 * math.pi * i / n_frames
            canvas = np.full((CLIP_SIZE[1], CLIP_SIZE[0], 3), 90, np.uint8)
            x, y = 158 + round(40 * math.sin(phase)), 60 + round(15 * math.cos(phase))
            canvas[y : y + 360, x : x + 324] = head
            turn = cv2.getRotationMatrix2D((320.0, 240.0), 8.0 * math.sin(2 * phase), 1.0)
            writer.write(cv2.warpAffine(canvas, turn, CLIP_SIZE, borderValue=(90, 90, 90)))
    finally:
        writer.release()
    return path


@dataclass(frozen=True)
class TrackSpeed:
    """Frames per second and milliseconds per frame; ``runs`` timed runs of ``frames``.

    ``load_average`` is the machine's one-minute load before and after the runs: on a
    shared machine, other jobs' load slows every figure down.
    """

    video: str
    frames: int
    frames_with_face: int
    runs: int
    fps_per_run: list[float]
    median_fps: float
    steady_fps: float
    median_ms_per_frame: float
    p90_ms_per_frame: float
    load_average: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def benchmark_tracking(video: Path, runs: int = 5, models: ModelFiles | None = None) -> TrackSpeed:
    """Track ``video`` once to warm up, then ``runs`` times, timing every record."""
    models = models or ModelFiles.of(load_settings())
    load_before = os.getloadavg()[0]
    warm = list(track([video], models=models))
    fps: list[float] = []
    gaps: list[float] = []
    for _ in range(runs):
        start = last = time.perf_counter()
        n = 0
        for _record in track([video], models=models):
            now = time.perf_counter()
            if n:
                gaps.append((now - last) * 1000.0)
            last = now
            n += 1
        fps.append(n / (time.perf_counter() - start))
    return TrackSpeed(
        video=str(video),
        frames=len(warm),
        frames_with_face=sum(r.face_found for r in warm),
        runs=runs,
        fps_per_run=fps,
        median_fps=float(np.median(fps)),
        steady_fps=1000.0 / float(np.mean(gaps)) if gaps else math.nan,
        median_ms_per_frame=float(np.median(gaps)) if gaps else math.nan,
        p90_ms_per_frame=float(np.percentile(gaps, 90)) if gaps else math.nan,
        load_average=(load_before, os.getloadavg()[0]),
    )
