"""The login service's socket without models: who may hold a connection, where the
socket may live, and what the pam_exec client does outside the ``auth`` stack.

The warm daemon, PAM and real faces are in test_system_pam.py; these need neither.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from facegate.system import client
from facegate.system.admission import ROOT, Admission, Limits, Throttle
from facegate.system.client import Outcome

NOBODY = 65534


def test_unprivileged_uids_cannot_take_the_slots_reserved_for_root() -> None:
    """F4 (attacker-login.md): one local user held all 16 slots and every root login was
    told busy. Per uid at most PER_UID; all unprivileged uids together leave root its
    reserved slots."""
    limits = Limits(total=16, root_reserved=4, per_uid=2)
    admission = Admission(limits)
    assert [admission.enter(1001) for _ in range(3)] == [
        None,
        None,
        "too many connections from uid 1001",
    ]
    for uid in range(1002, 1007):
        assert admission.enter(uid) is None and admission.enter(uid) is None
    assert admission.enter(2000) == "too many connections", "12 unprivileged slots are taken"
    assert [admission.enter(ROOT) for _ in range(4)] == [None] * 4
    assert admission.enter(ROOT) == "too many connections"
    admission.leave(1001)
    assert admission.enter(ROOT) is None, "a freed slot is anyone's, root's first come"
    admission.leave(ROOT)
    assert admission.enter(1001) is None


def test_a_flood_of_refusals_is_logged_a_few_times_with_a_count() -> None:
    throttle = Throttle(burst=3, interval=3600.0)
    seen = [throttle.allow(1001) for _ in range(10)]
    assert seen == [0, 0, 0] + [None] * 7
    assert throttle.allow(1002) == 0, "each uid has its own budget"


@pytest.fixture
def foreign_dir(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another uid needs root; CI runs as root")
    place = tmp_path / "run"
    place.mkdir(mode=0o755)
    yield place


def _daemon(socket_path: Path, root: Path) -> tuple[int, str]:
    """``facegate daemon`` on ``socket_path`` as a process; it must refuse at once (a
    daemon that accepts the place would load its models and serve until killed)."""
    argv = [sys.executable, "-c", "from facegate.cli import main; main()", "daemon"]
    argv += ["--root", str(root), "--socket", str(socket_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as late:
        pytest.fail(f"the daemon started on {socket_path}: {late.stderr!r}")
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("how", ["owned by another user", "world-writable", "group-writable"])
def test_the_daemon_refuses_a_socket_directory_someone_else_can_write(
    foreign_dir: Path, tmp_path: Path, how: str
) -> None:
    """F12: with /run/facegate owned by another user the daemon listened there, and that
    user could delete or replace the socket."""
    if how == "owned by another user":
        os.chown(foreign_dir, NOBODY, NOBODY)
    else:
        os.chmod(foreign_dir, 0o1777 if how == "world-writable" else 0o775)
    code, output = _daemon(foreign_dir / "facegate.sock", tmp_path / "root")
    assert code == 2, output
    assert "not safe" in output and str(foreign_dir) in output
    assert not (foreign_dir / "facegate.sock").exists()


def test_a_socket_directory_below_another_users_directory_is_refused(
    foreign_dir: Path, tmp_path: Path
) -> None:
    """Whoever may write a directory above the socket's can rename it away and put
    their own in its place."""
    os.chown(foreign_dir, NOBODY, NOBODY)
    inner = foreign_dir / "facegate"
    inner.mkdir(mode=0o755)
    code, output = _daemon(inner / "facegate.sock", tmp_path / "root")
    assert code == 2 and f"uid {NOBODY}" in output, output


class Listener:
    """A socket that records whether anyone connected: the daemon's stand-in, so the
    test sees whether the client would have asked for a face attempt at all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connected = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen()
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connected.set()
            with conn:
                client.LineReader(conn).read()
                conn.sendall(client.encode({"outcome": Outcome.NO_MATCH.value, "reason": None}))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


def _client(socket_path: Path, op: str, pam_type: str) -> subprocess.CompletedProcess[str]:
    env = {"PAM_USER": "alice", "PAM_SERVICE": "sudo", "PAM_TYPE": pam_type}
    return subprocess.run(
        [sys.executable, "-I", client.__file__, "--socket", str(socket_path), op],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("op", "pam_type"),
    [
        ("authenticate", "session"),
        ("authenticate", "account"),
        ("authenticate", "password"),
        ("authenticate", "open_session"),
        ("clear", "close_session"),
        ("authenticate", ""),
    ],
)
def test_the_client_does_nothing_outside_the_auth_stack(
    tmp_path: Path, op: str, pam_type: str
) -> None:
    """F9: with PAM_TYPE=session (account, password, ...) the client ran a face attempt,
    so a line copied into the session or password stack would authenticate there. It
    now exits with PAM_IGNORE's code, silent, without asking the daemon."""
    listener = Listener(tmp_path / "fake.sock")
    try:
        other = _client(listener.path, op, pam_type)
        asked_for_other = listener.connected.is_set()
        auth = _client(listener.path, op, "auth")
    finally:
        listener.close()
    assert other.returncode == client.PAM_IGNORE, (other.stdout, other.stderr)
    assert other.stdout == other.stderr == ""
    assert not asked_for_other, "no face attempt outside the auth stack"
    assert auth.returncode == Outcome.NO_MATCH.exit_code, "the auth stack still asks"
    assert listener.connected.is_set()


def test_an_enrolled_and_a_not_enrolled_user_see_the_same_line() -> None:
    """F6: "no face enrolled" told whoever can start PAM for a user (``su alice``) that
    alice never enrolled; the attempt log keeps the true outcome."""
    assert (
        Outcome.NOT_ENROLLED.line == Outcome.NO_MATCH.line == "no face match, enter your password"
    )
    assert not any("enrol" in outcome.line for outcome in Outcome)
