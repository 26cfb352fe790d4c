"""Train the occlusion map's region models (src/facegate/vision/occlusion_weights.npz).

Each region gets a logistic model over ``region_features``, trained on real photos:

* the *tuning* half of the RMFRD people (sorted names, even positions; the odd ones are
  held out for ``scripts/eval_occlusion.py``): a real mask covers nose, mouth, chin and
  cheeks, so those regions take the photo's masked / unmasked label;
* the RWMFD sample (real masked photos without identities): all masked;
* the pooled dev set's ORL and NUAA faces (Yale is left out: it is the glasses test):
  all unmasked;
* and, because no real photos with sunglasses or a hand over the face are available,
  copies of the RMFRD tuning crops with a drawn occluder: dark or tinted sunglasses
  (both eyes covered), a hand over one or both eyes, or a cap or fringe over the
  forehead. The covered regions are labelled 1; every other region keeps its label.

    python scripts/train_occlusion.py --data ../shared/data --devset out/devset \\
        --out src/facegate/vision/occlusion_weights.npz
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from facegate.config import load_settings
from facegate.errors import InputError
from facegate.eval.occlusion import rmfrd_folds
from facegate.models import ModelFiles
from facegate.vision.align import CROP_SIZE, REFERENCE_POINTS, align
from facegate.vision.occlusion import N_FEATURES, Region, region_features
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image

LOWER = (Region.NOSE, Region.MOUTH, Region.CHIN, Region.LEFT_CHEEK, Region.RIGHT_CHEEK)
L2 = 1e-2  # ridge penalty on standardised features; larger = smoother models
STEPS = 3000


def crops_of(paths: list[Path], pipe: FacePipeline, cache: Path | None) -> np.ndarray:
    """(N, 112, 112, 3) aligned crops of the primary face (observe()'s five points);
    all-zero rows where no face was found. Cached in ``cache`` (an .npz) when given."""
    keys = np.array([str(p) for p in paths])
    if cache is not None and cache.is_file():
        with np.load(cache) as raw:
            if np.array_equal(raw["keys"], keys):
                return np.asarray(raw["crops"])
    crops = np.zeros((len(paths), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, path in enumerate(paths):
        try:
            frame = read_image(path)
        except InputError:
            continue
        faces = pipe.observe(frame).faces
        if len(faces):
            crops[i] = align(frame.image, faces, 0)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, keys=keys, crops=crops)
    return crops


def sunglasses(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = crop.copy()
    tint = rng.uniform(5, 90, 3) if rng.random() < 0.7 else rng.uniform(40, 160, 3)
    rx, ry = rng.uniform(13, 17), rng.uniform(9, 12)
    layer = out.copy()
    for cx, cy in REFERENCE_POINTS[:2]:
        centre = (round(float(cx) + rng.normal(0, 1)), round(float(cy) + rng.normal(0, 1)))
        cv2.ellipse(layer, centre, (round(rx), round(ry)), 0, 0, 360, tint.tolist(), -1)
        cv2.ellipse(layer, centre, (round(rx), round(ry)), 0, 0, 360, (20, 20, 20), 2)
    cv2.line(layer, (52, 50), (60, 50), (20, 20, 20), 2)
    alpha = rng.uniform(0.8, 1.0)
    return np.asarray(cv2.addWeighted(layer, alpha, out, 1 - alpha, 0))


def hand(crop: np.ndarray, eyes: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A palm-coloured blob with finger gaps over the given eye(s) (0 right, 1 left)."""
    out = crop.copy()
    skin = np.median(crop[38:52, 48:64].reshape(-1, 3), axis=0) * rng.uniform(0.8, 1.2)
    xs = [float(REFERENCE_POINTS[e][0]) for e in eyes]
    x0, x1 = round(min(xs) - 18), round(max(xs) + 18)
    y0, y1 = round(40 + rng.uniform(-4, 0)), round(64 + rng.uniform(0, 6))
    out[y0:y1, max(x0, 0) : x1] = np.clip(skin, 0, 255).astype(np.uint8)
    for x in range(max(x0, 0) + 8, x1, 9):
        cv2.line(out, (x, y0), (x + 2, y1), (skin * 0.6).tolist(), 1)
    return np.asarray(cv2.GaussianBlur(out, (3, 3), 0))


def cap(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = crop.copy()
    colour = rng.uniform(0, 255, 3) if rng.random() < 0.5 else rng.uniform(5, 60, 3)
    edge = round(rng.uniform(30, 40))
    out[:edge] = colour.astype(np.uint8)
    noise = rng.normal(0, 8, out[:edge].shape)
    out[:edge] = np.clip(out[:edge] + noise, 0, 255).astype(np.uint8)
    return out


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Class-balanced, ridge-penalised logistic regression by gradient descent."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = weight * (p - y)
        w -= 0.5 * (z.T @ g / len(y) + L2 * w)
        b -= 0.5 * float(g.mean())
    return mean, scale, w, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--devset", type=Path, default=Path("out/devset"))
    parser.add_argument("--cache", type=Path, default=Path("out/occlusion-crops"))
    weights = Path("src/facegate/vision/occlusion_weights.npz")
    parser.add_argument("--out", type=Path, default=weights)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rmfrd = args.data / "rmfrd_masked_identities"
    tune, _ = rmfrd_folds(rmfrd)
    tune_paths = sorted(p for person in tune for p in (rmfrd / person).glob("*/*.jpg"))
    rwmfd_paths = sorted(
        p for p in (args.data / "rwmfd_masked_faces_sample").glob("*/*") if p.is_file()
    )
    dev_paths = sorted(p for p in args.devset.glob("*/*") if not p.parent.name.startswith("yale"))
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        tune_masked = np.array([p.parent.name == "masked" for p in tune_paths])
        groups = [
            (crops_of(tune_paths, pipe, args.cache / "rmfrd-tune.npz"), tune_masked),
            (
                crops_of(rwmfd_paths, pipe, args.cache / "rwmfd.npz"),
                np.ones(len(rwmfd_paths), bool),
            ),
            (crops_of(dev_paths, pipe, args.cache / "devset.npz"), np.zeros(len(dev_paths), bool)),
        ]
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []

    def add(crop: np.ndarray, masked: bool, covered: set[Region]) -> None:
        f = region_features(crop)
        feats.append(np.stack([f[r] for r in Region]))
        labels.append(np.array([r in covered or (masked and r in LOWER) for r in Region]))

    for crops, masked in groups:
        for crop, m in zip(crops, masked, strict=True):
            if crop.any():
                add(crop, bool(m), set())
    tune_crops, tune_masked = groups[0]
    for crop, m in zip(tune_crops, tune_masked, strict=True):
        if not crop.any():
            continue
        add(sunglasses(crop, rng), bool(m), {Region.LEFT_EYE, Region.RIGHT_EYE})
        which = int(rng.integers(3))
        eyes = ((0,), (1,), (0, 1))[which]
        covered = {(Region.RIGHT_EYE, Region.LEFT_EYE)[e] for e in eyes}
        add(hand(crop, eyes, rng), bool(m), covered)
        add(cap(crop, rng), bool(m), {Region.FOREHEAD})
    x, y = np.stack(feats), np.stack(labels).astype(np.float64)
    assert x.shape[2] == N_FEATURES
    rows = [fit(x[:, j].astype(np.float64), y[:, j]) for j in range(len(Region))]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.out,
        mean=np.stack([r[0] for r in rows]).astype(np.float32),
        scale=np.stack([r[1] for r in rows]).astype(np.float32),
        weights=np.stack([r[2] for r in rows]).astype(np.float32),
        bias=np.array([r[3] for r in rows], np.float32),
        command=np.array(command),
        n_samples=np.array(len(x)),
        positives=y.sum(axis=0).astype(np.int64),
        tuning_people=np.array(tune),
    )
    print(f"trained {len(Region)} region models on {len(x)} crops; wrote {args.out}")
    for region, n in zip(Region, y.sum(axis=0), strict=True):
        print(f"  {region.value:12s} {int(n)} covered, {len(y) - int(n)} uncovered")


if __name__ == "__main__":
    main()
