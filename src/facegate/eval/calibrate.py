"""Security-level thresholds from measured impostor score distributions.

The threshold for a level is the lowest score whose measured FMR over impostor
*decisions* (a probe against a whole template, max over its entries, as unlock
decides) is at most the level's target. The record keeps the counts, the tail of
the distribution and the command, so anyone can reproduce or challenge it.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.match import SecurityLevel
from facegate.biometrics.template import EMBEDDING_MODEL
from facegate.errors import InputError
from facegate.eval.dataset import EmbeddedSet
from facegate.eval.metrics import threshold_at_fmr
from facegate.eval.protocols import impostor_template_scores

CONSISTENCY_FMR = 1e-3  # single image pairs; decides only whether captures show one person


def calibrate(
    data: EmbeddedSet, *, template_size: int, subsets: int, command: str, root: Path
) -> dict[str, Any]:
    """The calibration record written to ``biometrics/calibration.json``."""
    impostor = impostor_template_scores(data, template_size=template_size, subsets=subsets)
    thresholds = {}
    for level in SecurityLevel:
        if len(impostor) * level.target_fmr < 1:
            raise InputError(
                f"{len(impostor)} impostor scores cannot support FMR {level.target_fmr:g} for "
                f"level {level.value}; add identities or raise --subsets"
            )
        thresholds[level.value] = round(threshold_at_fmr(impostor, level.target_fmr), 6)
    ids = data.identities[data.usable]
    emb = data.embeddings[data.usable]
    upper = np.triu_indices(len(emb), 1)
    pairs = (emb @ emb.T)[upper][(ids[:, None] != ids[None, :])[upper]].astype(np.float64)
    top = np.sort(impostor)[::-1]
    return {
        "embedding_model": EMBEDDING_MODEL,
        "thresholds": thresholds,
        "consistency_threshold": round(threshold_at_fmr(pairs, CONSISTENCY_FMR), 6),
        "n_impostor_pairs": len(pairs),
        "target_fmr": {lvl.value: lvl.target_fmr for lvl in SecurityLevel},
        "n_impostor": len(impostor),
        "impostor_top10": [round(float(v), 6) for v in top[:10]],
        "impostor_quantiles": {
            q: round(float(np.quantile(impostor, float(q))), 6) for q in ("0.5", "0.99", "0.9999")
        },
        "n_images": len(data.samples),
        "n_usable": int(data.usable.sum()),
        "n_identities": len(set(data.identities.tolist())),
        "template_size": template_size,
        "subsets_per_identity": subsets,
        "dataset": str(root),
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": platform.platform(),
    }
