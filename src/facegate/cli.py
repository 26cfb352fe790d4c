"""The ``facegate`` command line: thin commands over the library.

Exit codes are a contract (PAM and scripts rely on them): 0 match / success,
1 no match, 2 error. Library errors are turned into messages and codes here and
only here; templates never reach this module's output.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from facegate.biometrics.match import SecurityLevel
from facegate.biometrics.unlock import UnlockOptions, Verdict
from facegate.errors import EXIT_CODE, FaceGateError, lookup
from facegate.session import Session
from facegate.vision.sources import Frame, iter_frames

app = typer.Typer(help="FaceGate: private, offline face unlock.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure accuracy the way biometric systems are measured.")
app.add_typer(eval_app, name="eval")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn FaceGate errors into a one-line message and the table's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaceGateError as exc:
            err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
            raise typer.Exit(lookup(EXIT_CODE, exc)) from None

    return wrapper  # type: ignore[return-value]


def _frames(sources: list[str], max_frames: int | None = None) -> Iterator[Frame]:
    for src in sources:
        yield from iter_frames(src, max_frames=max_frames)


def _command_line() -> str:
    return "facegate " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@app.command()
@friendly
def enroll(
    user: str,
    sources: Annotated[list[str], typer.Argument(help="Images, videos, or a camera index.")],
    replace: Annotated[bool, typer.Option(help="Replace an existing template.")] = False,
    max_frames: Annotated[int, typer.Option(help="Frames to read per video/camera.")] = 60,
) -> None:
    """Enrol USER from several images, a video or a camera session."""
    with Session.open() as session:
        report = session.unlocker.enroll(user, _frames(sources, max_frames), replace=replace)
    rejected = ", ".join(f"{r.value}: {n}" for r, n in report.rejected.items()) or "none"
    out.print(
        f"enrolled [bold]{report.user}[/]: kept {report.kept} of {report.seen} capture(s); "
        f"rejected: {rejected}"
    )


@app.command()
@friendly
def verify(
    user: str,
    sources: Annotated[list[str], typer.Argument(help="Images, a video, or a camera index.")],
    level: Annotated[SecurityLevel, typer.Option(help="Security level.")] = SecurityLevel.STANDARD,
    frames: Annotated[int, typer.Option(help="Usable frames fused per attempt.")] = 3,
    budget: Annotated[float, typer.Option(help="Seconds allowed for one attempt.")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Verify USER. Exit code 0 = match, 1 = no match, 2 = error."""
    options = UnlockOptions(level=level, max_frames=frames, budget_seconds=budget)
    with Session.open() as session:
        verdict = session.unlocker.verify(user, _frames(sources, 120), options)
    _print_verdict(verdict, as_json)
    raise typer.Exit(0 if verdict.matched else 1)


def _print_verdict(verdict: Verdict, as_json: bool) -> None:
    record = {
        "user": verdict.user,
        "matched": verdict.matched,
        "reason": verdict.reason.value,
        "level": verdict.level.value,
        "score": None if verdict.score is None else round(verdict.score, 4),
        "threshold": round(verdict.threshold, 4),
        "frames_used": verdict.frames_used,
        "frames_seen": verdict.frames_seen,
        "failures": verdict.failures,
        "locked": verdict.locked,
    }
    if as_json:
        out.print_json(json.dumps(record))
        return
    colour = "green" if verdict.matched else "red"
    score = "n/a" if verdict.score is None else f"{verdict.score:.3f}"
    out.print(
        f"[{colour}]{'MATCH' if verdict.matched else 'NO MATCH'}[/] {verdict.user}: "
        f"reason={verdict.reason.value} score={score} threshold={verdict.threshold:.3f} "
        f"({verdict.level.value}) frames={verdict.frames_used}/{verdict.frames_seen}"
        + (" [bold red]LOCKED[/]" if verdict.locked else "")
    )


@app.command()
@friendly
def users() -> None:
    """List enrolled users (names and lockout state only)."""
    with Session.open() as session:
        records = session.vault.users()
    table = Table("user", "enrolled", "updated", "failures", "locked")
    for r in records:
        table.add_row(
            r.name, f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.updated_at:%Y-%m-%d %H:%M}",
            str(r.failures), "yes" if r.locked else "no",
        )
    out.print(table if records else "no users enrolled")


@app.command()
@friendly
def delete(
    user: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Delete USER and their template for good."""
    if not yes and not typer.confirm(f"Delete {user} and their face template for good?"):
        raise typer.Exit(1)
    with Session.open() as session:
        session.vault.delete_user(user)
    out.print(f"deleted {user}")


@app.command()
@friendly
def reset(user: str) -> None:
    """Clear USER's lockout after five failed attempts."""
    with Session.open() as session:
        session.vault.reset_lockout(user)
    out.print(f"lockout cleared for {user}")


@app.command()
def doctor() -> None:
    """Show which models, OpenCV build and vault key source are in use."""
    from facegate.doctor import run_checks

    checks = run_checks()
    table = Table("check", "status", "detail")
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]", check.detail)
    out.print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 2)


