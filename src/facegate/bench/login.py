"""``facegate bench login``: seconds from ``pamtester`` starting to PAM success.

The warm path is the product: the daemon already holds its models and reads the
camera only during an attempt. The baseline is what a cold, Howdy-style PAM module
pays per attempt: start Python, import dlib, load the HOG detector, the 5-point
predictor and the ResNet descriptor from ``face_recognition_models``, then detect,
align and describe the same first three frames. Runs alternate, so all see the same
load on a shared machine.

On a camera the PAD alone does not admit: a matching face is asked for a blink and a
smile in random order (docs/liveness.md). So a login is timed twice per run:

- to success, with a person answering: the camera is a named pipe fed by a responder
  (``facegate.system.responder``) that plays real webcam frames of the enrolled person
  (a 6 fps clip, the only one at hand with a smile) and makes each action when the
  prompt shows it on the terminal, after a reaction of two frames;
- to the first prompt, with a 30 fps clip paced at its own rate (three fused frames):
  the face has matched and only the person's answer is missing. That is the
  machine's share of a login, and the figure comparable with the cold dlib process,
  which also stops once its three frames are described. The clip cannot answer, so
  this login falls to the password when the challenge gives up.

It also times a user who is not enrolled: the fixed cost of pamtester, pam_exec, the
client, the socket and the vault.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facegate.bench.timing import machine_description
from facegate.errors import FaceGateError
from facegate.system import attempts
from facegate.system.authenticate import enroll, open_system_session
from facegate.system.client import Outcome
from facegate.system.config import load_config
from facegate.system.paths import SystemPaths
from facegate.system.responder import Cast, PipeFeed, Responder
from facegate.system.testbed import (
    Daemon,
    PamService,
    UnixUser,
    missing_requirements,
    point_camera,
    stage_clip,
    temporary_root,
)
from facegate.vision.sources import iter_frames

FUSED_FRAMES = 3
PROMPT_MARK = " now"  # the end of every challenge prompt ("Blink now")
NOT_ENROLLED = "root"  # a real account that is never enrolled by the benchmark
ENROL_FRAMES = 20
ENROL_STEP = 10

# Run in a fresh interpreter per attempt, as a per-attempt PAM module would be.
COLD_DLIB = """
import sys
import cv2, dlib, face_recognition_models as m
hog = dlib.get_frontal_face_detector()
shape = dlib.shape_predictor(m.pose_predictor_five_point_model_location())
net = dlib.face_recognition_model_v1(m.face_recognition_model_location())
cap = cv2.VideoCapture(sys.argv[1])
described = []
for _ in range(int(sys.argv[2])):
    ok, bgr = cap.read()
    if not ok:
        break
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes = hog(rgb, 1)
    if len(boxes):
        described.append(net.compute_face_descriptor(rgb, shape(rgb, boxes[0])))
sys.exit(0 if described else 3)
"""


@dataclass(frozen=True)
class LoginBench:
    """Seconds; medians over ``runs`` logins of each kind unless said otherwise.

    median_s / p90_s: pamtester start to PAM success by face with the responder
    answering, over the runs that got in (None when none did); genuine_success: every
    one did. answer_daemon_median_s: those attempts inside the daemon (attempt log).
    prompt_median_s: the 30 fps clip, start to the first challenge prompt on the
    terminal, over the runs that were asked (``prompted``); recording_end_median_s: the
    same runs to pamtester's exit (the fall-through); daemon_median_s: those attempts
    inside the daemon. round_trip_median_s: a user who is not enrolled, start to exit.
    speedup: cold dlib over median_s; speedup_to_prompt: over the prompt.
    """

    runs: int
    median_s: float | None
    p90_s: float | None
    genuine_success: bool
    genuine_successes: int
    answer_daemon_median_s: float | None
    prompt_median_s: float | None
    prompted: int
    recording_end_median_s: float
    daemon_median_s: float | None
    round_trip_median_s: float
    cold_dlib_median_s: float
    cold_dlib_p90_s: float
    speedup: float | None
    speedup_to_prompt: float | None
    impostor_fell_through: bool
    timeout_s: float
    machine: str
    load_average_1min: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, round(0.9 * (len(values) - 1)))]


def cold_dlib_seconds(clip: Path) -> float:
    """Wall time of one cold dlib process over the clip's first FUSED_FRAMES frames."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", COLD_DLIB, str(clip), str(FUSED_FRAMES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise FaceGateError(f"the cold dlib baseline failed: {done.stderr.strip()[-500:]}")
    return seconds


