"""Security-level thresholds per capture class, from measured impostor decisions.

An impostor *decision* is what unlock decides: a probe image against a whole
template (max over its entries). Templates are random sets of ``template_size``
captures of one person (as large as the vault keeps, the worst case for false
matches), ``subsets`` of them per person; each is scored against every usable image
of every other person of every population, so a decision may cross populations.
A decision's capture class is its probe's (``vision.capture``): impostor scores rise
in hard light, so each class gets its own threshold.

For a level and a class, the threshold is the lowest that meets the level's FMR over
all decisions of the class, pooled across populations. With ``per_population`` it is
instead the strictest of that and of each population's own decisions of the class
(probe and template from one population: same set-up, same demographic); a
population with fewer decisions than ``1 / target`` then sets it just above its
highest impostor score. Measured on held-out people (``scripts/held_out_folds.py``),
that variant lets one pair of look-alike web photos set the even-light threshold
(0.667 in one fold) and costs up to 10 % FNMR on webcam faces, so the shipped rule is
the pooled one, and the record lists, per class and population, the decisions, the
false matches at the chosen thresholds and the rule-of-three bound, so the worst
population's FMR stands next to the pooled one. A harder-lit class is never given a
looser threshold than an easier one (with few people in a fold, side light once came
out looser than even light, which no measurement on more people supports).

Cohort z-normalisation (:mod:`facegate.biometrics.cohort`) is calibrated the same way
on z-scores, with one rule more: the cohort a decision is normalised against never
contains that decision's people. Each population's people are dealt into two halves;
a cohort fitted on one half normalises the decisions among the other half, and the
other way round. A cohort fitted on the very people whose decisions set ``z`` made the
thresholds too loose on anyone else (held out, ORL and NUAA impostors then passed
`standard` at 2-6e-4); deployed, the shipped cohort (fitted on everyone here) never
contains the impostor at the camera either.

``z`` is the empirical quantile of those z-scores, so a handful of decisions among
three people of Yale B set the side-lit and dark values. ``class_thresholds(...,
tail=TailRule.GPD)`` (``scripts/held_out_folds.py --tail gpd``) reads it off a
generalised Pareto fit to each class's top 1 % instead (:mod:`facegate.eval.tail`);
held out it moved ``z`` more between folds, not less, and is not what ships.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegate.biometrics.cohort import Cohort
from facegate.biometrics.levels import SecurityLevel
from facegate.biometrics.template import EMBEDDING_MODEL
from facegate.errors import InputError
from facegate.eval.dataset import EmbeddedSet
from facegate.eval.metrics import rule_of_three, threshold_at_fmr
from facegate.eval.populations import PopulationSet
from facegate.eval.tail import TailRule, estimator
from facegate.vision.capture import CaptureClass

CONSISTENCY_FMR = 1e-3  # single image pairs; decides only whether captures show one person
COHORT_FILE = "cohort.npz"  # beside calibration.json


_FIELDS = ("embeddings", "identities", "populations", "captures", "masked")


@dataclass(frozen=True)
class Pooled:
    """Usable samples of several populations side by side, aligned by index.

    embeddings (N, D) unit float32; identities, populations, captures (N,) str;
    masked (N,) bool.
    """

    embeddings: np.ndarray = field(repr=False)
    identities: np.ndarray
    populations: np.ndarray
    captures: np.ndarray
    masked: np.ndarray

    @classmethod
    def of(cls, sets: list[tuple[PopulationSet, EmbeddedSet]]) -> Pooled:
        parts: list[Pooled] = []
        for pop, data in sets:
            k = data.usable
            parts.append(
                cls(
                    data.embeddings[k],
                    data.identities[k],
                    np.full(int(k.sum()), pop.population.value),
                    np.array([c or "" for c in data.captures])[k],
                    pop.masked[k],
                )
            )
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def subset(self, rows: np.ndarray) -> Pooled:
        """The samples at ``rows`` (a cohort's people, or the people it normalises)."""
        return Pooled(*(getattr(self, f)[rows] for f in _FIELDS))


@dataclass(frozen=True)
class ImpostorDecisions:
    """Impostor decision scores with, per decision, the probe's class and whether probe
    and template come from the same population (and which)."""

    scores: np.ndarray = field(repr=False)
    captures: np.ndarray = field(repr=False)
    same_population: np.ndarray = field(repr=False)  # population name, or "" when mixed


def impostor_decisions(
    data: Pooled,
    *,
    template_size: int,
    subsets: int,
    seed: int = 0,
    cohort: Cohort | None = None,
) -> ImpostorDecisions:
    """Random templates of unmasked captures per person, scored against every probe of
    every other person (max over the template's entries, as unlock does); with
    ``cohort``, each score is z-normalised by the template's cohort statistics."""
    rng = np.random.default_rng(seed)
    scores, captures, same = [], [], []
    for ident in sorted(set(data.identities.tolist())):
        own = np.flatnonzero((data.identities == ident) & ~data.masked)
        if not len(own):
            continue
        others = np.flatnonzero(data.identities != ident)
        pop = data.populations[own[0]]
        label = np.where(data.populations[others] == pop, pop, "")
        # A person with no more captures than a template holds has one possible template;
        # repeating it would only count the same decisions again.
        for _ in range(subsets if len(own) > template_size else 1):
            pick = rng.choice(own, size=min(template_size, len(own)), replace=False)
            entries = data.embeddings[pick]
            s = (data.embeddings[others] @ entries.T).max(axis=1).astype(np.float64)
            if cohort is not None:
                stats = cohort.stats(entries)
                s = (s - stats.mean) / stats.std
            scores.append(s)
            captures.append(data.captures[others])
            same.append(label)
    return ImpostorDecisions(
        np.concatenate(scores).astype(np.float64),
        np.concatenate(captures),
        np.concatenate(same),
    )


def fit_cohort(data: Pooled) -> Cohort:
    """The impostor cohort of ``data``: moments of its unmasked usable embeddings."""
    keep = ~data.masked
    pops = sorted(set(data.populations.tolist()))
    return Cohort.fit(data.embeddings[keep], data.identities[keep], pops)


def halves(data: Pooled, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row masks of two disjoint halves of the people, each population dealt evenly."""
    rng = np.random.default_rng(seed)
    first = np.zeros(len(data.identities), bool)
    for pop in sorted(set(data.populations.tolist())):
        people = sorted(set(data.identities[data.populations == pop].tolist()))
        chosen = {people[i] for i in rng.permutation(len(people))[: len(people) // 2]}
        first |= np.isin(data.identities, sorted(chosen))
    return first, ~first


def cohort_decisions(
    data: Pooled, *, template_size: int, subsets: int, seed: int = 0
) -> ImpostorDecisions:
    """Impostor decisions z-normalised against a cohort that never holds their people:
    within each half of the people, normalised by the cohort of the other half."""
    first, second = halves(data, seed)
    parts = []
    for own, other in ((first, second), (second, first)):
        cohort = fit_cohort(data.subset(np.flatnonzero(other)))
        parts.append(
            impostor_decisions(
                data.subset(np.flatnonzero(own)),
                template_size=template_size,
                subsets=subsets,
                seed=seed,
                cohort=cohort,
            )
        )
    fields = ("scores", "captures", "same_population")
    return ImpostorDecisions(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def class_thresholds(
    decisions: ImpostorDecisions,
    populations: list[str],
    *,
    per_population: bool = False,
    tail: TailRule = TailRule.EMPIRICAL,
) -> dict[SecurityLevel, dict[CaptureClass, float]]:
    """Per capture class, the lowest threshold meeting each level's FMR over the class's
    pooled decisions (and, with ``per_population``, in every population; see the module
    docstring), read off the scores as ``tail`` says (:mod:`facegate.eval.tail`).
    Accept when score >= threshold, so a higher one is stricter."""
    at_fmr = estimator(tail)
    out: dict[SecurityLevel, dict[CaptureClass, float]] = {lvl: {} for lvl in SecurityLevel}
    for cls in CaptureClass:
        in_class = decisions.captures == cls.value
        if not in_class.any():
            raise InputError(f"no impostor decisions with a {cls.value} probe: add such images")
        strata = [decisions.scores[in_class]] + [
            decisions.scores[in_class & (decisions.same_population == p)]
            for p in (populations if per_population else [])
        ]
        for level in SecurityLevel:
            own = max(at_fmr(s, level.target_fmr) for s in strata if len(s))
            # Harder light never gets a looser threshold than easier light: impostor
            # scores rise in hard light, and a class measured on fewer people must not
            # undercut one measured on more (CaptureClass lists classes easiest first).
            out[level][cls] = max([own, *out[level].values()])
    return out


def false_match_table(
    decisions: ImpostorDecisions,
    thresholds: dict[SecurityLevel, dict[CaptureClass, float]],
    populations: list[str],
) -> dict[str, Any]:
    """Per class and population (and pooled): decisions, false matches and FMR at each
    level's threshold, with the rule-of-three 95 % bound when there are none."""
    table: dict[str, Any] = {}
    for cls in CaptureClass:
        in_class = decisions.captures == cls.value
        rows: dict[str, Any] = {}
        for name, mask in [("pooled", in_class)] + [
            (p, in_class & (decisions.same_population == p)) for p in populations
        ]:
            s = decisions.scores[mask]
            row: dict[str, Any] = {"n_impostor": len(s)}
            for level in SecurityLevel:
                fm = int(np.sum(s >= thresholds[level][cls]))
                row[level.value] = {
                    "false_matches": fm,
                    "fmr": fm / len(s) if len(s) else None,
                    "fmr_upper95": rule_of_three(fm, len(s)),
                }
            rows[name] = row
        rows["worst_population"] = {
            level.value: _worst(rows, populations, level) for level in SecurityLevel
        }
        table[cls.value] = rows
    return table


def _worst(rows: dict[str, Any], populations: list[str], level: SecurityLevel) -> str | None:
    """The population with the highest FMR at ``level`` (decisions within it), or None
    when none had a false match."""
    worst = max(populations, key=lambda p: rows[p][level.value]["fmr"] or 0.0)
    return worst if rows[worst][level.value]["fmr"] else None


def impostor_pairs(data: Pooled) -> np.ndarray:
    """Scores of every pair of images of different people (single images, no template)."""
    ids = data.identities
    upper = np.triu_indices(len(ids), 1)
    sims = (data.embeddings @ data.embeddings.T)[upper]
    return sims[(ids[:, None] != ids[None, :])[upper]].astype(np.float64)


def _class_counts(data: EmbeddedSet) -> dict[str, int]:
    usable = [c for c, u in zip(data.captures, data.usable, strict=True) if u]
    return {c.value: usable.count(c.value) for c in CaptureClass}


def calibrate(
    sets: list[tuple[PopulationSet, EmbeddedSet]],
    *,
    template_size: int,
    subsets: int,
    command: str,
    data_folder: str,
) -> tuple[dict[str, Any], Cohort]:
    """The calibration record written to ``biometrics/calibration.json`` and the cohort
    written beside it (``cohort.npz``), whose digest the record holds."""
    pooled = Pooled.of(sets)
    populations = [p.population.value for p, _ in sets]
    decisions = impostor_decisions(pooled, template_size=template_size, subsets=subsets)
    thresholds = class_thresholds(decisions, populations)
    z_decisions = cohort_decisions(pooled, template_size=template_size, subsets=subsets)
    z_thresholds = class_thresholds(z_decisions, populations)
    cohort = fit_cohort(pooled)
    pairs = impostor_pairs(pooled)
    record = {
        "embedding_model": EMBEDDING_MODEL,
        "classes": [c.value for c in CaptureClass],
        "thresholds": _rounded(thresholds),
        "consistency_threshold": round(threshold_at_fmr(pairs, CONSISTENCY_FMR), 6),
        "n_impostor_pairs": len(pairs),
        "target_fmr": {lvl.value: lvl.target_fmr for lvl in SecurityLevel},
        "n_impostor": len(decisions.scores),
        "false_matches": false_match_table(decisions, thresholds, populations),
        "cohort_normalisation": {
            "file": COHORT_FILE,
            "sha256": cohort.digest(),
            "rule": "accept when score >= mean + z * std of the template's cohort scores "
            "(mean over its entries); z per level and class",
            "cohort": {
                "n_identities": cohort.n_identities,
                "populations": list(cohort.populations),
                "fitted_on": "every usable unmasked image, each person weighted equally",
            },
            "z_thresholds": _rounded(z_thresholds),
            "n_impostor": len(z_decisions.scores),
            "false_matches": false_match_table(z_decisions, z_thresholds, populations),
        },
        "data": {
            "folder": data_folder,
            "populations": {
                p.population.value: {
                    "folder": p.folder,
                    "n_images": len(d.samples),
                    "n_usable": int(d.usable.sum()),
                    "n_identities": len(set(d.identities.tolist())),
                    "usable_by_class": _class_counts(d),
                }
                for p, d in sets
            },
        },
        "template_size": template_size,
        "subsets_per_identity": subsets,
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": platform.platform(),
    }
    return record, cohort


def _rounded(
    thresholds: dict[SecurityLevel, dict[CaptureClass, float]],
) -> dict[str, dict[str, float]]:
    return {
        lvl.value: {c.value: round(t, 6) for c, t in by_class.items()}
        for lvl, by_class in thresholds.items()
    }
