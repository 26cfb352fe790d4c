"""Adding and removing FaceGate's two lines in a PAM service file, reversibly.

``install`` puts ``auth sufficient pam_exec.so ... authenticate`` before the service's
first auth line (face first; any failure moves on to the password) and ``auth optional
pam_exec.so ... clear`` after its last one, which PAM reaches only once the password
has succeeded (Debian's ``common-auth`` ends on ``requisite pam_deny``), so the
password clears a face lockout. Each line follows a marker comment, which makes a
second install a no-op and lets ``uninstall`` find them.

The original bytes are kept in the state directory (not in ``/etc/pam.d``, where a
backup file would itself be read as a PAM service), one backup per file, keyed by the
file's full path, and the paths installed into are listed in a small registry there
(so the unit is removed only when no file still uses it). ``uninstall`` writes the
backup back when the file holds exactly what ``install`` made, so the file is restored
byte for byte. After a later hand edit it removes every marker comment and every line
that is exactly a FaceGate ``pam_exec`` line, wherever they now are, and nothing else;
any other line still naming FaceGate is reported, not guessed at.

A PAM file that is a symbolic link is refused: it belongs to whatever manages the link
(authselect, say), and writing a regular file in its place would cut it loose.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import ConfigError
from facegate.private_files import make_private_dir
from facegate.system.paths import SystemPaths

MARK = "# facegate: face unlock; `facegate system uninstall` removes this line and the next"
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_CODEC = ("utf-8", "surrogateescape")  # any byte survives a decode / encode round trip


@dataclass(frozen=True)
class PamLines:
    """The two lines, without their marker comments."""

    authenticate: str
    clear: str


def pam_lines(command: list[str]) -> PamLines:
    """The lines that run ``command`` (the client: python, ``-I``, client.py, options)."""
    if any(not part or any(c.isspace() for c in part) for part in command):
        raise ConfigError(f"PAM arguments cannot hold spaces: {command}")
    joined = " ".join(command)
    return PamLines(
        authenticate=f"auth\tsufficient\tpam_exec.so quiet stdout {joined} authenticate",
        clear=f"auth\toptional\tpam_exec.so quiet {joined} clear",
    )


def _is_auth(line: str) -> bool:
    words = line.split()
    if not words or words[0].startswith("#"):
        return False
    return words[0] in ("auth", "-auth") or (
        words[0] == "@include" and len(words) > 1 and "auth" in words[1]
    )


def planned_install(text: str, lines: PamLines) -> str:
    """``text`` with the two marked lines added; unchanged when they are already there."""
    if MARK in text:
        return text
    rows = text.splitlines(keepends=True)
    auth = [i for i, row in enumerate(rows) if _is_auth(row)]
    if not auth:
        raise ConfigError("the PAM file has no auth line to put face unlock before")
    first, last = auth[0], auth[-1]
    if not rows[last].endswith("\n"):
        rows[last] += "\n"
    rows.insert(last + 1, f"{MARK}\n{lines.clear}\n")
    rows.insert(first, f"{MARK}\n{lines.authenticate}\n")
    return "".join(rows)


def is_marker(row: str) -> bool:
    return row.strip() == MARK


def is_facegate_line(row: str) -> bool:
    """Whether ``row`` is one of the two lines ``pam_lines`` makes (any interpreter,
    client path and socket; spacing aside): the only lines ``uninstall`` removes."""
    words = row.split()
    for head, op in (
        (["auth", "sufficient", "pam_exec.so", "quiet", "stdout"], "authenticate"),
        (["auth", "optional", "pam_exec.so", "quiet"], "clear"),
    ):
        if words[: len(head)] == head and words[-1:] == [op]:
            command = words[len(head) : -1]
            return (
                len(command) in (3, 5)
                and command[1] == "-I"
                and command[2].endswith("/client.py")
                and "facegate" in command[2].lower()
                and (len(command) == 3 or command[3] == "--socket")
            )
    return False


def mentions_facegate(row: str) -> bool:
    """An active (not commented-out) line that still names FaceGate."""
    text = row.strip()
    return not text.startswith("#") and "facegate" in text.lower()


def planned_uninstall(text: str) -> str:
    """``text`` without any marker comment or FaceGate ``pam_exec`` line, wherever they
    are (a marker whose line was edited away, a line whose marker was): every other line
    stays, in order, whatever a hand edit put where."""
    rows = text.splitlines(keepends=True)
    return "".join(row for row in rows if not (is_marker(row) or is_facegate_line(row)))


def leftovers(text: str) -> list[str]:
    """Active lines still naming FaceGate (numbered): what ``uninstall`` did not
    recognise as its own and left for a person to judge."""
    return [
        f"line {number}: {row.strip()}"
        for number, row in enumerate(text.splitlines(), 1)
        if mentions_facegate(row)
    ]


@dataclass(frozen=True)
class PamChange:
    """One PAM file before and after; ``diff()`` is what ``--dry-run`` prints."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                str(self.path),
                f"{self.path} (facegate)",
            )
        )


