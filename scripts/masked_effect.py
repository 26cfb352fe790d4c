"""What the masked mode does to the unlock figures of faces that wear no mask.

The pooled dev set's unlock protocol (``facegate eval unlock DEVSET --enroll 3``: the
first 3 images of each identity enrol, every other usable image is a genuine probe,
every usable image is an impostor probe against every other template), decided twice
per level: with the bare threshold of the probe's capture class alone (before the
masked mode), and by :func:`facegate.biometrics.decision.decide` with the probe's
occlusion cover (the unlock path now). Only probes the occlusion map calls masked can
change: at ``standard`` they need the masked threshold when it is the larger one; at
``high`` they are refused. Counts per population (the identity folder's prefix:
``orl``, ``yale``, ``nuaa``) and pooled.

    python scripts/make_devset.py --out out/devset
    nice python scripts/masked_effect.py out/devset --cache /tmp/mask-cache

The cache holds embeddings: keep it out of the repository.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.decision import Evidence, Thresholds, decide
from facegate.biometrics.masked import Cover, cover_of, load_masked_calibration
from facegate.biometrics.match import SecurityLevel, load_calibration
from facegate.config import load_settings
from facegate.errors import Reason
from facegate.eval.dataset import EmbeddedSet, embed_cached, list_dataset
from facegate.eval.protocols import split_enrolment, unlock_decisions
from facegate.liveness.check import LivenessMode
from facegate.models import ModelFiles
from facegate.vision.capture import CaptureClass
from facegate.vision.occlusion import OcclusionAssessor, OcclusionMap, Region
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import read_image

ENROL = 3


def region_values(data: EmbeddedSet, pipe: FacePipeline, cache: Path) -> np.ndarray:
    """(N, 8) occlusion values of each usable sample (NaN for the others), cached."""
    keys = np.array([str(s.path) for s in data.samples])
    if cache.is_file():
        with np.load(cache) as raw:
            if np.array_equal(raw["keys"], keys):
                return np.asarray(raw["values"])
    values = np.full((len(keys), len(Region)), np.nan)
    assessor = OcclusionAssessor(pipe)
    for i in np.flatnonzero(data.usable):
        occlusion = assessor.assess(read_image(data.samples[i].path)).map
        if occlusion is not None:
            values[i] = [occlusion[r] for r in Region]
    np.savez(cache, keys=keys, values=values)
    return values


def subset(data: EmbeddedSet, idx: np.ndarray) -> EmbeddedSet:
    return EmbeddedSet(
        [data.samples[i] for i in idx], data.embeddings[idx], data.usable[idx],
        [data.reasons[i] for i in idx], data.seconds[idx], [data.captures[i] for i in idx],
    )  # fmt: skip


def outcomes(
    level: SecurityLevel, scores: np.ndarray, src: np.ndarray, data: EmbeddedSet,
    covers: list[Cover | None],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per decision, accepted before (bare threshold of the probe's class) and now
    (``decide`` with the probe's cover; a probe without a map counts as unassessed)."""
    bare_cal, masked_cal = load_calibration(), load_masked_calibration()
    before, now = [], []
    for score, i in zip(scores, src, strict=True):
        capture = data.captures[i]
        bare = bare_cal.threshold(level, None if capture is None else CaptureClass(capture))
        before.append(score >= bare)
        limits = Thresholds(bare, masked_cal.threshold(level), adapt=2.0)
        cover = covers[i]
        if cover is None and limits.masked is None:
            now.append(False)  # unlock assesses every face at such a level; none here
            continue
        seen = Evidence(1, (float(score),), (), LivenessMode.OFF, True, True, cover=cover)
        now.append(decide(seen, limits).reason is Reason.MATCH)
    return np.array(before), np.array(now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("devset", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mask-cache"))
    parser.add_argument("--out", type=Path, default=Path("out/masked-effect.json"))
    args = parser.parse_args()
    samples = list_dataset(args.devset)
    bare_cal, masked_cal = load_calibration(), load_masked_calibration()
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        data = embed_cached(samples, pipe, args.cache / "devset-embeddings.npz")
        gated = embed_cached(samples, pipe, args.cache / "devset-embeddings.npz", ENROL_QUALITY)
        values = region_values(data, pipe, args.cache / "devset-occlusion.npz")
    covers: list[Cover | None] = [
        None if np.isnan(row).any() else
        cover_of([OcclusionMap(dict(zip(Region, row, strict=True)))], masked_cal)
        for row in values
    ]  # fmt: skip
    enrol_mask = split_enrolment(data.identities, ENROL)
    probe_idx = np.flatnonzero(~enrol_mask)
    enrol_idx = np.flatnonzero(enrol_mask)
    # As ``facegate eval unlock``: enrolment images pass enrolment's gates, probes verify's.
    enrol, probes = subset(gated, enrol_idx), subset(data, probe_idx)
    d = unlock_decisions(enrol, probes, consistency_threshold=bare_cal.consistency_threshold,
                         now=time.time())  # fmt: skip
    gen_src = probe_idx[d.genuine_probe]
    pairs = zip(d.impostor_set, d.impostor_index, strict=True)
    imp_src = np.array([(enrol_idx if which == 0 else probe_idx)[i] for which, i in pairs])
    group = np.array([s.identity.split("_")[0] for s in samples])
    report: dict[str, Any] = {"devset": str(args.devset), "enrol": ENROL,
                              "masked_calibration": masked_cal.command}  # fmt: skip
    for level in SecurityLevel:
        g_before, g_now = outcomes(level, d.genuine, gen_src, data, covers)
        i_before, i_now = outcomes(level, d.impostor, imp_src, data, covers)
        rows = {}
        for name in [*sorted(set(group.tolist())), "pooled"]:
            gsel = np.ones(len(gen_src), bool) if name == "pooled" else group[gen_src] == name
            isel = np.ones(len(imp_src), bool) if name == "pooled" else group[imp_src] == name
            rows[name] = {
                "genuine": int(gsel.sum()),
                "false_non_matches_before": int((~g_before[gsel]).sum()),
                "false_non_matches_now": int((~g_now[gsel]).sum()),
                "genuine_masked": int(sum(1 for i in gen_src[gsel]
                                          if (c := covers[i]) is not None and c.masked)),
                "impostor": int(isel.sum()),
                "false_matches_before": int(i_before[isel].sum()),
                "false_matches_now": int(i_now[isel].sum()),
            }  # fmt: skip
        report[level.value] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
