"""``facegate eval``: accuracy measured the way biometric systems are measured."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from facegate.biometrics.match import SecurityLevel
from facegate.cli.app import command_line, err, eval_app, friendly, out
from facegate.liveness.check import LivenessMode
from facegate.session import Session


def _embed_with_progress(samples: list[Any], quality: Any = None) -> Any:
    from facegate.eval.dataset import embed_samples

    with Session.open() as session, Progress(console=err) as progress:
        task = progress.add_task("embedding", total=len(samples))
        return embed_samples(
            samples, session.pipeline, quality, progress=lambda: progress.advance(task)
        )


def _write(scores: Any, out_dir: Path, title: str, extra: dict[str, Any]) -> None:
    from facegate.bench import machine_description
    from facegate.eval.metrics import det_curve, summarise
    from facegate.eval.report import write_report

    summary = summarise(
        scores.genuine,
        scores.impostor,
        n_attempts=scores.n_attempts,
        n_failed_acquisitions=scores.n_failed,
        seconds_per_image=scores.seconds_per_image,
    )
    extra = {"command": command_line(), "machine": machine_description(), **extra}
    report = write_report(
        summary, det_curve(scores.genuine, scores.impostor), out_dir, title=title, extra=extra
    )
    fnmr = ", ".join(
        f"{k}: {'n/a' if v is None else f'{v:.2%}'}" for k, v in summary.fnmr_at_fmr.items()
    )
    reasons = ", ".join(f"{k} {v}" for k, v in extra["fta_reasons"].items()) or "none"
    out.print(
        f"{title}: genuine={summary.n_genuine} impostor={summary.n_impostor} "
        f"FTA={summary.fta:.2%} ({summary.n_failed_acquisitions}/{summary.n_attempts}: "
        f"{reasons}) EER={summary.eer:.2%}\nFNMR at FMR {{{fnmr}}}\nwrote {report}"
    )


@eval_app.command("verify")
@friendly
def eval_verify(
    root: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    pairs: Annotated[Path | None, typer.Option(help="CSV path_a,path_b,same.")] = None,
) -> None:
    """Score all genuine and impostor pairs of ROOT/<identity>/<images> (or --pairs)."""
    from facegate.eval.dataset import list_dataset, read_pairs
    from facegate.eval.protocols import verify_scores

    samples = list_dataset(root)
    data = _embed_with_progress(samples)
    scores = verify_scores(data, read_pairs(pairs, samples) if pairs else None)
    extra = {"dataset": str(root), "protocol": "pairs", "fta_reasons": data.refusals()}
    _write(scores, out_dir, f"verify {root.name}", extra)


@eval_app.command("unlock")
@friendly
def eval_unlock(
    root: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    enroll: Annotated[int, typer.Option(help="Images per identity to enrol.")] = 3,
    liveness: Annotated[
        LivenessMode, typer.Option(help="PAD on every probe: off or passive.")
    ] = LivenessMode.OFF,
    attacks: Annotated[
        Path | None,
        typer.Option(help="CSV path,identity,label of attack images (relative to the CSV)."),
    ] = None,
) -> None:
    """Enrol the first K images of each identity; probe every other image.

    With --liveness passive, genuine probes the PAD refuses count as non-matches; with
    --attacks, each attack is probed against its identity and IAPAR is reported."""
    import numpy as np

    from facegate.biometrics.match import load_calibration
    from facegate.eval.dataset import list_dataset
    from facegate.eval.protocols import split_enrolment, unlock_scores
    from facegate.vision.quality import ENROL_QUALITY

    samples = list_dataset(root)
    is_enrol = split_enrolment(np.array([s.identity for s in samples]), enroll)
    enrol_set = _embed_with_progress(
        [s for s, e in zip(samples, is_enrol, strict=True) if e], ENROL_QUALITY
    )
    probe_set = _embed_with_progress([s for s, e in zip(samples, is_enrol, strict=True) if not e])
    calibration = load_calibration()
    scores, templates = unlock_scores(
        enrol_set,
        probe_set,
        consistency_threshold=calibration.consistency_threshold,
        now=time.time(),
    )
    live = np.ones(len(scores.genuine), bool)
    liveness_extra: dict[str, Any] = {}
    if liveness is not LivenessMode.OFF or attacks is not None:
        from facegate.cli.liveness import unlock_liveness

        live, liveness_extra = unlock_liveness(liveness, probe_set, templates, attacks, calibration)
    extra = {
        "dataset": str(root),
        "protocol": f"unlock, enrol first {enroll} per identity",
        "n_identities": scores.n_identities,
        "fte": scores.n_enrol_failed / max(scores.n_identities, 1),
        "n_enrol_failed": scores.n_enrol_failed,
        "fta_reasons": probe_set.refusals(),
        "levels": {
            lvl.value: {
                "threshold": calibration.threshold(lvl),
                "fnmr": float(np.mean((scores.genuine < calibration.threshold(lvl)) | ~live)),
                "fmr": float(np.mean(scores.impostor >= calibration.threshold(lvl))),
                "false_non_matches": int(
                    np.sum((scores.genuine < calibration.threshold(lvl)) | ~live)
                ),
                "false_matches": int(np.sum(scores.impostor >= calibration.threshold(lvl))),
            }
            for lvl in SecurityLevel
        },
        **liveness_extra,
    }
    _write(scores, out_dir, f"unlock {root.name} (enrol {enroll})", extra)


@eval_app.command("calibrate")
@friendly
def eval_calibrate(
    root: Path,
    out_file: Annotated[Path, typer.Option("--out", help="calibration.json to write.")],
    template_size: Annotated[int, typer.Option(help="Captures per calibration template.")] = 8,
    subsets: Annotated[int, typer.Option(help="Random templates per identity.")] = 12,
) -> None:
    """Set the security-level thresholds from measured impostor scores on ROOT."""
    from facegate.eval.calibrate import calibrate
    from facegate.eval.dataset import list_dataset

    data = _embed_with_progress(list_dataset(root))
    record = calibrate(
        data, template_size=template_size, subsets=subsets, command=command_line(), root=root
    )
    out_file.write_text(json.dumps(record, indent=2) + "\n")
    out.print(json.dumps(record["thresholds"]), f"from {record['n_impostor']} impostor scores")
    out.print(f"wrote {out_file}")
