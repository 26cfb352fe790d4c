"""Per-class thresholds checked on people held out of their calibration.

Every population's people are dealt into ``--folds`` groups (a seeded shuffle per
population, so each fold holds out a share of every population). For each fold the
thresholds are calibrated, exactly as ``facegate eval calibrate`` does, on the other
folds' people only; then the held-out people are enrolled (first ``--enroll`` images
of each, enrolment gates; RMFRD: unmasked photos) and every other image of theirs is
a genuine probe, while every image of a held-out person is an impostor probe against
every other held-out person's template, across populations. Nobody in a fold's test
was seen by its calibration, on either side of a decision. The shipped rule (a
threshold per template from its cohort statistics, the cohort fitted on the fold's
calibration people only) is reported beside the per-class cosine thresholds and a
single pooled threshold per level (the older schemes), calibrated on the same people.

    python scripts/held_out_folds.py --data ../shared/data --folds 2 --out out/folds

Embeddings are cached under out/cache (each image embedded once). Prints a table and
writes ``folds.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.match import SecurityLevel
from facegate.config import load_settings
from facegate.eval.calibrate import (
    CONSISTENCY_FMR,
    Pooled,
    class_thresholds,
    cohort_decisions,
    fit_cohort,
    impostor_decisions,
    impostor_pairs,
)
from facegate.eval.dataset import EmbeddedSet, embed_cached
from facegate.eval.metrics import rule_of_three, threshold_at_fmr
from facegate.eval.populations import Population, PopulationSet, load_population
from facegate.eval.protocols import decision_cohort, split_enrolment, unlock_decisions
from facegate.eval.tail import TailRule
from facegate.models import ModelFiles
from facegate.vision.capture import CaptureClass
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY, QualityOptions


def deal(ids: np.ndarray, folds: int, seed: int) -> dict[str, int]:
    people = sorted(set(ids.tolist()))
    order = np.random.default_rng(seed).permutation(len(people))
    return {people[j]: rank % folds for rank, j in enumerate(order)}


def rates(errors: np.ndarray) -> dict[str, Any]:
    n, k = len(errors), int(errors.sum())
    return {"n": n, "errors": k, "rate": k / n if n else None, "upper95": rule_of_three(k, n)}


def evaluate_fold(
    pops: list[PopulationSet],
    verify: list[EmbeddedSet],
    enrol_gated: list[EmbeddedSet],
    fold_of: list[dict[str, int]],
    fold: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    train = []
    for k, (p, v) in enumerate(zip(pops, verify, strict=True)):
        rows = np.flatnonzero([fold_of[k][i] != fold for i in v.identities])
        kept = replace(p, samples=[p.samples[i] for i in rows], masked=p.masked[rows])
        train.append((kept, v.subset(rows)))
    pooled = Pooled.of(train)
    decisions = impostor_decisions(pooled, template_size=args.template_size, subsets=args.subsets)
    consistency = threshold_at_fmr(impostor_pairs(pooled), CONSISTENCY_FMR)
    names = [p.population.value for p in pops]
    per_class = class_thresholds(decisions, names, per_population=args.rule == "strict")
    single = {lvl: threshold_at_fmr(decisions.scores, lvl.target_fmr) for lvl in SecurityLevel}
    z_dec = cohort_decisions(pooled, template_size=args.template_size, subsets=args.subsets)
    z_class = class_thresholds(z_dec, names, tail=TailRule(args.tail))
    cohort = fit_cohort(pooled)
    # Held-out people of every population, enrolled and probed as one group.
    enrol_parts, probe_parts, masked_parts, pop_parts = [], [], [], []
    for k, (p, v, e) in enumerate(zip(pops, verify, enrol_gated, strict=True)):
        rows = np.flatnonzero([fold_of[k][i] == fold for i in v.identities])
        is_enrol = split_enrolment(v.identities[rows], args.enroll) & ~p.masked[rows]
        enrol_parts.append(e.subset(rows[is_enrol]))
        probe_parts.append(v.subset(rows[~is_enrol]))
        masked_parts.append(p.masked[rows[~is_enrol]])
        pop_parts.append(np.full(int((~is_enrol).sum()), p.population.value))
    enrol = EmbeddedSet.joined(enrol_parts)
    probes = EmbeddedSet.joined(probe_parts)
    masked = np.concatenate(masked_parts)
    probe_pop = np.concatenate(pop_parts)
    enrol_pop = np.array([s.identity.split("/")[0] for s in enrol.samples])
    d = unlock_decisions(enrol, probes, consistency_threshold=consistency, now=0.0)
    imp_cls, gen_cls = d.impostor_captures, d.genuine_captures
    from_enrol = d.impostor_set == 0
    imp_pop = np.empty(len(d.impostor), dtype=object)
    imp_pop[from_enrol] = enrol_pop[d.impostor_index[from_enrol]]
    imp_pop[~from_enrol] = probe_pop[d.impostor_index[~from_enrol]]
    imp_masked = np.zeros(len(d.impostor), bool)
    imp_masked[~from_enrol] = masked[d.impostor_index[~from_enrol]]
    gen_pop = probe_pop[d.genuine_probe]
    gen_masked = masked[d.genuine_probe]
    owner_pop = np.array([o.split("/")[0] for o in d.impostor_owner])
    g_ref, i_ref = decision_cohort(d, probes, cohort)

    def cos(level: SecurityLevel, classes: np.ndarray) -> np.ndarray:
        return np.array([per_class[level][CaptureClass(c)] for c in classes])

    def thr(level: SecurityLevel, classes: np.ndarray, ref: np.ndarray) -> np.ndarray:
        z = np.array([z_class[level][CaptureClass(c)] for c in classes])
        return np.asarray(ref[:, 0] + z * ref[:, 1])

    def judged(level: SecurityLevel, g: np.ndarray, i: np.ndarray) -> dict[str, Any]:
        """FNMR of genuine rows ``g`` and FMR of impostor rows ``i`` at the cohort rule."""
        return {
            "fnmr": rates(d.genuine[g] < thr(level, gen_cls[g], g_ref[g])),
            "fmr": rates(d.impostor[i] >= thr(level, imp_cls[i], i_ref[i])),
        }

    rows: dict[str, Any] = {}
    for pop in names:
        for kind, gm, im in (
            ("unmasked", ~gen_masked, ~imp_masked),
            ("masked", gen_masked, imp_masked),
        ):
            g = (gen_pop == pop) & gm
            i = (imp_pop == pop) & im
            if not g.any() and not i.any():
                continue
            p_rows = (probe_pop == pop) & (masked == (kind == "masked"))
            refused = [r for r, keep in zip(probes.reasons, p_rows, strict=True) if keep and r]
            row: dict[str, Any] = {
                "probes": int(p_rows.sum()),
                "fta": rates(
                    np.array(
                        [bool(r) for r, keep in zip(probes.reasons, p_rows, strict=True) if keep]
                    )
                ),
                "fta_reasons": {r: refused.count(r) for r in sorted(set(refused))},
                "genuine_by_class": {
                    c.value: int((g & (gen_cls == c.value)).sum()) for c in CaptureClass
                },
                "impostor_by_class": {
                    c.value: int((i & (imp_cls == c.value)).sum()) for c in CaptureClass
                },
                "impostor_same_population": int((i & (owner_pop == pop)).sum()),
            }
            same = i & (owner_pop == pop)
            for level in SecurityLevel:
                row[level.value] = {
                    **judged(level, g, i),
                    "fmr_same_population": judged(level, g, same)["fmr"],
                    "per_class_cosine": {
                        "fnmr": rates(d.genuine[g] < cos(level, gen_cls[g])),
                        "fmr": rates(d.impostor[i] >= cos(level, imp_cls[i])),
                    },
                    "single_threshold": {
                        "threshold": single[level],
                        "fnmr": rates(d.genuine[g] < single[level]),
                        "fmr": rates(d.impostor[i] >= single[level]),
                    },
                }
            row["by_class"] = {
                c.value: {
                    level.value: judged(level, g & (gen_cls == c.value), i & (imp_cls == c.value))
                    for level in SecurityLevel
                }
                for c in CaptureClass
            }
            rows[f"{pop}/{kind}"] = row
    return {
        "fold": fold,
        "held_out_people": {
            p.population.value: sorted(i for i, f in fold_of[k].items() if f == fold)
            for k, p in enumerate(pops)
        },
        "thresholds": {
            lvl.value: {c.value: round(t, 6) for c, t in by.items()}
            for lvl, by in per_class.items()
        },
        "cohort_z_thresholds": {
            lvl.value: {c.value: round(t, 6) for c, t in by.items()} for lvl, by in z_class.items()
        },
        "single_thresholds": {lvl.value: round(t, 6) for lvl, t in single.items()},
        "calibration_decisions": len(decisions.scores),
        "cohort_calibration_decisions": len(z_dec.scores),
        "results": rows,
    }


def _n(rate: dict[str, Any]) -> str:
    return f"{rate['errors']}/{rate['n']}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("out/folds"))
    parser.add_argument("--cache", type=Path, default=Path("out/cache"))
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument("--template-size", type=int, default=8)
    parser.add_argument("--subsets", type=int, default=12)
    parser.add_argument("--rule", choices=("pooled", "strict"), default="pooled")
    parser.add_argument(
        "--tail",
        choices=[r.value for r in TailRule],
        default=TailRule.EMPIRICAL.value,
        help="how cohort z is read off the calibration decisions (see facegate.eval.tail)",
    )
    parser.add_argument("--min-brightness", type=float, default=QualityOptions().min_brightness)
    args = parser.parse_args()
    pops = [load_population(p, args.data) for p in Population]
    gates = QualityOptions(min_brightness=args.min_brightness)
    enrol_gates = ENROL_QUALITY
    with FacePipeline(ModelFiles.of(load_settings())) as pipeline:
        verify = [
            embed_cached(p.samples, pipeline, args.cache / f"{p.population.value}.npz", gates)
            for p in pops
        ]
        enrol_gated = [
            embed_cached(p.samples, pipeline, args.cache / f"{p.population.value}.npz", enrol_gates)
            for p in pops
        ]
    fold_of = [deal(v.identities, args.folds, args.seed) for v in verify]
    started = time.time()
    folds = [evaluate_fold(pops, verify, enrol_gated, fold_of, f, args) for f in range(args.folds)]
    report = {
        "command": "python scripts/held_out_folds.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k not in ("data", "out", "cache")
        ),
        "folds": folds,
        "seconds": round(time.time() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "folds.json").write_text(json.dumps(report, indent=1) + "\n")
    for f in folds:
        print(f"fold {f['fold']}: z {f['cohort_z_thresholds']} cosine {f['thresholds']}")
        for name, row in f["results"].items():
            s, h = row["standard"], row["high"]
            cos = s["per_class_cosine"]
            print(
                f"  {name:16s} FTA {_n(row['fta'])} | standard FNMR {_n(s['fnmr'])} FMR "
                f"{_n(s['fmr'])} (same population {_n(s['fmr_same_population'])}) | high FNMR "
                f"{_n(h['fnmr'])} FMR {_n(h['fmr'])} | per-class cosine: standard FNMR "
                f"{_n(cos['fnmr'])} FMR {_n(cos['fmr'])}"
            )
    print(f"wrote {args.out / 'folds.json'}")


if __name__ == "__main__":
    main()
