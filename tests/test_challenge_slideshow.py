"""Slideshows of the owner's photos against the challenge (outside test, finding 1).

Each slideshow is written as an MJPG video in a temporary folder from the Yale stills,
as the tester's slide.py writes it (data is never committed), read back as a video
source and fed through the real face mesher to the real judge.
Every draw of the prompts is fixed, so each test covers all of them. The same frames
with the continuity rule left out pass, which shows the attack is real and that the
rule is what refuses it.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegate.biometrics.unlock import UnlockOptions
from facegate.errors import Reason
from facegate.eval.challenges import Track, judge, seen
from facegate.eval.slideshow import Slideshow, slideshow_frames
from facegate.liveness.challenge import (
    ChallengeFailure,
    ChallengeKind,
    ChallengeOptions,
    ChallengeResult,
)
from facegate.liveness.continuity import ContinuityOptions, Pose, continuous
from facegate.liveness.modes import LivenessMode
from facegate.session import Session
from facegate.vision.mesh import FaceMesher, MeshOptions, RunningMode, next_timestamp_ms
from facegate.vision.sources import iter_video, read_image

B, S, M = ChallengeKind.BLINK, ChallengeKind.SMILE, ChallengeKind.OPEN_MOUTH
SUBJECT = "subject09"
OPTIONS = ChallengeOptions()
HIGH_DRAWS: list[tuple[ChallengeKind, ...]] = [
    d for n in (2, 3) for d in permutations((B, S, M), n)
]
STANDARD_DRAWS: list[tuple[ChallengeKind, ...]] = [(B, S), (S, B)]


def write_video(data_dir: Path, order: str, show: Slideshow, out: Path) -> Path:
    """The slideshow as slide.py writes it: MJPG at the show's frame rate."""
    frames, _ = slideshow_frames(data_dir / "yale_faces", SUBJECT, order, show)
    height, width = frames[0][1].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), show.fps, (width, height))
    for _, image in frames:
        writer.write(image)
    writer.release()
    return out


def track(data_dir: Path, order: str, show: Slideshow, folder: Path) -> Track:
    video = write_video(data_dir, order, show, folder / f"{order}.avi")
    out: Track = []
    last: int | None = None
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as mesher:
        for frame in iter_video(video):
            last = next_timestamp_ms(frame.t, last)
            out.append(seen(frame.t, frame.image, mesher.detect_for_video(frame.image, last)))
    return out


def outcomes(
    clip: Track, draws: list[tuple[ChallengeKind, ...]], options: ChallengeOptions
) -> list[ChallengeResult | None]:
    """Each draw judged on the clip; None where the clip ended first."""
    results: list[ChallengeResult | None] = []
    for kinds in draws:
        result, incomplete = judge(kinds, iter(clip), options)
        results.append(None if incomplete or result is None else result)
    return results


@pytest.mark.dataset
def test_blink_and_smile_slideshow_is_refused_for_every_draw(
    data_dir: Path, tmp_path: Path
) -> None:
    clip = track(data_dir, "bs", Slideshow(), tmp_path)
    refused = outcomes(clip, STANDARD_DRAWS, OPTIONS)
    assert all(r is not None and not r.passed for r in refused)
    # Blink first: the cut to the sleepy photo is refused, so its smile comes as the
    # wrong action; smile first: the cut to the smiling photo is refused.
    assert [r.failure for r in refused if r is not None] == [
        ChallengeFailure.WRONG_ACTION,
        ChallengeFailure.CUT,
    ]
    # Without the continuity rule the draw in the slideshow's order passes.
    unguarded = outcomes(clip, STANDARD_DRAWS[:1], replace(OPTIONS, continuity=None))
    assert unguarded[0] is not None and unguarded[0].passed


@pytest.mark.dataset
def test_three_step_slideshow_is_refused_for_every_draw(data_dir: Path, tmp_path: Path) -> None:
    clip = track(data_dir, "bsm", Slideshow(), tmp_path)
    refused = outcomes(clip, HIGH_DRAWS, OPTIONS)
    assert all(r is not None and not r.passed for r in refused)
    unguarded = outcomes(clip, [(B, S, M)], replace(OPTIONS, continuity=None))
    assert unguarded[0] is not None and unguarded[0].passed


@pytest.mark.dataset
@pytest.mark.parametrize(
    "show",
    [Slideshow(fade_frames=3), Slideshow(noise=6.0)],
    ids=["crossfade", "noise"],
)
def test_disguised_slideshows_are_refused_for_every_draw(
    data_dir: Path, tmp_path: Path, show: Slideshow
) -> None:
    clip = track(data_dir, "bsm", show, tmp_path)
    refused = outcomes(clip, STANDARD_DRAWS + HIGH_DRAWS, OPTIONS)
    assert all(r is not None and not r.passed for r in refused)


@pytest.mark.dataset
def test_slideshow_through_the_unlock_is_a_counted_liveness_failure(
    home: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The tester's attack end to end: enrolled from four neutral stills, the
    blink-then-smile slideshow verified at the defaults with the prompts it acts out."""
    yale = data_dir / "yale_faces"
    video = iter_video(write_video(data_dir, "bs", Slideshow(), tmp_path / "bs.avi"))
    enrol = [read_image(yale / f"{SUBJECT}.{n}.gif") for n in ("normal", "glasses", "sad")]
    enrol.append(read_image(yale / f"{SUBJECT}.centerlight.gif"))
    with Session.open(home) as session:
        session.unlocker.enroll("y09", enrol)
        verdict = session.unlocker.verify("y09", video, UnlockOptions(challenges=(B, S)))
        session.unlocker.liveness.close()
    assert verdict.liveness is LivenessMode.PASSIVE
    assert verdict.reason is Reason.LIVENESS and not verdict.matched
    assert verdict.failures == 1


def test_a_still_held_then_replaced_is_a_cut() -> None:
    """The rule itself on synthetic poses: a steady jitter passes, one jump in a
    held still does not, and a window with a single step shows no transition."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, (13, 2))
    step = np.array([0.05, 0.0])  # a slow drift, 0.05 px a frame, with jitter
    drift = [Pose(base + i * step + rng.normal(0, 0.05, base.shape), 100.0) for i in range(15)]
    cut = np.array([12.0, 3.0])  # the next photo's face sits elsewhere
    held = [*(Pose(base.copy(), 100.0) for _ in range(14)), Pose(base + cut, 100.0)]
    o = ContinuityOptions()
    assert continuous([(i / 15, p) for i, p in enumerate(drift)], 14 / 15, o)
    assert not continuous([(i / 15, p) for i, p in enumerate(held)], 14 / 15, o)
    assert not continuous([(0.0, held[0]), (0.1, held[-1])], 0.1, o)
