"""`facegate system uninstall` after an administrator's hand edits, and with several
PAM files (outside test findings F2 and F7), on throw-away PAM directories.

Uninstall may remove its marker comments and lines that are exactly a FaceGate
``pam_exec`` line, wherever a hand edit moved them, and nothing else; an unrecognised
line still naming FaceGate is reported with exit 1, never guessed at.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facegate.cli import app
from facegate.system.pam_config import MARK, install, pam_lines, uninstall
from facegate.system.paths import SystemPaths
from system_service import require_root_installable_checkout

SUDO_LIKE = (
    "#sudo-like\n@include common-auth\n@include common-account\nsession required pam_limits.so\n"
)
LINES = pam_lines(["/usr/bin/python3", "-I", "/opt/fg/facegate/system/client.py"])


def system(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["system", *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def pam(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("install and uninstall need root; CI runs as root")
    require_root_installable_checkout()
    folder = tmp_path / "pam.d"
    folder.mkdir()
    (folder / "svc").write_text(SUDO_LIKE)
    return folder


def where(pam: Path) -> list[str]:
    return ["--root", str(pam.parent), "--pam-dir", str(pam)]


def face_lines(text: str) -> list[str]:
    return [row for row in text.splitlines() if "facegate" in row.lower()]


def installed_lines(path: Path) -> list[str]:
    """The authenticate and clear lines install wrote into ``path``."""
    rows = path.read_text().splitlines()
    return [rows[i + 1] for i, row in enumerate(rows) if row == MARK]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_marker_left_without_its_line_does_not_take_the_password_line_with_it(
    pam: Path,
) -> None:
    svc = pam / "svc"
    system("install", "--service", "svc", *where(pam))
    edit(svc, installed_lines(svc)[0] + "\n", "")  # (a) face line deleted, its comment kept
    output = system("uninstall", "--service", "svc", *where(pam))
    assert svc.read_text() == SUDO_LIKE
    assert "restored" not in output


def test_a_line_inserted_after_a_marker_is_kept_and_the_face_line_still_removed(
    pam: Path,
) -> None:
    svc = pam / "svc"
    system("install", "--service", "svc", *where(pam))
    faillock = "auth required pam_faillock.so preauth\n"
    edit(svc, MARK + "\n", MARK + "\n" + faillock)  # (b) after the first marker
    system("uninstall", "--service", "svc", *where(pam))
    assert svc.read_text() == "#sudo-like\n" + faillock + SUDO_LIKE.split("\n", 1)[1]
    assert not (pam.parent / "etc/systemd/system/facegate.service").exists()


def test_a_marker_whose_clear_line_was_deleted_keeps_the_account_line(pam: Path) -> None:
    svc = pam / "svc"
    system("install", "--service", "svc", *where(pam))
    edit(svc, installed_lines(svc)[1] + "\n", "")  # (c) clear line deleted, its comment kept
    system("uninstall", "--service", "svc", *where(pam))
    assert svc.read_text() == SUDO_LIKE


def test_an_edited_face_line_is_reported_and_left_with_exit_1(pam: Path) -> None:
    svc = pam / "svc"
    system("install", "--service", "svc", *where(pam))
    face = installed_lines(svc)[0]
    edited = face.replace("sufficient", "[success=done default=ignore]")
    edit(svc, face, edited)
    output = system("uninstall", "--service", "svc", *where(pam), code=1)
    assert face_lines(svc.read_text()) == [edited]
    reported = f"{svc}, line 2: {' '.join(edited.split())}"
    assert "not removed (names FaceGate, but not as FaceGate wrote it" in output
    assert reported in " ".join(output.split())
    unit = pam.parent / "etc/systemd/system/facegate.service"
    assert unit.is_file() and "kept" in output  # the PAM file still calls the service


def test_two_pam_dirs_with_the_same_service_are_each_restored_byte_for_byte(
    tmp_path: Path, pam: Path
) -> None:
    other = tmp_path / "other.d"
    other.mkdir()
    (other / "svc").write_bytes(b"auth required pam_unix.so")  # no final newline
    system("install", "--service", "svc", *where(pam))
    system("install", "--service", "svc", "--root", str(tmp_path), "--pam-dir", str(other))
    system("uninstall", "--service", "svc", "--root", str(tmp_path), "--pam-dir", str(other))
    assert (other / "svc").read_bytes() == b"auth required pam_unix.so"
    system("uninstall", "--service", "svc", *where(pam))
    assert (pam / "svc").read_text() == SUDO_LIKE


def test_the_unit_stays_until_no_pam_file_uses_it(tmp_path: Path, pam: Path) -> None:
    (pam / "svc2").write_text(SUDO_LIKE)
    elsewhere = tmp_path / "elsewhere.d"
    elsewhere.mkdir()
    (elsewhere / "svc3").write_text(SUDO_LIKE)
    unit = tmp_path / "etc/systemd/system/facegate.service"
    system("install", "--service", "svc", "--service", "svc2", *where(pam))
    system("install", "--service", "svc3", "--root", str(tmp_path), "--pam-dir", str(elsewhere))
    system("uninstall", "--service", "svc", *where(pam))
    assert unit.is_file()
    output = system("uninstall", "--service", "svc2", *where(pam))
    assert unit.is_file() and f"still used by {elsewhere / 'svc3'}" in output
    system("uninstall", "--service", "svc3", "--root", str(tmp_path), "--pam-dir", str(elsewhere))
    assert not unit.exists()


def test_a_pam_file_that_is_a_symbolic_link_is_refused_and_stays_a_link(pam: Path) -> None:
    target = pam.parent / "authselect-svc"
    target.write_text(SUDO_LIKE)
    (pam / "linked").symlink_to(target)
    output = system("install", "--service", "linked", *where(pam), code=2)
    assert "symbolic link" in output
    assert (pam / "linked").is_symlink() and target.read_text() == SUDO_LIKE


# Hand edits, drawn at random: PAM lines an administrator might write, and FaceGate's
# own lines moved, duplicated or with their marker gone.
OTHER = st.sampled_from(
    [
        "auth required pam_faillock.so preauth",
        "auth [success=1 default=ignore] pam_unix.so nullok",
        "auth requisite pam_deny.so",
        "@include common-auth",
        "@include common-account",
        "account required pam_permit.so",
        "session optional pam_echo.so edited",
        "password include common-password",
        "# an admin's comment",
        "",
    ]
)
OWN = st.sampled_from([MARK, LINES.authenticate, LINES.clear])
# FaceGate's line as an administrator might have changed it: commented out (inert, left
# alone) or with another control (still active: left, and reported).
STILL_ACTIVE = [
    LINES.authenticate.replace("sufficient", "required"),
    LINES.clear.replace("quiet ", ""),
]
CHANGED = st.sampled_from(["#" + LINES.authenticate, *STILL_ACTIVE])


@st.composite
def pam_file(draw: st.DrawFn) -> str:
    rows = draw(st.lists(OTHER, max_size=8))
    rows.insert(draw(st.integers(0, len(rows))), "@include common-auth")
    return "".join(f"{row}\n" for row in rows)


@st.composite
def hand_edit(draw: st.DrawFn, text: str) -> str:
    rows = text.splitlines()
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["insert", "own", "changed", "delete", "move"]))
        at = draw(st.integers(0, len(rows)))
        if action == "insert":
            rows.insert(at, draw(OTHER))
        elif action == "own":
            rows.insert(at, draw(OWN))
        elif action == "changed":
            rows.insert(at, draw(CHANGED))
        elif rows and action == "delete":
            rows.pop(min(at, len(rows) - 1))
        elif rows:
            rows.insert(at, rows.pop(draw(st.integers(0, len(rows) - 1))))
    return "".join(f"{row}\n" for row in rows)


def is_facegates(row: str) -> bool:
    return row in (MARK, LINES.authenticate, LINES.clear)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), original=pam_file())
def test_uninstall_after_any_hand_edit_removes_every_face_line_and_keeps_every_other(
    data: st.DataObject, original: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = SystemPaths(root=Path(tmp), pam_dir_override=Path(tmp))
        svc = Path(tmp) / "svc"
        svc.write_text(original)
        install(paths, "svc", LINES, dry_run=False)
        edited = data.draw(hand_edit(svc.read_text()))
        svc.write_text(edited)
        removal = uninstall(paths, "svc", dry_run=False)
        after = svc.read_text().splitlines()
        assert not any(is_facegates(row) for row in after)
        assert after == [row for row in edited.splitlines() if not is_facegates(row)]
        reported = [row for row in after if row in STILL_ACTIVE]
        assert [left.split(": ", 1)[1] for left in removal.left] == reported
