"""Adding and removing FaceGate's two lines in a PAM service file, reversibly.

``install`` puts ``auth sufficient pam_exec.so ... authenticate`` before the service's
first auth line (face first; any failure moves on to the password) and ``auth optional
pam_exec.so ... clear`` after its last one, which PAM reaches only once the password
has succeeded (Debian's ``common-auth`` ends on ``requisite pam_deny``), so the
password clears a face lockout. Each line follows a marker comment, which makes a
second install a no-op and lets ``uninstall`` find them.

The original bytes are kept in the state directory (not in ``/etc/pam.d``, where a
backup file would itself be read as a PAM service). ``uninstall`` writes them back when
the file holds exactly what ``install`` made, so the file is restored byte for byte;
after a later hand edit it removes only the marked lines and keeps the backup.
"""

from __future__ import annotations

import difflib
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


def planned_uninstall(text: str) -> str:
    """``text`` without any marked line pair."""
    rows = text.splitlines(keepends=True)
    kept: list[str] = []
    skip = False
    for row in rows:
        if skip:
            skip = False
        elif row.rstrip("\n") == MARK:
            skip = True
        else:
            kept.append(row)
    return "".join(kept)


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
    path = paths.pam_dir / service
    if not path.is_file():
        raise ConfigError(f"no PAM service file {path}")
    return path


def _read(path: Path) -> str:
    return path.read_bytes().decode(*_CODEC)


def _write_like(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode and owner."""
    info = path.stat()
    tmp = path.with_name(f".{path.name}.facegate-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode(*_CODEC))
            fh.flush()
            os.fsync(fh.fileno())
        os.chown(tmp, info.st_uid, info.st_gid)
        os.chmod(tmp, info.st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def install(paths: SystemPaths, service: str, lines: PamLines, *, dry_run: bool) -> PamChange:
    """Add face unlock to ``service``, keeping a backup of the original first."""
    path = _service_file(paths, service)
    before = _read(path)
    change = PamChange(path, before, planned_install(before, lines))
    if dry_run or not change.changed:
        return change
    backup = paths.backup_dir / service
    make_private_dir(paths.backup_dir)
    if not backup.exists():
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(path.read_bytes())
    _write_like(path, change.after)
    return change


def uninstall(paths: SystemPaths, service: str, *, dry_run: bool) -> PamChange:
    """Remove face unlock from ``service``: the backup's exact bytes when nothing else
    changed since ``install``, else only the marked lines."""
    path = _service_file(paths, service)
    before = _read(path)
    backup = paths.backup_dir / service
    original = _read(backup) if backup.is_file() else None
    restore = (
        original is not None
        and MARK in before
        and planned_install(original, _installed_lines(before)) == before
    )
    after = original if restore and original is not None else planned_uninstall(before)
    change = PamChange(path, before, after)
    if dry_run:
        return change
    if change.changed:
        _write_like(path, after)
    if restore or (original is not None and original == after):
        backup.unlink()
    return change


def _installed_lines(text: str) -> PamLines:
    """The two lines as ``install`` wrote them into ``text`` (read back after each marker)."""
    rows = text.splitlines()
    found = [rows[i + 1] for i, row in enumerate(rows[:-1]) if row == MARK]
    auth = next((r for r in found if r.endswith(" authenticate")), "")
    clear = next((r for r in found if r.endswith(" clear")), "")
    return PamLines(auth, clear)
