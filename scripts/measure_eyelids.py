"""Measure how much the eyes change once the face is aligned: real blinks against prints.

The figures behind ``ChallengeOptions.faint_eye_gap_ratio``, ``min_eye_change``,
``min_blink_eye_change`` and ``max_face_change`` (see
:func:`facegate.liveness.eyelids.eye_change`):

- **blinks**: every labelled blink of the webcam blink videos (frames as ``facegate
  eval challenges`` sees them). Reference: the widest-open frame (landmark eyelid gap,
  crop inside the frame) in the 1.2 s before the labelled closure; peak: the most
  closed frame from one frame before the closure to one after it (labels and
  landmarks may disagree by a frame).
- **prints**: moved prints of the evaluation's stills (its simulation, on a seed of
  its own). Every frame whose crop is inside the frame is taken as a would-be blink
  peak, against the widest-open frame of the second before it, when the head pose
  and the rigid points stay within the judge's bounds and the eyelid gap is at
  most ``faint_eye_gap_ratio`` of the reference's (the frames a faint blink could
  be accepted on). Apart from that, the blinks the :class:`BlinkDetector` finds in
  the prints are judged against the eyelid-gap rule alone (``eye_gap_ratio`` of the
  rest pose, head still, rigid points), noting whether the eyes were inside the
  frame and how much they changed, and how many also pass the whole blink rule
  (eyes changed by ``min_blink_eye_change``, face by at most ``max_face_change``).

Both report the eyelid-gap ratio and the eye and face changes, with counts::

    .venv/bin/python scripts/measure_eyelids.py ../shared/data --out out/eyelids \\
        --prints 200 --seconds 10 --seed 1234
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facegate.bench.timing import machine_description
from facegate.eval.challenges import (
    BLINK_BEFORE,
    Seen,
    _blink_events,
    _photo_frames,
    attack_stills,
    seen,
    video_track,
)
from facegate.liveness.challenge import ChallengeOptions, Geometry, distortion
from facegate.liveness.eyelids import eye_change
from facegate.vision.blink import BlinkDetector, EyeState
from facegate.vision.mesh import FaceMesh, FaceMesher, MeshOptions, RunningMode

PRINT_REFERENCE_SECONDS = 1.0


def _gap(frame: Seen) -> float:
    assert frame[1] is not None
    return Geometry.of(frame[1]).eye_gap


def _eyes_in_frame(mesh: FaceMesh) -> bool:
    """Both eyes' corners and lids (MediaPipe indices, as ``Geometry`` reads them) inside
    the image; MediaPipe places them even beyond it."""
    eyes = mesh.landmarks[[33, 133, 362, 263, 159, 145, 386, 374], :2]
    return bool(np.all((eyes >= 0) & (eyes <= 1)))


def _shown(frame: Seen) -> bool:
    return frame[1] is not None and frame[2] is not None and frame[2].in_frame


def _measure(reference: Seen, peak: Seen) -> dict[str, float] | None:
    """Eyelid-gap ratio, pose change, rigid distortion and the eye / face change."""
    assert reference[1] is not None and reference[2] is not None
    assert peak[1] is not None and peak[2] is not None
    change = eye_change(reference[2], peak[2])
    if change is None:
        return None
    rest, moved = reference[1].head_pose, peak[1].head_pose
    return {
        "gap_ratio": _gap(peak) / _gap(reference),
        "pose_change": max(abs(moved.yaw - rest.yaw), abs(moved.pitch - rest.pitch)),
        "distortion": distortion(reference[1], peak[1]),
        "eyes": change.eyes,
        "face": change.face,
    }


def blinks(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for video in sorted(folder.glob("*.avi")):
        labels_path = video.with_name(video.stem + "_ideal.csv")
        if not labels_path.is_file():
            continue
        labels = np.array(labels_path.read_text("utf-8-sig").replace(",", " ").split(), int)
        track = video_track(video, len(labels))
        if len(track) != len(labels):
            print(f"skipped {video.name}: {len(track)} frames, {len(labels)} labels")
            continue
        for start, end in _blink_events(labels):
            t0 = track[start][0] - BLINK_BEFORE
            before = [f for f in track[:start] if f[0] >= t0 and _shown(f)]
            during = [f for f in track[max(start - 1, 0) : end + 1] if _shown(f)]
            if not before or not during:
                continue
            peak = min(during, key=_gap)
            row = _measure(max(before, key=_gap), peak)
            if row is not None:
                assert peak[1] is not None
                in_frame = _eyes_in_frame(peak[1])
                rows.append(
                    {"video": video.name, "frame": int(start), **row, "eyes_in_frame": in_frame}
                )
    return rows


def detected_blinks(track: Sequence[Seen], options: ChallengeOptions) -> list[dict[str, Any]]:
    """The detector's blinks in ``track`` that begin after an open frame and reopen in
    time, judged by the eyelid-gap rule against the rest pose (the middle of the first
    three faces, as the judge takes it), with where the eyes were at the peak."""
    faces = [f for f in track if f[1] is not None]
    if len(faces) < 3:
        return []
    rest = faces[1][1]
    assert rest is not None
    detector = BlinkDetector()
    found = []
    for t, mesh, _ in track:
        found += detector.update(t, None if mesh is None else EyeState.from_mesh(mesh))
    found += detector.flush()
    rows = []
    for blink in found:
        during = [f for f in track[blink.start_index : blink.end_index + 1] if f[1] is not None]
        opened = any(track[0][0] < f[0] < blink.start_t for f in faces)
        if not during or not opened or blink.end_t - blink.start_t > options.blink_max_seconds:
            continue
        peak = min(during, key=_gap)
        assert peak[1] is not None
        pose, still = peak[1].head_pose, rest.head_pose
        turned = max(abs(pose.yaw - still.yaw), abs(pose.pitch - still.pitch))
        ratio = _gap(peak) / Geometry.of(rest).eye_gap
        shown = [f for f in faces if f[0] < blink.start_t and _shown(f)]
        change = _measure(max(shown, key=_gap), peak) if shown and _shown(peak) else None
        rows.append(
            {
                "t": peak[0],
                "gap_ratio": ratio,
                "passes_gap_rule": ratio <= options.eye_gap_ratio
                and turned <= options.max_pose_change
                and distortion(rest, peak[1]) <= options.max_distortion,
                "eyes_outside_frame": not _eyes_in_frame(peak[1]),
                "crop_in_frame": _shown(peak),
                "eyes": None if change is None else change["eyes"],
                "face": None if change is None else change["face"],
            }
        )
    return rows


def prints(
    stills: Sequence[np.ndarray], n: int, seconds: float, seed: int, options: ChallengeOptions
) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    """Would-be faint-blink peaks of ``n`` moved prints, how many frames were looked at,
    and the blinks the detector found in them."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    blinks_found: list[dict[str, Any]] = []
    looked = 0
    for i in range(n):
        with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as m:
            track = [
                seen(t, image, m.detect_for_video(image, int(t * 1000)))
                for t, image in _photo_frames(stills[i % len(stills)], seconds, rng, True)
            ]
        blinks_found += [{"print": i, **row} for row in detected_blinks(track, options)]
        for j, peak in enumerate(track):
            if not _shown(peak):
                continue
            looked += 1
            window = [
                f for f in track[:j] if f[0] >= peak[0] - PRINT_REFERENCE_SECONDS and _shown(f)
            ]
            if not window:
                continue
            reference = max(window, key=_gap)
            if _gap(peak) > options.faint_eye_gap_ratio * _gap(reference):
                continue
            row = _measure(reference, peak)
            if (
                row is not None
                and row["pose_change"] <= options.max_pose_change
                and row["distortion"] <= options.max_distortion
            ):
                rows.append({"print": i, "t": peak[0], **row})
    return rows, looked, blinks_found


