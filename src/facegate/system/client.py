"""The socket protocol, its client and the pam_exec entry point: standard library only.

pam_exec runs this file by path (``python3 -I .../facegate/system/client.py authenticate``),
so the PAM process imports neither the ``facegate`` package, whose ``__init__`` loads
NumPy, OpenCV and the models' libraries, nor anything outside the standard library. The
daemon imports the same definitions as ``facegate.system.client``: both sides share one
wire format and one table of outcomes, exit codes and user-facing lines.

Wire format: newline-terminated UTF-8 JSON objects of at most ``MAX_MESSAGE`` bytes. The
client sends one request ``{"op", "user", "service", "tty"}``; the daemon answers with
zero or more ``{"wait": seconds}`` / ``{"info": text}`` messages and ends with one
``{"outcome": ..., "reason": ...}``. No template, image or score ever crosses the socket.

pam_exec turns any non-zero exit into PAM_SYSTEM_ERR, so with ``auth sufficient`` every
outcome but MATCH moves on to the password module. The exit codes differ only so that
pam_exec's syslog line ("... failed: exit code N") tells an administrator what happened;
run for a PAM_TYPE other than ``auth`` the client exits with 25, PAM_IGNORE's value (which
pam_exec, too, reports as a failure: an ``auth sufficient`` or ``optional`` line skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = Path("/run/facegate/facegate.sock")
MAX_MESSAGE = 4096  # bytes per JSON line, newline included
CONNECT_TIMEOUT_S = 0.5
REPLY_GRACE_S = 0.5  # beyond the daemon's announced deadline, before giving up
MAX_WAIT_S = 30.0  # the longest attempt budget the configuration allows
_REMOTE_PARENTS = frozenset({"sshd", "sshd-session"})
_SSH_VARIABLES = (b"SSH_CONNECTION=", b"SSH_CLIENT=", b"SSH_TTY=")
_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
PAM_IGNORE = 25  # Linux-PAM's PAM_IGNORE (security/_pam_types.h)
CONNECT_RETRY_S = 0.02


class Op(StrEnum):
    """What a client may ask: AUTHENTICATE and CLEAR are root-only; STATUS is for anyone."""

    AUTHENTICATE = "authenticate"
    CLEAR = "clear"
    STATUS = "status"


class Outcome(StrEnum):
    """Every answer the login service gives; values are stable strings (log, wire)."""

    MATCH = "match"
    OK = "ok"
    NO_MATCH = "no_match"
    LOCKED_OUT = "locked_out"
    NOT_ENROLLED = "not_enrolled"
    NO_CAMERA = "no_camera"
    TIMEOUT = "timeout"
    REMOTE = "remote"
    DISABLED = "disabled"
    SERVICE_DOWN = "service_down"
    DENIED = "denied"
    BAD_REQUEST = "bad_request"
    BUSY = "busy"
    ERROR = "error"
    IGNORED = "ignored"

    @property
    def exit_code(self) -> int:
        """pam_exec's exit code: 0 lets ``auth sufficient`` succeed, anything else falls
        through to the password."""
        return _EXIT_CODES[self]

    @property
    def line(self) -> str:
        """The one short line shown at the prompt ("" shows nothing)."""
        return _LINES[self]


_EXIT_CODES = {outcome: code for code, outcome in enumerate(Outcome)}
_EXIT_CODES[Outcome.OK] = 0
_EXIT_CODES[Outcome.IGNORED] = PAM_IGNORE
_LINES = {
    Outcome.MATCH: "face recognised",
    Outcome.OK: "",
    Outcome.NO_MATCH: "no face match, enter your password",
    Outcome.LOCKED_OUT: "face unlock locked after too many failures, enter your password",
    # The same line as NO_MATCH: whoever can start PAM for a user (``su alice``) must not
    # learn whether alice enrolled a face. The attempt log keeps the true outcome.
    Outcome.NOT_ENROLLED: "no face match, enter your password",
    Outcome.NO_CAMERA: "no camera, enter your password",
    Outcome.TIMEOUT: "no face in time, enter your password",
    Outcome.REMOTE: "remote session, enter your password",
    Outcome.DISABLED: "",
    Outcome.SERVICE_DOWN: "face unlock unavailable, enter your password",
    Outcome.DENIED: "face unlock: not allowed",
    Outcome.BAD_REQUEST: "face unlock: bad request",
    Outcome.BUSY: "face unlock busy, enter your password",
    Outcome.ERROR: "face unlock failed, enter your password",
    Outcome.IGNORED: "",
}


class ProtocolError(Exception):
    """A message that is not one JSON object of at most MAX_MESSAGE bytes."""


def encode(message: Mapping[str, Any]) -> bytes:
    data = json.dumps(dict(message), separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    return data


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"not a JSON message: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


class LineReader:
    """Reads newline-terminated messages from a socket, refusing any over MAX_MESSAGE."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def read(self, deadline: float | None = None) -> dict[str, Any]:
        """The next message; with ``deadline`` (``time.monotonic()``), TimeoutError once
        it passes however the bytes trickle in (each ``recv`` waits only what is left)."""
        while b"\n" not in self._buffer:
            if len(self._buffer) >= MAX_MESSAGE:
                raise ProtocolError(f"message exceeds {MAX_MESSAGE} bytes")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the request was not complete in time")
                self._sock.settimeout(left)
            chunk = self._sock.recv(MAX_MESSAGE)
            if not chunk:
                raise ProtocolError("connection closed before a complete message")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        if len(line) >= MAX_MESSAGE:
            raise ProtocolError(f"message exceeds {MAX_MESSAGE} bytes")
        return decode(line)


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def request(
    socket_path: Path,
    message: Mapping[str, Any],
    on_info: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send one request and return the daemon's final reply.

    Never raises for a daemon that is absent, slow, foreign or broken: those become
    replies with outcome SERVICE_DOWN, TIMEOUT, DENIED or ERROR, so a login always
    moves on. A daemon not running as root (or as this user) is not believed, since
    anyone could otherwise answer MATCH from a socket of their own.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            connected = _connect(sock, socket_path)
            if connected is not None:
                return {"outcome": connected.value}
            if peer_uid(sock) not in (0, os.geteuid()):
                return {"outcome": Outcome.DENIED.value, "detail": "the socket is not root's"}
            sock.sendall(encode(message))
            reader = LineReader(sock)
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            waited = False
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                reply = reader.read()
                if "wait" in reply and not waited:  # the attempt's budget, plus a grace
                    waited = True
                    budget = min(float(reply["wait"]), MAX_WAIT_S)
                    deadline = time.monotonic() + budget + REPLY_GRACE_S
                elif "info" in reply:
                    if on_info is not None:
                        on_info(str(reply["info"]))
                else:
                    return reply
    except TimeoutError:
        return {"outcome": Outcome.TIMEOUT.value}
    except (OSError, ProtocolError, TypeError, ValueError) as err:
        return {"outcome": Outcome.ERROR.value, "detail": str(err)}


def _connect(sock: socket.socket, socket_path: Path) -> Outcome | None:
    """Connect within CONNECT_TIMEOUT_S; the outcome to report when that fails. A full
    accept queue (EAGAIN, e.g. while someone floods the socket) is retried briefly."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            sock.connect(str(socket_path))
        except (FileNotFoundError, ConnectionRefusedError):
            return Outcome.SERVICE_DOWN
        except BlockingIOError:
            if time.monotonic() + CONNECT_RETRY_S >= deadline:
                return Outcome.BUSY
            time.sleep(CONNECT_RETRY_S)
            continue
        return None


def remote_session(env: Mapping[str, str], parent: int) -> bool:
    """True for a login from another machine: PAM_RHOST names a remote host, or the
    calling process (pam_exec's parent) runs under sshd or carries SSH variables."""
    if env.get("PAM_RHOST", "") not in _LOCAL_HOSTS:
        return True
    try:
        environ = Path(f"/proc/{parent}/environ").read_bytes().split(b"\0")
    except OSError:
        environ = []
    if any(item.startswith(_SSH_VARIABLES) for item in environ):
        return True
    pid = parent
    for _ in range(64):  # the ancestry is short; the bound guards against a /proc loop
        if pid <= 1:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm in _REMOTE_PARENTS:
            return True
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return False


def _say(text: str) -> None:
    if text:
        print(text, flush=True)


def run(op: Op, socket_path: Path, env: Mapping[str, str], parent: int) -> Outcome:
    """One pam_exec call: PAM_USER, PAM_SERVICE and PAM_TTY come from pam_exec's env.

    Both lines ``install`` writes are ``auth`` lines. Run from any other stack (account,
    session, password: a line copied to the wrong place) the client does nothing and
    says nothing, so no face attempt can stand in for a session or password check."""
    if env.get("PAM_TYPE") != "auth":
        return Outcome.IGNORED
    if op is Op.AUTHENTICATE and remote_session(env, parent):
        return Outcome.REMOTE
    message = {
        "op": op.value,
        "user": env.get("PAM_USER", ""),
        "service": env.get("PAM_SERVICE", ""),
        "tty": env.get("PAM_TTY", ""),
    }
    reply = request(socket_path, message, on_info=_say)
    try:
        return Outcome(str(reply.get("outcome")))
    except ValueError:
        return Outcome.ERROR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="facegate-pam", description="FaceGate's pam_exec client (PAM_USER from pam_exec)."
    )
    parser.add_argument("op", choices=[Op.AUTHENTICATE.value, Op.CLEAR.value])
    parser.add_argument("--socket", type=Path, default=DEFAULT_SOCKET)
    args = parser.parse_args(argv)
    op = Op(args.op)
    try:
        outcome = run(op, args.socket, os.environ, os.getppid())
    except Exception:  # a login must never break on FaceGate: fall through to the password
        outcome = Outcome.ERROR
    if op is Op.AUTHENTICATE:
        _say(outcome.line)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
