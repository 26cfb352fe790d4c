"""Commands for the unlock job: enrol, verify, list, delete, reset, doctor, demo, bench."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facegate.biometrics.levels import SecurityLevel
from facegate.cli.app import (
    READ_FRAMES,
    SourcesArgument,
    UserArgument,
    app,
    bench_app,
    err,
    friendly,
    out,
)
from facegate.cli.listing import print_rows, user_rows
from facegate.errors import InputError, Reason
from facegate.liveness.modes import LivenessMode

if TYPE_CHECKING:
    from facegate.biometrics.unlock import EnrolmentReport, Verdict
    from facegate.session import Session


VaultOption = Annotated[
    bool | None,
    typer.Option(
        "--system/--personal",
        help="The login service's vault, or your own (default: system for root, unless "
        "FACEGATE_HOME is set).",
        show_default=False,
    ),
]
SystemRootOption = Annotated[
    Path, typer.Option("--root", help="Prefix for the system paths (tests).", hidden=True)
]


def _enrolment_session(system: bool | None, root: Path) -> tuple[Session, str]:
    """The session ``enroll`` / ``add`` write to, and where that is, for the summary line
    (rule: ``facegate.system.paths.wants_system_vault``)."""
    from facegate.session import Session
    from facegate.system.paths import SystemPaths, wants_system_vault

    if not wants_system_vault(system, os.geteuid(), os.environ):
        return Session.open(), ""
    if os.geteuid() != 0:
        err.print("[bold red]error:[/] the system vault needs root: run it with sudo")
        raise typer.Exit(2)
    from facegate.system.authenticate import open_system_session

    paths = SystemPaths(root=root)
    return open_system_session(paths), f" in the system vault {paths.state_dir} (login)"


@app.command()
@friendly
def enroll(
    user: UserArgument,
    sources: SourcesArgument,
    replace: Annotated[bool, typer.Option(help="Replace an existing template.")] = False,
    read_frames: Annotated[int, READ_FRAMES] = 60,
    system: VaultOption = None,
    root: SystemRootOption = Path("/"),
) -> None:
    """Enrol USER from several images, a video or a camera session.

    Run as root (sudo), USER is enrolled for login, in the login service's vault."""
    session, where = _enrolment_session(system, root)
    with session:
        report = session.enroll(user, sources, replace=replace, max_frames=read_frames)
    _print_report("enrolled", report, where)
    if report.kept == 1:
        err.print(
            f"[yellow]warning:[/] {user} was enrolled from one capture; unlock is more reliable "
            f"with 3-5 varied ones: `facegate add {user} MORE.jpg ...`",
            soft_wrap=True,
        )


@app.command()
@friendly
def add(
    user: UserArgument,
    sources: SourcesArgument,
    read_frames: Annotated[int, READ_FRAMES] = 60,
    system: VaultOption = None,
    root: SystemRootOption = Path("/"),
) -> None:
    """Add captures of USER to their template; each must look like the enrolled face.

    Run as root (sudo), USER's login template is the one changed."""
    session, where = _enrolment_session(system, root)
    with session:
        report = session.add(user, sources, max_frames=read_frames)
    _print_report("added to", report, where)


def _print_report(done: str, report: EnrolmentReport, where: str = "") -> None:
    """The summary line, then each refused capture by name so it can be retaken."""
    rejected = ", ".join(f"{r.value}: {n}" for r, n in report.rejected.items()) or "none"
    usable = report.seen - sum(report.rejected.values())
    varied = f" (the most varied of {usable} usable)" if usable > report.kept else ""
    out.print(
        f"{done} [bold]{report.user}[/]{where}: kept {report.kept} of {report.seen} "
        f"capture(s){varied}; rejected: {rejected}",
        soft_wrap=True,
    )
    for refusal in report.refusals:
        where = refusal.source if refusal.index == 0 else f"{refusal.source} frame {refusal.index}"
        out.print(f"  refused {where}: {refusal.reason.value}", soft_wrap=True, highlight=False)


