"""Which part of FaceGate's side-lit path does what: unlock figures per variant.

For every image the embedding is made several ways, switching on FaceGate's
poorly-lit handling one part at a time, all with FaceGate's detector, alignment and
quality gates (enrolment gates on the enrolled images):

- ``plain``: YuNet's points on the frame, one SFace pass (FaceGate's even-light path);
- ``relocate``: a poorly lit crop is located again on the shadow-lifted frame;
- ``mesh``: then, still poorly lit, MediaPipe's five points instead of YuNet's;
- ``mesh+variants``: then the crop's embedding averaged over its lighting variants
  (crop, equalised, and both mirrored): ``FacePipeline.observe`` as shipped;
- ``relocate+variants``, ``plain+variants``: the variants without the earlier parts;
- ``mesh+eq``: the crop and its equalised copy, no mirror images.

Protocol as ``facegate eval unlock ROOT --enroll K``; figures are also given on the
probes the raw OpenCV pipeline acquires (``scripts/raw_baseline.py``), with ``--raw``.

    python scripts/ablate_side_lit.py ../shared/data/yale_b_lighting --enroll 3 --raw
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.match import load_calibration
from facegate.config import load_settings
from facegate.eval.dataset import EmbeddedSet, Sample, list_dataset
from facegate.eval.metrics import summarise
from facegate.eval.protocols import split_enrolment, unlock_scores
from facegate.models import ModelFiles
from facegate.vision.align import align
from facegate.vision.detect import Faces
from facegate.vision.illumination import equalise, is_poorly_lit, lift_frame
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY, QualityOptions, assess
from facegate.vision.refine import with_mesh_points
from facegate.vision.sources import read_image

Variant = tuple[bool, bool, str]  # relocate, mesh points, lighting variants


def _mirror(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, ::-1])


VARIANT_SETS: dict[str, Callable[[np.ndarray], list[np.ndarray]]] = {
    "none": lambda c: [c],
    "all": lambda c: [c, _mirror(c), equalise(c), _mirror(equalise(c))],
    "eq": lambda c: [c, equalise(c)],
}

VARIANTS: dict[str, Variant] = {
    "plain": (False, False, "none"),
    "plain+variants": (False, False, "all"),
    "relocate": (True, False, "none"),
    "relocate+variants": (True, False, "all"),
    "mesh": (True, True, "none"),
    "mesh+eq": (True, True, "eq"),
    "mesh+variants": (True, True, "all"),
}


def crops(
    pipeline: FacePipeline, image: np.ndarray, gates: QualityOptions
) -> dict[tuple[bool, bool], np.ndarray | None]:
    """The aligned crop each (relocate, mesh points) setting gives, None when refused;
    detection and the mesh run once and are shared by the settings."""
    faces: Faces = pipeline.detector.detect(image)
    crop = align(image, faces, 0) if len(faces) else None
    out: dict[tuple[bool, bool], tuple[Faces, np.ndarray | None]] = {(False, False): (faces, crop)}
    if crop is None or is_poorly_lit(crop):
        lit = lift_frame(image)
        lifted = pipeline.detector.detect(lit)
        if len(lifted):
            faces, crop = lifted, align(image, lifted, 0)
        out[True, False] = (faces, crop)
        if crop is not None and is_poorly_lit(crop):
            refined = with_mesh_points(faces, pipeline.mesher.detect(lit))
            if refined is not faces:
                faces, crop = refined, align(image, refined, 0)
    out.setdefault((True, False), out[False, False])
    out[True, True] = (faces, crop)
    return {
        key: c if c is not None and assess(f, 0, c, gates).ok else None
        for key, (f, c) in out.items()
    }


def embed(
    pipeline: FacePipeline, samples: list[Sample], enrol: np.ndarray
) -> dict[str, tuple[EmbeddedSet, EmbeddedSet]]:
    """Per variant, the (enrolment, probe) sets; each distinct crop is embedded once."""
    emb = {name: np.zeros((len(samples), 128), np.float32) for name in VARIANTS}
    usable = {name: np.zeros(len(samples), bool) for name in VARIANTS}
    for i, (s, e) in enumerate(zip(samples, enrol, strict=True)):
        by_setting = crops(
            pipeline, read_image(s.path).image, ENROL_QUALITY if e else QualityOptions()
        )
        memo: dict[tuple[int, int], np.ndarray] = {}
        for name, (relocate, mesh, which) in VARIANTS.items():
            crop = by_setting[relocate, mesh]
            if crop is None:
                continue
            parts = VARIANT_SETS[which](crop) if is_poorly_lit(crop) else [crop]
            vecs = []
            for k, part in enumerate(parts):
                key = (id(crop), k if which != "eq" else (0, 2)[k])
                if key not in memo:
                    memo[key] = pipeline.embedder.embed(part)
                vecs.append(memo[key])
            vec = np.sum(vecs, axis=0)
            emb[name][i], usable[name][i] = vec / np.linalg.norm(vec), True

    def part(name: str, mask: np.ndarray) -> EmbeddedSet:
        rows = np.flatnonzero(mask)
        return EmbeddedSet(
            [samples[i] for i in rows],
            emb[name][rows],
            usable[name][rows],
            [None if usable[name][i] else "refused" for i in rows],
            np.zeros(len(rows)),
        )

    return {name: (part(name, enrol), part(name, ~enrol)) for name in VARIANTS}


def figures(enrol: EmbeddedSet, probes: EmbeddedSet, keep: np.ndarray) -> dict[str, Any]:
    """Unlock figures over the probes flagged in ``keep`` (impostors: all usable images)."""
    kept = EmbeddedSet(
        probes.samples, probes.embeddings, probes.usable & keep, probes.reasons, probes.seconds
    )
    scores, _ = unlock_scores(
        enrol, kept, consistency_threshold=load_calibration().consistency_threshold, now=0.0
    )
    s = summarise(
        scores.genuine,
        scores.impostor,
        n_attempts=int(keep.sum()),
        n_failed_acquisitions=int(keep.sum() - kept.usable.sum()),
        seconds_per_image=0.0,
    )
    return {
        "n_genuine": s.n_genuine,
        "n_impostor": s.n_impostor,
        "fta": round(s.fta, 4),
        "eer": round(s.eer, 4),
        "fnmr_at_1e-3": s.fnmr_at_fmr["1e-3"],
        "fnmr_at_1e-4": s.fnmr_at_fmr["1e-4"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path)
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument("--raw", action="store_true", help="also on the raw pipeline's probes")
    args = parser.parse_args()
    samples = list_dataset(args.root)
    enrol = split_enrolment(np.array([s.identity for s in samples]), args.enroll)
    keep_sets = {"all probes": np.ones(int((~enrol).sum()), bool)}
    if args.raw:
        from raw_baseline import raw_embeddings  # scripts/ is on sys.path when run

        raw = raw_embeddings(samples)
        keep_sets["raw-acquired probes"] = np.array([v is not None for v in raw])[~enrol]
    with FacePipeline(ModelFiles.of(load_settings())) as pipeline:
        sets = embed(pipeline, samples, enrol)
    for name, (e, p) in sets.items():
        print(json.dumps({name: {k: figures(e, p, keep) for k, keep in keep_sets.items()}}))


if __name__ == "__main__":
    main()
