"""Does the PAD give a face the same decision in a whole frame and in a tight crop?

    python scripts/check_crop_consistency.py [--labels out/pad-sources/labels.csv]
        [--sources nuaa blink] [--every 5]

For every ``--every``-th whole-frame presentation of the given sources, the face is
scored in the frame, then cut out as the replay_attacks_dev crops were (the face box
grown by 15 % each side, resized to at most 320 px), detected again and scored
again. Prints, per source and label, how many kept their three-way decision and
the median and largest score change.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from facegate.config import load_settings
from facegate.eval.pad_data import read_labels
from facegate.liveness.features import colourless
from facegate.liveness.pad import PadModel
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image


def tight_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = (float(v) for v in box[:4])
    x0, y0 = int(max(x - 0.15 * w, 0)), int(max(y - 0.15 * h, 0))
    x1, y1 = int(min(x + 1.15 * w, image.shape[1])), int(min(y + 1.15 * h, image.shape[0]))
    crop = image[y0:y1, x0:x1]
    scale = min(1.0, 320 / max(crop.shape[:2]))
    size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=Path, default=Path("out/pad-sources/labels.csv"))
    parser.add_argument("--sources", nargs="+", default=["nuaa", "blink"])
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args()
    model = PadModel.load(args.weights)
    images = [i for i in read_labels(args.labels) if i.source in args.sources]
    rows: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        for item in images[:: args.every]:
            image = read_image(item.path).image
            faces = detector.detect(image)
            if not len(faces):
                continue
            box = faces.boxes[0]
            crop = tight_crop(image, box)
            again = detector.detect(crop)
            if not len(again):
                continue
            whole = model.score(image, box)
            tight = model.score(crop, again.boxes[0])
            same = model.decide(whole, colourless(image, box, model.spec)) is model.decide(
                tight, colourless(crop, again.boxes[0], model.spec)
            )
            rows[f"{item.source}/{item.label}"].append((same, abs(whole - tight)))
    report = {
        group: {
            "same_decision": sum(s for s, _ in r),
            "n": len(r),
            "median_abs_score_change": float(np.median([d for _, d in r])),
            "max_abs_score_change": float(np.max([d for _, d in r])),
        }
        for group, r in sorted(rows.items())
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
