"""The raw-model baseline for ``facegate eval unlock``: plain YuNet + SFace calls.

Same protocol as ``facegate eval unlock ROOT --enroll K`` (first K images of each
identity enrolled, the rest probed; impostors are every image of other people), but
with none of FaceGate's handling: OpenCV's own ``alignCrop``, one SFace pass, no
quality gates, no relocation of badly lit faces. A grey border is added only when the
plain pass finds nothing, so tight crops are not all lost. Prints one JSON line.

With ``--facegate`` it also scores FaceGate's own pipeline and protocol on the probes
that *both* acquire, and prints both pipelines' figures there. On a proxy set where
the raw pipeline misses many probes, this is the comparison that matches a dataset
where it misses almost none (the held-out lighting set: raw FTA 1.5 %).

    python scripts/raw_baseline.py out/relit --enroll 3
    python scripts/raw_baseline.py out/relit-dark --enroll 3 --facegate
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facegate.biometrics.match import load_calibration
from facegate.config import load_settings
from facegate.eval.dataset import Sample, embed_samples, list_dataset
from facegate.eval.metrics import VerificationSummary, summarise
from facegate.eval.protocols import split_enrolment, unlock_scores
from facegate.models import ModelFiles, resolve
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import read_image


def raw_embeddings(samples: list[Sample]) -> list[np.ndarray | None]:
    """One unit SFace embedding per sample through OpenCV's plain calls, or None."""
    settings = load_settings()
    detector = cv2.FaceDetectorYN.create(str(resolve("yunet", settings).path), "", (320, 320))
    recogniser = cv2.FaceRecognizerSF.create(str(resolve("sface", settings).path), "")

    def embed(image: np.ndarray) -> np.ndarray | None:
        for pad in (0, 0.35):
            py, px = int(image.shape[0] * pad), int(image.shape[1] * pad)
            img = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127,) * 3)
            detector.setInputSize((img.shape[1], img.shape[0]))
            _, faces = detector.detect(img)
            if faces is not None and len(faces):
                face = faces[np.argmax(faces[:, 2] * faces[:, 3])]
                vec = recogniser.feature(recogniser.alignCrop(img, face)).reshape(-1)
                return vec / np.linalg.norm(vec)
        return None

    return [embed(read_image(s.path).image) for s in samples]


def raw_figures(
    samples: list[Sample], vecs: list[np.ndarray | None], enrol: np.ndarray, probe: np.ndarray
) -> dict[str, Any]:
    """Unlock figures of the raw pipeline over the probes flagged in ``probe``."""
    templates: dict[str, list[np.ndarray]] = {}
    for sample, vec, is_enrol in zip(samples, vecs, enrol, strict=True):
        if is_enrol and vec is not None:
            templates.setdefault(sample.identity, []).append(vec)
    genuine, impostor = [], []
    for sample, vec, is_enrol, is_probe in zip(samples, vecs, enrol, probe, strict=True):
        if vec is None or not (is_enrol or is_probe):
            continue
        for owner, entries in templates.items():
            score = float(max(vec @ e for e in entries))
            if owner == sample.identity and is_probe:
                genuine.append(score)
            elif owner != sample.identity:
                impostor.append(score)
    attempts = int(probe.sum())
    failed = sum(1 for v, p in zip(vecs, probe, strict=True) if p and v is None)
    return _figures(
        summarise(
            genuine,
            impostor,
            n_attempts=attempts,
            n_failed_acquisitions=failed,
            seconds_per_image=0.0,
        )
    )


def facegate_figures(
    samples: list[Sample], enrol: np.ndarray, keep: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """FaceGate's ``eval unlock`` figures with only the probes flagged in ``keep``, and
    which probes it used (kept and acquired by FaceGate)."""
    enrol_samples = [s for s, e in zip(samples, enrol, strict=True) if e]
    probe_samples = [s for s, e in zip(samples, enrol, strict=True) if not e]
    with FacePipeline(ModelFiles.of(load_settings())) as pipeline:
        enrol_set = embed_samples(enrol_samples, pipeline, ENROL_QUALITY)
        probe_set = embed_samples(probe_samples, pipeline)
    probe_set = replace(probe_set, usable=probe_set.usable & keep[~enrol])
    scores, _ = unlock_scores(
        enrol_set,
        probe_set,
        consistency_threshold=load_calibration().consistency_threshold,
        now=time.time(),
    )
    return _figures(
        summarise(
            scores.genuine,
            scores.impostor,
            n_attempts=int(keep[~enrol].sum()),
            n_failed_acquisitions=int(keep[~enrol].sum() - probe_set.usable.sum()),
            seconds_per_image=0.0,
        )
    ), probe_set.usable


def _figures(summary: VerificationSummary) -> dict[str, Any]:
    return {
        "n_genuine": summary.n_genuine,
        "n_impostor": summary.n_impostor,
        "fta": summary.fta,
        "eer": summary.eer,
        "fnmr_at_fmr": summary.fnmr_at_fmr,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument(
        "--facegate", action="store_true", help="also compare with FaceGate on common probes"
    )
    args = parser.parse_args()
    samples = list_dataset(args.root)
    enrol = split_enrolment(np.array([s.identity for s in samples]), args.enroll)
    vecs = raw_embeddings(samples)
    result: dict[str, Any] = raw_figures(samples, vecs, enrol, ~enrol)
    if args.facegate:
        raw_ok = np.array([v is not None for v in vecs])
        ours, usable = facegate_figures(samples, enrol, raw_ok)
        common = np.zeros(len(samples), bool)
        common[~enrol] = usable
        result = {
            "raw": result,
            "common_probes": int(common.sum()),
            "of_probes": int((~enrol).sum()),
            "raw_on_common": raw_figures(samples, vecs, enrol, common),
            "facegate_on_common": ours,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
