"""How many photos of a dataset the masked mode would route away from the bare path.

Every image under ROOT/<identity>/ (or a flat folder) goes through the pipeline and
the occlusion map; ``cover_of`` with the shipped calibration says whether it is masked
(held to the masked threshold) and whether its eyes are covered. Counts
are printed per top-level prefix of the identity folder (``orl``, ``yale``, ``nuaa``
in the pooled dev set) and per file-name tag given with --tag (e.g. glasses).

    python scripts/count_face_modes.py out/devset
    python scripts/count_face_modes.py ../shared/data/yale_faces --tag glasses --tag noglasses
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from facegate.biometrics.masked import MaskedCalibration, cover_of, load_masked_calibration
from facegate.config import load_settings
from facegate.eval.dataset import IMAGE_SUFFIXES
from facegate.models import ModelFiles
from facegate.vision.occlusion import OcclusionAssessor, OcclusionMap
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--tag", action="append", default=[])
    args = parser.parse_args()
    calibration = load_masked_calibration()
    paths = sorted(p for p in args.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    counts: dict[str, Counter[str]] = {}
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        assessor = OcclusionAssessor(pipe)
        for path in paths:
            occlusion = assessor.assess(read_image(path)).map
            mode = "no_face" if occlusion is None else _mode(occlusion, calibration)
            group = path.parent.name.split("_")[0] if path.parent != args.root else args.root.name
            for key in [group, *(t for t in args.tag if f".{t}." in path.name)]:
                counts.setdefault(key, Counter())[mode] += 1
    for key, counter in counts.items():
        print(f"{key}: {sum(counter.values())} photos, {dict(counter.most_common())}")


def _mode(occlusion: OcclusionMap, calibration: MaskedCalibration) -> str:
    cover = cover_of([occlusion], calibration)
    names = [n for n, on in (("masked", cover.masked), ("eyes_covered", cover.eyes_covered)) if on]
    return "+".join(names) or "bare"


if __name__ == "__main__":
    main()