@app.command()
@friendly
def demo(
    camera: Annotated[int | None, typer.Option(help="Camera index to use if present.")] = 0,
) -> None:
    """Enrol and unlock end to end in a throw-away vault (camera, or bundled sample photos)."""
    from facegate.demo import run_demo

    run_demo(out, camera)


@app.command()
@friendly
def bench(
    runs: Annotated[int, typer.Option(help="Timed repetitions per stage.")] = 30,
    baseline: Annotated[bool, typer.Option(help="Also time the dlib HOG pipeline.")] = True,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Median latency of each stage on a 640x480 frame, and the dlib baseline."""
    from facegate.bench import machine_description, run_bench

    result = run_bench(runs=runs, baseline=baseline)
    table = Table("stage", "median ms", "p90 ms", title=f"facegate bench ({runs} runs)")
    for row in result.rows:
        table.add_row(row.stage, f"{row.median_ms:.2f}", f"{row.p90_ms:.2f}")
    out.print(table)
    out.print(machine_description())
    if result.speedup is not None:
        out.print(f"FaceGate verify is {result.speedup:.1f}x faster than the dlib HOG pipeline")
    if as_json:
        as_json.write_text(json.dumps(result.as_dict(), indent=2))


def _embed_with_progress(samples: list[Any], quality: Any = None) -> Any:
    from facegate.eval.dataset import embed_samples

    with Session.open(vault=False) as session, Progress(console=err) as progress:
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
    extra = {"command": _command_line(), "machine": machine_description(), **extra}
    report = write_report(
        summary, det_curve(scores.genuine, scores.impostor), out_dir, title=title, extra=extra
    )
    fnmr = ", ".join(
        f"{k}: {'n/a' if v is None else f'{v:.2%}'}" for k, v in summary.fnmr_at_fmr.items()
    )
    out.print(
        f"{title}: genuine={summary.n_genuine} impostor={summary.n_impostor} "
        f"FTA={summary.fta:.2%} ({summary.n_failed_acquisitions}/{summary.n_attempts}) "
        f"EER={summary.eer:.2%}\nFNMR at FMR {{{fnmr}}}\nwrote {report}"
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
    _write(scores, out_dir, f"verify {root.name}", {"dataset": str(root), "protocol": "pairs"})


@eval_app.command("unlock")
@friendly
def eval_unlock(
    root: Path,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")],
    enroll: Annotated[int, typer.Option(help="Images per identity to enrol.")] = 3,
) -> None:
    """Enrol the first K images of each identity; probe every other image."""
    import numpy as np

    from facegate.biometrics.match import load_calibration
    from facegate.eval.dataset import list_dataset
    from facegate.eval.protocols import split_enrolment, unlock_scores
    from facegate.vision.quality import ENROL_QUALITY

    samples = list_dataset(root)
    is_enrol = split_enrolment(np.array([s.identity for s in samples]), enroll)
    enrol_set = _embed_with_progress([s for s, e in zip(samples, is_enrol, strict=True) if e],
                                     ENROL_QUALITY)
    probe_set = _embed_with_progress([s for s, e in zip(samples, is_enrol, strict=True) if not e])
    calibration = load_calibration()
    scores, _ = unlock_scores(
        enrol_set,
        probe_set,
        consistency_threshold=calibration.threshold(SecurityLevel.STANDARD),
        now=time.time(),
    )
    extra = {
        "dataset": str(root),
        "protocol": f"unlock, enrol first {enroll} per identity",
        "n_identities": scores.n_identities,
        "fte": scores.n_enrol_failed / max(scores.n_identities, 1),
        "n_enrol_failed": scores.n_enrol_failed,
        "levels": {
            lvl.value: {
                "threshold": calibration.threshold(lvl),
                "fnmr": float(np.mean(scores.genuine < calibration.threshold(lvl))),
                "fmr": float(np.mean(scores.impostor >= calibration.threshold(lvl))),
                "false_non_matches": int(np.sum(scores.genuine < calibration.threshold(lvl))),
                "false_matches": int(np.sum(scores.impostor >= calibration.threshold(lvl))),
            }
            for lvl in SecurityLevel
        },
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
        data, template_size=template_size, subsets=subsets, command=_command_line(), root=root
    )
    out_file.write_text(json.dumps(record, indent=2) + "\n")
    out.print(json.dumps(record["thresholds"]), f"from {record['n_impostor']} impostor scores")
    out.print(f"wrote {out_file}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
