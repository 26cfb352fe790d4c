"""``facegate train pad``: fit the passive PAD and measure it honestly.

The model is an L2-regularised logistic regression with balanced class weights, fit
by L-BFGS on standardised features: few parameters, no hyper-parameter search beyond
one regularisation constant, because the training set is small (15 people) and the
model must hold on people and sessions it never saw.

Its error rates come from *subject-disjoint* cross-validation: every fold holds out
all images (bona fide and attack) of its people, and the out-of-fold scores are pooled.
The shipped threshold is the strictest one whose cross-validated BPCER meets the
target; the final weights are then fit on all the data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from facegate.errors import InputError
from facegate.eval.pad import PadSummary, pad_summary, threshold_at_bpcer
from facegate.liveness.dataset import LabelledImage
from facegate.liveness.features import FeatureSpec, pad_features
from facegate.liveness.pad import PadModel
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image


@dataclass(frozen=True)
class TrainOptions:
    """l2: weight penalty on standardised features (higher = simpler model);
    target_bpcer: BPCER the shipped threshold is set to (cross-validated, fraction);
    folds: subject-disjoint folds, 0 = leave one subject out."""

    spec: FeatureSpec = field(default_factory=FeatureSpec)
    l2: float = 0.01
    target_bpcer: float = 0.02
    folds: int = 0


@dataclass(frozen=True)
class FeatureSet:
    """features (N, D) float32; images: the N presentations whose face was found;
    no_face: presentations where the detector found no face (left out)."""

    features: np.ndarray = field(repr=False)
    images: list[LabelledImage]
    no_face: list[LabelledImage]

    @property
    def bona_fide(self) -> np.ndarray:
        return np.array([i.bona_fide for i in self.images])

    @property
    def labels(self) -> np.ndarray:
        return np.array([i.label for i in self.images])


@dataclass(frozen=True)
class TrainResult:
    """The fitted model, the out-of-fold scores behind its figures and their summaries
    at the shipped threshold and at each reported BPCER target."""

    model: PadModel
    oof_scores: np.ndarray = field(repr=False)
    data: FeatureSet
    at_threshold: PadSummary
    at_targets: dict[str, PadSummary]


def extract(
    images: Sequence[LabelledImage],
    detector: FaceDetector,
    spec: FeatureSpec,
    progress: Callable[[], None] | None = None,
) -> FeatureSet:
    """PAD features of the largest face of every image (unreadable files raise)."""
    rows, kept, no_face = [], [], []
    for item in images:
        frame = read_image(item.path)
        faces = detector.detect(frame.image)
        if len(faces):
            rows.append(pad_features(frame.image, faces.boxes[0], spec))
            kept.append(item)
        else:
            no_face.append(item)
        if progress is not None:
            progress()
    feats = np.array(rows, np.float32).reshape(len(rows), spec.dim)
    return FeatureSet(feats, kept, no_face)


def fit_logistic(
    features: np.ndarray, bona_fide: np.ndarray, l2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of a class-balanced, L2-penalised logistic fit."""
    x = features.astype(np.float64)
    y = bona_fide.astype(np.float64)
    if y.min() == y.max():
        raise InputError("training needs both bona fide and attack presentations")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    n, d = z.shape
    sample_weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        logit = z @ w + b
        nll = y * np.logaddexp(0, -logit) + (1 - y) * np.logaddexp(0, logit)
        grad = (1.0 / (1.0 + np.exp(-logit)) - y) * sample_weight
        value = float(sample_weight @ nll) / n + 0.5 * l2 * float(w @ w)
        return value, np.append(z.T @ grad / n + l2 * w, grad.sum() / n)

    result = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    theta = result.x
    return (
        mean.astype(np.float32),
        scale.astype(np.float32),
        theta[:-1].astype(np.float32),
        float(theta[-1]),
    )


def subject_folds(subjects: Sequence[str | None], folds: int) -> np.ndarray:
    """(N,) fold index per presentation; all of one subject's images share a fold.

    ``folds`` = 0 gives one fold per subject (leave one subject out); otherwise the
    sorted subjects are dealt round-robin into ``folds`` groups.
    """
    if any(s is None for s in subjects):
        raise InputError("subject-disjoint cross-validation needs a subject for every image")
    names = sorted({str(s) for s in subjects})
    k = len(names) if folds == 0 else folds
    if not 2 <= k <= len(names):
        raise InputError(f"cannot make {k} subject-disjoint folds from {len(names)} subjects")
    fold_of = {name: i % k for i, name in enumerate(names)}
    return np.array([fold_of[str(s)] for s in subjects])


def _model(
    spec: FeatureSpec,
    fit: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    threshold: float,
    meta: dict[str, object],
) -> PadModel:
    mean, scale, weights, bias = fit
    return PadModel(spec, mean, scale, weights, bias, threshold, dict(meta))


def summarise(scores: np.ndarray, data: FeatureSet, threshold: float) -> PadSummary:
    """APCER per attack type and BPCER of ``scores`` (aligned with ``data``) at ``threshold``."""
    live = data.bona_fide
    labels = data.labels
    attacks = {kind: scores[labels == kind] for kind in sorted(set(labels[~live].tolist()))}
    return pad_summary(scores[live], attacks, threshold)


def train(
    data: FeatureSet,
    options: TrainOptions,
    *,
    command: str,
    dataset: str,
    report_targets: Sequence[float] = (0.02, 0.05),
) -> TrainResult:
    """Cross-validate subject-disjointly, set the threshold, then fit on everything."""
    live = data.bona_fide
    if live.all() or not live.any():
        raise InputError("training needs both bona fide and attack presentations")
    fold = subject_folds([i.subject for i in data.images], options.folds)
    oof = np.zeros(len(data.images))
    for k in np.unique(fold):
        test = fold == k
        fit = fit_logistic(data.features[~test], live[~test], options.l2)
        probe = _model(options.spec, fit, 0.5, {})
        oof[test] = probe.score_features(data.features[test])
    threshold = threshold_at_bpcer(oof[live], options.target_bpcer)
    at_threshold = summarise(oof, data, threshold)
    at_targets = {
        f"{t:g}": summarise(oof, data, threshold_at_bpcer(oof[live], t)) for t in report_targets
    }
    subjects = sorted({str(i.subject) for i in data.images})
    meta: dict[str, object] = {
        "command": command,
        "dataset": dataset,
        "trained": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "l2": options.l2,
        "target_bpcer": options.target_bpcer,
        "cv": "leave one subject out"
        if options.folds == 0
        else f"{options.folds} subject-disjoint folds",
        "n_subjects": len(subjects),
        "n_no_face": len(data.no_face),
        "cv_at_threshold": at_threshold.as_dict(),
        "cv_at_bpcer": {k: v.as_dict() for k, v in at_targets.items()},
        "licence": "derived from research-only data (NUAA Photograph Imposter Database); "
        "research use only",
    }
    final = fit_logistic(data.features, live, options.l2)
    model = _model(options.spec, final, threshold, meta)
    return TrainResult(model, oof, data, at_threshold, at_targets)
