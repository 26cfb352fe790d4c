"""Build a lighting stress set: out/relit/<identity>/ with the first K images of each
identity untouched (for enrolment) and every later image re-lit by a harsh point light.

No extreme-lighting dataset ships with the dev data, so this is a proxy for one: each
probe face is shaded as a Lambertian half-ellipsoid lit from a random direction
(azimuth 25-110 degrees either side, elevation -40..60), with a low ambient term, then
gamma-darkened and given sensor noise, as a webcam under a desk lamp would record it.
It is a proxy, not a substitute for real data; see the README for what it can show.

    python scripts/make_relit_set.py --src out/devset --out out/relit --enroll 3 --per-identity 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facegate.config import load_settings
from facegate.eval.dataset import list_dataset
from facegate.models import read_verified
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image


def relight(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    x, y, bw, bh = box
    cx, cy = x + bw / 2, y + bh / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx - cx) / (bw * 0.6)
    v = (yy - cy) / (bh * 0.7)
    r2 = np.clip(u**2 + v**2, 0, 0.98)
    normal = np.stack([u, v, np.sqrt(1 - r2)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    az = np.radians(rng.uniform(25, 110)) * rng.choice([-1, 1])
    el = np.radians(rng.uniform(-40, 60))
    light = np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)], np.float32)
    ambient = rng.uniform(0.02, 0.15)
    shade = ambient + (1 - ambient) * np.clip(normal @ light, 0, 1)
    out = image.astype(np.float32) / 255.0 * shade[..., None] * rng.uniform(1.0, 1.6)
    out = np.clip(out, 0, 1) ** rng.uniform(1.0, 1.6)
    out = out * 255 + rng.normal(0, rng.uniform(1, 5), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", type=Path, default=Path("out/devset"))
    parser.add_argument("--out", type=Path, default=Path("out/relit"))
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument("--per-identity", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    detector = FaceDetector(read_verified("yunet", load_settings()))
    counts: dict[str, int] = {}
    for sample in list_dataset(args.src):
        n = counts.get(sample.identity, 0)
        if n >= args.per_identity:
            continue
        counts[sample.identity] = n + 1
        image = read_image(sample.path).image
        dest = args.out / sample.identity / f"{n:03d}_{sample.path.stem}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if n >= args.enroll:
            faces = detector.detect(image)
            box = faces.boxes[0] if len(faces) else np.array([0, 0, image.shape[1], image.shape[0]])
            image = relight(image, box, rng)
        cv2.imwrite(str(dest), image)
    print(f"wrote {sum(counts.values())} images of {len(counts)} identities to {args.out}")


if __name__ == "__main__":
    main()
