"""The login service: warm models behind a Unix socket that checks who is asking.

Why this shape:

* The socket is world-connectable (anyone may ask for ``status``) and every request is
  judged by the caller's kernel-reported uid (``SO_PEERCRED``), never by anything the
  caller says: only root, i.e. the PAM stack, may authenticate a user or clear a lockout.
* One engine thread owns the models, the vault and the camera, and SQLite's connection
  stays on the thread that opened it. Connection threads only parse, check and wait.
  One face attempt runs at a time: a second one, while the camera is in use, is told
  BUSY at once (and falls through to the password) rather than queued to its timeout.
* A hostile client gets a clear error and costs little: requests are one line of at
  most ``MAX_MESSAGE`` bytes, read within ``READ_TIMEOUT_S`` (root) or
  ``UNPRIVILEGED_READ_TIMEOUT_S`` (anyone else). Slots are taken by uid at accept
  (``facegate.system.admission``): other users get at most ``PER_UID`` each and never
  the ones reserved for root, so they cannot keep the PAM stack out. Refusals are
  logged with the uid, a few at a time.
* The socket's directory must belong to root (or the daemon's own user) and be writable
  by no one else: whoever may write it can delete or replace the socket.
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
from facegate.system.admission import Admission, Throttle
from facegate.system.authenticate import (
    AttemptResult,
    authenticate,
    clear_lockout,
    open_system_session,
    prepare_next_attempt,
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
UNPRIVILEGED_READ_TIMEOUT_S = 0.5  # a status request is sent right after connecting
MAX_FIELD = 256
ACCEPT_BACKLOG = 128  # a flood of connects must not fill the queue before accept
# Refusals and denials per uid: 5 logged at once, then one a minute (with a count).
LOG_BURST, LOG_INTERVAL_S = 5, 60.0
DRAIN_CHUNKS = 16  # at most 16 x MAX_MESSAGE bytes read after a refused request
_ROOT = 0


class LoginService:
    """Answers requests for one socket; ``serve()`` blocks until ``stop()``."""

    def __init__(self, paths: SystemPaths, config: SystemConfig) -> None:
        self.paths = paths
        self.config = config
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facegate-engine")
        self._session: Session | None = None
        self._admission = Admission()
        self._refusals = Throttle(LOG_BURST, LOG_INTERVAL_S)
        self._denials = Throttle(LOG_BURST, LOG_INTERVAL_S)
        self._camera = threading.Lock()  # held from an attempt's start to its end
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    # --- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        """Check the socket's place, then open the system vault and load every model
        on the engine thread (so a bad socket directory is reported before the wait)."""
        _prepare_socket_path(self.paths.socket)
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

        server = _Server(str(path), Handler, bind_and_activate=False)
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
        try:
            uid = peer_uid(conn)
        except OSError:
            return
        refused = self._admission.enter(uid)
        if refused is not None:
            _send(conn, {"outcome": Outcome.BUSY.value, "detail": refused})
            dropped = self._refusals.allow(uid)
            if dropped is not None:
                log.warning("refused a connection from uid %d: %s%s", uid, refused, _more(dropped))
            return
        try:
            self._handle(conn, uid)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client left before the reply")
        except Exception:
            log.exception("unexpected error serving a request")
            _send(conn, {"outcome": Outcome.ERROR.value})
        finally:
            self._admission.leave(uid)

    def _handle(self, conn: socket.socket, uid: int) -> None:
        wait = READ_TIMEOUT_S if uid == _ROOT else UNPRIVILEGED_READ_TIMEOUT_S
        deadline = time.monotonic() + wait
        try:
            request = LineReader(conn).read(deadline)
            op, user, service, tty = _parse(request)
        except (ProtocolError, TimeoutError) as err:
            _send(conn, {"outcome": Outcome.BAD_REQUEST.value, "detail": str(err) or "timeout"})
            _drain(conn, deadline)
            return
        conn.settimeout(READ_TIMEOUT_S)
        if op is Op.STATUS:
            _send(conn, self._status())
            return
        started = time.monotonic()
        if uid != _ROOT:
            _send(conn, {"outcome": Outcome.DENIED.value, "reason": None})
            dropped = self._denials.allow(uid)
            if dropped is not None:  # a flood must not push real attempts out of the log
                log.warning("uid %d may not %s (user %r)%s", uid, op.value, user, _more(dropped))
                self._log(op, user, service, tty, AttemptResult(Outcome.DENIED), started, uid)
            return
        if op is Op.CLEAR:
            _send(conn, {"wait": self.config.timeout})  # it may queue behind an attempt
            job = functools.partial(clear_lockout, user=user)
            result = AttemptResult(self._run(job, self.config.timeout))
        elif service in self.config.disabled_services:
            result = AttemptResult(Outcome.DISABLED)
        else:
            result = self._attempt(conn, user)
        _send(conn, {"outcome": result.outcome.value, "reason": result.reason})
        self._log(op, user, service, tty, result, started, uid)

    def _attempt(self, conn: socket.socket, user: str) -> AttemptResult:
        """One face attempt on the engine thread, or BUSY at once while another runs (the
        camera is taken: queueing would hold this login to its timeout). BUSY never
        reaches the vault, so it counts toward no one's lockout."""
        if not self._camera.acquire(blocking=False):
            return AttemptResult(Outcome.BUSY)
        try:
            future = self._engine.submit(self._release_camera_after, self._attempt_job(conn, user))
        except BaseException:
            self._camera.release()
            raise
        # Queued behind the attempt on the engine thread, so it runs once the attempt
        # is over, while the reply travels back to PAM.
        self._engine.submit(self._with_session, prepare_next_attempt)
        try:
            result: AttemptResult = future.result(timeout=self.config.timeout + REPLY_GRACE_S / 2)
        except FutureTimeout:
            return AttemptResult(Outcome.TIMEOUT)
        except FaceGateError as err:
            log.warning("face attempt for %s failed: %s", user, err)
            return AttemptResult(Outcome.ERROR)
        return result

    def _release_camera_after(self, job: Any) -> Any:
        """Run ``job`` on the engine, then free the camera: when the engine is done, not
        when the connection stops waiting (an attempt past its reply deadline still holds
        the camera), and before the reply is sent (the next login finds it free)."""
        try:
            return self._with_session(job)
        finally:
            self._camera.release()

    def _attempt_job(self, conn: socket.socket, user: str) -> Any:
        timeout = self.config.timeout
        deadline = time.monotonic() + timeout
        _send(conn, {"wait": timeout})

        def run(session: Session) -> AttemptResult:
            if time.monotonic() >= deadline:
                return AttemptResult(Outcome.BUSY)
            return authenticate(
                session, user, self.config, deadline, lambda text: _send(conn, {"info": text})
            )

        return run

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
        self,
        op: Op,
        user: str,
        service: str,
        tty: str,
        result: AttemptResult,
        started: float,
        uid: int,
    ) -> None:
        entry = attempts.Attempt(
            at=attempts.now(),
            user=user,
            service=service if op is Op.AUTHENTICATE else f"{service} (clear)",
            tty=tty,
            outcome=result.outcome.value,
            reason=result.reason.value if result.reason is not None else "",
            duration_ms=round((time.monotonic() - started) * 1000),
            uid=uid,
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


def _drain(conn: socket.socket, deadline: float) -> None:
    """Read and drop what is left of a refused request (bounded in bytes and by the
    request's deadline), so closing does not reset the connection and discard the
    error reply before the client reads it."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        for _ in range(DRAIN_CHUNKS):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn.settimeout(left)
            if not conn.recv(MAX_MESSAGE):
                return


def _more(dropped: int) -> str:
    return f" ({dropped} more not logged)" if dropped else ""


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = ACCEPT_BACKLOG


def _prepare_socket_path(path: Path) -> None:
    """Create the socket's directory (0755, so clients can reach it) and clear a stale
    socket left by a crash; refuse to replace anything that is not a socket, and refuse
    a directory that someone else could write."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o755, parents=True)
        os.chmod(parent, 0o755)
    _check_socket_dir(parent)
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


def _check_socket_dir(directory: Path) -> None:
    """Refuse a socket directory that another user owns or could write, directly or
    through a directory above it: they could delete the socket or put their own in its
    place. The directory itself must be writable by its owner only; a directory above it
    may be world-writable only when sticky (as /tmp), where others cannot rename ours.
    Both the path as given and the one its symbolic links lead to are checked."""
    me = os.geteuid()
    given = directory.absolute()
    resolved = directory.resolve()
    for place in dict.fromkeys([given, *given.parents, resolved, *resolved.parents]):
        info = place.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue  # the link's own directory is checked; where it leads, too
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid not in (_ROOT, me):
            raise FaceGateError(
                f"the socket directory {directory} is not safe: {place} belongs to uid "
                f"{info.st_uid}, who could delete or replace the socket; use a directory "
                "owned by root (the default is /run/facegate)"
            )
        writable = mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable and (place in (given, resolved) or not mode & stat.S_ISVTX):
            raise FaceGateError(
                f"the socket directory {directory} is not safe: {place} is writable by "
                f"group or others (mode {mode:04o}), who could delete or replace the "
                "socket; make it writable by root only (chmod go-w)"
            )
