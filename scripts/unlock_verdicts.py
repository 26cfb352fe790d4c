"""Unlock verdicts on real clips, one JSON line each, to diff two source trees.

A change meant only to save time must not change a decision. Run this once with each
tree on ``PYTHONPATH`` and diff the outputs: the person is enrolled from ``--enrol``
(20 frames, every 10th, as ``facegate bench login`` does) into a throw-away vault,
then each clip is verified at ``standard`` twice: with the default policy (passive
liveness, the challenge fallback) and with liveness off. Frames come from the file as
fast as they are processed, so ``frames_seen`` of a challenged attempt depends on the
machine's speed and is printed apart from the verdict.

    PYTHONPATH=src python scripts/unlock_verdicts.py \\
        --enrol ../shared/data/blink_webcam_videos/mahie_test_2.avi \\
        ../shared/data/blink_webcam_videos/*.avi ../shared/data/replay_attacks_dev/videos/*.mp4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from facegate.biometrics.policy import UnlockOptions
from facegate.config import KeySource, Settings
from facegate.liveness.check import LivenessMode
from facegate.models import ModelFiles
from facegate.session import Session
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import iter_frames

USER = "enrolled"
POLICIES = {
    "default": UnlockOptions(),
    "liveness off": UnlockOptions(liveness=LivenessMode.OFF, adaptive_update=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrol", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=150, help="frames read per clip")
    parser.add_argument("clips", type=Path, nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facegate-verdicts-") as tmp:
        settings = Settings(home=Path(tmp), key_source=KeySource.KEYFILE)
        with Session(settings, FacePipeline(ModelFiles.of(settings))) as session:
            session.unlocker.enroll(USER, iter_frames(args.enrol, max_frames=20, step=10))
            for clip in args.clips:
                for policy, options in POLICIES.items():
                    start = time.perf_counter()
                    frames = iter_frames(clip, max_frames=args.frames)
                    verdict = session.unlocker.verify(USER, frames, options).as_dict()
                    seconds = time.perf_counter() - start
                    session.vault.reset_lockout(USER)  # each clip starts unlocked
                    seen = verdict.pop("frames_seen")
                    for volatile in ("user", "failures", "locked"):
                        verdict.pop(volatile)
                    print(
                        f"{clip.name} | {policy} | {json.dumps(verdict, sort_keys=True)} "
                        f"| frames_seen {seen}, {seconds:.2f} s",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
