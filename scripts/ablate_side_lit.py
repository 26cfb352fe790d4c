"""Which part of FaceGate's side-lit path does what: unlock figures per variant.

For every image the embedding is made several ways, switching on FaceGate's
poorly-lit handling one part at a time, all with FaceGate's detector, alignment and
quality gates (enrolment gates on the enrolled images):

- ``plain``: YuNet's points on the frame, one SFace pass (FaceGate's even-light path);
- ``relocate``: a poorly lit crop is located again on the shadow-lifted frame;
- ``mesh``: then, still poorly lit, MediaPipe's five points instead of YuNet's;
- ``mesh+variants``: then the crop's embedding averaged over its lighting variants
  (crop, equalised, and both mirrored): FaceGate before this change;
- ``relocate+variants``, ``plain+variants``: the variants without the earlier parts;
- ``mesh+eq``: the crop and its equalised copy, no mirror images;
- ``shipped``: ``FacePipeline.observe`` as the package ships it now.

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


def observe(
    pipeline: FacePipeline, image: np.ndarray, variant: Variant, gates: QualityOptions
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(embedding or None, aligned crop or None) of one image under ``variant``."""
    relocate, mesh, which = variant
    faces: Faces = pipeline.detector.detect(image)
    crop = align(image, faces, 0) if len(faces) else None
    if relocate and (crop is None or is_poorly_lit(crop)):
        lit = lift_frame(image)
        lifted = pipeline.detector.detect(lit)
        if len(lifted):
            faces, crop = lifted, align(image, lifted, 0)
        if mesh and crop is not None and is_poorly_lit(crop):
            refined = with_mesh_points(faces, pipeline.mesher.detect(lit))
            if refined is not faces:
                faces, crop = refined, align(image, refined, 0)
    if crop is None or not assess(faces, 0, crop, gates).ok:
        return None, crop
    crops = VARIANT_SETS[which](crop) if is_poorly_lit(crop) else [crop]
    vec = np.sum([pipeline.embedder.embed(c) for c in crops], axis=0)
    return (vec / np.linalg.norm(vec)).astype(np.float32), crop


def embed(
    pipeline: FacePipeline, samples: list[Sample], enrol: np.ndarray, variant: Variant | None
) -> tuple[EmbeddedSet, EmbeddedSet]:
    emb = np.zeros((len(samples), 128), np.float32)
    usable = np.zeros(len(samples), bool)
    for i, (s, e) in enumerate(zip(samples, enrol, strict=True)):
        gates = ENROL_QUALITY if e else QualityOptions()
        frame = read_image(s.path)
        if variant is None:
            obs = pipeline.observe(frame, gates)
            vec = obs.embedding
        else:
            vec, _ = observe(pipeline, frame.image, variant, gates)
        if vec is not None:
            emb[i], usable[i] = vec, True

    def part(mask: np.ndarray) -> EmbeddedSet:
        rows = np.flatnonzero(mask)
        return EmbeddedSet(
            [samples[i] for i in rows],
            emb[rows],
            usable[rows],
            [None if usable[i] else "refused" for i in rows],
            np.zeros(len(rows)),
        )

    return part(enrol), part(~enrol)


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
    out: dict[str, Any] = {}
    with FacePipeline(load_settings()) as pipeline:
        for name, variant in [*VARIANTS.items(), ("shipped", None)]:
            e, p = embed(pipeline, samples, enrol, variant)
            out[name] = {k: figures(e, p, keep) for k, keep in keep_sets.items()}
            print(json.dumps({name: out[name]}), flush=True)


if __name__ == "__main__":
    main()
