"""``facegate train pad``: fit the passive PAD and measure it honestly.

The model is an L2-regularised logistic regression with balanced class weights, fit
by L-BFGS on standardised features: few parameters, no hyper-parameter search beyond
one regularisation constant, because the training set is small (15 people) and the
model must hold on people and sessions it never saw.

Its error rates come from *group-disjoint* cross-validation: every fold holds out all
images (bona fide and attack) of one source (a camera or a dataset: the default, since
a new user brings a new camera) or of one subject. The shipped band (see
:class:`facegate.liveness.pad.PadDecision`) is set on those held-out scores so that
*every* group keeps within the targets: at most ``target_bpcer`` of each bona fide
group refused outright and at most ``target_apcer`` of each attack group accepted on
the PAD alone; the rest is UNCERTAIN. The final weights are then fit on all the data.

With an :class:`~facegate.eval.pad_augment.Augmentation`, every presentation also
gives noised (and, for attacks, grey-tinted) copies that join the training folds of
its group; the band and the per-group figures are measured on the original
presentations only, and the copies' held-out decisions are reported beside them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

import facegate
from facegate.errors import InputError
from facegate.eval.groups import GroupBy
from facegate.eval.pad import PadBand, PadSummary, band_per_group, outcomes, pad_summary
from facegate.eval.pad_augment import Augmentation, copies
from facegate.eval.pad_data import LabelledImage
from facegate.liveness.features import (
    CHROMA_SMOOTH,
    COLOURLESS_SPREAD,
    FeatureSpec,
    colourless,
    pad_features,
)
from facegate.liveness.pad import PadModel
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import read_image


@dataclass(frozen=True)
class TrainOptions:
    """l2: weight penalty on standardised features (higher = simpler model);
    target_bpcer / target_apcer: the most of any held-out bona fide group refused
    outright, and of any attack group accepted on the PAD alone (fractions);
    by: what a fold holds out; folds: group-disjoint folds, 0 = leave one group out;
    augment: the copies added to training (None: the presentations alone)."""

    spec: FeatureSpec = field(default_factory=lambda: FeatureSpec(context=0.9))
    l2: float = 0.01
    target_bpcer: float = 0.02
    target_apcer: float = 0.02
    by: GroupBy = GroupBy.SOURCE
    folds: int = 0
    augment: Augmentation | None = field(default_factory=Augmentation)


@dataclass(frozen=True)
class FeatureSet:
    """features (N, D) float32; images: the N presentations whose face was found;
    no_face: presentations where the detector found no face (left out); colourless:
    (N,) faces without colour, never LIVE on the PAD alone; augmented: (N,) True for
    an augmented copy (its image is the presentation it was made from)."""

    features: np.ndarray = field(repr=False)
    images: list[LabelledImage]
    no_face: list[LabelledImage]
    colourless: np.ndarray = field(repr=False)
    augmented: np.ndarray = field(repr=False)

    def subset(self, keep: np.ndarray) -> FeatureSet:
        """The rows where ``keep`` (N,) is True; ``no_face`` is kept whole."""
        return FeatureSet(
            self.features[keep],
            [i for i, k in zip(self.images, keep, strict=True) if k],
            self.no_face,
            self.colourless[keep],
            self.augmented[keep],
        )

    def without_sources(self, sources: Sequence[str]) -> FeatureSet:
        """The presentations of every source but ``sources`` (e.g. the people whose
        whole clips are evaluated, so the model never saw them)."""
        kept = self.subset(np.array([i.source not in sources for i in self.images], bool))
        return replace(kept, no_face=[i for i in self.no_face if i.source not in sources])

    @property
    def originals(self) -> FeatureSet:
        """The presentations as captured, without augmented copies."""
        return self.subset(~self.augmented)

    @property
    def bona_fide(self) -> np.ndarray:
        return np.array([i.bona_fide for i in self.images])

    @property
    def labels(self) -> np.ndarray:
        return np.array([i.label for i in self.images])


@dataclass(frozen=True)
class TrainResult:
    """The fitted model, the held-out scores behind its figures (of ``data``'s original
    presentations), their summary at the shipped LIVE threshold, each held-out group's
    decisions under the band, and the same for the augmented copies (empty without)."""

    model: PadModel
    oof_scores: np.ndarray = field(repr=False)
    data: FeatureSet
    groups: np.ndarray = field(repr=False)
    band: PadBand
    at_threshold: PadSummary
    by_group: dict[str, dict[str, dict[str, int]]]
    augmented_by_group: dict[str, dict[str, dict[str, int]]]


def extract(
    images: Sequence[LabelledImage],
    detector: FaceDetector,
    spec: FeatureSpec,
    progress: Callable[[], None] | None = None,
    augment: Augmentation | None = None,
) -> FeatureSet:
    """PAD features of the largest face of every image (unreadable files raise), and
    of its augmented copies (the face box found on the original)."""
    rows, kept, no_face, grey, extra = [], [], [], [], []
    for index, item in enumerate(images):
        frame = read_image(item.path)
        faces = detector.detect(frame.image)
        if len(faces):
            box = faces.boxes[0]
            variants = [frame.image]
            if augment is not None:
                variants += copies(frame.image, item.bona_fide, index, augment)
            for n, image in enumerate(variants):
                rows.append(pad_features(image, box, spec))
                grey.append(colourless(image, box, spec))
                kept.append(item)
                extra.append(n > 0)
        else:
            no_face.append(item)
        if progress is not None:
            progress()
    feats = np.array(rows, np.float32).reshape(len(rows), spec.dim)
    return FeatureSet(feats, kept, no_face, np.array(grey, bool), np.array(extra, bool))


def cache_key(
    images: Sequence[LabelledImage], spec: FeatureSpec, augment: Augmentation | None
) -> str:
    """What a feature cache was written for: image paths, feature spec, colour rule
    and augmentation; a cache with another key is recomputed, never reused."""
    return hashlib.sha256(
        json.dumps(
            [
                spec.as_dict(),
                [str(i.path) for i in images],
                augment.as_dict() if augment is not None else None,
                [COLOURLESS_SPREAD, CHROMA_SMOOTH],
            ]
        ).encode()
    ).hexdigest()


def extract_cached(
    images: Sequence[LabelledImage],
    detector: FaceDetector,
    spec: FeatureSpec,
    cache: Path | None,
    progress: Callable[[], None] | None = None,
    augment: Augmentation | None = None,
) -> FeatureSet:
    """:func:`extract`, reusing ``cache`` (an ``.npz`` outside the repository's
    tracked files) when it was written for the same image paths, feature spec,
    colour rule and augmentation; otherwise extract and write it."""
    key = cache_key(images, spec, augment)
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as npz:
            if str(npz["key"]) == key:
                rows = npz["kept"].tolist()
                found = set(rows)
                return FeatureSet(
                    npz["features"],
                    [images[n] for n in rows],
                    [i for n, i in enumerate(images) if n not in found],
                    npz["colourless"],
                    npz["augmented"],
                )
    data = extract(images, detector, spec, progress, augment)
    if cache is not None:
        index = {id(i): n for n, i in enumerate(images)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            key=np.array(key),
            features=data.features,
            kept=np.array([index[id(i)] for i in data.images], np.int64),
            colourless=data.colourless,
            augmented=data.augmented,
        )
    return data


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


def group_keys(images: Sequence[LabelledImage], by: GroupBy) -> np.ndarray:
    """(N,) the source or subject of every presentation; InputError if one lacks it."""
    keys = [getattr(i, by.value) for i in images]
    if any(k is None for k in keys):
        raise InputError(
            f"{by.value}-disjoint cross-validation needs a {by.value} for every image "
            f"(a '{by.value}' column in the labels CSV)"
        )
    return np.array([str(k) for k in keys])


def group_folds(keys: Sequence[str], folds: int) -> np.ndarray:
    """(N,) fold index per presentation; all of one group's images share a fold.

    ``folds`` = 0 gives one fold per group (leave one group out); otherwise the
    sorted groups are dealt round-robin into ``folds`` folds.
    """
    names = sorted(set(keys))
    k = len(names) if folds == 0 else folds
    if not 2 <= k <= len(names):
        raise InputError(f"cannot make {k} group-disjoint folds from {len(names)} groups")
    fold_of = {name: i % k for i, name in enumerate(names)}
    return np.array([fold_of[key] for key in keys])


def held_out_scores(data: FeatureSet, fold: np.ndarray, l2: float, spec: FeatureSpec) -> np.ndarray:
    """(N,) scores of every presentation by a model fit without its fold."""
    live = data.bona_fide
    oof = np.zeros(len(data.images))
    for k in np.unique(fold):
        test = fold == k
        fit = fit_logistic(data.features[~test], live[~test], l2)
        oof[test] = _model(spec, fit, 0.5, 0.5, {}).score_features(data.features[test])
    return oof


def decisions_by_group(
    scores: np.ndarray, data: FeatureSet, groups: np.ndarray, band: PadBand
) -> dict[str, dict[str, dict[str, int]]]:
    """group -> label (``live`` or an attack type) -> counts of each decision."""
    labels = data.labels
    table: dict[str, dict[str, dict[str, int]]] = {}
    for group in sorted(set(groups.tolist())):
        mine = groups == group
        table[group] = {
            label: outcomes(
                scores[mine & (labels == label)], band, data.colourless[mine & (labels == label)]
            ).as_dict()
            for label in sorted(set(labels[mine].tolist()))
        }
    return table


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository (or the working folder), never absolute, so
    the provenance stored in a shipped file names no machine's folders."""
    repo = Path(facegate.__file__).resolve().parents[2]
    target = path.resolve()
    base = repo if target.is_relative_to(repo.parent) else Path.cwd()
    return os.path.relpath(target, base)


