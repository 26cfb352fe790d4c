"""Calibrate the masked mode (src/facegate/biometrics/masked_calibration.json) on the
tuning half of the RMFRD people, and report it on the held-out half.

Folds: ``facegate.eval.occlusion.rmfrd_folds`` (sorted folder names; even positions
tune, odd positions are held out). The RWMFD sample (masked photos of people outside
RMFRD) adds masked impostors to the tuning side only.

Tuning (written to the calibration file):
* ``mask_mouth`` / ``mask_nose``: the lowest mouth (nose) value that calls at most
  MASK_FALSE_RATE of the tuning people's *unmasked* photos covered there; a face is
  masked when both are covered (``cover_of``);
* ``eyes_covered``: the lowest larger-eye value that refuses at most EYES_FALSE_RATE of
  the tuning photos (none has covered eyes);
* the masked threshold of each level: the lowest score whose FMR over masked impostor
  decisions (every tuning-side photo ``cover_of`` calls masked, whatever its eyes, against
  every other tuning person's template of up to 5 unmasked captures) is at most the
  level's masked target.
  ``standard`` targets MASKED_TARGET_FMR (the impostors here cannot support 1e-5);
  ``high`` allows no masked unlock.

Held-out report (``--report``): enrol 3 unmasked photos per held-out person, probe
every other photo, impostors are the held-out photos against the other held-out
templates; figures for the bare threshold alone and for the unlock decision
(:func:`facegate.biometrics.decision.decide`, with the cover of each photo). The
report also calibrates the masked threshold the other way round (on the held-out
people, with RWMFD) and counts its false matches on the tuning people, so the masked
threshold's FMR is measured on people it did not see in both directions.

    python scripts/calibrate_masked.py --data ../shared/data \\
        --out src/facegate/biometrics/masked_calibration.json --report out/eval-masked
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facegate.biometrics.decision import Evidence, Thresholds, decide
from facegate.biometrics.masked import Cover, MaskedCalibration, cover_of, parse_masked_calibration
from facegate.biometrics.match import SecurityLevel, load_calibration
from facegate.biometrics.template import build_template, consistent_captures
from facegate.config import load_settings
from facegate.errors import EnrolmentError, InputError, Reason
from facegate.eval.metrics import fnmr_at_fmr, threshold_at_fmr
from facegate.eval.occlusion import rmfrd_folds
from facegate.liveness.check import LivenessMode
from facegate.models import ModelFiles
from facegate.vision.occlusion import OcclusionAssessor, OcclusionMap, Region
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image

MASK_FALSE_RATE = 0.02
EYES_FALSE_RATE = 0.01
MASKED_TARGET_FMR = {SecurityLevel.STANDARD: 1e-4, SecurityLevel.HIGH: None}
ENROL = 3


def observe_all(paths: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """Per photo: usable, embedding (zero when refused), has_map, region values."""
    keys = np.array([str(p) for p in paths])
    if cache.is_file():
        with np.load(cache) as raw:
            if np.array_equal(raw["keys"], keys):
                return {k: np.asarray(raw[k]) for k in raw.files}
    n = len(paths)
    out = {
        "keys": keys,
        "usable": np.zeros(n, bool),
        "emb": np.zeros((n, 128), np.float32),
        "has_map": np.zeros(n, bool),
        "regions": np.zeros((n, len(Region)), np.float64),
    }
    with FacePipeline(ModelFiles.of(load_settings())) as pipe:
        assessor = OcclusionAssessor(pipe)
        for i, path in enumerate(paths):
            try:
                frame = read_image(path)
            except InputError:
                continue
            obs = pipe.observe(frame)
            if obs.embedding is not None:
                out["usable"][i], out["emb"][i] = True, obs.embedding
            occ = assessor.assess_faces(frame, obs.faces)
            if occ.map is not None:
                out["has_map"][i] = True
                out["regions"][i] = [occ.map[r] for r in Region]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def lowest_threshold(values: np.ndarray, false_rate: float) -> float:
    """The lowest threshold (accept when value >= it) flagging at most ``false_rate``."""
    return threshold_at_fmr(values, false_rate)


def templates_of(
    people: np.ndarray, emb: np.ndarray, usable: np.ndarray, chosen: np.ndarray, consistency: float
) -> dict[str, np.ndarray]:
    """Per person, template embeddings from the ``chosen`` photos (as unlock enrols)."""
    out = {}
    for person in sorted(set(people[chosen].tolist())):
        idx = np.flatnonzero(chosen & usable & (people == person))
        captures = [emb[i] for i in idx]
        try:
            keep = consistent_captures(captures, consistency)
        except EnrolmentError:
            continue
        out[person] = build_template([captures[k] for k in keep], now=0.0).embeddings
    return out


def impostor_scores(
    templates: dict[str, np.ndarray], people: np.ndarray, emb: np.ndarray, probes: np.ndarray
) -> np.ndarray:
    scores = [
        float((t @ emb[i]).max())
        for i in np.flatnonzero(probes)
        for person, t in templates.items()
        if person != people[i]
    ]
    return np.array(scores, np.float64)


def rate(flags: np.ndarray) -> dict[str, Any]:
    return {"rate": round(float(flags.mean()), 4) if len(flags) else None, "n": int(flags.sum()),
            "of": len(flags)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mask-cache"))
    parser.add_argument(
        "--out", type=Path, default=Path("src/facegate/biometrics/masked_calibration.json")
    )
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    rmfrd = args.data / "rmfrd_masked_identities"
    tuning, held_out = rmfrd_folds(rmfrd)
    paths = sorted(rmfrd.glob("*/*/*.jpg"))
    rwmfd = sorted(p for p in (args.data / "rwmfd_masked_faces_sample").glob("*/*") if p.is_file())
    obs = observe_all(paths, args.cache / "rmfrd.npz")
    rw = observe_all(rwmfd, args.cache / "rwmfd.npz")
    people = np.array([p.parent.parent.name for p in paths])
    masked = np.array([p.parent.name == "masked" for p in paths])
    tune = np.isin(people, tuning)
    bare = load_calibration()
    eyes = obs["regions"][:, [list(Region).index(Region.LEFT_EYE),
                              list(Region).index(Region.RIGHT_EYE)]].max(axis=1)  # fmt: skip
    mouth = obs["regions"][:, list(Region).index(Region.MOUTH)]
    nose = obs["regions"][:, list(Region).index(Region.NOSE)]
    has = obs["has_map"]
    mask_mouth = lowest_threshold(mouth[tune & has & ~masked], MASK_FALSE_RATE)
    mask_nose = lowest_threshold(nose[tune & has & ~masked], MASK_FALSE_RATE)
    eyes_covered = lowest_threshold(eyes[tune & has], EYES_FALSE_RATE)

    def in_mode(regions: np.ndarray, has_map: np.ndarray) -> np.ndarray:
        """Masked by ``cover_of``'s rule: mouth and nose covered, whatever the eyes."""
        return (
            has_map
            & (regions[:, list(Region).index(Region.MOUTH)] >= mask_mouth)
            & (regions[:, list(Region).index(Region.NOSE)] >= mask_nose)
        )

    def masked_impostors(side: np.ndarray) -> np.ndarray:
        """Masked impostor scores of ``side``'s people and RWMFD against ``side``'s templates."""
        templates = templates_of(people, obs["emb"], obs["usable"], side & ~masked,
                                 bare.consistency_threshold)  # fmt: skip
        return np.concatenate([
            impostor_scores(templates, people, obs["emb"],
                            side & obs["usable"] & in_mode(obs["regions"], has)),
            impostor_scores(templates, np.array([""] * len(rwmfd)), rw["emb"],
                            rw["usable"] & in_mode(rw["regions"], rw["has_map"])),
        ])  # fmt: skip

    imp = masked_impostors(tune)
    levels: dict[str, Any] = {}
    for level in SecurityLevel:
        target = MASKED_TARGET_FMR[level]
        threshold = None if target is None else rounded_up(threshold_at_fmr(imp, target))
        levels[level.value] = {"threshold": threshold, "target_fmr": target}
    record = {
        "embedding_model": "sface (the unlock score, unchanged)",
        "levels": levels,
        "occlusion": {
            "mask_mouth": round(mask_mouth, 6),
            "mask_nose": round(mask_nose, 6),
            "eyes_covered": round(eyes_covered, 6),
            "mask_false_rate": MASK_FALSE_RATE,
            "eyes_false_rate": EYES_FALSE_RATE,
        },
        "n_impostor": len(imp),
        # Rounded down, so each listed score is at most the true one.
        "impostor_top5": [math.floor(float(v) * 1e6) / 1e6 for v in np.sort(imp)[::-1][:5]],
        "tuning_people": tuning,
        "n_tuning_photos": int(tune.sum()),
        "n_rwmfd_photos": len(rwmfd),
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: masked standard threshold {levels['standard']['threshold']} "
          f"over {len(imp)} impostor decisions; mask_mouth {mask_mouth:.4f}, "
          f"mask_nose {mask_nose:.4f}, "
          f"eyes_covered {eyes_covered:.4f}")  # fmt: skip
    if args.report is not None:
        cal = parse_masked_calibration(record)
        report = held_out_report(obs, people, masked, held_out, cal)
        swapped = rounded_up(threshold_at_fmr(masked_impostors(~tune), MASKED_TARGET_FMR[
            SecurityLevel.STANDARD] or 0.0))  # fmt: skip
        report["other_direction"] = other_direction(obs, people, masked, tuning, swapped, cal)
        report["command"] = command
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))


