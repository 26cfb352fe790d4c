"""Where the colour rule's threshold comes from: chroma spread of faces per source.

    python scripts/measure_colour_spread.py [out/pad-sources/labels.csv] [--every 1]

For the largest face of every listed presentation (``scripts/make_pad_sources.py``),
prints per source and label the distribution of
:func:`facegate.liveness.features.chroma_spread` of the face as captured, and of the
same face turned grey and tinted (red and blue scaled by +-3 % and +-7 %), also with
Gaussian noise (sigma 6 and 10) on top, the cheap transforms that got grey prints
past the old rule (max |Cr-128|, |Cb-128| < 3). The rule must call every transformed
face colourless and leave the colour faces as they were. Noise draws are seeded.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from facegate.config import load_settings
from facegate.eval.pad_augment import grey_tinted, noised
from facegate.eval.pad_data import read_labels
from facegate.liveness.features import COLOURLESS_SPREAD, FeatureSpec, chroma_spread, face_crop
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image

TRANSFORMS = (
    "as captured",
    "grey+tint 3%",
    "grey+tint 7%",
    "grey+tint 3% + noise 6",
    "grey+tint 7% + noise 10",
)


def variants(image: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The face as captured and the grey-tinted copies, in TRANSFORMS order."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    low, high = grey_tinted(image, 0.03 * sign), grey_tinted(image, 0.07 * sign)
    return [image, low, high, noised(low, 6.0, rng), noised(high, 10.0, rng)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labels", type=Path, nargs="?", default=Path("out/pad-sources/labels.csv"))
    parser.add_argument("--every", type=int, default=1, help="measure every n-th presentation")
    args = parser.parse_args()
    spec = FeatureSpec(context=0.9)
    spreads: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        for index, item in enumerate(read_labels(args.labels)[:: args.every]):
            image = read_image(item.path).image
            faces = detector.detect(image)
            if not len(faces):
                continue
            rng = np.random.default_rng(index)
            for name, copy in zip(TRANSFORMS, variants(image, rng), strict=True):
                crop = face_crop(copy, faces.boxes[0], spec.context, spec.side)
                spreads[(name, str(item.source), item.label)].append(chroma_spread(crop))
    print(
        f"colourless below {COLOURLESS_SPREAD}; columns: n, min, 2nd pct, median, max, colourless"
    )
    for (name, source, label), values in sorted(spreads.items()):
        arr = np.array(values)
        below = int(np.count_nonzero(arr < COLOURLESS_SPREAD))
        print(
            f"{name:24s} {source:16s} {label:13s} {arr.size:5d} {arr.min():6.2f} "
            f"{np.percentile(arr, 2):6.2f} {np.median(arr):6.2f} {arr.max():6.2f} "
            f"{below:5d}/{arr.size}"
        )


if __name__ == "__main__":
    main()
