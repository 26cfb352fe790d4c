"""Would the same-face check of a challenge's frames refuse the owner, or let another
person through? Scores every third frame with a face (no quality gate, as the check
embeds them) of the webcam clips against each person's template.

    python scripts/measure_same_face.py [--data ../shared/data]

People: mahie and soniya (blink_webcam_videos: template from their first clip, probes
from the others) and p03, p10 (replay_attacks_dev/videos live clips: template from the
first half, probes from the second). Impostor frames: every other person's frames.
Prints per person the lowest genuine scores, then the highest impostor scores and how
many impostor frames reach each candidate threshold. The check itself uses the
calibration's consistency threshold, which was set on other people.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facegate.biometrics.match import load_calibration, template_score
from facegate.biometrics.template import Template, build_template, consistent_captures
from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame, iter_video

STEP = 3
MAX_FRAMES = 900
Row = tuple[int, bool, np.ndarray]  # clip number, usable by the quality gate, embedding


def clips(data: Path) -> dict[str, list[Path]]:
    blink, replay = data / "blink_webcam_videos", data / "replay_attacks_dev" / "videos"
    return {
        "mahie": [blink / f"mahie_test_{n}.avi" for n in ("1", "2", "4_low_fps")],
        "soniya": [blink / "soniya_test_3.avi", blink / "soniya_test_5_low_fps.avi"],
        "p10": [replay / "p10_live.mp4"],
        "p03": [replay / "p03_live.mp4"],
    }


def every_third(path: Path) -> Iterator[Frame]:
    for i, frame in enumerate(iter_video(str(path))):
        if i >= MAX_FRAMES:
            return
        if i % STEP == 0:
            yield frame


def face_rows(pipeline: FacePipeline, paths: list[Path]) -> list[Row]:
    rows: list[Row] = []
    for number, path in enumerate(paths):
        follower = pipeline.follower()
        for frame in every_third(path):
            obs = pipeline.observe(frame, follower=follower, embed=False)
            if obs.crop is not None:
                rows.append((number, obs.reason is None, pipeline.embed_crop(obs.crop)))
    return rows


def split(rows: list[Row], one_clip: bool, consistency: float) -> tuple[Template, list[Row]]:
    """The template (from the first clip, or the first half) and the probe rows."""
    if one_clip:
        half = len(rows) // 2
        enrol_rows, probes = rows[:half], rows[half:]
    else:
        enrol_rows, probes = [r for r in rows if r[0] == 0], [r for r in rows if r[0] != 0]
    enrol = [r[2] for r in enrol_rows if r[1]][::10][:20]
    keep = consistent_captures(enrol, consistency)
    return build_template([enrol[i] for i in keep], 0.0), probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    calibration = load_calibration()
    people = clips(args.data)
    with FacePipeline(ModelFiles.of(load_settings())) as pipeline:
        data = {person: face_rows(pipeline, paths) for person, paths in people.items()}
    impostor: list[float] = []
    for person, rows in data.items():
        template, probes = split(rows, len(people[person]) == 1, calibration.consistency_threshold)
        genuine = np.array([template_score(template, r[2]) for r in probes])
        low = np.percentile(genuine, [0, 0.5, 1, 5])
        print(
            f"{person}: {len(genuine)} genuine frames, lowest {low[0]:.3f}, "
            f"p0.5 {low[1]:.3f}, p1 {low[2]:.3f}, p5 {low[3]:.3f}"
        )
        impostor += [
            template_score(template, r[2]) for o, rs in data.items() if o != person for r in rs
        ]
    scores = np.array(impostor)
    print(
        f"impostor: {len(scores)} frames, highest {scores.max():.3f}, "
        f"p99.9 {np.percentile(scores, 99.9):.3f}"
    )
    for threshold in (0.30, 0.35, 0.40, calibration.consistency_threshold):
        print(f"  at {threshold:.3f}: {int((scores >= threshold).sum())} impostor frames reach it")


if __name__ == "__main__":
    main()
