"""Build a face-mask stress set: OUT/<identity>/ with the first K images of each identity
untouched (enrolment without a mask) and every later image wearing a digitally applied
mask, the method NIST used to measure recognisers on masked faces (FRVT Part 6A).

The mask is placed by MediaPipe's face mesh: from the jaw line up to the middle of the
nose bridge (``--coverage high``: NIST's "wide, high" shape) or to just under the nose
tip (``--coverage low``), in a random plain colour with soft shading and a seam. The
real masked photos in ../shared/data/rwmfd_masked_faces_sample carry no identities,
so they can test acquisition only; this set measures matching.

    python scripts/make_masked_set.py --src out/devset --out out/masked
    facegate eval unlock out/masked --enroll 3 --out out/eval-unlock-masked
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facegate.eval.dataset import list_dataset
from facegate.vision.mesh import FaceMesh, FaceMesher
from facegate.vision.sources import read_image

# MediaPipe face-mesh indices: the jaw line from one cheek (level with the nose) round
# the chin to the other, and the top edge's centre on the nose.
JAW = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397,
       288, 361, 323, 454]  # fmt: skip
NOSE_TOP = {"high": 197, "low": 4}
# Plain fabric colours (BGR): surgical blue, white, black, grey, navy.
COLOURS = [(225, 190, 140), (235, 235, 235), (35, 35, 35), (150, 150, 150), (90, 50, 30)]


def put_mask(image: np.ndarray, mesh: FaceMesh, coverage: str, rng: np.random.Generator) -> None:
    """Draw the mask on ``image`` in place."""
    p = mesh.pixels()[:, :2]
    top = p[NOSE_TOP[coverage]]
    polygon = np.array([*p[JAW], top], np.float32)  # the top edge runs cheek-nose-cheek
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    colour = np.array(COLOURS[rng.integers(len(COLOURS))], np.float32)
    lighting = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lighting = cv2.GaussianBlur(lighting, (0, 0), max(2.0, image.shape[1] / 40))
    shade = 0.6 + 0.4 * lighting / max(float(lighting[mask > 0].mean()), 1.0)
    cloth = np.clip(colour[None, None, :] * np.clip(shade, 0.3, 1.3)[..., None], 0, 255)
    seam_x = round(float(top[0]))
    cloth[:, max(seam_x - 1, 0) : seam_x + 1] *= 0.85
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.0)[..., None]
    image[:] = np.clip(soft * cloth + (1 - soft) * image, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", type=Path, default=Path("out/devset"))
    parser.add_argument("--out", type=Path, default=Path("out/masked"))
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument("--per-identity", type=int, default=10)
    parser.add_argument("--coverage", choices=sorted(NOSE_TOP), default="high")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts: dict[str, int] = {}
    unmasked = 0
    with FaceMesher.create_from_options() as mesher:
        for sample in list_dataset(args.src):
            n = counts.get(sample.identity, 0)
            if n >= args.per_identity:
                continue
            counts[sample.identity] = n + 1
            image = read_image(sample.path).image.copy()
            if n >= args.enroll:
                mesh = mesher.detect(image)
                if mesh is None:
                    unmasked += 1  # left as it is: the eval then sees an unmasked probe
                else:
                    put_mask(image, mesh, args.coverage, rng)
            dest = args.out / sample.identity / f"{n:03d}_{sample.path.stem}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dest), image)
    print(
        f"wrote {sum(counts.values())} images of {len(counts)} identities to {args.out}; "
        f"{unmasked} probe(s) left unmasked (no face mesh)"
    )


if __name__ == "__main__":
    main()
