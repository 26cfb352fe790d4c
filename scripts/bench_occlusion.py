"""Time the occlusion map on its own: median and p90 milliseconds per aligned crop.

The crops are the aligned faces of the first --n photos of the held-out RMFRD people;
detection and alignment are excluded (unlock has done both already).

    python scripts/bench_occlusion.py --data ../shared/data --n 40 --repeat 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from facegate.bench.timing import machine_description
from facegate.config import load_settings
from facegate.eval.occlusion import rmfrd_folds
from facegate.models import ModelFiles
from facegate.vision.align import align
from facegate.vision.occlusion import RegionModels
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = args.data / "rmfrd_masked_identities"
    paths = sorted(p for person in rmfrd_folds(root)[1] for p in (root / person).glob("*/*.jpg"))
    crops = []
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        for path in paths[: args.n]:
            frame = read_image(path)
            faces = pipe.observe(frame).faces
            if len(faces):
                crops.append(align(frame.image, faces, 0))
    models = RegionModels.load()
    times = []
    for _ in range(args.repeat):
        for crop in crops:
            start = time.perf_counter()
            models.map(crop)
            times.append((time.perf_counter() - start) * 1000.0)
    print(
        f"occlusion map: median {np.median(times):.2f} ms, p90 {np.percentile(times, 90):.2f} ms "
        f"per crop ({len(crops)} crops x {args.repeat}); {machine_description()}"
    )


if __name__ == "__main__":
    main()
