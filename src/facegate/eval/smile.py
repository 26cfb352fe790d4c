"""Does the smile signal separate smiling from neutral faces? Yale ``happy`` vs ``normal``.

The score of an image is ``mouthSmileLeft + mouthSmileRight`` (0 to 2), straight from
the tracker's faithful blend shapes, with no per-person calibration. The figure is the
ROC AUC: the probability that a random ``happy`` image scores above a random ``normal``
one (ties count one half), over all happy x normal pairs, so every person's smile is
compared with every person's neutral face, not only their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.errors import UnreadableSource
from facegate.models import ModelFiles
from facegate.vision.blendshapes import BlendShape
from facegate.vision.mesh import FaceMesher, MeshOptions
from facegate.vision.sources import read_image

POSITIVE, NEGATIVE = "happy", "normal"


@dataclass(frozen=True)
class SmileReport:
    """AUC (fraction in [0, 1]) with its counts; per-image scores for inspection."""

    auc: float
    n_happy: int
    n_normal: int
    n_no_face: int
    scores: dict[str, float] = field(repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc,
            "n_happy": self.n_happy,
            "n_normal": self.n_normal,
            "n_pairs": self.n_happy * self.n_normal,
            "n_no_face": self.n_no_face,
            "score": "mouthSmileLeft + mouthSmileRight",
            "scores": self.scores,
        }


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Mann-Whitney AUC: P(positive > negative) + 0.5 P(tie), over all pairs."""
    pos = np.asarray(positive, np.float64)[:, None]
    neg = np.asarray(negative, np.float64)[None, :]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def smile_score(shapes: dict[str, float | None]) -> float:
    left = shapes[BlendShape.MOUTH_SMILE_LEFT.value] or 0.0
    right = shapes[BlendShape.MOUTH_SMILE_RIGHT.value] or 0.0
    return float(left + right)


def evaluate_smile(
    yale: Path, models: ModelFiles | None = None, progress: Callable[[], None] | None = None
) -> SmileReport:
    """Score every ``subjectNN.happy.gif`` and ``subjectNN.normal.gif`` under ``yale``.

    An image without a face is counted in ``n_no_face`` and left out of the AUC.
    Raises UnreadableSource when the folder holds no such image.
    """
    paths = sorted(yale.glob(f"subject*.{POSITIVE}.gif")) + sorted(
        yale.glob(f"subject*.{NEGATIVE}.gif")
    )
    if not paths:
        raise UnreadableSource(f"{yale}: no subject*.{POSITIVE}.gif / .{NEGATIVE}.gif images")
    scores: dict[str, float] = {}
    missed = 0
    with FaceMesher.create_from_options(MeshOptions(num_faces=2), models) as mesher:
        for path in paths:
            mesh = mesher.detect(read_image(path).image)
            if mesh is None:
                missed += 1
            else:
                scores[path.name] = smile_score(dict(mesh.blendshapes))
            if progress is not None:
                progress()
    happy = [s for name, s in scores.items() if f".{POSITIVE}." in name]
    normal = [s for name, s in scores.items() if f".{NEGATIVE}." in name]
    return SmileReport(
        auc=auc(happy, normal),
        n_happy=len(happy),
        n_normal=len(normal),
        n_no_face=missed,
        scores=scores,
    )
