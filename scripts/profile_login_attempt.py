"""Where one login attempt's time goes inside the service's engine (a profile, not a test).

Enrols a user into a throw-away system vault from one clip, warms the engine as the
daemon does, then runs ``system.authenticate.authenticate`` with another clip as the
camera, printing when each challenge prompt was issued and the time spent in each
stage: the camera's first frame, ``FacePipeline.observe``, liveness ``add``, building
the challenge's VIDEO-mode landmarker (the service builds it between attempts, so on
the login path this is only taking it), the landmarker calls and SFace's runs. The
stages are timed by wrapping those methods in this process only.

    PYTHONPATH=src python scripts/profile_login_attempt.py --timeout 10 --attempts 2
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import facegate.system.authenticate as auth
from facegate.liveness.check import LivenessAttempt
from facegate.system.config import SystemConfig
from facegate.system.paths import SystemPaths
from facegate.vision.embed import SFaceEmbedder
from facegate.vision.mesh import FaceMesher
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame, iter_frames

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "blink_webcam_videos"
SPENT: dict[str, list[float]] = {}


def timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            SPENT.setdefault(name, []).append(time.perf_counter() - start)

    return wrapper


def first_frame_timed(frames: Callable[..., Iterator[Frame]]) -> Callable[..., Iterator[Frame]]:
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Frame]:
        start = time.perf_counter()
        for index, frame in enumerate(frames(*args, **kwargs)):
            if index == 0:
                SPENT.setdefault("camera open to first frame", []).append(
                    time.perf_counter() - start
                )
            yield frame

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrol", type=Path, default=DATA / "mahie_test_2.avi")
    parser.add_argument("--camera", type=Path, default=DATA / "mahie_test_1.avi")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--attempts", type=int, default=2)
    args = parser.parse_args()
    FacePipeline.observe = timed("observe", FacePipeline.observe)  # type: ignore[method-assign]
    LivenessAttempt.add = timed("liveness add", LivenessAttempt.add)  # type: ignore[method-assign]
    LivenessAttempt._start_challenge = timed(  # type: ignore[method-assign]
        "build the VIDEO landmarker", LivenessAttempt._start_challenge
    )
    FaceMesher.detect_for_video = timed(  # type: ignore[method-assign]
        "landmarker, video", FaceMesher.detect_for_video
    )
    FaceMesher.detect = timed("landmarker, still", FaceMesher.detect)  # type: ignore[method-assign]
    SFaceEmbedder.embed = timed("SFace", SFaceEmbedder.embed)  # type: ignore[method-assign]
    auth.camera_frames = first_frame_timed(auth.camera_frames)  # type: ignore[assignment]
    root = Path(tempfile.mkdtemp(prefix="facegate-profile-"))
    try:
        paths = SystemPaths(root=root)
        paths.config_dir.mkdir(parents=True)
        with auth.open_system_session(paths) as session:
            auth.enroll(session, "alice", iter_frames(args.enrol, max_frames=20, step=10))
        config = SystemConfig(camera=str(args.camera), timeout=args.timeout)
        with auth.open_system_session(paths) as session:
            auth.warm_up(session)
            for attempt in range(args.attempts):
                SPENT.clear()
                prompts: list[tuple[str, float]] = []
                start = time.perf_counter()
                result = auth.authenticate(
                    session,
                    "alice",
                    config,
                    time.monotonic() + config.timeout,
                    on_info=lambda text, t0=start, out=prompts: out.append(
                        (text, time.perf_counter() - t0)
                    ),
                )
                total = time.perf_counter() - start
                said = ", ".join(f"{text!r} at {t:.3f} s" for text, t in prompts) or "none"
                print(
                    f"attempt {attempt}: {result.outcome.value} in {total:.3f} s; prompts: {said}"
                )
                for name, values in SPENT.items():
                    first = ", ".join(f"{v * 1000:.0f}" for v in values[:4])
                    print(
                        f"  {name}: {len(values)} calls, {sum(values):.3f} s in all, median "
                        f"{statistics.median(values) * 1000:.1f} ms; first calls {first} ms"
                    )
                auth.prepare_next_attempt(session)  # as the service does after each attempt
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
