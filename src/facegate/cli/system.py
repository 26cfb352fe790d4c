"""Commands for the login service: ``facegate daemon`` and ``facegate system ...``.

``--root`` moves every system path (/etc/facegate, /var/lib/facegate, /run/facegate,
/etc/pam.d, the systemd unit) under another directory, for tests and dry rehearsals.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from facegate.cli.app import READ_FRAMES, app, bench_app, err, friendly, out
from facegate.cli.listing import print_rows, user_rows
from facegate.errors import ConfigError
from facegate.system import attempts
from facegate.system import client as pam_client
from facegate.system.config import load_config
from facegate.system.paths import SystemPaths

system_app = typer.Typer(help="Log in with your face: PAM set-up, the attempt log, status.")
app.add_typer(system_app, name="system")
DATA = Path("../shared/data/blink_webcam_videos")

RootOption = Annotated[
    Path, typer.Option("--root", help="Prefix for every system path (tests).", hidden=True)
]
SocketOption = Annotated[
    Path | None, typer.Option("--socket", help="The daemon's socket (default under /run).")
]
ServiceOption = Annotated[
    list[str], typer.Option("--service", help="PAM service file to change (repeatable).")
]


def _paths(root: Path, socket: Path | None = None, pam_dir: Path | None = None) -> SystemPaths:
    """Absolute, so what ``install`` writes into PAM lines and the unit means the same
    from PAM's and systemd's working directories."""
    return SystemPaths(
        root=root.absolute(),
        socket_override=socket.absolute() if socket else None,
        pam_dir_override=pam_dir.absolute() if pam_dir else None,
    )


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        err.print(f"[bold red]error:[/] {what} needs root: run it with sudo")
        raise typer.Exit(2)


@app.command()
@friendly
def daemon(root: RootOption = Path("/"), socket: SocketOption = None) -> None:
    """Run the login service in the foreground (systemd runs it for you after install)."""
    from facegate.system.daemon import LoginService

    _require_root("the login service")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    paths = _paths(root, socket)
    service = LoginService(paths, load_config(paths.config_file))
    service.open()
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    try:
        service.serve()
    finally:
        service.close()


@system_app.command()
@friendly
def install(
    service: ServiceOption = ["sudo"],  # noqa: B006  (Typer reads the default list)
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the change only.")] = False,
    root: RootOption = Path("/"),
    pam_dir: Annotated[
        Path | None, typer.Option(help="PAM directory (default /etc/pam.d).")
    ] = None,
    socket: SocketOption = None,
) -> None:
    """Add face unlock (password as the fallback) to PAM services and write the unit.

    Refused when anything PAM or the service would run as root (python, the client, the
    facegate package, site-packages, ...) can be changed by someone other than root."""
    import facegate
    from facegate.system.pam_config import install as install_pam
    from facegate.system.pam_config import pam_lines
    from facegate.system.trusted_paths import current_root_run, refuse_unsafe
    from facegate.system.unit import unit_text, write_unit

    if not dry_run:
        _require_root("changing PAM files")
    paths = _paths(root, socket, pam_dir)
    script = Path(sys.executable).with_name("facegate")
    client = Path(pam_client.__file__)
    refuse_unsafe(current_root_run(client, script, Path(facegate.__file__).parent))
    command = [sys.executable, "-I", str(client)]
    if paths.socket != pam_client.DEFAULT_SOCKET:
        command += ["--socket", str(paths.socket)]
    lines = pam_lines(command)
    for name in service:
        change = install_pam(paths, name, lines, dry_run=dry_run)
        if dry_run:
            typer.echo(change.diff() or f"{change.path}: already set up")
        else:
            out.print(f"{change.path}: " + ("face unlock added" if change.changed else "unchanged"))
    unit = unit_text(script, root=paths.root, socket=paths.socket_override)
    if dry_run:
        typer.echo(f"would write {paths.unit_file}")
    elif write_unit(paths.unit_file, unit):
        out.print(f"wrote {paths.unit_file}; start it with: systemctl enable --now facegate")


@system_app.command()
@friendly
def uninstall(
    service: ServiceOption = ["sudo"],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the change only.")] = False,
    root: RootOption = Path("/"),
    pam_dir: Annotated[
        Path | None, typer.Option(help="PAM directory (default /etc/pam.d).")
    ] = None,
) -> None:
    """Remove face unlock from PAM services (restoring each file byte for byte).

    Exit 1 when a line naming FaceGate is left that is not exactly one FaceGate wrote
    (a hand edit): it is named, for you to remove."""
    from facegate.system.pam_config import still_in_use
    from facegate.system.pam_config import uninstall as uninstall_pam
    from facegate.system.unit import remove_unit

    if not dry_run:
        _require_root("changing PAM files")
    paths = _paths(root, None, pam_dir)
    left = False
    for name in service:
        removal = uninstall_pam(paths, name, dry_run=dry_run)
        change = removal.change
        if dry_run:
            typer.echo(change.diff() or f"{change.path}: no face unlock lines")
        elif removal.restored:
            out.print(f"{change.path}: restored")
        else:
            done = "face unlock lines removed, hand edits kept" if change.changed else "unchanged"
            out.print(f"{change.path}: {done}")
        for row in removal.left:
            left = True
            err.print(
                "[bold red]not removed[/] (names FaceGate, but not as FaceGate wrote it; "
                f"check it and remove it by hand): {escape(str(change.path))}, {escape(row)}",
                highlight=False,
                soft_wrap=True,
            )
    if not dry_run:
        using = still_in_use(paths)
        if using:
            out.print(f"kept {paths.unit_file}: still used by " + ", ".join(map(str, using)))
        elif remove_unit(paths.unit_file):
            out.print(f"removed {paths.unit_file}")
    if left:
        raise typer.Exit(1)


@system_app.command("log")
@friendly
def show_log(
    limit: Annotated[int, typer.Option(help="How many recent attempts.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    root: RootOption = Path("/"),
) -> None:
    """Recent face attempts: time, caller's uid, user, PAM service, tty, outcome, reason.

    Only rows with uid 0 came from the PAM stack; user, service and tty are what the
    caller sent, so another uid's row is a refused request, not a login attempt."""
    _require_root("reading the attempt log")
    rows = attempts.recent(_paths(root).attempt_log, limit)
    if as_json:
        for row in rows:
            record = {**row.__dict__, "at": row.at.isoformat()}
            typer.echo(json.dumps(record))
        return
    table = Table("time", "uid", "user", "service", "tty", "outcome", "reason", "ms")
    for row in rows:
        table.add_row(
            f"{row.at:%Y-%m-%d %H:%M:%S}", "-" if row.uid is None else str(row.uid), row.user,
            row.service, row.tty, row.outcome, row.reason, str(row.duration_ms),
        )  # fmt: skip
    out.print(table if rows else "no attempts logged")