def summary(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    q = np.percentile(values, [0, 50, 90, 99, 100])
    names = ("min", "median", "p90", "p99", "max")
    return {"n": len(values), **dict(zip(names, q.tolist(), strict=True))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared dataset folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prints", type=int, default=200, help="moved prints simulated")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each print")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the print motion")
    args = parser.parse_args(argv)
    options = ChallengeOptions()
    real = blinks(args.data / "blink_webcam_videos")
    stills = attack_stills(args.data)
    fake, looked, found = prints(stills, args.prints, args.seconds, args.seed, options)
    passed = [b for b in found if b["passes_gap_rule"]]
    gap_rule = {
        "detected_print_blinks": len(found),
        "passing_gap_rule": len(passed),
        "of_which_eyes_outside_frame": sum(b["eyes_outside_frame"] for b in passed),
        "of_which_crop_beyond_frame": sum(not b["crop_in_frame"] for b in passed),
        "passing_with_eyes_in_frame": [b for b in passed if not b["eyes_outside_frame"]],
        "passing_the_whole_blink_rule": sum(
            b["eyes"] is not None
            and b["eyes"] >= options.min_blink_eye_change
            and b["face"] <= options.max_face_change
            for b in passed
        ),
    }
    aligned = [r for r in fake if r["face"] <= options.max_face_change]
    faint = [r for r in real if r["gap_ratio"] > options.eye_gap_ratio]
    table = {
        "blinks: eyes": summary([r["eyes"] for r in real]),
        "blinks: face": summary([r["face"] for r in real]),
        "blinks: gap ratio": summary([r["gap_ratio"] for r in real]),
        "blinks with both eyes in the frame": {"n": sum(r["eyes_in_frame"] for r in real)},
        "prints, aligned: eyes": summary([r["eyes"] for r in aligned]),
        "prints: face": summary([r["face"] for r in fake]),
    }
    record = {
        "summary": table,
        "faint_blinks": faint,
        "print_frames_in_frame": looked,
        "print_frames_with_faint_blink_geometry": len(fake),
        "prints_changing_most": sorted(aligned, key=lambda r: -r["eyes"])[:10],
        "print_blinks_against_the_gap_rule": gap_rule,
        "options": {
            k: getattr(options, k)
            for k in (
                "eye_gap_ratio",
                "min_blink_eye_change",
                "faint_eye_gap_ratio",
                "min_eye_change",
                "max_face_change",
            )
        },
        "command": shlex.join(["python", *sys.argv]),
        "machine": machine_description(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eyelids.json").write_text(json.dumps(record, indent=2) + "\n")
    for name, row in table.items():
        values = " ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "n")
        print(f"{name:24} n {row['n']:5}  {values}")
    print(f"print frames in frame: {looked}, with the faint-blink geometry: {len(fake)}")
    print("print blinks against the eyelid-gap rule:", json.dumps(gap_rule))
    for r in faint:
        where = f"{r['video']} frame {r['frame']}"
        print(f"faint blink, {where}: gap {r['gap_ratio']:.2f}, eyes {r['eyes']:.3f}")
    print(f"wrote {args.out / 'eyelids.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
