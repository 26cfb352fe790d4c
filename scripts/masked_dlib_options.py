"""Masked matching with dlib's ResNet (the second embedding DESIGN.md lists for fusion),
alone and fused with SFace, measured on RMFRD with people held out.

Protocol: ``scripts/masked_matching_options.py``'s (the issue's). The two folds of
``facegate.eval.occlusion.rmfrd_folds``; per person, enrol the first 3 unmasked photos
(kept by enrolment's consistency rule on today's SFace embeddings, so every option
has the same templates), probe every other usable photo; impostors are every usable
photo of the fold against every other template of the fold; a probe's score is its
best cosine over its template's rows. Usable = the unlock pipeline's gate (the SFace
options' cache of ``masked_matching_options.py``, which this script reads or builds).

dlib options (one ``face_recognition_model_v1``; the face box is the unlock detector's
(YuNet) face 0, the photo padded by replicating its border, since RMFRD photos are
tight 160x160 crops and dlib's chip reaches past them; dlib's 5-point predictor in
that box, then dlib's own 150x150 chip, padding 0.25):

* ``dlib``: the chip's descriptor (face_recognition's call);
* ``dlib-nopad``: the same without the border padding (black where the chip leaves
  the photo, as face_recognition does on such crops);
* ``dlib-flip``: the mean of the chip's and its mirror image's descriptors;
* ``dlib-grey``: chip rows from GREY_ROW down (between the eyes, row ~47, and the
  nose's base, row ~87) replaced by mid-grey, on enrolment and probe alike;
* ``dlib-upper``: the chip's upper face (forehead, eyes, nose bridge) magnified 1.56x.

Fusions ``S+D``: z-scores of SFace option S and dlib option D, each normalised by the
*other* fold's impostor mean and deviation, combined as ``w * S + (1 - w) * D`` with
``w`` (grid 0, 0.05, ..., 1) chosen on the other fold's masked probes.

Reported per option and fold (fold 1 = the 61 held-out people):
* ``own``: FNMR at FMR 1e-3 with the threshold from this fold's impostors (the figure
  of ``masked_matching_options.py``): ``masked`` (all impostors), ``masked_vs_masked``
  (masked probes' impostors only), ``unmasked``;
* ``fixed_1e-3`` / ``fixed_1e-4``: thresholds set on the *other* fold's impostors for
  FMR 1e-3 / 1e-4 and applied here: FNMR of masked and unmasked probes, and the FMR
  (false matches / impostor decisions) they actually give on this fold;
* fusions also ``hindsight``: the weight best for *this* fold's masked probes and its
  ``own`` masked FNMR, an optimistic bound (tuned on the people it is reported on),
  to show how far any weight could go, never a result.

``--bench N`` also times one dlib embed (5 points + chip + descriptor) N times on one
photo, against one SFace pass in turn, and prints the medians and load (a timing: run
it without ``nice``, once the embeddings are cached).

    nice -n 19 python scripts/masked_dlib_options.py --data /work/shared/data \\
        --cache /tmp/masked-cache --out out/masked-dlib
    python scripts/masked_dlib_options.py --data /work/shared/data \\
        --cache /tmp/masked-cache --out out/masked-dlib --bench 40

Embeddings are cached under --cache (never in the repository: they derive from faces).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from masked_matching_options import (
    embed_options,
    fold_templates,
    per_photo_cache,
    rmfrd_layout,
    score_matrix,
    split,
)

from facegate.bench.timing import time_alternating
from facegate.biometrics.match import load_calibration
from facegate.config import load_settings
from facegate.eval.metrics import fnmr_at_fmr, threshold_at_fmr
from facegate.eval.occlusion import rmfrd_folds
from facegate.models import ModelFiles, resolve
from facegate.vision.align import align
from facegate.vision.illumination import variants
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.sources import Frame, read_image

CHIP = 150
PAD = 48
GREY_ROW = 72
UPPER_BOX = (54, 10, 192)  # x, y, side in a 300-pixel chip: eyes near row 0.44
DLIB = ("dlib", "dlib-nopad", "dlib-flip", "dlib-grey", "dlib-upper")
FUSIONS = (("today", "dlib"), ("today", "dlib-flip"), ("flip", "dlib-flip"), ("today", "dlib-grey"))
TARGETS = (1e-3, 1e-4)
WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)


class DlibEmbedder:
    """dlib's ResNet on dlib's own chip, found by its 5-point predictor in a given box."""

    def __init__(self) -> None:
        import dlib

        settings = load_settings()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(resolve("dlib_shape5", settings).path))
        self._net = dlib.face_recognition_model_v1(str(resolve("dlib_resnet", settings).path))

    def chip(
        self, bgr: np.ndarray, box: np.ndarray, size: int = CHIP, pad: int = PAD
    ) -> np.ndarray:
        """The RGB chip of the face in ``box`` (x, y, w, h), the photo padded by ``pad``
        replicated pixels first."""
        rgb = cv2.cvtColor(cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE),
                           cv2.COLOR_BGR2RGB)  # fmt: skip
        x, y, w, h = (float(v) for v in box)
        rect = self._dlib.rectangle(int(x + pad), int(y + pad), int(x + w + pad), int(y + h + pad))
        return np.asarray(self._dlib.get_face_chip(rgb, self._shape(rgb, rect), size, 0.25))

    def describe(self, chip: np.ndarray) -> np.ndarray:
        """Unit 128-d descriptor of a 150x150 RGB chip."""
        vec = np.asarray(self._net.compute_face_descriptor(np.ascontiguousarray(chip)), np.float32)
        return vec / np.linalg.norm(vec)

    def options(self, bgr: np.ndarray, box: np.ndarray) -> dict[str, np.ndarray]:
        """Every dlib option's descriptor of one face."""
        chip = self.chip(bgr, box)
        grey = chip.copy()
        grey[GREY_ROW:] = 128
        x, y, side = UPPER_BOX
        big = self.chip(bgr, box, 2 * CHIP)
        upper = cv2.resize(
            big[y : y + side, x : x + side], (CHIP, CHIP), interpolation=cv2.INTER_AREA
        )
        flip = self.describe(chip) + self.describe(chip[:, ::-1])
        return {
            "dlib": self.describe(chip),
            "dlib-nopad": self.describe(self.chip(bgr, box, pad=0)),
            "dlib-flip": flip / np.linalg.norm(flip),
            "dlib-grey": self.describe(grey),
            "dlib-upper": self.describe(upper),
        }


