"""Masked-matching options measured on RMFRD, in both directions of the two folds.

Protocol (the issue's): per person, enrol the first 3 unmasked photos (sorted names),
probe every other photo; impostors are every usable photo of the fold against every
other template of the fold. FNMR at FMR 1e-3, masked and unmasked probes apart.
Folds: ``facegate.eval.occlusion.rmfrd_folds`` (even / odd positions of the sorted
names); options with something learned (NAP) learn it on the *other* fold.

Options (the same SFace and alignment as unlock; embeddings cached in --cache):
* today: the unlock embedding as it is;
* grey-N: rows N and below of the aligned crop replaced by mid-grey, enrolment and probe;
* both-COLOUR: a drawn mask (cheek-nose-cheek top edge at row 60) on enrolment and probe;
* enrol-synth: the template also holds the enrolment crops with drawn masks in 3
  colours (NIST FRVT's advice), probes as they are;
* nap-K: the K directions along which masked photos move away from the same person's
  unmasked ones, learned on the other fold, projected out of every embedding.

    python scripts/compare_masked_options.py --data ../shared/data --out out/masked-options
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.biometrics.match import load_calibration
from facegate.biometrics.template import consistent_captures
from facegate.config import load_settings
from facegate.errors import EnrolmentError, InputError
from facegate.eval.metrics import fnmr_at_fmr
from facegate.eval.occlusion import rmfrd_folds
from facegate.models import ModelFiles
from facegate.vision.align import CROP_SIZE, align
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image

COLOURS = {"blue": (225, 190, 140), "white": (235, 235, 235), "black": (35, 35, 35)}
GREY_ROWS = (60, 64, 68)
MASK_TOP = 60
ENROL = 3


def drawn_mask(crop: np.ndarray, colour: str, top: int = MASK_TOP) -> np.ndarray:
    """The crop wearing a plain mask from the jaw up to row ``top`` at the nose."""
    polygon = np.array(
        [[0, 66], [20, top + 2], [56, top - 2], [92, top + 2], [112, 66], [112, 112], [0, 112]],
        np.int32,
    )
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    light = cv2.GaussianBlur(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 3)
    shade = np.clip(0.6 + 0.4 * light / max(float(light[mask > 0].mean()), 1.0), 0.3, 1.3)
    cloth = np.clip(np.array(COLOURS[colour], np.float32)[None, None] * shade[..., None], 0, 255)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 1)[..., None]
    return np.asarray(np.clip(soft * cloth + (1 - soft) * crop, 0, 255).astype(np.uint8))


def grey_below(crop: np.ndarray, row: int) -> np.ndarray:
    out = crop.copy()
    out[row:] = 128
    return out


def observe(paths: list[Path], cache: Path) -> dict[str, np.ndarray]:
    keys = np.array([str(p) for p in paths])
    if cache.is_file():
        with np.load(cache) as raw:
            if np.array_equal(raw["keys"], keys):
                return {k: np.asarray(raw[k]) for k in raw.files}
    n = len(paths)
    out = {
        "keys": keys,
        "emb": np.zeros((n, 128), np.float32),
        "usable": np.zeros(n, bool),
        "crops": np.zeros((n, CROP_SIZE, CROP_SIZE, 3), np.uint8),
        "hascrop": np.zeros(n, bool),
    }
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        for i, path in enumerate(paths):
            try:
                frame = read_image(path)
            except InputError:
                continue
            obs = pipe.observe(frame)
            if obs.embedding is not None:
                out["emb"][i], out["usable"][i] = obs.embedding, True
            if len(obs.faces):
                out["crops"][i], out["hascrop"][i] = align(frame.image, obs.faces, 0), True
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def embed_all(
    base: dict[str, np.ndarray], edit: Callable[[np.ndarray], np.ndarray], cache: Path
) -> np.ndarray:
    if cache.is_file():
        return np.load(cache)
    emb = np.zeros((len(base["crops"]), 128), np.float32)
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        for i in np.flatnonzero(base["hascrop"]):
            emb[i] = pipe.embed_crop(edit(base["crops"][i]))
    np.save(cache, emb)
    return emb


def unit(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)


def nap(emb: np.ndarray, people: np.ndarray, masked: np.ndarray, ok: np.ndarray,
        learn: np.ndarray, k: int) -> np.ndarray:  # fmt: skip
    """Project out the top-k directions of (masked - same person's unmasked mean)."""
    diffs = []
    for person in sorted(set(people[learn].tolist())):
        bare = learn & ok & (people == person) & ~masked
        mask = learn & ok & (people == person) & masked
        if bare.any() and mask.any():
            diffs.extend(emb[mask] - emb[bare].mean(axis=0))
    _, _, vt = np.linalg.svd(np.array(diffs), full_matrices=False)
    v = vt[:k].T
    return unit(emb - (emb @ v) @ v.T)


def evaluate(
    enrol_sets: list[np.ndarray], probe: np.ndarray, ok: np.ndarray, people: np.ndarray,
    masked: np.ndarray, fold_people: list[str], consistency: float,
) -> dict[str, Any]:  # fmt: skip
    """FNMR at FMR 1e-3 for masked and unmasked probes of ``fold_people``."""
    templates: dict[str, tuple[np.ndarray, set[int]]] = {}
    for person in fold_people:
        first = np.flatnonzero((people == person) & ~masked)[:ENROL]
        enrol = [i for i in first if ok[i]]
        try:
            keep = consistent_captures([enrol_sets[0][i] for i in enrol], consistency)
        except EnrolmentError:
            continue
        rows = np.stack([s[enrol[k]] for s in enrol_sets for k in keep])
        templates[person] = (rows, set(first.tolist()))
    gen_m, gen_u, imp = [], [], []
    in_fold = np.isin(people, fold_people)
    for person, (rows, first) in templates.items():
        for i in np.flatnonzero((people == person) & ok):
            if i not in first:
                (gen_m if masked[i] else gen_u).append(float((rows @ probe[i]).max()))
    for i in np.flatnonzero(in_fold & ok):
        imp.extend(float((rows @ probe[i]).max()) for p, (rows, _) in templates.items()
                   if p != people[i])  # fmt: skip

    def fnmr(gen: list[float]) -> dict[str, Any]:
        value = fnmr_at_fmr(np.array(gen), np.array(imp), [1e-3])["1e-3"]
        return {"fnmr": None if value is None else round(value, 4), "n_genuine": len(gen)}

    return {"masked": fnmr(gen_m), "unmasked": fnmr(gen_u), "n_impostor": len(imp),
            "templates": len(templates)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("out/masked-options"))
    args = parser.parse_args()
    root = args.data / "rmfrd_masked_identities"
    folds = rmfrd_folds(root)
    paths = sorted(root.glob("*/*/*.jpg"))
    people = np.array([p.parent.parent.name for p in paths])
    masked = np.array([p.parent.name == "masked" for p in paths])
    base = observe(paths, args.out / "base.npz")
    ok = base["hascrop"]
    consistency = load_calibration().consistency_threshold
    emb = {"today": base["emb"]}
    for row in GREY_ROWS:
        emb[f"grey-{row}"] = embed_all(base, lambda c, r=row: grey_below(c, r),
                                       args.out / f"grey{row}.npy")  # fmt: skip
    for colour in COLOURS:
        emb[colour] = embed_all(base, lambda c, k=colour: drawn_mask(c, k),
                                args.out / f"{colour}{MASK_TOP}.npy")  # fmt: skip
    report: dict[str, Any] = {}
    for f, fold_people in enumerate(folds):
        other = np.isin(people, folds[1 - f])
        options: dict[str, tuple[list[np.ndarray], np.ndarray, np.ndarray]] = {
            "today": ([base["emb"]], base["emb"], base["usable"]),
            **{f"grey-{r}": ([emb[f"grey-{r}"]], emb[f"grey-{r}"], ok) for r in GREY_ROWS},
            **{f"both-{c}": ([emb[c]], emb[c], ok) for c in COLOURS},
            "enrol-synth": ([base["emb"], *(emb[c] for c in COLOURS)], base["emb"], base["usable"]),
        }  # fmt: skip
        for k in (2, 5, 10):
            projected = nap(base["emb"], people, masked, base["usable"], other, k)
            options[f"nap-{k}"] = ([projected], projected, base["usable"])
        report[f"fold{f}"] = {
            name: evaluate(enrol, probe, usable, people, masked, fold_people, consistency)
            for name, (enrol, probe, usable) in options.items()
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for fold, rows in report.items():
        for name, r in rows.items():
            print(f"{fold} {name:12s} masked FNMR@1e-3 {r['masked']['fnmr']} "
                  f"({r['masked']['n_genuine']} gen.), unmasked {r['unmasked']['fnmr']} "
                  f"({r['unmasked']['n_genuine']} gen.), {r['n_impostor']} imp.")  # fmt: skip


if __name__ == "__main__":
    main()
