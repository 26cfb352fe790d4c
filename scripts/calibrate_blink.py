"""Fit the blink detector's three free parameters, with leave-one-video-out figures.

For every ``<name>.avi`` with a ``<name>_ideal.csv`` in DIR, the face mesh runs once
per video (cached under OUT/tracks/); then a small grid of (blend_weight,
min_prominence, noise_factor) is scored. Each video is scored with the grid point
chosen on the *other* videos (leave-one-video-out, LOVO), and the pooled LOVO counts
are the honest estimate for a new webcam; the point chosen on all videos becomes the
default in ``facegate.vision.blink.BlinkOptions``.

Objective (larger is better): tolerant frame F1 + min(event recall, 0.97)
- 0.05 * max(false events per minute - 1, 0). Recall is capped so that recall beyond
what is needed cannot buy false events.

    .venv/bin/python scripts/calibrate_blink.py ../shared/data/blink_webcam_videos \\
        --out out/blink-calibration
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path

from facegate.bench.timing import machine_description
from facegate.eval.blink import (
    BlinkCounts,
    EyeTrack,
    detect_blinks,
    pool,
    read_labels,
    score_track,
    threshold_flags,
    track_eyes,
)
from facegate.vision.blink import BlinkOptions, EyeState

BLEND_WEIGHTS = (0.25, 0.5, 0.75)
MIN_PROMINENCES = (0.04, 0.06, 0.08, 0.10, 0.12)
NOISE_FACTORS = (2.0, 3.0, 4.0)


def objective(counts: BlinkCounts) -> float:
    return (
        counts.frame_f1
        + min(counts.event_recall, 0.97)
        - 0.05 * max(counts.false_events_per_min - 1.0, 0.0)
    )


def load_track(video: Path, cache: Path) -> EyeTrack:
    path = cache / f"{video.stem}.json"
    if path.is_file():
        raw = json.loads(path.read_text())
        states = tuple(None if s is None else EyeState(*s) for s in raw["states"])
        return EyeTrack(raw["source"], tuple(raw["times"]), states)
    track = track_eyes(video)
    cache.mkdir(parents=True, exist_ok=True)
    states_out = [
        None if s is None else [s.ear_left, s.ear_right, s.blink_left, s.blink_right]
        for s in track.states
    ]
    path.write_text(
        json.dumps({"source": track.source, "times": track.times, "states": states_out})
    )
    return track


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("out/blink-calibration"))
    args = parser.parse_args()
    videos = sorted(
        v for v in args.folder.glob("*.avi") if v.with_name(f"{v.stem}_ideal.csv").is_file()
    )
    data = {}
    for video in videos:
        track = load_track(video, args.out / "tracks")
        data[video.stem] = (track, read_labels(video.with_name(f"{video.stem}_ideal.csv")))
        print(f"{video.stem}: {len(track.times)} frames", file=sys.stderr)

    grid = [
        replace(BlinkOptions(), blend_weight=w, min_prominence=p, noise_factor=k)
        for w, p, k in itertools.product(BLEND_WEIGHTS, MIN_PROMINENCES, NOISE_FACTORS)
    ]
    table: dict[tuple[int, str], BlinkCounts] = {}
    for g, options in enumerate(grid):
        for name, (track, labels) in data.items():
            table[g, name] = score_track(track, labels, detect_blinks(track, options))[0]

    def best(names: list[str]) -> int:
        return max(range(len(grid)), key=lambda g: objective(pool(table[g, n] for n in names)))

    lovo = {}
    for name in data:
        chosen = best([n for n in data if n != name])
        lovo[name] = {"options": asdict(grid[chosen]), **table[chosen, name].as_dict()}
    lovo_pooled = pool(table[best([n for n in data if n != name]), name] for name in data)
    chosen_all = best(list(data))
    fitted = pool(table[chosen_all, name] for name in data)
    baseline = pool(
        score_track(track, labels, threshold_flags(track, 0.5))[0]
        for track, labels in data.values()
    )
    report = {
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
        "machine": machine_description(),
        "objective": "frame_f1 + min(event_recall, 0.97) - 0.05 * max(false_events_per_min - 1, 0)",
        "grid": {
            "blend_weight": BLEND_WEIGHTS,
            "min_prominence": MIN_PROMINENCES,
            "noise_factor": NOISE_FACTORS,
        },
        "fitted_on_all_videos": {"options": asdict(grid[chosen_all]), **fitted.as_dict()},
        "leave_one_video_out": {"pooled": lovo_pooled.as_dict(), "per_video": lovo},
        "baseline_max_eyeBlink_at_0.5": baseline.as_dict(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration.json").write_text(json.dumps(report, indent=2))
    for label, counts in (
        ("fitted (all videos)", fitted),
        ("leave-one-video-out", lovo_pooled),
        ("baseline eyeBlink>=0.5", baseline),
    ):
        print(
            f"{label}: event recall {counts.event_recall:.1%} "
            f"({counts.matched}/{counts.n_events}), "
            f"frame F1 {counts.frame_f1:.3f}, false events/min {counts.false_events_per_min:.2f} "
            f"({counts.false_events} in {counts.minutes:.2f} min)"
        )
    print(f"chosen on all videos: {asdict(grid[chosen_all])}")
    print(f"wrote {args.out / 'calibration.json'}")


if __name__ == "__main__":
    main()
