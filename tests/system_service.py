"""A real login service for tests: system root in a temporary directory, Unix test users,
a test PAM service in /etc/pam.d with the installed lines, the daemon in the foreground.

Needs root (useradd, /etc/pam.d), pamtester and pam_exec.so; the fixtures skip with a
clear message otherwise. Everything created is removed afterwards: the users, the PAM
file and the temporary root.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from facegate.system import client
from facegate.system.pam_config import install, pam_lines
from facegate.system.paths import SystemPaths

SRC = Path(__file__).resolve().parents[1] / "src"
PAM_DIR = Path("/etc/pam.d")
PAM_EXEC = ("/usr/lib/x86_64-linux-gnu/security/pam_exec.so", "/lib/security/pam_exec.so")
# Password last and `requisite`, as Debian's common-auth; nodelay keeps failures quick.
BASE_SERVICE = "auth\trequisite\tpam_unix.so nodelay\naccount\trequired\tpam_permit.so\n"
START_TIMEOUT_S = 180.0


def require_root_and_pam() -> None:
    if os.geteuid() != 0:
        pytest.skip("the login-service tests need root (test users, /etc/pam.d); CI runs as root")
    if shutil.which("pamtester") is None:
        pytest.skip("pamtester is not installed: apt-get install pamtester libpam-modules")
    if not any(Path(p).exists() for p in PAM_EXEC):
        pytest.skip("pam_exec.so is not installed: apt-get install libpam-modules")
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@dataclass(frozen=True)
class UnixUser:
    name: str
    password: str


def make_user() -> UnixUser:
    user = UnixUser(f"fgt{secrets.token_hex(4)}", secrets.token_urlsafe(12))
    subprocess.run(["useradd", "--no-create-home", user.name], check=True)
    subprocess.run(["chpasswd"], input=f"{user.name}:{user.password}\n", text=True, check=True)
    return user


def remove_user(user: UnixUser) -> None:
    subprocess.run(["userdel", user.name], check=False, capture_output=True)


def world_reachable_root() -> Path:
    """A temporary system root that other users can traverse (pytest's tmp_path is 0700),
    so an unprivileged test user can reach the socket; the state dir inside stays 0700."""
    root = Path(tempfile.mkdtemp(prefix="facegate-system-"))
    os.chmod(root, 0o755)
    return root


def env_with_src() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env["PYTHONPATH"] = str(SRC)
    return env


@dataclass(frozen=True)
class Pam:
    rc: int
    output: str
    seconds: float

    @property
    def reached_password(self) -> bool:
        return "Password:" in self.output


class Daemon:
    """``facegate daemon`` as a subprocess on ``paths`` (socket under the temporary root)."""

    def __init__(self, paths: SystemPaths, log: Path) -> None:
        self.paths = paths
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from facegate.cli import main; main()",
                "daemon",
                "--root",
                str(paths.root),
            ],
            env=env_with_src(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited: {log.read_text()[-2000:]}")
            reply = client.request(paths.socket, {"op": "status"})
            if reply.get("ready"):
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the daemon did not start in {START_TIMEOUT_S} s")

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
    """A test service file in /etc/pam.d holding exactly what ``install`` writes."""

    def __init__(self, paths: SystemPaths, socket_path: Path) -> None:
        self.name = f"facegate-test-{secrets.token_hex(4)}"
        self.path = PAM_DIR / self.name
        self.path.write_text(BASE_SERVICE)
        command = [sys.executable, "-I", client.__file__, "--socket", str(socket_path)]
        pam_paths = SystemPaths(root=paths.root, pam_dir_override=PAM_DIR)
        install(pam_paths, self.name, pam_lines(command), dry_run=False)

    def authenticate(self, user: str, typed: str = "", *items: str, **env: str) -> Pam:
        """``pamtester`` with ``typed`` as the password and ``-I`` items like "rhost=x"."""
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
        return Pam(done.returncode, done.stdout + done.stderr, time.monotonic() - started)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def raw_exchange(path: Path, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the socket and return everything the daemon answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def point_camera(link: Path, target: Path) -> None:
    """Re-point the camera link, as if another camera were plugged in."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    tmp.symlink_to(target)
    tmp.replace(link)