def _service_file(paths: SystemPaths, service: str) -> Path:
    if not _SERVICE.fullmatch(service):
        raise ConfigError(f"{service!r} is not a PAM service name")
    path = (paths.pam_dir / service).absolute()
    if path.is_symlink():
        raise ConfigError(
            f"{path} is a symbolic link to {os.readlink(path)}: FaceGate does not edit PAM "
            "files through links (the link belongs to whatever manages it, e.g. authselect, "
            "and would be replaced by a regular file); add face unlock to the file it points "
            "to with --pam-dir and --service if that is what you mean"
        )
    if not path.is_file():
        raise ConfigError(f"no PAM service file {path}")
    return path


def _read(path: Path) -> str:
    return path.read_bytes().decode(*_CODEC)


def _write_new(path: Path, data: bytes, mode: int) -> Path:
    """A new file next to ``path`` holding ``data`` (never through a planted link)."""
    tmp = path.with_name(f".{path.name}.facegate-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _write_like(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode and owner."""
    info = path.stat()
    tmp = _write_new(path, text.encode(*_CODEC), 0o600)
    try:
        os.chown(tmp, info.st_uid, info.st_gid)
        os.chmod(tmp, info.st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def backup_file(paths: SystemPaths, path: Path) -> Path:
    """Where ``path``'s original is kept: named after the service and a hash of the full
    path, so two PAM directories with a ``sudo`` each keep two backups."""
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return paths.backup_dir / f"{path.name}.{digest}"


def _registry(paths: SystemPaths) -> Path:
    return paths.state_dir / "pam-installed.json"


def installed_files(paths: SystemPaths) -> list[Path]:
    """The PAM files ``install`` has added face unlock to (and not yet removed)."""
    registry = _registry(paths)
    if not registry.is_file():
        return []
    try:
        return [Path(p) for p in json.loads(registry.read_text())["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{registry} is damaged ({exc}); move it aside") from exc


def _save_registry(paths: SystemPaths, files: list[Path]) -> None:
    if not files:
        _registry(paths).unlink(missing_ok=True)
        return
    make_private_dir(paths.state_dir)
    data = json.dumps({"files": sorted({str(p) for p in files})}, indent=1) + "\n"
    tmp = _write_new(_registry(paths), data.encode(), 0o600)
    try:
        os.replace(tmp, _registry(paths))
    finally:
        tmp.unlink(missing_ok=True)


def still_in_use(paths: SystemPaths) -> list[Path]:
    """PAM files that still hold a FaceGate line: the registered ones (dropping those
    that no longer do from the registry) and any in ``paths.pam_dir`` (an install the
    registry does not know of). The unit stays while this is not empty."""
    registered = installed_files(paths)
    using = [p for p in registered if _holds_facegate(p)]
    if using != registered:
        _save_registry(paths, using)
    if paths.pam_dir.is_dir():
        using += [p.absolute() for p in paths.pam_dir.iterdir() if _holds_facegate(p)]
    return sorted(set(using))


def _holds_facegate(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = _read(path)
    except OSError:
        return False
    rows = text.splitlines()
    return any(is_marker(r) or is_facegate_line(r) for r in rows) or bool(leftovers(text))


def install(paths: SystemPaths, service: str, lines: PamLines, *, dry_run: bool) -> PamChange:
    """Add face unlock to ``service``, keeping a backup of the original first."""
    path = _service_file(paths, service)
    before = _read(path)
    change = PamChange(path, before, planned_install(before, lines))
    if dry_run or not change.changed:
        return change
    make_private_dir(paths.backup_dir)
    backup = backup_file(paths, path)
    tmp = _write_new(backup, before.encode(*_CODEC), 0o600)
    try:  # a fresh install: any older backup of this path is out of date
        os.replace(tmp, backup)
    finally:
        tmp.unlink(missing_ok=True)
    _save_registry(paths, [*installed_files(paths), path])
    _write_like(path, change.after)
    return change


@dataclass(frozen=True)
class Removal:
    """What ``uninstall`` did to one file: the change, whether the original bytes came
    back from the backup, and the active lines still naming FaceGate that it left."""

    change: PamChange
    restored: bool
    left: tuple[str, ...]


def uninstall(paths: SystemPaths, service: str, *, dry_run: bool) -> Removal:
    """Remove face unlock from ``service``: the backup's exact bytes when nothing else
    changed since ``install``, else only markers and FaceGate lines."""
    path = _service_file(paths, service)
    before = _read(path)
    backup = backup_file(paths, path)
    original = _read(backup) if backup.is_file() else None
    restore = (
        original is not None
        and MARK in before
        and planned_install(original, _installed_lines(before)) == before
    )
    after = original if restore and original is not None else planned_uninstall(before)
    removal = Removal(PamChange(path, before, after), restore, tuple(leftovers(after)))
    if dry_run:
        return removal
    if removal.change.changed:
        _write_like(path, after)
    if restore or (original is not None and original == after):
        backup.unlink()
    return removal


def _installed_lines(text: str) -> PamLines:
    """The two lines as ``install`` wrote them into ``text`` (read back after each marker)."""
    rows = text.splitlines()
    found = [rows[i + 1] for i, row in enumerate(rows[:-1]) if row == MARK]
    found = [row for row in found if is_facegate_line(row)]
    auth = next((r for r in found if r.endswith(" authenticate")), "")
    clear = next((r for r in found if r.endswith(" clear")), "")
    return PamLines(auth, clear)
