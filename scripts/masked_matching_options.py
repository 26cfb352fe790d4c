"""Masked matching with SFace: what upper-face crops, flips, drawn-mask enrolment and
score fusion buy, measured with people held out (RMFRD, the two folds of
``facegate.eval.occlusion.rmfrd_folds``, each direction).

Protocol (the issue's, as ``scripts/compare_masked_options.py``): per person, enrol the
first 3 unmasked photos (sorted names; enrolment's consistency rule), probe every
other usable photo; impostors are every usable photo of the fold against every other
template of the fold. A probe's score is the maximum cosine over its template's rows.
Reported per option and fold, FNMR at FMR 1e-3:

* ``masked``: masked probes, threshold from *all* impostor decisions (the issue's figure);
* ``masked_vs_masked``: masked probes, threshold from masked probes' impostor decisions
  only (what a masked mode with its own threshold would face: masked impostors score
  higher than bare ones);
* ``unmasked``: unmasked probes, all impostor decisions.

Options (one SFace, ``FacePipeline.embed_crop``; every crop from the detector's five
points of the unlock pipeline):

* ``today``: the unlock embedding;
* ``flip``: the mean of the crop's and its mirror image's embeddings;
* ``eyes-aligned``: the full crop aligned on the eyes and nose only (a mask hides the
  mouth corners, so the detector's mouth points are guesses that tilt the 5-point fit);
* ``upper-Z-R``: an upper-face crop: eyes and nose aligned, magnified Z times, the eyes
  on crop row R (so the crop shows forehead, eyes and nose bridge), then through SFace;
* ``synth``: the template also holds its enrolment crops wearing drawn masks (3 colours);
* ``fuse-X``: ``w * today + (1 - w) * X`` per comparison, ``w`` chosen on the *other*
  fold's masked probes (grid 0, 0.1, ..., 1), reported on this one.

    nice python scripts/masked_matching_options.py --data ../shared/data \\
        --cache /tmp/mask-cache --out out/masked-matching

Embeddings are cached under --cache (never in the repository: they derive from faces).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from compare_masked_options import COLOURS, drawn_mask

from facegate.biometrics.match import load_calibration
from facegate.biometrics.template import consistent_captures
from facegate.config import load_settings
from facegate.errors import EnrolmentError, InputError
from facegate.eval.metrics import fnmr_at_fmr
from facegate.eval.occlusion import rmfrd_folds
from facegate.models import ModelFiles
from facegate.vision.align import CROP_SIZE, REFERENCE_POINTS, align
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.sources import Frame, read_image

ENROL = 3
TARGET = 1e-3
UPPER = ((1.4, 62.0), (1.7, 80.0))
WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)


def upper_matrix(points: np.ndarray, zoom: float, eye_row: float) -> np.ndarray:
    """2x3 similarity taking the eyes and nose tip onto the reference points magnified
    ``zoom`` times about the eyes' midpoint, which lands on (56, ``eye_row``)."""
    ref = REFERENCE_POINTS[:3].astype(np.float64)
    centre = ref[:2].mean(axis=0)
    target = (ref - centre) * zoom + np.array([CROP_SIZE / 2, eye_row])
    matrix, _ = cv2.estimateAffinePartial2D(points[:3].astype(np.float64), target, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("degenerate points")
    return np.asarray(matrix)


def warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


PhotoFill = Callable[[int, Frame, Observation, FacePipeline, dict[str, np.ndarray]], None]


def per_photo_cache(
    paths: list[Path], names: list[str], cache: Path, fill: PhotoFill, label: str = ""
) -> dict[str, np.ndarray]:
    """(N, 128) arrays ``names`` filled by ``fill`` for each readable photo, plus
    ``usable`` (the unlock pipeline's gate) and ``done``. The cache is written every 50
    photos, so a run interrupted on a busy machine resumes where it stopped."""
    keys = np.array([str(p) for p in paths])
    n = len(paths)
    out: dict[str, np.ndarray] = {k: np.zeros((n, 128), np.float32) for k in names}
    out["keys"], out["usable"], out["done"] = keys, np.zeros(n, bool), np.zeros(n, bool)
    if cache.is_file():
        with np.load(cache) as raw:
            if np.array_equal(raw["keys"], keys) and set(out) <= set(raw.files):
                out = {k: np.asarray(raw[k]) for k in raw.files}
    if out["done"].all():
        return out
    cache.parent.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)  # a shared 2-core machine: one thread wastes less on switching
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        for i, path in enumerate(paths):
            if out["done"][i]:
                continue
            if i % 50 == 0:
                np.savez(cache, **out)
                print(f"{label}{i}/{n}", flush=True)
            out["done"][i] = True
            try:
                frame = read_image(path)
            except InputError:
                continue
            obs = pipe.observe(frame)
            if obs.embedding is None:
                continue
            out["usable"][i] = True
            fill(i, frame, obs, pipe, out)
    np.savez(cache, **out)
    return out


