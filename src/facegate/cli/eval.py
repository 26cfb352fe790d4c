"""``facegate eval``: accuracy measured the way biometric systems are measured."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from facegate.cli.app import command_line, eval_app, friendly, out, progress_bar
from facegate.liveness.modes import LivenessMode

CACHE_HELP = "An .npz under out/ to keep embeddings in, so a re-run embeds nothing."


def _embed_with_progress(samples: list[Any], quality: Any = None, cache: Path | None = None) -> Any:
    """Embed ``samples`` under ``quality``'s gates; with ``cache``, each image only once."""
    from facegate.eval.dataset import embed_cached, embed_samples
    from facegate.session import Session

    with Session.open() as session, progress_bar() as progress:
        task = progress.add_task("embedding", total=len(samples))
        if cache is None:
            return embed_samples(
                samples, session.pipeline, quality, progress=lambda: progress.advance(task)
            )
        return embed_cached(
            samples, session.pipeline, cache, quality, progress=lambda: progress.advance(task)
        )


def _write(
    scores: Any, out_dir: Path, title: str, extra: dict[str, Any], refused: Any = None
) -> None:
    """Write the report, with each level's FMR and FNMR per capture class at the shipped
    thresholds; ``refused`` (G,) marks genuine probes refused for liveness."""
    from facegate.bench.timing import machine_description
    from facegate.biometrics.match import load_calibration
    from facegate.eval import levels
    from facegate.eval.metrics import det_curve, summarise
    from facegate.eval.report import write_report

    summary = summarise(
        scores.genuine,
        scores.impostor,
        n_attempts=scores.n_attempts,
        n_failed_acquisitions=scores.n_failed,
        seconds_per_image=scores.seconds_per_image,
    )
    rates = levels.level_rates(
        load_calibration(),
        scores.genuine,
        scores.genuine_captures,
        scores.impostor,
        scores.impostor_captures,
        refused,
        genuine_cohort=scores.genuine_cohort,
        impostor_cohort=scores.impostor_cohort,
    )
    extra = {
        "command": command_line(),
        "machine": machine_description(),
        "levels_by_capture": [r.as_dict() for r in rates],
        **extra,
    }
    report = write_report(
        summary,
        det_curve(scores.genuine, scores.impostor),
        out_dir,
        title=title,
        extra=extra,
        sections=["## Security levels per capture class", levels.markdown(rates)],
    )
    fnmr = ", ".join(
        f"{k}: {'n/a' if v is None else f'{v:.2%}'}" for k, v in summary.fnmr_at_fmr.items()
    )
    reasons = ", ".join(f"{k} {v}" for k, v in extra["fta_reasons"].items()) or "none"
    out.print(
        f"{title}: genuine={summary.n_genuine} impostor={summary.n_impostor} "
        f"FTA={summary.fta:.2%} ({summary.n_failed_acquisitions}/{summary.n_attempts}: "
        f"{reasons}) EER={summary.eer:.2%}\nFNMR at FMR {{{fnmr}}}"
    )
    out.print(_levels_table(rates))
    out.print(f"wrote {report}")


def _levels_table(rates: Any) -> Any:
    from rich.table import Table

    table = Table(title="security levels per capture class (shipped cohort thresholds)")
    for col in ("level", "capture", "FNMR", "FMR", "FMR 95% bound"):
        table.add_column(col)
    for r in rates:
        fnmr = "n/a" if r.fnmr is None else f"{r.fnmr:.2%} ({r.false_non_matches}/{r.n_genuine})"
        fmr = "n/a" if r.fmr is None else f"{r.fmr:.2g} ({r.false_matches}/{r.n_impostor})"
        bound = "n/a" if r.fmr_upper95 is None else f"< {r.fmr_upper95:.2g}"
        table.add_row(r.level.value, r.capture, fnmr, fmr, bound)
    return table


def _thresholds(calibration: Any) -> dict[str, Any]:
    """The cosine thresholds used without a template, and the cohort z thresholds that
    set each decision's threshold from its template."""

    def by_value(table: Any) -> dict[str, dict[str, float]]:
        return {lvl.value: {c.value: t for c, t in by.items()} for lvl, by in table.items()}

    return {
        **by_value(calibration.thresholds),
        "cohort_z": by_value(calibration.z_thresholds),
    }