@system_app.command()
@friendly
def status(root: RootOption = Path("/"), socket: SocketOption = None) -> None:
    """Whether the login service answers (anyone may ask). Exit 0 when it does."""
    paths = _paths(root, socket)
    reply = pam_client.request(paths.socket, {"op": pam_client.Op.STATUS.value})
    out.print_json(json.dumps(reply))
    raise typer.Exit(0 if reply.get("outcome") == pam_client.Outcome.OK.value else 1)


@system_app.command()
@friendly
def enroll(
    user: Annotated[str, typer.Argument(help="The login name.")],
    sources: Annotated[list[str], typer.Argument(help="Images, videos, or a camera index.")],
    replace: Annotated[bool, typer.Option(help="Replace an existing template.")] = False,
    read_frames: Annotated[int, READ_FRAMES] = 60,
    root: RootOption = Path("/"),
) -> None:
    """Enrol a login USER into the system vault (root only)."""
    from facegate.system.authenticate import enroll as enroll_user
    from facegate.system.authenticate import open_system_session
    from facegate.vision.sources import iter_sources

    _require_root("enrolling into the system vault")
    with open_system_session(_paths(root)) as session:
        report = enroll_user(
            session, user, iter_sources(sources, max_frames=read_frames), replace=replace
        )
    out.print(f"enrolled {report.user} for login: kept {report.kept} of {report.seen} captures")


