"""Evaluation datasets: ``ROOT/<identity>/<images>``, embedded once by the real pipeline.

Symlinked folders are followed, so a pooled dev set can be a tree of links into
other datasets. Every image goes through ``FacePipeline.observe``, exactly as an
unlock attempt would; images it refuses count as failures to acquire (FTA).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.biometrics.template import EMBEDDING_MODEL
from facegate.errors import InputError
from facegate.vision.embed import EMBEDDING_DIM
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import QualityOptions, gate
from facegate.vision.sources import read_image

UNREADABLE = "unreadable"  # the refusal of a file that is not a readable image
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".gif", ".tif", ".tiff", ".bmp"}
)


@dataclass(frozen=True)
class Sample:
    identity: str
    path: Path
    relpath: str


@dataclass(frozen=True)
class EmbeddedSet:
    """Per-sample results, aligned by index.

    embeddings (N, D) float32, rows of refused samples are zero; usable (N,) bool;
    reasons: why each sample was refused, a ``Reason`` value or ``"unreadable"`` for a
    file that is not an image (None when usable); seconds: wall time of observe() per
    sample; captures: the ``CaptureClass`` value of each sample's aligned crop (None
    when no face was aligned), which picks the threshold a decision uses.
    """

    samples: list[Sample]
    embeddings: np.ndarray = field(repr=False)
    usable: np.ndarray
    reasons: list[str | None]
    seconds: np.ndarray
    captures: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.captures:
            object.__setattr__(self, "captures", [None] * len(self.samples))
        if len(self.captures) != len(self.samples):
            raise ValueError(f"{len(self.captures)} capture classes, {len(self.samples)} samples")

    def subset(self, rows: np.ndarray) -> EmbeddedSet:
        """The samples at ``rows`` (indices), every field kept aligned: how held-out
        folds and enrolment / probe splits are cut without embedding again."""
        return EmbeddedSet(
            [self.samples[i] for i in rows],
            self.embeddings[rows],
            self.usable[rows],
            [self.reasons[i] for i in rows],
            self.seconds[rows],
            [self.captures[i] for i in rows],
        )

    @classmethod
    def joined(cls, parts: list[EmbeddedSet]) -> EmbeddedSet:
        """``parts`` one after the other (several populations as one set of people)."""
        return cls(
            [s for p in parts for s in p.samples],
            np.concatenate([p.embeddings for p in parts]),
            np.concatenate([p.usable for p in parts]),
            [r for p in parts for r in p.reasons],
            np.concatenate([p.seconds for p in parts]),
            [c for p in parts for c in p.captures],
        )

    @property
    def identities(self) -> np.ndarray:
        return np.array([s.identity for s in self.samples])

    @property
    def fta(self) -> float:
        return float(1.0 - self.usable.mean()) if len(self.samples) else 0.0

    def refusals(self) -> dict[str, int]:
        """How many samples each reason refused, most frequent first: an FTA figure
        means little until one knows whether faces were missed, too dark or turned."""
        counts = Counter(r for r in self.reasons if r is not None)
        return dict(counts.most_common())


def list_dataset(root: Path) -> list[Sample]:
    """Every image under ``root/<identity>/``, identities and files in sorted order."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (expected ROOT/<identity>/<images>)")
    samples = []
    for ident_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for img in sorted(ident_dir.iterdir(), key=natural_key):
            if img.suffix.lower() in IMAGE_SUFFIXES and img.is_file():
                samples.append(Sample(ident_dir.name, img, f"{ident_dir.name}/{img.name}"))
    if not samples:
        raise InputError(f"{root}: no images found in ROOT/<identity>/ folders")
    return samples


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort '2.pgm' before '10.pgm', as a person reading the folder would."""
    stem = path.stem
    return (0, int(stem), path.name) if stem.isdigit() else (1, 0, path.name)


def read_pairs(csv_path: Path, samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs and same-person flags from a ``path_a,path_b,same`` CSV (paths relative
    to ROOT). Returns (a (M,), b (M,), same (M,) bool)."""
    index = {s.relpath: i for i, s in enumerate(samples)}
    a, b, same = [], [], []
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing_cols = {"path_a", "path_b", "same"} - set(reader.fieldnames or [])
        if missing_cols:
            raise InputError(f"{csv_path}: missing column(s) {', '.join(sorted(missing_cols))}")
        for line, row in enumerate(reader, start=2):
            try:
                a.append(index[row["path_a"]])
                b.append(index[row["path_b"]])
                same.append(row["same"].strip() in ("1", "true", "True"))
            except KeyError as err:
                raise InputError(f"{csv_path}:{line}: {err} is not an image under ROOT") from err
    return np.array(a, int), np.array(b, int), np.array(same, bool)


