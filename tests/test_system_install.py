"""`facegate system install` / `uninstall` on a copy of /etc/pam.d: reversible to the byte.

The copy gets a Debian ``sudo`` file when the machine has none (no sudo package), so
the test always edits a file shaped like the one users have.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app
from facegate.errors import ConfigError
from facegate.system.pam_config import (
    MARK,
    backup_file,
    pam_lines,
    planned_install,
    planned_uninstall,
)
from facegate.system.paths import SystemPaths
from facegate.system.unit import unit_text
from system_service import require_root_installable_checkout

DEBIAN_SUDO = b"""#%PAM-1.0

# Set up user limits from /etc/security/limits.conf.
session    required   pam_limits.so

session    required   pam_env.so readenv=1 user_readenv=0
session    required   pam_env.so readenv=1 envfile=/etc/default/locale user_readenv=0

@include common-auth
@include common-account
@include common-session-noninteractive
"""
LINES = pam_lines(["/usr/bin/python3", "-I", "/opt/facegate/client.py"])


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode (symbolic links by target) under ``folder``."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[str(path.relative_to(folder))] = (os.readlink(path).encode(), info.st_mode)
        elif path.is_file():
            found[str(path.relative_to(folder))] = (path.read_bytes(), info.st_mode)
    return found


def _with_face_lines(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if b"facegate" in (Path(folder) / n).read_bytes().lower()]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("install keeps PAM files' owners, which needs root; CI runs as root")
    require_root_installable_checkout()
    pam = tmp_path / "etc" / "pam.d"
    if Path("/etc/pam.d").is_dir():  # without live test services (they carry face lines)
        shutil.copytree("/etc/pam.d", pam, symlinks=True, ignore=_with_face_lines)
    pam.mkdir(parents=True, exist_ok=True)
    if not (pam / "sudo").is_file():
        (pam / "sudo").write_bytes(DEBIAN_SUDO)
        os.chmod(pam / "sudo", 0o644)
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["system", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_install_then_uninstall_leaves_pam_d_byte_identical(root: Path) -> None:
    pam = root / "etc" / "pam.d"
    before = snapshot(pam)
    run("install", "--root", str(root), "--service", "sudo")
    installed = (pam / "sudo").read_text()
    assert installed.count(MARK) == 2
    rows = installed.splitlines()
    assert (
        rows.index(MARK) < rows.index("@include common-auth") < len(rows) - rows[::-1].index(MARK)
    )
    assert (root / "etc/systemd/system/facegate.service").is_file()
    run("uninstall", "--root", str(root), "--service", "sudo")
    assert snapshot(pam) == before
    assert not (root / "etc/systemd/system/facegate.service").exists()
    assert not any((root / "var/lib/facegate/pam-backup").iterdir())
    assert not (root / "var/lib/facegate/pam-installed.json").exists()


def test_installing_twice_changes_nothing(root: Path) -> None:
    run("install", "--root", str(root), "--service", "sudo")
    once = snapshot(root)
    assert "unchanged" in run("install", "--root", str(root), "--service", "sudo")
    assert snapshot(root) == once


def test_dry_run_prints_the_change_and_writes_nothing(root: Path) -> None:
    before = snapshot(root)
    output = run("install", "--dry-run", "--root", str(root), "--service", "sudo")
    assert "+auth\tsufficient\tpam_exec.so quiet stdout" in output
    assert "authenticate" in output and "clear" in output
    assert snapshot(root) == before


def test_uninstall_after_a_hand_edit_removes_only_facegates_lines(root: Path) -> None:
    sudo = root / "etc" / "pam.d" / "sudo"
    original = sudo.read_text()
    run("install", "--root", str(root), "--service", "sudo")
    sudo.write_text(sudo.read_text() + "session optional pam_echo.so edited\n")
    run("uninstall", "--root", str(root), "--service", "sudo")
    assert sudo.read_text() == original + "session optional pam_echo.so edited\n"
    paths = SystemPaths(root=root)
    assert backup_file(paths, sudo).read_text() == original


def test_a_file_without_a_trailing_newline_is_still_restored_exactly(root: Path) -> None:
    sudo = root / "etc" / "pam.d" / "sudo"
    sudo.write_bytes(b"auth required pam_unix.so")
    run("install", "--root", str(root), "--service", "sudo")
    run("uninstall", "--root", str(root), "--service", "sudo")
    assert sudo.read_bytes() == b"auth required pam_unix.so"


def test_a_missing_service_or_a_file_without_auth_lines_is_a_clear_error(root: Path) -> None:
    result = CliRunner().invoke(
        app, ["system", "install", "--root", str(root), "--service", "nope"]
    )
    assert result.exit_code == 2 and "no PAM service file" in result.output
    with pytest.raises(ConfigError, match="no auth line"):
        planned_install("account required pam_permit.so\n", LINES)
    with pytest.raises(ConfigError, match="spaces"):
        pam_lines(["/opt/my python/python3"])


def test_the_face_line_comes_first_and_the_clear_line_after_the_password() -> None:
    text = "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_deny.so\n"
    rows = planned_install(text, LINES).splitlines()
    assert rows[1] == LINES.authenticate and rows[-1] == LINES.clear
    assert planned_uninstall("\n".join(rows) + "\n") == text


def test_the_unit_runs_the_daemon_on_the_socket_the_pam_lines_name(root: Path) -> None:
    socket = root / "elsewhere" / "fg.sock"
    run("install", "--root", str(root), "--service", "sudo", "--socket", str(socket))
    unit = (root / "etc/systemd/system/facegate.service").read_text()
    assert f" daemon --root {root} --socket {socket}\n" in unit
    pam = (root / "etc/pam.d/sudo").read_text()
    assert pam.count(f"--socket {socket} ") == 2
    assert "ProtectHome=read-only\n" in unit  # a virtualenv under /root or /home stays visible


def test_a_rehearsal_under_root_points_pam_at_its_own_socket(root: Path) -> None:
    run("install", "--root", str(root), "--service", "sudo")
    socket = root / "run/facegate/facegate.sock"
    assert (root / "etc/pam.d/sudo").read_text().count(f"--socket {socket} ") == 2
    unit = (root / "etc/systemd/system/facegate.service").read_text()
    assert f" daemon --root {root}\n" in unit


def test_the_unit_keeps_its_private_tmp_unless_the_socket_lives_in_tmp() -> None:
    facegate = Path("/opt/facegate/bin/facegate")
    default = unit_text(facegate)
    assert "ExecStart=/opt/facegate/bin/facegate daemon\n" in default
    assert "PrivateTmp=yes\n" in default and "ProtectHome=read-only\n" in default
    in_tmp = unit_text(facegate, socket=Path("/tmp/fg/fg.sock"))
    assert "ExecStart=/opt/facegate/bin/facegate daemon --socket /tmp/fg/fg.sock\n" in in_tmp
    assert "PrivateTmp=yes" not in in_tmp