def provenance_command(command: str) -> str:
    """``command`` as a shipped file records it: every path relative to the repository
    and no ``--cache`` (a local speed-up that never changes the model, often in /tmp),
    so the file names no machine's folders and reads as a command to re-run."""
    words: list[str] = []
    skip = False
    for word in shlex.split(command):
        if skip or word == "--cache" or word.startswith("--cache="):
            skip = word == "--cache"
            continue
        option, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if "/" in value:
            value = repo_relative(Path(value))
        words.append(f"{option}{eq}{value}")
    return shlex.join(words)


def _model(
    spec: FeatureSpec,
    fit: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    threshold: float,
    refuse_below: float,
    meta: dict[str, object],
) -> PadModel:
    mean, scale, weights, bias = fit
    return PadModel(spec, mean, scale, weights, bias, threshold, refuse_below, dict(meta))


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
) -> TrainResult:
    """Cross-validate group-disjointly, set the band, then fit on everything."""
    live = data.bona_fide
    if live.all() or not live.any():
        raise InputError("training needs both bona fide and attack presentations")
    groups = group_keys(data.images, options.by)
    fold = group_folds(groups.tolist(), options.folds)
    oof_all = held_out_scores(data, fold, options.l2, options.spec)
    orig = ~data.augmented
    originals, oof = data.originals, oof_all[orig]
    band = band_per_group(oof, live[orig], groups[orig], options.target_bpcer, options.target_apcer)
    at_threshold = summarise(oof, originals, band.accept_at)
    by_group = decisions_by_group(oof, originals, groups[orig], band)
    augmented_by_group = decisions_by_group(oof_all[~orig], data.subset(~orig), groups[~orig], band)
    meta: dict[str, object] = {
        "command": command,
        "dataset": dataset,
        "trained": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "l2": options.l2,
        "target_bpcer": options.target_bpcer,
        "target_apcer": options.target_apcer,
        "cv": f"leave one {options.by.value} out"
        if options.folds == 0
        else f"{options.folds} {options.by.value}-disjoint folds",
        "n_groups": len(set(groups.tolist())),
        "n_no_face": len(data.no_face),
        "cv_at_threshold": at_threshold.as_dict(),
        "cv_decisions_by_group": by_group,
        "augment": options.augment.as_dict() if options.augment is not None else None,
        "cv_augmented_decisions_by_group": augmented_by_group,
        "licence": "derived from research-only data (NUAA Photograph Imposter Database, "
        "replay_attacks_dev and other research face sets); research use only",
    }
    final = fit_logistic(data.features, live, options.l2)
    model = _model(options.spec, final, band.accept_at, band.refuse_below, meta)
    return TrainResult(
        model, oof, originals, groups[orig], band, at_threshold, by_group, augmented_by_group
    )
