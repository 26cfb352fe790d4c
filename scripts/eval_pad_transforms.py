"""PAD decisions on NUAA prints and live frames after cheap transforms (still images).

    python scripts/eval_pad_transforms.py [--data ../shared/data] [--weights FILE]
        [--subjects 0001,...] [--every 7] [--per-subject 7] [--seed 0]

Replays the outside test of 2026-12-01 (finding 2) at the PAD: for each subject,
every ``--every``-th printed photo (ImposterRaw) and live frame (ClientRaw), up to
``--per-subject`` of each, as they are, with Gaussian noise (sigma 3, 6, 10), and
turned grey then tinted (blue x (1 - a), red x (1 + a), a = +-3 %, +-7 %). Prints the
live / uncertain / attack counts of each. On a still, only *live* passes the PAD.
Nothing is written; the images stay in memory.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facegate.config import load_settings
from facegate.eval.pad_augment import grey_tinted, noised
from facegate.liveness.features import colourless
from facegate.liveness.pad import PadDecision, PadModel
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
TRANSFORMS: dict[str, Transform] = {
    "none": lambda image, rng: image,
    "noise 3": lambda image, rng: noised(image, 3.0, rng),
    "noise 6": lambda image, rng: noised(image, 6.0, rng),
    "noise 10": lambda image, rng: noised(image, 10.0, rng),
    "grey+tint 3%": lambda image, rng: grey_tinted(image, 0.03),
    "grey+tint -3%": lambda image, rng: grey_tinted(image, -0.03),
    "grey+tint 7%": lambda image, rng: grey_tinted(image, 0.07),
    "grey+tint -7%": lambda image, rng: grey_tinted(image, -0.07),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--weights", type=Path, default=None, help="default: shipped")
    parser.add_argument("--subjects", default="0001,0002,0003,0004,0005,0006")
    parser.add_argument("--every", type=int, default=7)
    parser.add_argument("--per-subject", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = PadModel.load(args.weights)
    nuaa = args.data / "nuaa_photo_imposter_subset"
    print(f"weights: {model.meta.get('command')}")
    print(f"band: attack below {model.refuse_below:.6f}, live from {model.threshold:.6f}")
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        for folder, label in (("ImposterRaw", "print"), ("ClientRaw", "live")):
            paths = [
                path
                for subject in args.subjects.split(",")
                for path in sorted((nuaa / folder / subject).glob("*.jpg"))[:: args.every][
                    : args.per_subject
                ]
            ]
            for name, transform in TRANSFORMS.items():
                rng = np.random.default_rng(args.seed)
                counts: Counter[str] = Counter()
                for path in paths:
                    image = transform(read_image(path).image, rng)
                    faces = detector.detect(image)
                    if not len(faces):
                        counts["no face"] += 1
                        continue
                    box = faces.boxes[0]
                    grey = colourless(image, box, model.spec)
                    counts[model.decide(model.score(image, box), grey).value] += 1
                cells = ", ".join(
                    f"{d} {counts[d]}" for d in [*(p.value for p in PadDecision), "no face"]
                )
                print(f"{label:5s} {name:14s} n={len(paths)}: {cells}")


if __name__ == "__main__":
    main()