def dlib_options(paths: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """Per dlib option, (N, 128) unit descriptors of the photos the unlock pipeline
    finds usable (zeros for the others), cached and resumable (``per_photo_cache``)."""
    dlib = DlibEmbedder()

    def fill(
        i: int, frame: Frame, obs: Observation, pipe: FacePipeline, out: dict[str, np.ndarray]
    ) -> None:
        for name, vec in dlib.options(frame.image, obs.faces.boxes[0]).items():
            out[name][i] = vec

    return per_photo_cache(paths, list(DLIB), cache, fill, label="dlib ")


def fnmr_at(gen: np.ndarray, imp: np.ndarray) -> float | None:
    value = fnmr_at_fmr(gen, imp, [TARGETS[0]])["1e-3"]
    return None if value is None else round(float(value), 4)


class Fold:
    """One fold's templates and probe roles, and each option's (N, T) scores."""

    def __init__(
        self, emb: dict[str, np.ndarray], people: np.ndarray, masked: np.ndarray,
        fold_people: list[str], consistency: float,
    ) -> None:  # fmt: skip
        self.people, self.masked = people, masked
        self.owners, idx, enrolled = fold_templates(emb, people, masked, fold_people, consistency)
        usable = emb["usable"] & np.isin(people, fold_people)
        self.probes = usable
        self.genuine = usable & ~enrolled & np.isin(people, self.owners)
        self.scores = {
            name: score_matrix([emb[name][i] for i in idx], emb[name])
            for name in ("today", "flip", *DLIB)
        }

    def parts(self, s: np.ndarray) -> dict[str, np.ndarray]:
        """Genuine masked, genuine unmasked, all impostor and masked-probe impostor scores."""
        _, imp, imp_probe = split(s, self.people, self.owners, self.probes)
        gm, _, _ = split(s, self.people, self.owners, self.genuine & self.masked)
        gu, _, _ = split(s, self.people, self.owners, self.genuine & ~self.masked)
        return {"gm": gm, "gu": gu, "imp": imp, "imp_m": imp[self.masked[imp_probe]]}

    def impostor_stats(self, name: str) -> tuple[float, float]:
        imp = self.parts(self.scores[name])["imp"]
        return float(imp.mean()), float(imp.std())


def report_row(here: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    """Figures of one option on this fold, thresholds fixed on the other fold's parts."""
    row: dict[str, Any] = {
        "own": {
            "masked": fnmr_at(here["gm"], here["imp"]),
            "masked_vs_masked": fnmr_at(here["gm"], here["imp_m"]),
            "unmasked": fnmr_at(here["gu"], here["imp"]),
        },
        "n_masked": len(here["gm"]), "n_unmasked": len(here["gu"]),
        "n_impostor": len(here["imp"]), "n_impostor_masked": len(here["imp_m"]),
    }  # fmt: skip
    for target in TARGETS:
        t = threshold_at_fmr(other["imp"], target)
        false = int((here["imp"] >= t).sum())
        row[f"fixed_{target:.0e}".replace("-0", "-")] = {
            "threshold": round(t, 5),
            "masked": round(float((here["gm"] < t).mean()), 4),
            "unmasked": round(float((here["gu"] < t).mean()), 4),
            "false_matches": false,
            "fmr": round(false / len(here["imp"]), 6),
        }
    return row


def fused(fold: Fold, ref: Fold, s_name: str, d_name: str, w: float) -> np.ndarray:
    """``w * z(S) + (1 - w) * z(D)`` on ``fold``, z-scored with ``ref``'s impostors."""
    (ms, ss), (md, sd) = ref.impostor_stats(s_name), ref.impostor_stats(d_name)
    z_s = (fold.scores[s_name] - ms) / ss
    z_d = (fold.scores[d_name] - md) / sd
    return w * z_s + (1 - w) * z_d


def best_weight(fold: Fold, s_name: str, d_name: str) -> tuple[float, float | None]:
    """The grid weight giving ``fold``'s masked probes the lowest FNMR at FMR 1e-3 (its
    own impostors set the threshold and the z-scores), and that FNMR."""
    best_w, best = 1.0, None
    for w in WEIGHTS:
        parts = fold.parts(fused(fold, fold, s_name, d_name, float(w)))
        value = fnmr_at(parts["gm"], parts["imp"])
        if value is not None and (best is None or value < best):
            best_w, best = float(w), value
    return best_w, best


def evaluate(folds: tuple[Fold, Fold]) -> dict[str, Any]:
    """Per fold, every single option and every fusion (weight from the other fold)."""
    report: dict[str, Any] = {}
    for f, fold in enumerate(folds):
        other = folds[1 - f]
        rows = {
            name: report_row(fold.parts(s), other.parts(other.scores[name]))
            for name, s in fold.scores.items()
        }
        for s_name, d_name in FUSIONS:
            # w, z-scores and thresholds all come from the other fold alone
            w, _ = best_weight(other, s_name, d_name)
            here = fold.parts(fused(fold, other, s_name, d_name, w))
            there = other.parts(fused(other, other, s_name, d_name, w))
            hindsight_w, hindsight = best_weight(fold, s_name, d_name)
            rows[f"fuse-{s_name}+{d_name}"] = {
                "w_sface": w,
                **report_row(here, there),
                "hindsight": {"w_sface": hindsight_w, "masked": hindsight},
            }
        report[f"fold{f}"] = rows
    return report


def bench(path: Path, runs: int) -> dict[str, Any]:
    """Median ms of one dlib embed (5 points + chip + descriptor) and of one SFace pass
    on the same face's aligned crop, taken in turn, with the load average around them.
    (The unlock embedding, ``embed_crop``, is 1 SFace pass on an evenly lit crop and 4 on
    a poorly lit one; ``sface_passes`` says which this photo is.)"""
    frame = read_image(path)
    dlib = DlibEmbedder()
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        obs = pipe.observe(frame)
        box = obs.faces.boxes[0]
        crop = align(frame.image, obs.faces, 0)
        load_before = os.getloadavg()
        d, s = time_alternating(
            lambda: dlib.describe(dlib.chip(frame.image, box)),
            lambda: pipe.embedder.embed(crop),
            runs,
        )
        load_after = os.getloadavg()
    return {
        "photo": str(path), "runs": runs, "dlib_embed_ms": round(d.median_ms, 1),
        "dlib_embed_p90_ms": round(d.p90_ms, 1), "sface_pass_ms": round(s.median_ms, 1),
        "sface_pass_p90_ms": round(s.p90_ms, 1), "sface_passes": len(variants(crop)),
        "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/masked-cache"))
    parser.add_argument("--out", type=Path, default=Path("out/masked-dlib"))
    parser.add_argument("--bench", type=int, default=0, metavar="N",
                        help="also time N dlib and SFace embeds, in turn")  # fmt: skip
    args = parser.parse_args()
    root = args.data / "rmfrd_masked_identities"
    folds = rmfrd_folds(root)
    paths, people, masked, enrol = rmfrd_layout(root)
    args.cache.mkdir(parents=True, exist_ok=True)
    emb = embed_options(paths, enrol, args.cache / "masked-options.npz")
    emb.update(dlib_options(paths, args.cache / "masked-dlib.npz"))
    consistency = load_calibration().consistency_threshold
    built = tuple(Fold(emb, people, masked, fp, consistency) for fp in folds)
    report: dict[str, Any] = {"people": [len(f) for f in folds], **evaluate((built[0], built[1]))}
    if args.bench:
        report["bench"] = bench(
            next(p for p, m in zip(paths, masked, strict=True) if not m), args.bench
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for f in (1, 0):
        for name, r in report[f"fold{f}"].items():
            own, a, b = r["own"], r["fixed_1e-3"], r["fixed_1e-4"]
            w = f" w={r['w_sface']}" if "w_sface" in r else ""
            print(f"fold{f} {name:26s} own m {own['masked']} mvm {own['masked_vs_masked']} "
                  f"u {own['unmasked']} | fixed1e-3 m {a['masked']} u {a['unmasked']} "
                  f"fm {a['false_matches']} | fixed1e-4 m {b['masked']} u {b['unmasked']} "
                  f"fm {b['false_matches']} (gen {r['n_masked']}/{r['n_unmasked']}, "
                  f"imp {r['n_impostor']}/{r['n_impostor_masked']}){w}")  # fmt: skip
    if "bench" in report:
        print(json.dumps(report["bench"]))


if __name__ == "__main__":
    main()
