"""Commands for the sharing job: apps, terms, consent, grants, the audit log, the service.

Each command is a few lines over ``facegate.sharing.service.Sharing`` (or the
service and client packages). Exit codes: 0 success, 1 a broken audit chain,
2 any error. Tokens are printed only where they are issued and never logged.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from facegate.cli.app import app, bench_app, err, friendly, out
from facegate.cli.listing import print_rows
from facegate.errors import InputError

if TYPE_CHECKING:
    from facegate.bench.stream import StreamBenchResult
    from facegate.server.feeds import SourceStatus
    from facegate.sharing.service import Sharing

apps_app = typer.Typer(help="Apps that may ask for expression data.", no_args_is_help=True)
terms_app = typer.Typer(help="The terms every app accepts.", no_args_is_help=True)
consent_app = typer.Typer(help="Decide apps' consent requests.", no_args_is_help=True)
grants_app = typer.Typer(help="See and revoke what apps may receive.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of every access.")
app.add_typer(apps_app, name="apps")
app.add_typer(terms_app, name="terms")
app.add_typer(consent_app, name="consent")
app.add_typer(grants_app, name="grants")
app.add_typer(audit_app, name="audit")


@contextmanager
def _sharing() -> Iterator[Sharing]:
    from facegate.config import load_settings
    from facegate.sharing.service import Sharing

    with Sharing.open(load_settings()) as sharing:
        yield sharing


def _when(moment: object) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _report_notices(sharing: Sharing) -> None:
    """Send due deletion notices now; the service retries any that fail."""
    for delivery in sharing.deliver_notices():
        if delivery.delivered:
            out.print(f"deletion notice {delivery.notice_id} delivered to {delivery.app_id}")
        else:
            err.print(
                f"deletion notice {delivery.notice_id} to {delivery.app_id} not delivered yet "
                f"({escape(delivery.error or '')}); `facegate serve` keeps retrying it"
            )


# --- apps -------------------------------------------------------------------------------


def _public_key_text(value: str) -> str:
    """A key given as a PEM file path, or as the key text itself."""
    path = Path(value).expanduser()
    if len(value) < 1024 and path.is_file():
        try:
            return path.read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable PEM key file ({exc})") from exc
    return value


@apps_app.command("register")
@friendly
def apps_register(
    name: Annotated[str, typer.Option(help="The app's name, as people will see it.")],
    developer: Annotated[str, typer.Option(help="Who makes it.")],
    contact: Annotated[str, typer.Option(help="E-mail or URL for questions.")],
    purpose: Annotated[str, typer.Option(help="What the expression data is used for.")],
    retention_days: Annotated[int, typer.Option(help="Days the app keeps the data, at most.")],
    webhook: Annotated[str, typer.Option(help="URL that receives signed deletion notices.")],
    public_key: Annotated[str, typer.Option(help="Ed25519 public key: PEM file or base64.")],
    allow_local_webhook: Annotated[
        bool,
        typer.Option(
            help="Let the webhook be on this machine or the local network (an app you run here)."
        ),
    ] = False,
) -> None:
    """Register an app; it must accept the terms before asking anyone for consent."""
    from facegate.sharing.apps import AppRegistration
    from facegate.sharing.service import Via

    registration = AppRegistration(
        name=name,
        developer=developer,
        contact=contact,
        purpose=purpose,
        retention_days=retention_days,
        webhook_url=webhook,
        public_key=_public_key_text(public_key),
        allow_local_webhook=allow_local_webhook,
    )
    with _sharing() as sharing:
        registered = sharing.register_app(registration, Via.CLI)
    out.print(
        f"registered app [bold]{escape(registered.name)}[/] as {registered.id}", soft_wrap=True
    )


@apps_app.command("list")
@friendly
def apps_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registered apps, their terms acceptance and ban state."""
    with _sharing() as sharing:
        apps = sharing.apps()
    rows = [
        {
            "id": a.id,
            "name": a.name,
            "developer": a.developer,
            "retention_days": a.retention_days,
            "terms_version": a.terms_version,
            "banned": a.banned,
            "ban_reason": a.ban_reason,
        }
        for a in apps
    ]
    print_rows(rows, as_json=as_json, empty="no apps registered")


