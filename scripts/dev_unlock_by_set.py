"""Pooled dev-set unlock figures per set, at the shipped or a candidate calibration.

The same decisions as ``facegate eval unlock out/devset --enroll 3`` (ORL + Yale + NUAA
live, 70 people, first 3 images of each enrolled under the enrolment gates, every other
image a genuine probe, every image an impostor probe against every other template),
rebuilt from the population caches as ``tests/test_eval_bars.py`` does, so that they
can be split per set and judged at a calibration that is not shipped yet:

    python scripts/dev_unlock_by_set.py --cache out/cache [--calibration PATH] --out F.json

The dev people are calibration people: these are not held-out figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.match import SecurityLevel, load_calibration
from facegate.config import load_settings
from facegate.eval.dataset import EmbeddedSet, embed_cached
from facegate.eval.levels import decision_thresholds
from facegate.eval.populations import Population, load_population
from facegate.eval.protocols import decision_cohort, split_enrolment, unlock_decisions
from facegate.models import ModelFiles
from facegate.vision.capture import CaptureClass
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY

DEV = (Population.ORL, Population.YALE, Population.NUAA)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("out/cache"))
    parser.add_argument("--calibration", type=Path, default=None)
    parser.add_argument("--enroll", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("out/dev-by-set.json"))
    args = parser.parse_args()
    pops = [load_population(p, args.data) for p in DEV]
    with FacePipeline(ModelFiles.of(load_settings())) as pipeline:
        per_pop = [(p.samples, args.cache / f"{p.population.value}.npz") for p in pops]
        verify = EmbeddedSet.joined([embed_cached(s, pipeline, c) for s, c in per_pop])
        gated = EmbeddedSet.joined(
            [embed_cached(s, pipeline, c, ENROL_QUALITY) for s, c in per_pop]
        )
    is_enrol = split_enrolment(verify.identities, args.enroll)
    enrol = gated.subset(np.flatnonzero(is_enrol))
    probes = verify.subset(np.flatnonzero(~is_enrol))
    calibration = load_calibration(args.calibration)
    assert calibration.cohort is not None
    d = unlock_decisions(
        enrol, probes, consistency_threshold=calibration.consistency_threshold, now=0.0
    )
    g_ref, i_ref = decision_cohort(d, probes, calibration.cohort)
    g_set = np.array([i.split("/")[0] for i in probes.identities[d.genuine_probe]])
    report: dict[str, Any] = {
        "calibration": str(args.calibration or "shipped"),
        "z_thresholds": {
            lvl.value: {c.value: z for c, z in by.items()}
            for lvl, by in calibration.z_thresholds.items()
        },
        "fta": f"{int((~probes.usable).sum())}/{len(probes.usable)}",
    }
    for level in SecurityLevel:
        g_thr = decision_thresholds(calibration, level, d.genuine_captures, g_ref)
        i_thr = decision_thresholds(calibration, level, d.impostor_captures, i_ref)
        miss = d.genuine < g_thr
        g_z = (d.genuine - g_ref[:, 0]) / g_ref[:, 1]
        report[level.value] = {
            "fnmr": f"{int(miss.sum())}/{len(miss)}",
            "fnmr_by_set": {
                s: f"{int((miss & (g_set == s)).sum())}/{int((g_set == s).sum())}"
                for s in sorted(set(g_set.tolist()))
            },
            "fnmr_by_class": {
                c.value: f"{int((miss & (d.genuine_captures == c.value)).sum())}/"
                f"{int((d.genuine_captures == c.value).sum())}"
                for c in CaptureClass
            },
            "fmr": f"{int((d.impostor >= i_thr).sum())}/{len(d.impostor)}",
            "misses": [
                {
                    "probe": str(probes.samples[d.genuine_probe[k]].path.name),
                    "identity": str(probes.identities[d.genuine_probe[k]]),
                    "class": str(d.genuine_captures[k]),
                    "z": round(float(g_z[k]), 3),
                }
                for k in np.flatnonzero(miss)
            ],
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for level in SecurityLevel:
        r = report[level.value]
        print(f"{level.value}: FNMR {r['fnmr']} {r['fnmr_by_set']} FMR {r['fmr']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
