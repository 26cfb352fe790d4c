"""Whole-clip check of passive liveness on the replay_attacks_dev clips.

    python scripts/eval_replay_clips.py [--data ../shared/data] [--weights W.npz]
        [--out out/liveness/clips.json]

Each person is enrolled from the first half of their live clip (p04, who has only a
replay clip, from their live crops). Every second half, live or replay, is then
verified twice, in a temporary home (no real vault is touched):

- ``verify``: ``Unlocker.verify`` at ``standard`` with passive liveness (the default
  policy): unlocked or not, and why;
- ``liveness``: the same frames fed to a liveness attempt alone: the PAD decision,
  whether the fallback challenge was asked, and how it ended (a recorded clip
  cannot answer a prompt, so a live half that is asked ends ``incomplete`` or
  failed, never passed).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from facegate.biometrics.unlock import UnlockOptions
from facegate.errors import ChallengeIncomplete
from facegate.liveness.check import LivenessEngine, LivenessMode, LivenessOptions
from facegate.models import ModelFiles
from facegate.session import Session
from facegate.vision.sources import Frame, iter_video, read_image


def halves(video: Path) -> tuple[list[Frame], list[Frame]]:
    frames = list(iter_video(video))
    return frames[: len(frames) // 2], frames[len(frames) // 2 :]


def liveness_only(session: Session, engine: LivenessEngine, frames: list[Frame]) -> dict:
    """The unlock loop's use of an attempt (3 usable frames, then until settled)."""
    options = LivenessOptions(LivenessMode.PASSIVE, challenge_when_uncertain=True)
    prompts: list[str] = []
    check = engine.attempt(options, lambda c: prompts.append(c.kind.value))
    used = 0
    for frame in frames:
        obs = session.pipeline.observe(frame)
        wanted = obs.embedding is not None and used < 3
        check.add(frame, obs.faces, wanted)
        used += wanted
        if used >= 3 and check.settled:
            break
    if used == 0:
        check.abandon()
        return {"outcome": "no usable face"}
    try:
        verdict = check.verdict()
    except ChallengeIncomplete:
        return {"outcome": "challenge incomplete (clip ended)", "prompts": prompts}
    return {
        "outcome": "live" if verdict.live else "refused",
        "pad_score": verdict.pad_score,
        "pad_decision": str(verdict.pad_decision),
        "fallback": verdict.fallback,
        "prompts": prompts,
        "challenge_failure": str(verdict.challenge.failure) if verdict.challenge else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("out/liveness/clips.json"))
    args = parser.parse_args()
    root = args.data / "replay_attacks_dev"
    with (root / "videos.csv").open(newline="") as fh:
        clips = list(csv.DictReader(fh))
    results = []
    with tempfile.TemporaryDirectory() as home, Session.open(Path(home)) as session:
        engine = LivenessEngine(ModelFiles.of(session.settings), args.weights)
        session.unlocker.liveness = engine
        for person in sorted({c["subject"] for c in clips}):
            live_clip = [c for c in clips if c["subject"] == person and c["label"] == "live"]
            if live_clip:
                enrol = halves(root / live_clip[0]["path"])[0][::3]
            else:
                crops = sorted((root / person / "live").glob("*.jpg"))
                enrol = [read_image(p) for p in crops]
            report = session.unlocker.enroll(person, enrol)
            for clip in (c for c in clips if c["subject"] == person):
                probe = halves(root / clip["path"])[1]
                results.append(
                    {
                        "clip": clip["path"],
                        "label": clip["label"],
                        "enrolled_from": "live clip, first half" if live_clip else "live crops",
                        "enrolled_captures": report.kept,
                        "verify": verify(session, person, probe),
                        "liveness": liveness_only(session, engine, probe),
                    }
                )
                print(json.dumps(results[-1]))
        engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


def verify(session: Session, person: str, probe: list[Frame]) -> dict:
    """The default unlock's verdict; the PAD's own view is in ``liveness_only``."""
    verdict = session.unlocker.verify(person, probe, UnlockOptions(liveness=LivenessMode.PASSIVE))
    return {"unlocked": verdict.matched, "reason": str(verdict.reason)}


if __name__ == "__main__":
    main()
