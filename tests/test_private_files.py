"""The one writer of secrets: 0600, whole or not at all, never through a planted link."""

from __future__ import annotations

import stat
from pathlib import Path

from facegate.private_files import create_private_file, make_private_dir


def test_a_new_secret_is_private_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret"
    assert create_private_file(path, b"first")
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["secret"], "a temporary file was left"


def test_the_first_writer_wins(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    assert create_private_file(path, b"first")
    assert not create_private_file(path, b"second")
    assert path.read_bytes() == b"first"


def test_a_planted_link_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"untouched")
    (tmp_path / "secret").symlink_to(target)
    assert not create_private_file(tmp_path / "secret", b"key")
    assert target.read_bytes() == b"untouched"


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    make_private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
