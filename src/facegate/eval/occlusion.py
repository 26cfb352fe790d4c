"""How well the occlusion map separates covered from uncovered faces (AUC per region).

* RMFRD: masked vs unmasked photos of the *held-out* people (odd positions of the
  sorted folder names; the region models were trained on the even ones). A mask
  covers the mouth, so the mouth region should separate them; it does not cover the
  eyes, so the eye regions should not.
* Yale: ``glasses`` vs ``noglasses`` images of the same 15 people: glasses put rims
  and lenses over the eyes, so the eye regions should score them higher.

AUC is the Mann-Whitney statistic, with the counts of both classes; a photo without
a face is counted and left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from facegate.errors import InputError
from facegate.eval.smile import auc
from facegate.vision.occlusion import OcclusionAssessor, Region
from facegate.vision.sources import read_image


def rmfrd_folds(root: Path) -> tuple[list[str], list[str]]:
    """(tuning people, held-out people) of an RMFRD folder: its sorted person folders at
    even and at odd positions. The region models and masked thresholds are tuned on the
    first list only."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (expected PERSON/masked, PERSON/unmasked)")
    people = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(people) < 2:
        raise InputError(f"{root}: needs at least two person folders")
    return people[0::2], people[1::2]


def _maps(
    paths: Iterable[Path], assessor: OcclusionAssessor, progress: Callable[[], None] | None
) -> tuple[np.ndarray, int]:
    """(M, 8) region values of the photos with a face, and how many had none."""
    rows, missing = [], 0
    for path in paths:
        occlusion = assessor.assess(read_image(path))
        if occlusion.map is None:
            missing += 1
        else:
            rows.append([occlusion.map[r] for r in Region])
        if progress is not None:
            progress()
    return np.array(rows, np.float64).reshape(-1, len(Region)), missing


def _aucs(positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    return {
        r.value: round(auc(positive[:, j].tolist(), negative[:, j].tolist()), 4)
        for j, r in enumerate(Region)
    }


def evaluate_masks(
    root: Path,
    people: list[str],
    assessor: OcclusionAssessor,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Per-region AUC, masked (positive) vs unmasked photos of ``people`` under ``root``."""
    masked = sorted(p for person in people for p in (root / person / "masked").glob("*.jpg"))
    unmasked = sorted(p for person in people for p in (root / person / "unmasked").glob("*.jpg"))
    if not masked or not unmasked:
        raise InputError(f"{root}: no PERSON/masked/*.jpg and PERSON/unmasked/*.jpg for {people}")
    pos, pos_missing = _maps(masked, assessor, progress)
    neg, neg_missing = _maps(unmasked, assessor, progress)
    return {
        "people": people,
        "n_people": len(people),
        "n_masked": len(pos),
        "n_unmasked": len(neg),
        "n_no_face": pos_missing + neg_missing,
        "auc": _aucs(pos, neg),
        "mean_masked": {r.value: round(float(pos[:, j].mean()), 4) for j, r in enumerate(Region)},
        "mean_unmasked": {r.value: round(float(neg[:, j].mean()), 4) for j, r in enumerate(Region)},
    }


def evaluate_glasses(
    yale: Path, assessor: OcclusionAssessor, progress: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Per-region AUC, Yale ``glasses`` (positive) vs ``noglasses`` images."""
    glasses = sorted(yale.glob("subject*.glasses.gif"))
    bare = sorted(yale.glob("subject*.noglasses.gif"))
    if not glasses or not bare:
        raise InputError(f"{yale}: no subjectNN.glasses.gif and subjectNN.noglasses.gif")
    pos, pos_missing = _maps(glasses, assessor, progress)
    neg, neg_missing = _maps(bare, assessor, progress)
    aucs = _aucs(pos, neg)
    eyes = (pos[:, [_col(Region.LEFT_EYE), _col(Region.RIGHT_EYE)]].mean(axis=1),
            neg[:, [_col(Region.LEFT_EYE), _col(Region.RIGHT_EYE)]].mean(axis=1))  # fmt: skip
    return {
        "n_glasses": len(pos),
        "n_noglasses": len(neg),
        "n_no_face": pos_missing + neg_missing,
        "auc": aucs,
        "auc_eyes_mean": round(auc(eyes[0].tolist(), eyes[1].tolist()), 4),
    }


def _col(region: Region) -> int:
    return list(Region).index(region)