def rounded_up(threshold: float) -> float:
    """Rounded *up* to 6 decimals, so the recorded threshold still rejects the score it
    sits above."""
    return math.ceil(threshold * 1e6) / 1e6


def covers(obs: dict[str, np.ndarray], cal: MaskedCalibration) -> list[Cover | None]:
    """Each photo's cover by ``cover_of`` (None without a map)."""
    return [
        cover_of([OcclusionMap(dict(zip(Region, row, strict=True)))], cal) if has else None
        for row, has in zip(obs["regions"], obs["has_map"], strict=True)
    ]


def other_direction(
    obs: dict[str, np.ndarray], people: np.ndarray, masked: np.ndarray, tuning: list[str],
    threshold: float, cal: MaskedCalibration,
) -> dict[str, Any]:  # fmt: skip
    """The masked threshold calibrated on the held-out people (and RWMFD), checked on
    the tuning people: masked-mode impostors accepted, as ``held_out_report`` counts them."""
    side = np.isin(people, tuning)
    enrol = np.zeros(len(people), bool)
    for person in tuning:
        enrol[np.flatnonzero((people == person) & ~masked)[:ENROL]] = True
    bare = load_calibration()
    templates = templates_of(people, obs["emb"], obs["usable"], enrol, bare.consistency_threshold)
    cover = covers(obs, cal)
    idx = [(i, p) for i in np.flatnonzero(side & obs["usable"]) for p in templates
           if p != people[i] and (c := cover[i]) is not None and c.masked]  # fmt: skip
    imp = np.array([float((templates[p] @ obs["emb"][i]).max()) for i, p in idx])
    return {"threshold": threshold, "people": len(tuning), "masked_mode_impostors": rate(
        imp >= threshold)}  # fmt: skip