def embed_options(paths: list[Path], enrol: np.ndarray, cache: Path) -> dict[str, np.ndarray]:
    """Per option, (N, 128) unit embeddings (see ``per_photo_cache``); drawn masks only
    for ``enrol`` photos."""
    names = ["today", "flip", "eyes-aligned"] + [f"upper-{z}-{r:g}" for z, r in UPPER]
    names += [f"synth-{c}" for c in COLOURS]

    def fill(
        i: int, frame: Frame, obs: Observation, pipe: FacePipeline, out: dict[str, np.ndarray]
    ) -> None:
        assert obs.embedding is not None
        out["today"][i] = obs.embedding
        points = obs.faces.landmarks[0]
        crop = align(frame.image, obs.faces, 0)
        both = pipe.embed_crop(crop) + pipe.embed_crop(np.ascontiguousarray(crop[:, ::-1]))
        out["flip"][i] = both / np.linalg.norm(both)
        eyes = warp(frame.image, upper_matrix(points, 1.0, 51.6))
        out["eyes-aligned"][i] = pipe.embed_crop(eyes)
        for z, r in UPPER:
            upper = warp(frame.image, upper_matrix(points, z, r))
            out[f"upper-{z}-{r:g}"][i] = pipe.embed_crop(upper)
        if enrol[i]:
            for c in COLOURS:
                out[f"synth-{c}"][i] = pipe.embed_crop(drawn_mask(crop, c))

    return per_photo_cache(paths, names, cache, fill)


def score_matrix(rows: list[np.ndarray], emb: np.ndarray) -> np.ndarray:
    """(N, T): each probe's best cosine against each template's rows."""
    return np.stack([(emb @ r.T).max(axis=1) for r in rows], axis=1)


def fold_templates(
    emb: dict[str, np.ndarray], people: np.ndarray, masked: np.ndarray, fold_people: list[str],
    consistency: float,
) -> tuple[list[str], list[list[int]], np.ndarray]:  # fmt: skip
    """The fold's templates as enrolment builds them from today's embeddings: their
    owners, each one's photo indices, and which photos were enrolment captures (never
    probes, even when enrolment dropped them)."""
    usable = emb["usable"]
    owners, idx, enrolled = [], [], np.zeros(len(people), bool)
    for person in fold_people:
        first = np.flatnonzero((people == person) & ~masked)[:ENROL]
        good = [i for i in first if usable[i]]
        try:
            keep = consistent_captures([emb["today"][i] for i in good], consistency)
        except EnrolmentError:
            continue
        owners.append(person)
        idx.append([good[k] for k in keep])
        enrolled[first] = True
    return owners, idx, enrolled


def fold_scores(
    emb: dict[str, np.ndarray], people: np.ndarray, fold_people: list[str], consistency: float
) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Per option the (N, T) scores against the fold's templates, their owners, and
    which photos were enrolment captures (never probes)."""
    owners, idx, enrolled = fold_templates(emb, people, MASKED, fold_people, consistency)
    scores = {}
    for name in ("today", "flip", "eyes-aligned", *(f"upper-{z}-{r:g}" for z, r in UPPER)):
        scores[name] = score_matrix([emb[name][i] for i in idx], emb[name])
    synth = [np.vstack([emb["today"][i]] + [emb[f"synth-{c}"][i] for c in COLOURS]) for i in idx]
    scores["synth"] = score_matrix(synth, emb["today"])
    return scores, owners, enrolled


def split(
    s: np.ndarray, people: np.ndarray, owners: list[str], probes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine scores, impostor scores, impostor probe index) of the probe rows."""
    own = np.array(owners)
    gen, imp, imp_probe = [], [], []
    for i in np.flatnonzero(probes):
        same = own == people[i]
        gen.extend(s[i, same])
        imp.extend(s[i, ~same])
        imp_probe.extend([i] * int((~same).sum()))
    return np.array(gen), np.array(imp), np.array(imp_probe, int)