@apps_app.command("ban")
@friendly
def apps_ban(
    app_id: str,
    reason: Annotated[str, typer.Option(help="Why; recorded in the audit log.")],
) -> None:
    """Ban an app: every token dies, its streams close, it is told to delete its data."""
    with _sharing() as sharing:
        revoked = sharing.ban_app(app_id, reason)
        out.print(f"banned {app_id}; {len(revoked)} grant(s) revoked")
        _report_notices(sharing)


# --- terms ------------------------------------------------------------------------------


@terms_app.command("show")
def terms_show() -> None:
    """Print the terms in force."""
    from facegate.sharing.terms import current_terms

    terms = current_terms()
    out.print(f"terms version {terms.version}\n", highlight=False)
    out.print(terms.text, markup=False, highlight=False)


@terms_app.command("accept")
@friendly
def terms_accept(
    app_id: str,
    version: Annotated[str, typer.Argument(help="The terms version being accepted.")],
) -> None:
    """Record that APP_ID accepts the terms of VERSION (the one in force)."""
    with _sharing() as sharing:
        accepted = sharing.accept_terms(app_id, version)
    out.print(f"{app_id} accepted terms version {accepted.terms_version}")


# --- consent ----------------------------------------------------------------------------


@consent_app.command("list")
@friendly
def consent_list(
    all_requests: Annotated[bool, typer.Option("--all", help="Not only pending ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Consent requests waiting for a decision (or all of them)."""
    from facegate.sharing.consent import RequestStatus
    from facegate.sharing.scopes import to_names

    with _sharing() as sharing:
        requests = sharing.consent_requests(None if all_requests else RequestStatus.PENDING)
        names = {a.id: a.name for a in sharing.apps()}
        now = sharing.clock()
    rows = [
        {
            "request": r.id,
            "app_id": r.app_id,
            "app": names.get(r.app_id, r.app_id),
            "scopes": to_names(r.scopes),
            "grant_seconds": r.grant_seconds,
            "status": r.status(now).value,
        }
        for r in requests
    ]
    print_rows(rows, as_json=as_json, empty="no consent requests")


@consent_app.command("approve")
@friendly
def consent_approve(request_id: str) -> None:
    """Allow the app exactly what REQUEST_ID asks for."""
    from facegate.sharing.scopes import to_names
    from facegate.sharing.service import Via

    with _sharing() as sharing:
        request = sharing.consent_request(request_id)
        shown = sharing.app(request.app_id)
        grant = sharing.approve(request_id, Via.CLI)
    out.print(
        f"allowed [bold]{escape(shown.name)}[/] {', '.join(to_names(grant.scopes))} until "
        f"{_when(grant.expires_at)} UTC (grant {grant.id})",
        soft_wrap=True,
    )


@consent_app.command("refuse")
@friendly
def consent_refuse(request_id: str) -> None:
    """Refuse REQUEST_ID; the app receives nothing."""
    from facegate.sharing.service import Via

    with _sharing() as sharing:
        sharing.refuse(request_id, Via.CLI)
    out.print(f"refused {request_id}")


# --- grants -----------------------------------------------------------------------------


@grants_app.command("list")
@friendly
def grants_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Every grant, newest first, with its state."""
    from facegate.sharing.scopes import to_names

    with _sharing() as sharing:
        grants = sharing.grants()
        names = {a.id: a.name for a in sharing.apps()}
        now = sharing.clock()
    rows = [
        {
            "grant": g.id,
            "app_id": g.app_id,
            "app": names.get(g.app_id, g.app_id),
            "scopes": to_names(g.scopes),
            "state": g.state(now).value,
            "expires_at": g.expires_at,
        }
        for g in grants
    ]
    print_rows(rows, as_json=as_json, empty="no grants")


@grants_app.command("revoke")
@friendly
def grants_revoke(grant_id: str) -> None:
    """Revoke GRANT_ID: its token dies, live streams close within a second."""
    from facegate.sharing.service import Via

    with _sharing() as sharing:
        sharing.revoke(grant_id, Via.CLI)
        out.print(f"revoked {grant_id}")
        _report_notices(sharing)


# --- audit ------------------------------------------------------------------------------


@audit_app.callback(invoke_without_command=True)
def audit_default(ctx: typer.Context) -> None:
    """Show the audit log (the same as `facegate audit show`)."""
    if ctx.invoked_subcommand is None:
        audit_show(limit=50)


@audit_app.command("show")
@friendly
def audit_show(
    limit: Annotated[int, typer.Option(help="Newest entries to show (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The newest audit entries."""
    with _sharing() as sharing:
        entries = sharing.audit_entries()
    shown = entries[-limit:] if limit > 0 else entries
    rows = [
        {
            "seq": e.seq,
            "at": e.at,
            "event": e.event,
            "actor": e.actor,
            "app_id": e.app_id,
            "scopes": list(e.scopes or ()),
            "frames": e.frames,
            "destination": e.detail.get("destination"),
        }
        for e in shown
    ]
    print_rows(rows, as_json=as_json, empty="the audit log is empty")


@audit_app.command("export")
@friendly
def audit_export(
    output: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Every entry as JSON lines, then the signed head, so a copy can be checked later.

    Exit 1 (and no signed head) when the log does not verify: the copy is still
    written, for inspection.
    """
    with _sharing() as sharing:
        entries, head = sharing.export_audit()
        report = None if head is not None else sharing.verify_audit()
    lines = "".join(e.as_json_line() for e in entries)
    if head is not None:
        lines += head.as_json_line()
    if output is None:
        typer.echo(lines, nl=False)
    else:
        output.write_text(lines, encoding="utf-8")
        out.print(f"wrote {len(entries)} entries to {escape(str(output))}")
    if report is not None:
        err.print(
            f"[bold red]the audit log does not verify[/] ({escape(report.problem or '')}): "
            "exported without a signed head"
        )
        raise typer.Exit(1)


@audit_app.command("head")
@friendly
def audit_head(
    as_json: Annotated[bool, typer.Option("--json", help="Print only the head's JSON.")] = False,
) -> None:
    """The signed head (entry count + last hash): keep a copy off this machine.

    `facegate audit verify --head FILE` later proves nothing it covers was removed
    or rewritten. Exit 1 when the log does not verify.
    """
    from facegate.sharing.errors import AuditTampered

    with _sharing() as sharing:
        try:
            head = sharing.audit_head()
        except AuditTampered as exc:
            err.print(f"[bold red]the audit log does not verify[/]: {escape(str(exc))}")
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(head.as_json_line(), nl=False)
        return
    out.print(f"entries: {head.count}\nlast hash: {head.hash}\nsigned by key: {head.key_id}")
    out.print("keep this line elsewhere:", highlight=False)
    typer.echo(head.as_json_line(), nl=False)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc})") from exc


@audit_app.command("verify")
@friendly
def audit_verify(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Check an export, and the live log against it."),
    ] = None,
    head: Annotated[
        Path | None,
        typer.Option("--head", help="Check the live log against a head kept with `audit head`."),
    ] = None,
) -> None:
    """Check the keyed chain and its signed heads. Exit 0 intact, 1 broken (naming where)."""
    from facegate.sharing.audit import SignedHead

    with _sharing() as sharing:
        if file is not None:
            report = sharing.verify_audit_export(_read_text(file, "export").splitlines())
        elif head is not None:
            try:
                kept = SignedHead.from_text(_read_text(head, "kept head").strip())
            except ValueError as exc:
                raise InputError(f"{head}: {exc}") from exc
            report = sharing.check_audit_against(kept)
        else:
            report = sharing.verify_audit()
    if report.ok:
        out.print(f"[green]audit chain intact[/]: {report.entries} entries")
        return
    where = "" if report.broken_seq is None else f" at entry #{report.broken_seq}"
    err.print(f"[bold red]audit chain broken{where}[/]: {escape(report.problem or '')}")
    raise typer.Exit(1)


# --- the service ------------------------------------------------------------------------


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8765,
    source: Annotated[str, typer.Option(help="Camera index or video file to track.")] = "0",
    loop: Annotated[bool, typer.Option(help="Replay a video file forever.")] = False,
    allow_remote: Annotated[
        bool, typer.Option(help="Allow a non-loopback address (exposes the pages).")
    ] = False,
) -> None:
    """Run the expression-sharing service (consent pages, API, stream) on this machine.

    Apps receive each session re-centred on the population's resting face, with the
    head pose relative to where the person usually holds their head (docs/privacy.md).
    """
    from facegate.config import load_settings
    from facegate.models import ModelFiles
    from facegate.server.app import create_app
    from facegate.server.feeds import TrackerFeed
    from facegate.server.run import Binding, new_user_token, serve_forever
    from facegate.sharing.face_map import FaceMapModel
    from facegate.sharing.neutral import NeutralStream
    from facegate.sharing.service import Sharing

    binding = Binding(host=host, port=port, allow_remote=allow_remote)
    settings = load_settings()
    models = ModelFiles.of(settings)
    feed = TrackerFeed(source, models, loop=loop)
    _announce_source(feed.check())
    resting_face_filter = NeutralStream(FaceMapModel.load(models))
    token = new_user_token()
    with Sharing.open(settings) as sharing:
        application = create_app(
            sharing, feed, token, extra_hosts=binding.extra_hosts, record_filter=resting_face_filter
        )
        _announce_service(host, port, token)
        serve_forever(application, binding)


def _announce_source(checked: SourceStatus) -> None:
    """The source as the person's terminal sees it: with the file's path (``detail``)
    that the pages leave out."""
    said = escape(checked.message + (f" ({checked.detail})" if checked.detail else ""))
    if checked.ok:
        out.print(f"expression source: {said}", soft_wrap=True)
        return
    err.print(
        f"[bold yellow]no expression source[/]: {said}\n"
        "the pages work, but apps cannot stream until this is fixed (they get close code "
        "4503 and the pages say why)",
        soft_wrap=True,
    )


def _announce_service(host: str, port: int, token: str) -> None:
    from facegate.server.run import login_url

    shown_host = f"[{host}]" if ":" in host else host
    out.print(f"FaceGate sharing service on http://{shown_host}:{port}/")
    out.print(
        "sign in (this link is your key; keep it private): "
        f"{login_url(f'http://{shown_host}:{port}', token)}",
        soft_wrap=True,
    )


def _given_token(token_file: Path | None) -> str:
    """The grant token from ``token_file`` or ``$FACEGATE_TOKEN``; "" when neither gives one."""
    if token_file is None:
        return os.environ.get("FACEGATE_TOKEN", "")
    try:
        token = token_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{token_file}: cannot read the token ({exc})") from exc
    if not token:
        raise InputError(f"{token_file} is empty: it should hold a grant token")
    return token


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bridge_token(service: str, scopes: list[str], grant_hours: float, wait: float) -> str:
    """Register the bridge locally if needed, ask for consent, wait for the person."""
    import httpx

    from facegate.client import AppClient, AppError
    from facegate.client.local_bridge import bridge_app
    from facegate.config import load_settings

    local = bridge_app(load_settings())
    try:
        with AppClient(service, local.app_id, local.key) as client:
            request = client.request_consent(scopes, int(grant_hours * 3600))
            out.print(
                f"open this page to let the VMC bridge receive {', '.join(scopes)}:\n"
                f"  {request.consent_url}",
                soft_wrap=True,
            )
            return client.wait_for_token(request.id, timeout=wait).token
    except AppError as exc:
        hint = (
            " (is `facegate serve` running with this FACEGATE_HOME?)"
            if exc.status in (401, 404)
            else ""
        )
        raise InputError(f"the service at {service} refused: {exc.message}{hint}") from exc
    except TimeoutError as exc:
        raise InputError(f"nobody decided within {wait:g} s; run the command again") from exc
    except (OSError, httpx.TransportError) as exc:
        raise InputError(
            f"cannot reach {service} ({type(exc).__name__}); start it with `facegate serve`"
        ) from exc


@app.command()
@friendly
def osc(
    service: Annotated[
        str, typer.Option(help="The FaceGate service (`facegate serve`).")
    ] = "http://127.0.0.1:8765",
    scopes: Annotated[
        str, typer.Option(help="Scopes to ask for, comma-separated.")
    ] = "expressions,head_pose",
    grant_hours: Annotated[float, typer.Option(help="How long the grant lasts.")] = 24.0,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the person.")] = 300.0,
    token_file: Annotated[
        Path | None,
        typer.Option(help="Use the grant token in this file (or $FACEGATE_TOKEN) instead."),
    ] = None,
    host: Annotated[str, typer.Option(help="VMC receiver address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="VMC receiver port.")] = 39539,
    frames: Annotated[int | None, typer.Option(help="Stop after this many frames.")] = None,
) -> None:
    """Drive avatar software over OSC (VMC protocol): head bone, root, blend shapes.

    Without a token, the bridge registers itself as a local app, prints the consent
    page to open, and streams once the person approves.
    """
    import asyncio

    from facegate.client.osc import VmcSender, bridge
    from facegate.client.streaming import StreamClosed

    if not _is_loopback(host):
        err.print(
            f"[yellow]note[/]: frames go to {escape(host)}:{port}, another machine, as "
            "unencrypted UDP: anyone on that network can read them"
        )
    token = _given_token(token_file)
    if not token:
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        token = _bridge_token(service, wanted, grant_hours, wait)
    stream_url = service.rstrip("/").replace("http", "ws", 1) + "/api/v1/stream"
    try:
        sent = asyncio.run(bridge(stream_url, token, VmcSender(host, port), max_frames=frames))
    except StreamClosed as exc:
        err.print(f"[red]stream closed[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    except OSError as exc:
        raise InputError(f"cannot reach {stream_url}: {exc.strerror or exc}") from exc
    out.print(f"forwarded {sent} frame(s) to {host}:{port}")


@bench_app.command("stream")
@friendly
def bench_stream(
    clients: Annotated[int, typer.Option(help="Concurrent stream clients.")] = 1,
    frames: Annotated[int, typer.Option(help="Frames each client receives.")] = 300,
    fps: Annotated[float, typer.Option(help="Replay rate of the feed.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Frame-to-client latency of the stream over loopback (median, p90, the machine)."""
    from facegate.bench.stream import run_stream_bench

    result = run_stream_bench(clients=clients, frames=frames, fps=fps)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    out.print(_latency_table(result, fps))
    out.print(result.machine)


def _latency_table(result: StreamBenchResult, fps: float) -> Table:
    table = Table(
        "clients", "frames each", "samples", "sessions ok", "median ms", "p90 ms", "max ms",
        title=f"facegate bench stream ({', '.join(result.scopes)} at {fps:g} fps)",
    )  # fmt: skip
    table.add_row(
        str(result.clients),
        str(result.frames_per_client),
        str(result.samples),
        f"{result.sessions_completed}/{result.clients}",
        f"{result.median_ms:.2f}",
        f"{result.p90_ms:.2f}",
        f"{result.max_ms:.2f}",
    )
    return table