def held_out_report(
    obs: dict[str, np.ndarray], people: np.ndarray, masked: np.ndarray, held_out: list[str],
    cal: Any,
) -> dict[str, Any]:  # fmt: skip
    """The issue's protocol on the held-out people: enrol the first 3 unmasked photos."""
    bare = load_calibration()
    held = np.isin(people, held_out)
    enrol = np.zeros(len(people), bool)
    for person in held_out:
        enrol[np.flatnonzero((people == person) & ~masked)[:ENROL]] = True
    templates = templates_of(people, obs["emb"], obs["usable"], enrol, bare.consistency_threshold)
    usable = obs["usable"]
    cover = covers(obs, cal)
    probes = held & ~enrol & np.isin(people, list(templates))
    emb = obs["emb"]
    probe_idx = np.flatnonzero(probes & usable)
    genuine = {i: float((templates[people[i]] @ emb[i]).max()) for i in probe_idx}
    imp_idx = [(i, p) for i in np.flatnonzero(held & usable) for p in templates if p != people[i]]
    imp = np.array([float((templates[p] @ obs["emb"][i]).max()) for i, p in imp_idx])
    imp_masked_mode = np.array([(c := cover[i]) is not None and c.masked for i, _ in imp_idx])
    standard = bare.threshold(SecurityLevel.STANDARD)
    masked_standard = cal.threshold(SecurityLevel.STANDARD)
    thresholds = Thresholds(standard, masked_standard, adapt=2.0)

    def reason(i: int, score: float) -> Reason:
        """The unlock decision at `standard` on one live, attentive still (even light)."""
        # A photo without a map is judged as unassessed: at the masked face's threshold.
        seen = Evidence(1, (score,), (), LivenessMode.OFF, True, True, cover=cover[i])
        return decide(seen, thresholds).reason

    def decide_one(i: int, score: float) -> bool:
        return reason(i, score) is Reason.MATCH

    def flag(i: int, name: str) -> bool:
        c = cover[i]
        return c is not None and bool(getattr(c, name))

    out: dict[str, Any] = {"held_out_people": len(held_out), "templates": len(templates)}
    for name, group in (("masked_probes", masked), ("unmasked_probes", ~masked)):
        sel = [i for i in genuine if group[i]]
        gen = np.array([genuine[i] for i in sel])
        out[name] = {
            "n_attempts": int((probes & group).sum()),
            "fta": rate(~usable[probes & group]),
            "n_genuine": len(gen),
            "fnmr_at_fmr_1e-3": fnmr_at_fmr(gen, imp, [1e-3])["1e-3"],
            "today_fnmr_at_standard": rate(gen < standard),
            "masked_mode_fnmr_at_standard": rate(
                ~np.array([decide_one(i, genuine[i]) for i in sel])
            ),
            "in_masked_mode": rate(np.array([flag(i, "masked") for i in sel])),
            "eyes_covered": rate(np.array([flag(i, "eyes_covered") for i in sel])),
            "refused_eyes_covered": rate(
                np.array([reason(i, genuine[i]) is Reason.EYES_COVERED for i in sel])
            ),
        }  # fmt: skip
    accepted = np.array([decide_one(i, s) for (i, _), s in zip(imp_idx, imp, strict=True)])
    out["impostor"] = {
        "n": len(imp),
        "today_fmr_at_standard": rate(imp >= standard),
        "masked_mode_fmr_at_standard": rate(accepted),
        "masked_mode_only": {
            "n": int(imp_masked_mode.sum()),
            "fmr_at_masked_standard": rate(imp[imp_masked_mode] >= masked_standard),
        },
    }
    return out


if __name__ == "__main__":
    main()