@eval_app.command("verify")
@friendly
def eval_verify(
    root: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    pairs: Annotated[Path | None, typer.Option(help="CSV path_a,path_b,same.")] = None,
    cache: Annotated[Path | None, typer.Option(help=CACHE_HELP)] = None,
) -> None:
    """Score all genuine and impostor pairs of ROOT/IDENTITY/IMAGE (or --pairs)."""
    from facegate.biometrics.match import load_calibration
    from facegate.eval.dataset import list_dataset, read_pairs
    from facegate.eval.protocols import verify_scores

    samples = list_dataset(root)
    data = _embed_with_progress(samples, cache=cache)
    scores = verify_scores(
        data, read_pairs(pairs, samples) if pairs else None, load_calibration().cohort
    )
    extra = {
        "thresholds": _thresholds(load_calibration()),
        "dataset": str(root),
        "protocol": "pairs; a pair's capture class is its harder-lit image's, its cohort "
        "threshold its first image's",
        "fta_reasons": data.refusals(),
    }
    _write(scores, out_dir, f"verify {root.name}", extra)


@eval_app.command("unlock")
@friendly
def eval_unlock(
    root: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    enroll: Annotated[int, typer.Option(help="Images per identity to enrol.")] = 3,
    liveness: Annotated[
        LivenessMode,
        typer.Option(
            help="PAD on every probe: off or passive (stills cannot answer active challenges)."
        ),
    ] = LivenessMode.OFF,
    attacks: Annotated[
        Path | None,
        typer.Option(help="CSV path,identity,label of attack images (relative to the CSV)."),
    ] = None,
    cache: Annotated[Path | None, typer.Option(help=CACHE_HELP)] = None,
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
    enrol_samples = [s for s, e in zip(samples, is_enrol, strict=True) if e]
    probe_samples = [s for s, e in zip(samples, is_enrol, strict=True) if not e]
    enrol_set = _embed_with_progress(
        enrol_samples, ENROL_QUALITY, None if cache is None else cache.with_suffix(".enrol.npz")
    )
    probe_set = _embed_with_progress(
        probe_samples, None, None if cache is None else cache.with_suffix(".probes.npz")
    )
    calibration = load_calibration()
    scores, templates = unlock_scores(
        enrol_set,
        probe_set,
        consistency_threshold=calibration.consistency_threshold,
        now=time.time(),
        cohort=calibration.cohort,
    )
    live = np.ones(len(scores.genuine), bool)
    liveness_extra: dict[str, Any] = {}
    if liveness is not LivenessMode.OFF or attacks is not None:
        from facegate.cli.liveness import unlock_liveness

        live, liveness_extra = unlock_liveness(liveness, probe_set, templates, attacks, calibration)
    extra = {
        "thresholds": _thresholds(calibration),
        "dataset": str(root),
        "protocol": f"unlock, enrol first {enroll} per identity",
        "n_identities": scores.n_identities,
        "fte": scores.n_enrol_failed / max(scores.n_identities, 1),
        "n_enrol_failed": scores.n_enrol_failed,
        "fta_reasons": probe_set.refusals(),
        **liveness_extra,
    }
    _write(scores, out_dir, f"unlock {root.name} (enrol {enroll})", extra, refused=~live)


@eval_app.command("calibrate")
@friendly
def eval_calibrate(
    data: Path,
    out_file: Annotated[Path, typer.Option("--out", help="calibration.json to write.")],
    population: Annotated[
        list[str] | None,
        typer.Option(help="Population(s) to calibrate on (default: all of them)."),
    ] = None,
    cache: Annotated[
        Path, typer.Option(help="Folder for cached embeddings (each image embedded once).")
    ] = Path("out/cache"),
    template_size: Annotated[int, typer.Option(help="Captures per calibration template.")] = 8,
    subsets: Annotated[int, typer.Option(help="Random templates per identity.")] = 12,
) -> None:
    """Set the thresholds per level and capture class from impostor decisions measured
    on every population under DATA (the shared dataset folder, e.g. ../shared/data)."""
    from facegate.eval.calibrate import COHORT_FILE, calibrate
    from facegate.eval.populations import Population, load_population

    pops = [load_population(Population(p), data) for p in (population or list(Population))]
    sets = [(p, _embed_cached(p, cache)) for p in pops]
    record, cohort = calibrate(
        sets,
        template_size=template_size,
        subsets=subsets,
        command=command_line(),
        data_folder=str(data),
    )
    out_file.write_text(json.dumps(record, indent=2) + "\n")
    cohort.save(out_file.with_name(COHORT_FILE))
    z = record["cohort_normalisation"]["z_thresholds"]
    out.print(json.dumps(record["thresholds"]), f"from {record['n_impostor']} impostor decisions")
    out.print(f"cohort z thresholds {json.dumps(z)}")
    out.print(f"wrote {out_file} and {out_file.with_name(COHORT_FILE)}")


def _embed_cached(population: Any, cache: Path) -> Any:
    from facegate.eval.dataset import embed_cached
    from facegate.session import Session

    with Session.open() as session, progress_bar() as progress:
        task = progress.add_task(
            f"embedding {population.population.value}", total=len(population.samples)
        )
        return embed_cached(
            population.samples,
            session.pipeline,
            cache / f"{population.population.value}.npz",
            progress=lambda: progress.advance(task),
        )
