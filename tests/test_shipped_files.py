"""What ships in the repository names no machine: recorded commands use relative paths.

A model's metadata, a calibration's command or a doc that names ``/work/...`` or
``/home/...`` cannot be reproduced elsewhere and leaks where it was made.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home)/")


def _tracked() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "src", "docs", "README.md", "pyproject.toml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the shipped files cannot be listed")
    return [ROOT / name for name in listed]


def _text_of(path: Path) -> str:
    """The file's text; for a NumPy archive, every string array in it."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return "\n".join(
                " ".join(map(str, np.atleast_1d(data[k])))
                for k in data.files
                if data[k].dtype.kind in "SU"
            )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def test_no_shipped_file_names_a_machine_path() -> None:
    files = _tracked()
    assert any(p.suffix == ".npz" for p in files), "the model archives were not listed"
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}..."
        for path in files
        for match in [MACHINE_PATH.search(_text_of(path))]
        if match is not None
    ]
    assert not found, found


def test_the_check_sees_a_machine_path(tmp_path: Path) -> None:
    archive = tmp_path / "w.npz"
    np.savez(archive, meta=np.array('{"command": "train /work/shared/data/labels.csv"}'))
    assert MACHINE_PATH.search(_text_of(archive))
    assert not MACHINE_PATH.search("facegate eval calibrate ../shared/data/orl_att_faces")
