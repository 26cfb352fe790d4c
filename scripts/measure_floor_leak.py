"""Does the expression stream's range still show a person's resting face?

The outside review's attack on the sharing filter (2026-12-01): coefficients live in
[0, 1], so over a session the lowest value an app receives, ``rest - min(y)`` per
coefficient, showed how far the person's neutral sits above the floor when the filter
was a plain shift, ``clip(x - baseline + rest, 0, 1)``. This script replays raw
``facegate track`` records through the plain shift and through the shipped filter
(``sharing.neutral.recentre``), with the same causal 60 s median baseline, cuts each
session into two windows, and compares the windows' envelope features (the floor
``rest - min(y)`` and the ceiling ``max(y) - rest``) within and across people.

    for v in mahie_test_1 soniya_test_3 mahie_test_2; do
      facegate track ../shared/data/blink_webcam_videos/$v.avi --jsonl out/floor/$v.jsonl
    done
    python scripts/measure_floor_leak.py out/floor/*.jsonl

A person is named by the file name's part before ``_test``. Two people show whether the
channel exists, not an error rate.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.sharing.face_map import FaceMapModel
from facegate.sharing.neutral import coefficients, nanmedian_rows, recentre

WINDOW_SECONDS = 60.0
WINDOWS = ((200, 750), (750, 1300))


def shift(values: np.ndarray, baseline: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The filter before 2026-12-01."""
    return np.clip(values - baseline + rest, 0.0, 1.0)


def session(path: Path, rest: np.ndarray, shipped: bool) -> np.ndarray:
    """The coefficients an app would receive, one row per frame with a face."""
    history: list[tuple[float, np.ndarray]] = []
    sent = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if not record.get("face_found"):
            continue
        t, values = float(record["t"]), coefficients(record["blendshapes"])
        history.append((t, values))
        history = [(s, v) for s, v in history if s >= t - WINDOW_SECONDS]
        baseline = nanmedian_rows(np.array([v for _, v in history]))
        sent.append(recentre(values, baseline, rest) if shipped else shift(values, baseline, rest))
    return np.array(sent)


def envelope(rows: np.ndarray, rest: np.ndarray) -> dict[str, np.ndarray]:
    """The floor ``rest - min(y)`` and the ceiling ``max(y) - rest`` per coefficient."""
    keep = ~np.isnan(rest) & ~np.all(np.isnan(rows), axis=0)
    floor = rest[keep] - np.nanmin(rows[:, keep], axis=0)
    ceiling = np.nanmax(rows[:, keep], axis=0) - rest[keep]
    return {"floor": floor, "ceiling": ceiling, "both": np.concatenate([floor, ceiling])}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="raw `facegate track` JSONL files")
    args = parser.parse_args()
    rest = FaceMapModel.load(ModelFiles.of(load_settings())).rest.astype(np.float64)
    for shipped in (False, True):
        windows = []
        for path in args.records:
            rows = session(path, rest, shipped)
            person = path.stem.split("_test")[0]
            windows += [(person, envelope(rows[lo:hi], rest)) for lo, hi in WINDOWS]
        for feature in ("floor", "ceiling", "both"):
            same: list[float] = []
            other: list[float] = []
            for (p1, f1), (p2, f2) in itertools.combinations(windows, 2):
                distance = float(np.linalg.norm(f1[feature] - f2[feature]))
                (same if p1 == p2 else other).append(distance)
            name = "shipped filter" if shipped else "plain shift (before)"
            print(
                f"{name:20s} {feature:7s} same person: mean {np.mean(same):.3f} "
                f"max {np.max(same):.3f} ({len(same)} pairs); other: mean "
                f"{np.mean(other):.3f} min {np.min(other):.3f} ({len(other)} pairs); "
                f"separated: {np.max(same) < np.min(other)}"
            )


if __name__ == "__main__":
    main()
