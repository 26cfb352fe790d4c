"""The login service: warm models behind a Unix socket that checks who is asking.

Why this shape:

* The socket is world-connectable (anyone may ask for ``status``) and every request is
  judged by the caller's kernel-reported uid (``SO_PEERCRED``), never by anything the
  caller says: only root, i.e. the PAM stack, may authenticate a user or clear a lockout.
* One engine thread owns the models, the vault and the camera. Attempts queue for it,
  so two logins never fight over the camera, and SQLite's connection stays on the
  thread that opened it. Connection threads only parse, check and wait.
* A hostile client gets a clear error and costs little: requests are one line of at
  most ``MAX_MESSAGE`` bytes, read within ``READ_TIMEOUT_S``, and at most
  ``MAX_CLIENTS`` connections are served at once; the rest are told BUSY.
* A reply never carries a template, image or score, and neither does the attempt log.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import socketserver
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from facegate.errors import FaceGateError
from facegate.session import Session
from facegate.system import attempts
from facegate.system.authenticate import (
    AttemptResult,
    authenticate,
    clear_lockout,
    open_system_session,
    warm_up,
)
from facegate.system.client import (
    MAX_MESSAGE,
    REPLY_GRACE_S,
    LineReader,
    Op,
    Outcome,
    ProtocolError,
    encode,
    peer_uid,
)
from facegate.system.config import SystemConfig
from facegate.system.paths import SystemPaths

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0
MAX_CLIENTS = 16
MAX_FIELD = 256
DRAIN_CHUNKS = 16  # at most 16 x MAX_MESSAGE bytes read after a refused request
_ROOT = 0


class LoginService:
    """Answers requests for one socket; ``serve()`` blocks until ``stop()``."""

    def __init__(self, paths: SystemPaths, config: SystemConfig) -> None:
        self.paths = paths
        self.config = config
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facegate-engine")
        self._session: Session | None = None
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    # --- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        """Open the system vault and load every model, on the engine thread."""
        self._engine.submit(self._open_engine).result()

    def _open_engine(self) -> None:
        self._session = open_system_session(self.paths)
        warm_up(self._session)

    def serve(self) -> None:
        """Bind the socket and answer until ``stop()``."""
        path = self.paths.socket
        _prepare_socket_path(path)
        service = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                service.handle(self.request)

        server = socketserver.ThreadingUnixStreamServer(str(path), Handler, bind_and_activate=False)
        server.daemon_threads = True
        try:
            server.server_bind()
            os.chmod(path, 0o666)  # anyone may connect; SO_PEERCRED decides what they may do
            server.server_activate()
            self._server = server
            log.info("facegate daemon listening on %s", path)
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def stop(self) -> None:
        """Stop serving (callable from a signal handler: it does not wait)."""
        server = self._server
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    def close(self) -> None:
        self._engine.submit(self._close_engine).result()
        self._engine.shutdown()

    def _close_engine(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- one connection --------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        """Serve one connection; never raises, whatever the client sends."""
        if not self._slots.acquire(blocking=False):
            _send(conn, {"outcome": Outcome.BUSY.value, "detail": "too many connections"})
            return
        try:
            self._handle(conn)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client left before the reply")
        except Exception:
            log.exception("unexpected error serving a request")
            _send(conn, {"outcome": Outcome.ERROR.value})
        finally:
            self._slots.release()

    def _handle(self, conn: socket.socket) -> None:
        uid = peer_uid(conn)
        conn.settimeout(READ_TIMEOUT_S)
        try:
            request = LineReader(conn).read()
            op, user, service, tty = _parse(request)
        except (ProtocolError, TimeoutError) as err:
            _send(conn, {"outcome": Outcome.BAD_REQUEST.value, "detail": str(err) or "timeout"})
            _drain(conn)
            return
        if op is Op.STATUS:
            _send(conn, self._status())
            return
        started = time.monotonic()
        if uid != _ROOT:
            log.warning("uid %d may not %s (user %r)", uid, op.value, user)
            result = AttemptResult(Outcome.DENIED)
        elif op is Op.CLEAR:
            _send(conn, {"wait": self.config.timeout})  # it may queue behind an attempt
            job = functools.partial(clear_lockout, user=user)
            result = AttemptResult(self._run(job, self.config.timeout))
        elif service in self.config.disabled_services:
            result = AttemptResult(Outcome.DISABLED)
        else:
            result = self._attempt(conn, user)
        _send(conn, {"outcome": result.outcome.value, "reason": result.reason})
        self._log(op, user, service, tty, result, started)

    def _attempt(self, conn: socket.socket, user: str) -> AttemptResult:
        timeout = self.config.timeout
        deadline = time.monotonic() + timeout
        _send(conn, {"wait": timeout})

        def run(session: Session) -> AttemptResult:
            if time.monotonic() >= deadline:
                return AttemptResult(Outcome.BUSY)
            return authenticate(
                session, user, self.config, deadline, lambda text: _send(conn, {"info": text})
            )

        future = self._engine.submit(self._with_session, run)
        try:
            result: AttemptResult = future.result(timeout=timeout + REPLY_GRACE_S / 2)
        except FutureTimeout:
            return AttemptResult(Outcome.TIMEOUT)
        except FaceGateError as err:
            log.warning("face attempt for %s failed: %s", user, err)
            return AttemptResult(Outcome.ERROR)
        return result

    def _run(self, job: Any, timeout: float | None) -> Outcome:
        try:
            outcome: Outcome = self._engine.submit(self._with_session, job).result(timeout)
        except FutureTimeout:
            return Outcome.TIMEOUT
        except FaceGateError as err:
            log.warning("request failed: %s", err)
            return Outcome.ERROR
        return outcome

    def _with_session(self, job: Any) -> Any:
        if self._session is None:
            raise FaceGateError("the engine is not open")
        return job(self._session)

    def _status(self) -> dict[str, Any]:
        return {
            "outcome": Outcome.OK.value,
            "ready": self._session is not None,
            "level": self.config.level.value,
            "timeout": self.config.timeout,
        }

    def _log(
        self, op: Op, user: str, service: str, tty: str, result: AttemptResult, started: float
    ) -> None:
        entry = attempts.Attempt(
            at=attempts.now(),
            user=user,
            service=service if op is Op.AUTHENTICATE else f"{service} (clear)",
            tty=tty,
            outcome=result.outcome.value,
            reason=result.reason.value if result.reason is not None else "",
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        try:
            attempts.record(self.paths.attempt_log, entry)
        except FaceGateError as err:
            log.error("could not log an attempt: %s", err)


def _parse(request: dict[str, Any]) -> tuple[Op, str, str, str]:
    try:
        op = Op(str(request.get("op")))
    except ValueError:
        raise ProtocolError(f"op must be one of {', '.join(o.value for o in Op)}") from None
    fields = []
    for name in ("user", "service", "tty"):
        value = request.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise ProtocolError(f"{name} must be a string of at most {MAX_FIELD} characters")
        fields.append(value)
    if op is not Op.STATUS and not fields[0]:
        raise ProtocolError("user is required")
    return op, fields[0], fields[1], fields[2]


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the client left (or timed out): nothing to tell
        conn.sendall(encode(message))


def _drain(conn: socket.socket) -> None:
    """Read and drop what is left of a refused request (bounded), so closing does not
    reset the connection and discard the error reply before the client reads it."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        for _ in range(DRAIN_CHUNKS):
            if not conn.recv(MAX_MESSAGE):
                return


def _prepare_socket_path(path: Path) -> None:
    """Create the socket's directory (0755, so clients can reach it) and clear a stale
    socket left by a crash; refuse to replace anything that is not a socket."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o755, parents=True)
        os.chmod(parent, 0o755)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FaceGateError(f"{path} exists and is not a socket; move it aside")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()
        return
    finally:
        probe.close()
    raise FaceGateError(f"another facegate daemon is already listening on {path}")
