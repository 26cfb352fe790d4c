"""Does following the face in video find the same faces as searching every frame?

For each clip, every frame (up to --frames, consecutive) is observed twice by the same
pipeline: once searched whole (the still path, what every frame got before video mode)
and once by a ``FaceFollower`` as ``Unlocker.verify`` now does. Printed per clip: frames
with a face and frames with an embedding on each path, and the cosine agreement of the
two embeddings of each frame. As a yardstick, the whole-frame search is also run on the
frame shifted by (3, 5) pixels: YuNet's five points move with such a shift, and so do
the embeddings, so agreement at that level is noise a camera makes anyway.

With --enrol, the first clip's person is enrolled from that video (20 frames, every
10th, as ``facegate bench login`` does) and each clip's frames are scored against the
template: the share of frames whose score clears the ``standard`` threshold of their
capture class, on each path.

    PYTHONPATH=src python scripts/compare_face_follow.py \
        --enrol ../shared/data/blink_webcam_videos/mahie_test_2.avi \
        ../shared/data/blink_webcam_videos/*.avi ../shared/data/replay_attacks_dev/videos/*.mp4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from facegate.bench.timing import machine_description
from facegate.biometrics.match import SecurityLevel, load_calibration, template_score
from facegate.biometrics.template import build_template
from facegate.config import load_settings
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import Frame, iter_frames


def shifted(frame: Frame) -> Frame:
    image = cv2.copyMakeBorder(frame.image, 5, 0, 3, 0, cv2.BORDER_REPLICATE)
    return Frame(image, frame.source, frame.index, frame.t, frame.kind)


def agreement(a: Observation, b: Observation) -> float | None:
    if a.embedding is None or b.embedding is None:
        return None
    return float(a.embedding @ b.embedding)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--enrol", type=Path)
    args = parser.parse_args()
    calibration = load_calibration()
    with FacePipeline(load_settings()) as pipeline:
        template = None
        if args.enrol is not None:
            enrol = iter_frames(args.enrol, max_frames=20, step=10)
            kept = [pipeline.observe(f, ENROL_QUALITY).embedding for f in enrol]
            template = build_template([e for e in kept if e is not None], time.time())
        print(f"{machine_description()}; up to {args.frames} consecutive frames per clip")
        header = (
            "clip | frames | face still/follow | embedded still/follow"
            " | agreement median (min) | shift yardstick median (min)"
        )
        if template is not None:
            header += " | clears standard still/follow"
        print(header)
        for clip in args.clips:
            follower = pipeline.follower()
            counts = np.zeros((2, 2), int)
            agree: list[float] = []
            jitter: list[float] = []
            clears = np.zeros(2, int)
            n = 0
            for frame in iter_frames(clip, max_frames=args.frames):
                n += 1
                still = pipeline.observe(frame)
                follow = pipeline.observe(frame, follower=follower)
                for row, obs in enumerate((still, follow)):
                    counts[row] += (len(obs.faces) > 0, obs.embedding is not None)
                    if template is not None and obs.embedding is not None:
                        assert obs.capture is not None
                        score = template_score(template, obs.embedding)
                        level = calibration.decision_threshold(
                            SecurityLevel.STANDARD, [obs.capture]
                        )
                        clears[row] += score >= level
                if (value := agreement(still, follow)) is not None:
                    agree.append(value)
                if (value := agreement(still, pipeline.observe(shifted(frame)))) is not None:
                    jitter.append(value)
            line = (
                f"{clip.name} | {n} | {counts[0, 0]}/{counts[1, 0]} | {counts[0, 1]}/{counts[1, 1]}"
                f" | {np.median(agree):.4f} ({min(agree):.4f})"
                f" | {np.median(jitter):.4f} ({min(jitter):.4f})"
            )
            if template is not None:
                line += f" | {clears[0]}/{clears[1]}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
