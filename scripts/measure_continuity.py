"""The continuity statistic (:func:`facegate.liveness.continuity.jump`) on genuine
webcam clips and on photo slideshows.

    python scripts/measure_continuity.py [--data ../shared/data] [--out out/continuity.json]

Genuine: every 1 s window (ending at each frame) of the blink webcam videos (two
people, 5 videos, 6-30 fps) and of the replay_attacks_dev live clips (p03, p10): any
window may end at an action's peak, so all of them are scored. Slideshows: the
attacker's (docs/liveness.md) of Yale subjects, normal -> sleepy -> normal -> happy ->
normal -> surprised -> normal at 15 fps, plain, crossfaded over 3 frames, with
Gaussian noise (sigma 6) on every frame, and with all of that plus random shifts of up
to 2 px; scored on the window ending at each photo's first frame (where a cut ends).

Prompted blinks (genuine clips only): a blink prompt issued every 1.5 s through each
clip, judged with and without the continuity rule (without it the judge is the one
before the rule): how many of a person's natural blinks answer a prompt, and whether
the rule loses any.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from facegate.eval.challenges import Track, judge, seen
from facegate.eval.slideshow import Slideshow, slideshow_frames
from facegate.liveness.challenge import ChallengeKind, ChallengeOptions
from facegate.liveness.continuity import ContinuityOptions, Pose, jump
from facegate.vision.mesh import FaceMesher, MeshOptions, RunningMode, next_timestamp_ms
from facegate.vision.sources import iter_video


def meshes(frames: Iterable[tuple[float, np.ndarray]]) -> Track:
    out: Track = []
    last: int | None = None
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as mesher:
        for t, image in frames:
            last = next_timestamp_ms(t, last)
            out.append(seen(t, image, mesher.detect_for_video(image, last)))
    return out


def poses(track: Track) -> list[tuple[float, Pose | None]]:
    return [(t, None if mesh is None else Pose.of(mesh)) for t, mesh, _ in track]


def prompted_blinks(track: Track, every: float = 1.5) -> dict[str, int]:
    """Blink prompts issued every ``every`` seconds: answered with and without the rule."""
    rule = ChallengeOptions()
    counts = {"prompts": 0, "answered_without_rule": 0, "answered_with_rule": 0}
    next_t = track[0][0]
    for i, (t, _, _) in enumerate(track):
        if t < next_t:
            continue
        next_t = t + every
        clip = track[i:]
        if clip[-1][0] - t < rule.timeout:
            break
        counts["prompts"] += 1
        for key, options in (
            ("answered_without_rule", replace(rule, continuity=None)),
            ("answered_with_rule", rule),
        ):
            result, _ = judge((ChallengeKind.BLINK,), iter(clip), options)
            counts[key] += bool(result is not None and result.passed)
    return counts


def windows(
    track: list[tuple[float, Pose | None]], ends: list[int], o: ContinuityOptions
) -> list[float]:
    values = []
    for i in ends:
        t = track[i][0]
        value = jump([p for s, p in track[: i + 1] if s >= t - o.window_seconds], o)
        if value is not None:
            values.append(value)
    return values


def summary(values: list[float]) -> dict[str, float | int]:
    a = np.array(values)
    return {
        "n_windows": len(a),
        **{f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 90, 99)},
        "max": round(float(a.max()), 2),
        "above_max_jump": int((a > ContinuityOptions().max_jump).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("out/continuity.json"))
    args = parser.parse_args()
    o = ContinuityOptions()
    report: dict[str, dict] = {"genuine": {}, "slideshow": {}}
    videos = sorted((args.data / "blink_webcam_videos").glob("*.avi")) + sorted(
        (args.data / "replay_attacks_dev" / "videos").glob("*_live.mp4")
    )
    for video in videos:
        clip = meshes((f.t, f.image) for f in iter_video(video))
        track = poses(clip)
        report["genuine"][video.name] = {
            **summary(windows(track, list(range(len(track))), o)),
            **prompted_blinks(clip),
        }
        print(video.name, report["genuine"][video.name], flush=True)
    variants = {
        "cut": Slideshow(),
        "crossfade3": Slideshow(fade_frames=3),
        "noise6": Slideshow(noise=6.0),
        "crossfade3_noise6_shift2": Slideshow(fade_frames=3, noise=6.0, shift=2),
    }
    for subject in ("subject01", "subject05", "subject09", "subject13"):
        for name, show in variants.items():
            frames, cuts = slideshow_frames(args.data / "yale_faces", subject, "bsm", show)
            track = poses(meshes(frames))
            report["slideshow"][f"{subject}/{name}"] = summary(windows(track, cuts, o))
            print(subject, name, report["slideshow"][f"{subject}/{name}"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