@system_app.command()
@friendly
def users(
    root: RootOption = Path("/"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Login users in the system vault (names, dates and lockout state; never a template)."""
    from facegate.system.authenticate import open_system_session

    _require_root("reading the system vault")
    with open_system_session(_paths(root)) as session:
        records = session.vault.users()
    print_rows(user_rows(records), as_json=as_json, empty="no login users enrolled")


@system_app.command()
@friendly
def delete(
    user: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    root: RootOption = Path("/"),
) -> None:
    """Delete a login USER's face template from the system vault for good (root only)."""
    from facegate.system.authenticate import open_system_session

    _require_root("deleting from the system vault")
    if not yes and not typer.confirm(f"Delete {user}'s login face for good?"):
        raise typer.Exit(1)
    with open_system_session(_paths(root)) as session:
        session.vault.delete_user(user)
    out.print(f"deleted {user}'s login face")


@system_app.command()
@friendly
def reset(user: str, root: RootOption = Path("/")) -> None:
    """Clear USER's face lockout in the system vault (root only)."""
    from facegate.system.authenticate import clear_lockout, open_system_session

    _require_root("resetting a lockout")
    with open_system_session(_paths(root)) as session:
        outcome = clear_lockout(session, user)
    out.print(
        f"lockout cleared for {user}"
        if outcome is pam_client.Outcome.OK
        else f"{user} is not enrolled"
    )


@system_app.command("seal-key")
@friendly
def seal_key(root: RootOption = Path("/")) -> None:
    """Seal the login vault's plain key file with systemd-creds (root only).

    Keys made where systemd-creds was missing stay plain until this is run."""
    from facegate.config import KeySource, Settings
    from facegate.system.key_protection import Sealing, available_sealing, seal_existing
    from facegate.vault import load_key

    _require_root("sealing the login vault key")
    paths = _paths(root)
    if not paths.key_file.exists():
        if paths.sealed_key_file.exists():
            out.print(f"already sealed: {paths.sealed_key_file}")
            return
        raise ConfigError(f"no key file at {paths.key_file}: nothing to seal")
    sealing = available_sealing()
    if sealing is Sealing.NONE:
        raise ConfigError("systemd-creds is not installed here; the key stays a root-only file")
    # With both files there (an interrupted seal-key), the plain key is the one checked.
    plain = load_key(Settings(home=paths.config_dir, key_source=KeySource.KEYFILE))
    seal_existing(paths.key_file, paths.sealed_key_file, plain)
    out.print(f"sealed the login vault key in {paths.sealed_key_file} ({sealing.value})")


@bench_app.command("login")
@friendly
def bench_login(
    runs: Annotated[int, typer.Option(help="Timed logins of each kind.")] = 20,
    enrol: Annotated[Path, typer.Option(help="Video to enrol from.")] = DATA / "mahie_test_2.avi",
    genuine: Annotated[Path, typer.Option(help="The enrolled person's 30 fps video.")] = DATA
    / "mahie_test_1.avi",
    impostor: Annotated[Path, typer.Option(help="Another person's video.")] = DATA
    / "soniya_test_3.avi",
    answering: Annotated[
        Path,
        typer.Option(
            help="Folder with the clips of the person who answers the prompts "
            "(soniya_test_5_low_fps.avi answers, soniya_test_3.avi enrols)."
        ),
    ] = DATA,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Seconds from pamtester starting to PAM success (warm service) vs a cold dlib process.

    A responder plays real frames of an enrolled person through a named-pipe camera and
    answers each prompt; a 30 fps clip times the service's share, up to its prompt.
    Needs root: it creates test users and a test PAM service, removed afterwards."""
    from facegate.bench.login import Cameras, run_login_bench
    from facegate.system.responder import soniya

    cameras = Cameras(
        enrol=enrol,
        genuine=genuine,
        impostor=impostor,
        answering=soniya(answering),
        answering_enrol=answering / "soniya_test_3.avi",
    )
    result = run_login_bench(cameras, runs)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    table = Table("login", "median s", "p90 s", title=f"facegate bench login ({runs} runs)")
    table.add_row(
        f"person answering the prompts: pamtester start to success by face "
        f"({result.genuine_successes}/{runs} got in)",
        seconds(result.median_s),
        seconds(result.p90_s),
    )
    table.add_row(
        "  of which the attempt in the daemon", seconds(result.answer_daemon_median_s), ""
    )
    table.add_row(
        f"30 fps clip: to the challenge prompt ({result.prompted} runs asked)",
        seconds(result.prompt_median_s),
        "",
    )
    table.add_row(
        "  to pamtester's exit (a clip cannot answer: it falls through)",
        seconds(result.recording_end_median_s),
        "",
    )
    table.add_row("  of which the attempt in the daemon", seconds(result.daemon_median_s), "")
    table.add_row(
        "a user not enrolled (the fixed round trip)", seconds(result.round_trip_median_s), ""
    )
    table.add_row(
        "cold dlib process", seconds(result.cold_dlib_median_s), seconds(result.cold_dlib_p90_s)
    )
    out.print(table)
    out.print(
        f"{result.machine}; load average {result.load_average_1min} (1 min); "
        f"face timeout {result.timeout_s} s"
    )
    to_success = "-" if result.speedup is None else f"{result.speedup:.2f}x"
    to_prompt = "-" if result.speedup_to_prompt is None else f"{result.speedup_to_prompt:.2f}x"
    out.print(
        f"cold dlib over the time to success {to_success}, over the time to the prompt "
        f"{to_prompt}; impostor fell through to the password: {result.impostor_fell_through}"
    )