@app.command()
@friendly
def verify(
    user: UserArgument,
    sources: SourcesArgument,
    level: Annotated[SecurityLevel, typer.Option(help="Security level.")] = SecurityLevel.STANDARD,
    frames: Annotated[int, typer.Option(help="Usable frames fused per attempt.")] = 3,
    budget: Annotated[
        float,
        typer.Option(
            help="Seconds allowed for the face to be found and matched; a liveness "
            "challenge, once prompted, gets its own time to be answered."
        ),
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    liveness: Annotated[
        LivenessMode | None,
        typer.Option(
            help="Liveness check. Default by level: standard = passive; high = active "
            "(random blink / smile / mouth prompts; a camera or video only, and high "
            "accepts nothing weaker). "
            "'off' is never a default, and such a match never updates the template."
        ),
    ] = None,
    attention: Annotated[
        bool, typer.Option(help="Require open eyes looking at the camera (accessibility: off).")
    ] = True,
) -> None:
    """Verify USER. Exit code 0 = match, 1 = no match, 2 = error.

    The verdict gives the decision and the reason, never a score.
    """
    from facegate.biometrics.policy import UnlockOptions
    from facegate.session import Session

    options = UnlockOptions(
        level=level,
        max_frames=frames,
        budget_seconds=budget,
        liveness=liveness,
        require_attention=attention,
    )
    with Session.open() as session:
        verdict = session.verify(
            user,
            sources,
            options,
            on_challenge=lambda c: err.print(f"[bold]{c.kind.prompt}[/] now"),
        )
    _print_verdict(verdict, as_json)
    raise typer.Exit(0 if verdict.matched else 1)


def _print_verdict(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(verdict.as_dict()))
        return
    colour = "green" if verdict.matched else "red"
    out.print(
        f"[{colour}]{'MATCH' if verdict.matched else 'NO MATCH'}[/] {verdict.user}: "
        f"reason={verdict.reason.value} level={verdict.level.value} "
        f"liveness={verdict.liveness.value} mask={_mask_text(verdict.mask)} "
        f"frames={verdict.frames_used}/{verdict.frames_seen}"
        + (_locked_hint(verdict.user) if verdict.locked else ""),
        soft_wrap=True,
    )
    if verdict.reason is Reason.LIVENESS and not verdict.locked:
        err.print(
            "hint: liveness was not proven, and this counts toward the lockout. On a "
            "camera or video, answer the prompts; a still photo rarely proves it.",
            soft_wrap=True,
        )


def _locked_hint(user: str) -> str:
    return f" [bold red]LOCKED[/] (clear with `facegate reset {user}`)"


def _mask_text(mask: bool | None) -> str:
    """``yes`` / ``no``, or ``-`` when no frame was usable."""
    return "-" if mask is None else ("yes" if mask else "no")


@app.command()
@friendly
def users(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List enrolled users (names, dates and lockout state; never a template)."""
    from facegate.session import Session

    with Session.open() as session:
        # A listing must not create the vault (and its key) it was asked about; once
        # either exists, it is opened and its faults are reported.
        settings = session.settings
        present = settings.vault_path.exists() or settings.key_path.exists()
        records = session.vault.users() if present else []
    print_rows(user_rows(records), as_json=as_json, empty="no users enrolled")


@app.command()
@friendly
def delete(
    user: UserArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (scripts).")] = False,
) -> None:
    """Delete USER and their template for good; asks first unless --yes."""
    if not yes:
        try:
            sure = typer.confirm(f"Delete {user} and their face template for good?")
        except typer.Abort:
            raise InputError(f"no answer, so {user} was kept; in a script, add --yes") from None
        if not sure:
            out.print(f"kept {user}")
            raise typer.Exit(1)
    from facegate.session import Session

    with Session.open() as session:
        session.vault.delete_user(user)
    out.print(f"deleted {user}")


@app.command()
@friendly
def reset(user: UserArgument) -> None:
    """Clear USER's lockout after five failed attempts."""
    from facegate.session import Session

    with Session.open() as session:
        session.vault.reset_lockout(user)
    out.print(f"lockout cleared for {user}")


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Show which models (with their sha256), OpenCV build and vault key source are in use."""
    from facegate.doctor import run_checks

    checks = run_checks()
    if as_json:
        rows = [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks]
        out.print_json(json.dumps(rows))
    else:
        table = Table("check", "status", "detail")
        table.columns[2].overflow = "fold"  # paths and digests are shown whole, never cut
        for check in checks:
            status = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
            table.add_row(check.name, status, check.detail)
        out.print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 2)


@app.command()
@friendly
def demo(
    camera: Annotated[int | None, typer.Option(help="Camera index to use if present.")] = 0,
) -> None:
    """Enrol and unlock end to end in a throw-away vault (a camera, or the astronaut photo)."""
    from facegate.demo import run_demo

    run_demo(out, camera)


@bench_app.command("stages")
@friendly
def bench_stages(
    runs: Annotated[int, typer.Option(help="Timed repetitions per stage.")] = 30,
    baseline: Annotated[bool, typer.Option(help="Also time the dlib HOG pipeline.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Median latency of each stage on a 640x480 frame, and the dlib baseline."""
    from facegate.bench.stages import run_bench
    from facegate.bench.timing import machine_description

    result = run_bench(runs=runs, baseline=baseline)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    table = Table("stage", "median ms", "p90 ms", title=f"facegate bench stages ({runs} runs)")
    for row in result.rows:
        table.add_row(row.stage, f"{row.median_ms:.2f}", f"{row.p90_ms:.2f}")
    out.print(table)
    out.print(f"{machine_description()}; load average {os.getloadavg()[0]:.1f} (1 min)")
    if result.speedup is not None:
        out.print(f"FaceGate verify is {result.speedup:.1f}x faster than the dlib HOG pipeline")


@bench_app.command("startup")
@friendly
def bench_startup(
    runs: Annotated[int, typer.Option(help="Fresh processes per command.")] = 7,
) -> None:
    """Wall time of `facegate --help` and `import facegate.client`, and the costliest imports."""
    from facegate.bench.startup import run_startup_bench
    from facegate.bench.timing import machine_description

    result = run_startup_bench(runs=runs)
    table = Table("command", "median ms", "p90 ms", title=f"facegate bench startup ({runs} runs)")
    for row in result.timings:
        table.add_row(row.stage, f"{row.median_ms:.0f}", f"{row.p90_ms:.0f}")
    out.print(table)
    for module, rows in result.heaviest.items():
        heavy = Table(
            "module (cumulative)", "ms", title=f"python -X importtime -c 'import {module}'"
        )
        for name, micros in rows:
            heavy.add_row(name.strip(), f"{micros / 1000:.1f}")
        out.print(heavy)
    out.print(machine_description())
