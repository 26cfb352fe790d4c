"""The comparison protocols behind ``facegate eval``: which scores are genuine,
which are impostor, and what failed to acquire or enrol.

All decisions use the product's own code: ``FacePipeline`` for every image,
``build_template`` and ``template_score`` for unlock, so an evaluation measures
exactly what a user gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facegate.biometrics.cohort import Cohort
from facegate.biometrics.match import template_score
from facegate.biometrics.template import Template, build_template, consistent_captures
from facegate.errors import EnrolmentError
from facegate.eval.dataset import EmbeddedSet
from facegate.vision.capture import CaptureClass


@dataclass(frozen=True)
class ScoreSet:
    """Genuine and impostor similarity scores (higher = more alike) with their context.

    n_attempts / n_failed: acquisition attempts behind ``fta``; n_enrol_failed:
    identities whose template could not be built (failure to enrol);
    genuine_captures / impostor_captures: the capture-class value of each comparison
    (the probe's in unlock; in a pair, the harder-lit image's), which picks its threshold.
    genuine_cohort / impostor_cohort: (N, 2) cohort mean and std of each comparison's
    reference side (the template in unlock; a pair's first image), which place its
    threshold; empty when no cohort was given.
    """

    genuine: np.ndarray = field(repr=False)
    impostor: np.ndarray = field(repr=False)
    n_attempts: int
    n_failed: int
    seconds_per_image: float
    n_identities: int = 0
    n_enrol_failed: int = 0
    genuine_captures: np.ndarray = field(default_factory=lambda: np.array([], str), repr=False)
    impostor_captures: np.ndarray = field(default_factory=lambda: np.array([], str), repr=False)
    genuine_cohort: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)
    impostor_cohort: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)


def _stats(cohort: Cohort, entries: np.ndarray) -> tuple[float, float]:
    found = cohort.stats(entries)
    return found.mean, found.std


# Order of capture classes from easiest to hardest light, for naming a pair's class.
HARDNESS = {c.value: rank for rank, c in enumerate(CaptureClass)}


def harder_capture(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise the harder-lit of two capture-class value arrays."""
    rank_a = np.array([HARDNESS.get(str(x), -1) for x in a])
    rank_b = np.array([HARDNESS.get(str(x), -1) for x in b])
    return np.where(rank_a >= rank_b, a, b)


def verify_scores(
    data: EmbeddedSet,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    cohort: Cohort | None = None,
) -> ScoreSet:
    """All genuine and impostor pairs of usable images, or the listed pairs only; with
    ``cohort``, each pair's first image is its reference (a one-entry template)."""
    ids = data.identities
    caps = np.array([c or "" for c in data.captures])
    if pairs is None:
        keep = np.flatnonzero(data.usable)
        emb, kid = data.embeddings[keep], ids[keep]
        sims = emb @ emb.T
        iu = np.triu_indices(len(keep), 1)
        scores, same = sims[iu], (kid[:, None] == kid[None, :])[iu]
        a, b = keep[iu[0]], keep[iu[1]]
    else:
        a, b, same_flags = pairs
        ok = data.usable[a] & data.usable[b]
        a, b, same = a[ok], b[ok], same_flags[ok]
        scores = np.einsum("ij,ij->i", data.embeddings[a], data.embeddings[b])
    pair_caps = harder_capture(caps[a], caps[b])
    ref = np.zeros((len(a), 2))
    if cohort is not None:
        per_image = {int(i): _stats(cohort, data.embeddings[i][None, :]) for i in set(a.tolist())}
        ref = np.array([per_image[int(i)] for i in a]).reshape(-1, 2)
    return ScoreSet(
        genuine=scores[same].astype(np.float64),
        impostor=scores[~same].astype(np.float64),
        n_attempts=len(data.samples),
        n_failed=int((~data.usable).sum()),
        seconds_per_image=float(np.mean(data.seconds)),
        n_identities=len(set(ids.tolist())),
        genuine_captures=pair_caps[same],
        impostor_captures=pair_caps[~same],
        genuine_cohort=ref[same] if cohort is not None else np.zeros((0, 2)),
        impostor_cohort=ref[~same] if cohort is not None else np.zeros((0, 2)),
    )


def split_enrolment(data_ids: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: True for the first ``k`` samples of each identity (in listed order)."""
    enrol = np.zeros(len(data_ids), bool)
    seen: dict[str, int] = {}
    for i, ident in enumerate(data_ids.tolist()):
        if seen.get(ident, 0) < k:
            enrol[i] = True
        seen[ident] = seen.get(ident, 0) + 1
    return enrol


@dataclass(frozen=True)
class UnlockDecisions:
    """Every unlock decision of the protocol, with what each probe was.

    genuine (G,) scores with genuine_probe (G,) indices into the probe set; impostor
    (I,) scores with impostor_set (I,) 0 = an enrolment image, 1 = a probe image,
    impostor_index (I,) the index into that set, and impostor_owner (I,) the identity
    of the template it was scored against; genuine_captures / impostor_captures the
    probe's capture-class value per decision ("" if unknown).
    """

    templates: dict[str, Template] = field(repr=False)
    genuine: np.ndarray = field(repr=False)
    genuine_probe: np.ndarray = field(repr=False)
    impostor: np.ndarray = field(repr=False)
    impostor_set: np.ndarray = field(repr=False)
    impostor_index: np.ndarray = field(repr=False)
    impostor_owner: np.ndarray = field(repr=False)
    n_identities: int
    genuine_captures: np.ndarray = field(repr=False)
    impostor_captures: np.ndarray = field(repr=False)


def unlock_decisions(
    enrol: EmbeddedSet, probes: EmbeddedSet, *, consistency_threshold: float, now: float
) -> UnlockDecisions:
    """Enrol each identity from ``enrol``; probe every image of ``probes`` against its own
    template (genuine), and every image of both sets against every other identity's
    template (impostor)."""
    templates: dict[str, Template] = {}
    enrol_ids = enrol.identities
    identities = sorted(set(enrol_ids.tolist()))
    for ident in identities:
        captures = [
            enrol.embeddings[i] for i in np.flatnonzero((enrol_ids == ident) & enrol.usable)
        ]
        try:
            keep = consistent_captures(captures, consistency_threshold)
        except EnrolmentError:
            continue
        templates[ident] = build_template([captures[i] for i in keep], now)
    genuine, genuine_probe = [], []
    probe_ids = probes.identities
    for i in np.flatnonzero(probes.usable):
        if probe_ids[i] in templates:
            genuine.append(template_score(templates[probe_ids[i]], probes.embeddings[i]))
            genuine_probe.append(i)
    # Impostor probes are every usable image of another person, enrolment images included.
    impostor, where, index, owner, imp_caps = [], [], [], [], []
    for which, data in enumerate((enrol, probes)):
        ids = data.identities
        for i in np.flatnonzero(data.usable):
            for ident, template in templates.items():
                if ident != ids[i]:
                    impostor.append(template_score(template, data.embeddings[i]))
                    where.append(which)
                    index.append(i)
                    owner.append(ident)
                    imp_caps.append(data.captures[i] or "")
    return UnlockDecisions(
        templates,
        np.array(genuine, np.float64),
        np.array(genuine_probe, int),
        np.array(impostor, np.float64),
        np.array(where, int),
        np.array(index, int),
        np.array(owner, dtype=str),
        len(identities),
        np.array([probes.captures[i] or "" for i in genuine_probe], dtype=str),
        np.array(imp_caps, dtype=str),
    )


def decision_cohort(
    d: UnlockDecisions, probes: EmbeddedSet, cohort: Cohort
) -> tuple[np.ndarray, np.ndarray]:
    """(G, 2) and (I, 2): the cohort mean and std of each decision's template."""
    per_template = {k: _stats(cohort, t.embeddings[~t.adaptive]) for k, t in d.templates.items()}
    owners = probes.identities[d.genuine_probe]
    genuine = np.array([per_template[o] for o in owners]).reshape(-1, 2)
    impostor = np.array([per_template[o] for o in d.impostor_owner]).reshape(-1, 2)
    return genuine, impostor


def unlock_scores(
    enrol: EmbeddedSet,
    probes: EmbeddedSet,
    *,
    consistency_threshold: float,
    now: float,
    cohort: Cohort | None = None,
) -> tuple[ScoreSet, dict[str, Template]]:
    """``unlock_decisions`` as plain genuine and impostor scores (with ``cohort``, each
    decision's template statistics too); identities that fail to enrol count in
    ``n_enrol_failed``."""
    d = unlock_decisions(enrol, probes, consistency_threshold=consistency_threshold, now=now)
    empty = np.zeros((0, 2))
    g_ref, i_ref = (empty, empty) if cohort is None else decision_cohort(d, probes, cohort)
    return (
        ScoreSet(
            genuine=d.genuine,
            impostor=d.impostor,
            n_attempts=len(probes.samples),
            n_failed=int((~probes.usable).sum()),
            seconds_per_image=float(np.mean(np.concatenate([enrol.seconds, probes.seconds]))),
            n_identities=d.n_identities,
            n_enrol_failed=d.n_identities - len(d.templates),
            genuine_captures=d.genuine_captures,
            impostor_captures=d.impostor_captures,
            genuine_cohort=g_ref,
            impostor_cohort=i_ref,
        ),
        d.templates,
    )