def rmfrd_layout(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray, np.ndarray]:
    """Every photo, its person, whether it is masked, and whether it is one of the
    person's first ``ENROL`` unmasked photos (the enrolment)."""
    paths = sorted(root.glob("*/*/*.jpg"))
    people = np.array([p.parent.parent.name for p in paths])
    masked = np.array([p.parent.name == "masked" for p in paths])
    enrol = np.zeros(len(paths), bool)
    for person in set(people.tolist()):
        enrol[np.flatnonzero((people == person) & ~masked)[:ENROL]] = True
    return paths, people, masked, enrol


def fnmr(gen: np.ndarray, imp: np.ndarray) -> float | None:
    value = fnmr_at_fmr(gen, imp, [TARGET])["1e-3"]
    return None if value is None else round(float(value), 4)


def measure(
    s: np.ndarray, people: np.ndarray, owners: list[str], in_fold: np.ndarray, usable: np.ndarray,
    enrolled: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    probes_imp = in_fold & usable
    _, imp, imp_probe = split(s, people, owners, probes_imp)
    genuine_ok = probes_imp & ~enrolled & np.isin(people, owners)
    gm, _, _ = split(s, people, owners, genuine_ok & MASKED)
    gu, _, _ = split(s, people, owners, genuine_ok & ~MASKED)
    imp_m = imp[MASKED[imp_probe]]
    return {
        "masked": fnmr(gm, imp), "masked_vs_masked": fnmr(gm, imp_m), "unmasked": fnmr(gu, imp),
        "n_masked": len(gm), "n_unmasked": len(gu), "n_impostor": len(imp),
        "n_impostor_masked": len(imp_m), "templates": len(owners),
    }  # fmt: skip


def main() -> None:
    global MASKED
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mask-cache"))
    parser.add_argument("--out", type=Path, default=Path("out/masked-matching"))
    args = parser.parse_args()
    root = args.data / "rmfrd_masked_identities"
    folds = rmfrd_folds(root)
    paths, people, MASKED, enrol = rmfrd_layout(root)
    emb = embed_options(paths, enrol, args.cache / "masked-options.npz")
    consistency = load_calibration().consistency_threshold
    per_fold = []
    for fold_people in folds:
        scores, owners, enrolled = fold_scores(emb, people, fold_people, consistency)
        per_fold.append((scores, owners, np.isin(people, fold_people), enrolled))
    report: dict[str, Any] = {"people": [len(f) for f in folds], "target_fmr": TARGET}
    fusable = [k for k in per_fold[0][0] if k != "today"]
    for f, (scores, owners, in_fold, enrolled) in enumerate(per_fold):
        rows = {k: measure(s, people, owners, in_fold, emb["usable"], enrolled)
                for k, s in scores.items()}  # fmt: skip
        o_scores, o_owners, o_in, o_enr = per_fold[1 - f]
        for name in fusable:
            best_w, best = 1.0, 2.0
            for w in WEIGHTS:
                fused = w * o_scores["today"] + (1 - w) * o_scores[name]
                value = measure(fused, people, o_owners, o_in, emb["usable"], o_enr)["masked"]
                if value is not None and value < best:
                    best_w, best = float(w), value
            fused = best_w * scores["today"] + (1 - best_w) * scores[name]
            rows[f"fuse-{name}"] = {
                "w_today": best_w,
                **measure(fused, people, owners, in_fold, emb["usable"], enrolled),
            }
        report[f"fold{f}"] = rows
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for f in (0, 1):
        for name, r in report[f"fold{f}"].items():
            w = f" w={r['w_today']}" if "w_today" in r else ""
            print(f"fold{f} {name:22s} masked {r['masked']} mvm {r['masked_vs_masked']} "
                  f"unmasked {r['unmasked']} (gen {r['n_masked']}/{r['n_unmasked']}, "
                  f"imp {r['n_impostor']}/{r['n_impostor_masked']}){w}")  # fmt: skip


MASKED = np.zeros(0, bool)

if __name__ == "__main__":
    main()
