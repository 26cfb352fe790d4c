"""A throw-away login set-up on this machine, for ``facegate bench login`` and the tests.

It builds what an administrator would, but disposable: a system root in a temporary
directory, Unix users with known passwords, a PAM service file in ``/etc/pam.d`` holding
exactly the lines ``facegate system install`` writes, and ``facegate daemon`` in the
foreground. Needs root. Every piece is removed again by its ``remove`` / ``stop``.
"""

from __future__ import annotations

import glob
import os
import pty
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import FaceGateError
from facegate.system import client
from facegate.system.pam_config import install, pam_lines
from facegate.system.paths import SystemPaths

PAM_DIR = Path("/etc/pam.d")
PAM_EXEC_GLOBS = ("/usr/lib/*/security/pam_exec.so", "/lib/*/security/pam_exec.so")
# The password last and `requisite`, as in Debian's common-auth; nodelay keeps a wrong
# password from adding pam_unix's two-second delay to every measurement.
BASE_SERVICE = "auth\trequisite\tpam_unix.so nodelay\naccount\trequired\tpam_permit.so\n"
START_TIMEOUT_S = 180.0
_SRC = Path(__file__).resolve().parents[2]


def missing_requirements() -> str | None:
    """Why a test bed cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "it needs root (test users, /etc/pam.d)"
    if shutil.which("pamtester") is None:
        return "pamtester is not installed: apt-get install pamtester libpam-modules"
    if not any(glob.glob(pattern) for pattern in PAM_EXEC_GLOBS):
        return "pam_exec.so is not installed: apt-get install libpam-modules"
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@dataclass(frozen=True)
class UnixUser:
    name: str
    password: str

    @classmethod
    def create(cls) -> UnixUser:
        user = cls(f"fgt{secrets.token_hex(4)}", secrets.token_urlsafe(12))
        subprocess.run(["useradd", "--no-create-home", user.name], check=True)
        subprocess.run(["chpasswd"], input=f"{user.name}:{user.password}\n", text=True, check=True)
        return user

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], check=False, capture_output=True)


def temporary_root() -> Path:
    """A system root other users can traverse (so an unprivileged user reaches the
    socket, as under /run); the state directory inside it is still 0700."""
    root = Path(tempfile.mkdtemp(prefix="facegate-system-"))
    os.chmod(root, 0o755)
    return root


def stage_clip(root: Path, clip: Path) -> Path:
    """A copy of ``clip`` inside the test bed's root-owned ``root``: the service refuses
    a file camera that anyone but root could change (or reach through such a path), and
    a dataset checked out by another user is exactly that."""
    folder = root / "clips"
    folder.mkdir(mode=0o755, exist_ok=True)
    copy = folder / clip.name
    shutil.copyfile(clip, copy)
    return copy


def point_camera(link: Path, target: Path) -> None:
    """Re-point the camera link atomically, as if another camera were plugged in."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    tmp.symlink_to(target)
    tmp.replace(link)


@dataclass(frozen=True)
class PamResult:
    """One ``pamtester`` run: exit code, everything it printed, wall-clock seconds, and
    when ``watched`` text first appeared (seconds from the start; None when it never did
    or nobody watched)."""

    rc: int
    output: str
    seconds: float
    watched_at: float | None = None

    @property
    def reached_password(self) -> bool:
        return "Password:" in self.output


class Daemon:
    """``facegate daemon --root`` as a child process, returned once it answers ready."""

    def __init__(self, paths: SystemPaths, log: Path) -> None:
        self.paths = paths
        self._log = log.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(_SRC), env.get("PYTHONPATH", "")]).rstrip(":")
        argv = [sys.executable, "-c", "from facegate.cli import main; main()", "daemon"]
        self.process = subprocess.Popen(
            [*argv, "--root", str(paths.root)], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise FaceGateError(f"the daemon exited: {log.read_text()[-2000:]}")
            if client.request(paths.socket, {"op": "status"}).get("ready"):
                return
            time.sleep(0.3)
        self.stop()
        raise FaceGateError(f"the daemon did not start within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class PamService:
    """A test service file in /etc/pam.d with the lines ``install`` writes."""

    def __init__(self, paths: SystemPaths, socket_path: Path) -> None:
        self.name = f"facegate-test-{secrets.token_hex(4)}"
        self.path = PAM_DIR / self.name
        self.path.write_text(BASE_SERVICE)
        command = [sys.executable, "-I", client.__file__, "--socket", str(socket_path)]
        install(
            SystemPaths(root=paths.root, pam_dir_override=PAM_DIR),
            self.name,
            pam_lines(command),
            dry_run=False,
        )

    def authenticate(self, user: str, typed: str = "", *items: str, **env: str) -> PamResult:
        """``pamtester`` with ``typed`` as the password and ``-I`` items such as "rhost=x"."""
        argv = ["pamtester"]
        for item in items:
            argv += ["-I", item]
        started = time.monotonic()
        done = subprocess.run(
            [*argv, self.name, user, "authenticate"],
            input=typed + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        return PamResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)

    def authenticate_watching(
        self,
        user: str,
        typed: str,
        watch: str,
        on_output: Callable[[str], None] | None = None,
    ) -> PamResult:
        """``authenticate`` on a terminal, noting when ``watch`` is first printed and
        telling ``on_output`` everything shown so far as it grows (a responder reads
        the prompts there).

        pamtester buffers its output when it goes to a pipe, so the lines pam_exec passes
        on (a challenge's prompt) would all arrive at exit; on a pseudo-terminal each
        arrives as it is printed, as a user at the prompt sees it."""
        primary, secondary = pty.openpty()
        started = time.monotonic()
        process = subprocess.Popen(
            ["pamtester", self.name, user, "authenticate"],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            close_fds=True,
        )
        os.close(secondary)
        output, watched_at, answered = b"", None, False
        try:
            while True:
                ready, _, _ = select.select([primary], [], [], 60)
                if not ready:
                    break
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the terminal closed: pamtester exited
                    break
                if not chunk:
                    break
                output += chunk
                if on_output is not None:
                    on_output(output.decode(errors="replace"))
                if watched_at is None and watch.encode() in output:
                    watched_at = time.monotonic() - started
                if not answered and b"Password:" in output:
                    os.write(primary, typed.encode() + b"\n")
                    answered = True
        finally:
            rc = process.wait(timeout=60)
            os.close(primary)
        text = output.decode(errors="replace")
        return PamResult(rc, text, time.monotonic() - started, watched_at)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