def embed_samples(
    samples: list[Sample],
    pipeline: FacePipeline,
    quality: QualityOptions | None = None,
    progress: Callable[[], None] | None = None,
) -> EmbeddedSet:
    """Observe every sample once; unreadable or absurdly sized files count as failures
    to acquire (``"unreadable"``)."""
    emb = np.zeros((len(samples), EMBEDDING_DIM), np.float32)
    usable = np.zeros(len(samples), bool)
    reasons: list[str | None] = []
    captures: list[str | None] = []
    seconds = np.zeros(len(samples))
    for i, sample in enumerate(samples):
        start = time.perf_counter()
        try:
            obs = pipeline.observe(read_image(sample.path), quality)
        except InputError:  # a model error is no failure to acquire: it propagates
            reasons.append(UNREADABLE)
            captures.append(None)
        else:
            reasons.append(None if obs.reason is None else obs.reason.value)
            captures.append(None if obs.capture is None else obs.capture.value)
            if obs.embedding is not None:
                emb[i], usable[i] = obs.embedding, True
        seconds[i] = time.perf_counter() - start
        if progress is not None:
            progress()
    return EmbeddedSet(samples, emb, usable, reasons, seconds, captures)


# Every gate open: the pipeline then embeds every face it aligns, and the measured
# quality decides afterwards which samples a given set of gates would have refused.
OPEN_GATES = QualityOptions(
    min_eye_distance=0.0,
    min_sharpness=0.0,
    max_yaw_ratio=float("inf"),
    max_roll_degrees=float("inf"),
    min_brightness=-1.0,
    max_brightness=256.0,
)


def _measure(
    samples: list[Sample], pipeline: FacePipeline, progress: Callable[[], None] | None
) -> dict[str, np.ndarray]:
    """Observe every sample with the gates open; NaN quality where no face was aligned."""
    emb = np.zeros((len(samples), EMBEDDING_DIM), np.float32)
    quality = np.full((len(samples), 5), np.nan)
    reasons, captures, seconds = [], [], np.zeros(len(samples))
    for i, sample in enumerate(samples):
        start = time.perf_counter()
        try:
            obs = pipeline.observe(read_image(sample.path), OPEN_GATES)
        except InputError:
            reasons.append(UNREADABLE)
            captures.append("")
        else:
            reasons.append("" if obs.reason is None else obs.reason.value)
            captures.append("" if obs.capture is None else obs.capture.value)
            if obs.embedding is not None:
                emb[i] = obs.embedding
            if obs.quality is not None:
                q = obs.quality
                quality[i, :4] = (q.eye_distance, q.sharpness, q.yaw_ratio, q.roll_degrees)
                quality[i, 4] = q.brightness
        seconds[i] = time.perf_counter() - start
        if progress is not None:
            progress()
    return {
        "embeddings": emb,
        "reasons": np.array(reasons),
        "seconds": seconds,
        "captures": np.array(captures),
        "quality": quality,
    }


def embed_cached(
    samples: list[Sample],
    pipeline: FacePipeline,
    cache: Path,
    quality: QualityOptions | None = None,
    progress: Callable[[], None] | None = None,
) -> EmbeddedSet:
    """``embed_samples`` under ``quality``'s gates, with each image embedded once ever.

    The images are observed with every gate open and the results (embeddings, the
    measured quality, refusals before the gates, capture classes) kept in ``cache``, an
    ``.npz`` under ``out/``; the gates are then applied to the measured values, so
    enrolment and verification gates, or a changed brightness gate, reuse one pass.
    The cache is used only when it holds exactly these files embedded by this model
    version. It holds embeddings: keep it out of the repository."""
    paths = [str(s.path.resolve()) for s in samples]
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            fresh = str(z["model"]) == EMBEDDING_MODEL and z["paths"].tolist() == paths
            stored = {k: z[k] for k in z.files} if fresh else None
    else:
        stored = None
    if stored is None:
        stored = _measure(samples, pipeline, progress)
        stored["model"], stored["paths"] = np.array(EMBEDDING_MODEL), np.array(paths)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, allow_pickle=False, **stored)
    options = quality or QualityOptions()
    reasons: list[str | None] = []
    for before, values in zip(stored["reasons"].tolist(), stored["quality"], strict=True):
        if before:
            reasons.append(before)
        else:
            eye, sharp, yaw, roll, bright = (float(v) for v in values)
            reason = gate(eye, sharp, yaw, roll, bright, options)
            reasons.append(None if reason is None else reason.value)
    usable = np.array([r is None for r in reasons], bool)
    emb = np.where(usable[:, None], stored["embeddings"], np.float32(0.0))
    captures = [c or None for c in stored["captures"].tolist()]
    emb = emb.astype(np.float32)
    return EmbeddedSet(samples, emb, usable, reasons, stored["seconds"], captures)