@dataclass(frozen=True)
class Cameras:
    """What the benchmark shows the service: ``enrol`` and ``genuine`` (30 fps) clips of
    one person, ``impostor`` another person's clip, and ``answering`` a person who
    answers prompts, enrolled from ``answering_enrol``."""

    enrol: Path
    genuine: Path
    impostor: Path
    answering: Cast
    answering_enrol: Path

    def check(self) -> None:
        clips = (self.enrol, self.genuine, self.impostor, self.answering.clip)
        for clip in (*clips, self.answering_enrol):
            if not clip.is_file():
                raise FaceGateError(f"{clip}: no such video")


def _inside(paths: SystemPaths, runs: int, user: str) -> list[float]:
    """Seconds each of ``user``'s face attempts took inside the daemon (attempt log)."""
    logged = attempts.recent(paths.attempt_log, 4 * runs)
    return [
        a.duration_ms / 1000 for a in logged if a.user == user and not a.service.endswith("(clear)")
    ]


def run_login_bench(cameras: Cameras, runs: int = 20) -> LoginBench:
    """Enrol two users, then time ``runs`` rounds of: a login answered by the responder,
    a login from the 30 fps clip (to its prompt), one cold dlib run and one user not
    enrolled; finally try the impostor once (it must fall through)."""
    reason = missing_requirements()
    if reason is not None:
        raise FaceGateError(f"facegate bench login cannot run here: {reason}")
    cameras.check()
    with ExitStack() as cleanup:  # undone in reverse order, whatever fails
        root = temporary_root()
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        user, answerer = UnixUser.create(), UnixUser.create()
        cleanup.callback(user.remove)
        cleanup.callback(answerer.remove)
        paths = SystemPaths(root=root)
        camera = root / "camera"
        feed = PipeFeed(root / "answering.y4m", Responder(cameras.answering))
        cleanup.callback(feed.stop)
        genuine, impostor = stage_clip(root, cameras.genuine), stage_clip(root, cameras.impostor)
        point_camera(camera, genuine)
        paths.config_dir.mkdir(parents=True)
        paths.config_file.write_text(f'camera = "{camera}"\nlevel = "standard"\n')
        config = load_config(paths.config_file)
        with open_system_session(paths) as session:
            frames = iter_frames(cameras.enrol, max_frames=ENROL_FRAMES, step=ENROL_STEP)
            enroll(session, user.name, frames)
            frames = iter_frames(cameras.answering_enrol, max_frames=ENROL_FRAMES, step=ENROL_STEP)
            enroll(session, answerer.name, frames)
        logs = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        daemon = Daemon(paths, logs / "daemon.log")
        cleanup.callback(daemon.stop)
        pam = PamService(paths, paths.socket)
        cleanup.callback(pam.remove)
        ends: list[float] = []
        successes: list[float] = []
        prompts: list[float] = []
        round_trips: list[float] = []
        cold: list[float] = []
        for _ in range(runs):
            point_camera(camera, feed.path)
            answered = pam.authenticate_watching(
                answerer.name, answerer.password, PROMPT_MARK, feed.responder.hear_text
            )
            if answered.rc == 0 and not answered.reached_password:
                successes.append(answered.seconds)
            point_camera(camera, genuine)
            # The right password after a fall-through: a replay that cannot answer
            # counts as a failure, and the password's clear line resets it, so the
            # fifth run is not locked out.
            result = pam.authenticate_watching(user.name, user.password, PROMPT_MARK)
            ends.append(result.seconds)
            if result.watched_at is not None:
                prompts.append(result.watched_at)
            cold.append(cold_dlib_seconds(cameras.genuine))
            round_trips.append(pam.authenticate(NOT_ENROLLED, "not-a-password").seconds)
        answering_inside = _inside(paths, runs, answerer.name)
        inside = _inside(paths, runs, user.name)
        point_camera(camera, impostor)
        other = pam.authenticate(user.name, user.password)
        face = attempts.recent(paths.attempt_log, 2)[0]
        fell_through = other.rc == 0 and other.reached_password and face.outcome == Outcome.NO_MATCH
    median, prompt = _median(successes), _median(prompts)
    cold_median = statistics.median(cold)
    return LoginBench(
        runs=runs,
        median_s=median,
        p90_s=round(_p90(successes), 4) if successes else None,
        genuine_success=len(successes) == runs,
        genuine_successes=len(successes),
        answer_daemon_median_s=_median(answering_inside),
        prompt_median_s=prompt,
        prompted=len(prompts),
        recording_end_median_s=round(statistics.median(ends), 4),
        daemon_median_s=_median(inside),
        round_trip_median_s=round(statistics.median(round_trips), 4),
        cold_dlib_median_s=round(cold_median, 4),
        cold_dlib_p90_s=round(_p90(cold), 4),
        speedup=round(cold_median / median, 2) if median else None,
        speedup_to_prompt=round(cold_median / prompt, 2) if prompt else None,
        impostor_fell_through=fell_through,
        timeout_s=config.timeout,
        machine=machine_description(),
        load_average_1min=round(os.getloadavg()[0], 2),
    )
