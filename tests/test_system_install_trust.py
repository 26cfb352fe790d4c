"""`facegate system install` refuses to make root run code an ordinary user can change.

The attack (outside test, finding F1): a user who owns the checkout FaceGate was
installed from edits ``client.py``, which every PAM login then runs as root, and lets
anyone in. The test repeats it with a real user owning a copy of the package, and
checks the walk that decides what is safe on real files, links and modes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import facegate
from facegate.system.testbed import UnixUser
from facegate.system.trusted_paths import RootRun, Unsafe, unsafe_paths

PAM = "auth\trequisite\tpam_unix.so\naccount\trequired\tpam_permit.so\n"


@pytest.fixture(scope="module")
def mallory() -> Iterator[UnixUser]:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to own files as another user; CI runs as root")
    user = UnixUser.create()
    yield user
    user.remove()


def _uid(user: UnixUser) -> int:
    return pwd.getpwnam(user.name).pw_uid


def _chown_tree(top: Path, uid: int) -> None:
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            os.lchown(Path(folder) / name, uid, -1)
    os.lchown(top, uid, -1)


def _install_from(src: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """``facegate system install`` run by root from the package under ``src``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "PYTHON"))}
    env["PYTHONPATH"] = str(src)
    argv = [sys.executable, "-c", "from facegate.cli import main; main()", "system", "install"]
    argv += ["--root", str(root), "--pam-dir", str(root / "pam.d"), "--service", "svc"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def _system_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "pam.d").mkdir(parents=True)
    (root / "pam.d" / "svc").write_text(PAM)
    return root


def test_installing_from_a_checkout_another_user_owns_is_refused(
    tmp_path: Path, mallory: UnixUser
) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(Path(facegate.__file__).parent, checkout / "src" / "facegate")
    _chown_tree(checkout, _uid(mallory))
    root = _system_root(tmp_path)
    done = _install_from(checkout / "src", root)
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join((done.stdout + done.stderr).split())
    assert f"owned by uid {_uid(mallory)} ({mallory.name})" in message
    assert "root-owned location" in message
    assert (root / "pam.d" / "svc").read_text() == PAM  # nothing written
    assert not (root / "etc/systemd/system/facegate.service").exists()


def test_a_group_writable_directory_above_the_client_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("install needs root; CI runs as root")
    src = tmp_path / "src"
    shutil.copytree(Path(facegate.__file__).parent, src / "facegate")
    os.chmod(src / "facegate" / "system", 0o775)
    root = _system_root(tmp_path)
    done = _install_from(src, root)
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join((done.stdout + done.stderr).split())
    assert f"{src / 'facegate' / 'system'} is writable by group" in message
    assert (root / "pam.d" / "svc").read_text() == PAM


def _found(run: RootRun) -> dict[Path, str]:
    return {u.path: u.problem for u in unsafe_paths(run)}


def test_root_owned_files_below_a_sticky_tmp_are_safe(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("files must be root-owned to be safe")
    tool = tmp_path / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text("")
    assert Path("/tmp").stat().st_mode & 0o1002 == 0o1002  # sticky and world-writable
    assert _found(RootRun((tool,), (tmp_path,))) == {}


def test_a_link_is_judged_by_its_target_and_by_where_it_lives(
    tmp_path: Path, mallory: UnixUser
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    target = theirs / "python3"
    target.write_text("")
    os.chown(theirs, _uid(mallory), -1)
    link = tmp_path / "python"
    link.symlink_to(target)  # a root-owned link in a root-owned folder
    assert _found(RootRun((link,), ())) == {
        theirs: f"owned by uid {_uid(mallory)} ({mallory.name})"
    }
    safe = tmp_path / "safe"
    safe.write_text("")
    hop = theirs / "hop"
    hop.symlink_to(safe)  # a safe target reached through a folder mallory can rewrite
    assert theirs in _found(RootRun((hop,), ()))


def test_a_tree_is_walked_to_the_last_file_and_through_its_links(
    tmp_path: Path, mallory: UnixUser
) -> None:
    tree = tmp_path / "site-packages"
    (tree / "pkg" / "sub").mkdir(parents=True)
    planted = tree / "pkg" / "sub" / "evil.pth"
    planted.write_text("")
    os.chmod(planted, 0o666)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mod.py").write_text("")
    os.chown(outside / "mod.py", _uid(mallory), -1)
    (tree / "linked").symlink_to(outside)
    assert _found(RootRun((), (tree,))) == {
        planted: "writable by everyone",
        outside / "mod.py": f"owned by uid {_uid(mallory)} ({mallory.name})",
    }


def test_a_missing_import_path_is_unsafe_where_others_may_create_it(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("files must be root-owned to be safe")
    sticky = tmp_path / "shared"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    found = unsafe_paths(RootRun((), (sticky / "python311.zip", tmp_path / "absent.zip")))
    assert found == [
        Unsafe(sticky / "python311.zip", "missing, and its directory is writable by everyone",
               sticky / "python311.zip"),
    ]  # fmt: skip
