"""A named pipe as the login camera: frames another program writes as they happen.

Some cameras need a userspace pipeline before their frames are usable (an infrared
camera whose emitter a helper switches on, a GStreamer or ffmpeg chain), and a test
needs a "person" who reacts to the prompt. Both can write a YUV4MPEG2 stream (ffmpeg's
``-f yuv4mpegpipe``, ``-pix_fmt gray`` for an infrared camera's grey frames) into a
named pipe that ``camera`` in ``/etc/facegate/config.toml`` names (docs/login.md has a
unit for such a pipeline).

Whoever writes to that pipe *is* the camera of every login, and whoever reads it sees
every login's face. So the pipe must be root's with mode 0600, and every directory
above it root's and writable by nobody else (a link in ``/tmp`` owned by someone else
is refused too: they could re-point it); otherwise an ordinary user could feed the
owner's face to ``sudo``, or watch it. The opened pipe is checked again, so a swap
between the check and the open gains nothing. The stream is read here, not
through OpenCV, so that every read honours the attempt's deadline: a writer that
never comes or stalls mid-frame ends the attempt on time instead of hanging the
service.
"""

from __future__ import annotations

import os
import select
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from facegate.errors import UnreadableSource
from facegate.system.trusted_paths import path_problem
from facegate.vision.sources import Frame, SourceKind, check_size

MAGIC = b"YUV4MPEG2"
MAX_HEADER = 1024  # bytes: a stream header or a FRAME line is a few dozen
CHROMA_420 = frozenset({"420", "420jpeg", "420paldv", "420mpeg2"})
MONO = "mono"
# Not chmod: a program that opened the pipe while others could keeps that access.
RECREATE = (
    "Remove it and create it again as root (mkfifo -m 0600) in a root-only directory: "
    "changing its mode leaves whoever already opened it connected"
)


def is_pipe(path: str | Path) -> bool:
    """Whether ``path`` (links followed) is a named pipe."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def refuse_unsafe_pipe(path: Path) -> None:
    """Raise UnreadableSource unless only root can read or write ``path`` or replace it."""
    _refuse_open_to_others(os.stat(path), str(path))
    problem = path_problem(path)
    if problem is not None:
        raise UnreadableSource(
            f"{path}: refusing this pipe as the login camera, since whoever can write to it "
            f"can show any face to every login: {problem}. Create it as root, mode 0600, in "
            f"a root-only directory (for example /run/facegate-camera)"
        )


def _refuse_open_to_others(info: os.stat_result, name: str) -> None:
    """The pipe itself must be root's and closed to everyone else: whoever can read it
    takes frames of the person's face out of the stream (and corrupts what the service
    reads); whoever can write it shows a face. Judged on the path before opening, and
    again on what was opened, so a swap in between gains nothing."""
    if not stat.S_ISFIFO(info.st_mode):
        raise UnreadableSource(f"{name}: not a named pipe")
    if info.st_uid != 0 or info.st_mode & 0o077:
        raise UnreadableSource(
            f"{name}: refusing this pipe as the login camera: it must belong to root with "
            f"mode 0600 (it belongs to uid {info.st_uid} and its mode is "
            f"{stat.S_IMODE(info.st_mode):04o}), since whoever can read it sees every "
            f"login's face and whoever can write it shows one. {RECREATE}"
        )


class _Reader:
    """Bytes from a non-blocking descriptor, each read waiting no later than ``deadline``."""

    def __init__(self, fd: int, deadline: float) -> None:
        self._fd, self._deadline, self._buffer = fd, deadline, bytearray()

    def _fill(self) -> bool:
        """Read what is there, waiting until the deadline; False at end of stream or time."""
        while True:
            wait = self._deadline - time.monotonic()
            if wait <= 0:
                return False
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                return False
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:  # woken without data (no writer yet): wait again
                continue
            if not chunk:
                return False
            self._buffer += chunk
            return True

    def line(self) -> bytes | None:
        """Up to the next newline (excluded); None when the stream or the time ended."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_HEADER:
                raise UnreadableSource(f"a line longer than {MAX_HEADER} bytes: not YUV4MPEG2")
            if not self._fill():
                return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            if not self._fill():
                return None
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _header(line: bytes, name: str) -> tuple[int, int, str]:
    """(width, height, colour space) of a stream header line."""
    fields = line.split()
    if not fields or fields[0] != MAGIC:
        raise UnreadableSource(f"{name}: not a YUV4MPEG2 stream (it starts {line[:20]!r})")
    tags = {f[:1].decode(errors="replace"): f[1:].decode(errors="replace") for f in fields[1:]}
    try:
        width, height = int(tags["W"]), int(tags["H"])
    except (KeyError, ValueError):
        raise UnreadableSource(f"{name}: the stream header gives no width and height") from None
    check_size(width, height, name)
    colour = tags.get("C", "420jpeg")
    if colour not in CHROMA_420 and colour != MONO:
        raise UnreadableSource(
            f"{name}: colour space C{colour} is not supported; write yuv420p or gray"
        )
    if colour != MONO and (width % 2 or height % 2):
        raise UnreadableSource(f"{name}: 4:2:0 frames need an even width and height")
    return width, height, colour


def _decode(data: bytes, width: int, height: int, colour: str) -> np.ndarray:
    if colour == MONO:
        grey = np.frombuffer(data, np.uint8).reshape(height, width)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    yuv = np.frombuffer(data, np.uint8).reshape(height * 3 // 2, width)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)


def pipe_frames(path: Path, *, deadline: float, max_frames: int | None = None) -> Iterator[Frame]:
    """The frames written to the pipe at ``path`` until ``deadline``
    (``time.monotonic()``), ``max_frames``, the writer closing it, or a malformed frame.

    Raises UnreadableSource when the pipe is unsafe or not a pipe, when no stream or no
    whole first frame arrives before the deadline (nothing is writing: the login falls
    to the password as with no camera), or when its header is not YUV4MPEG2. Frames are
    timed by the clock as they arrive, as a camera's are."""
    name = str(path)
    if not is_pipe(path):
        raise UnreadableSource(f"{name}: not a named pipe")
    try:
        refuse_unsafe_pipe(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:  # gone or changed since it was looked at
        raise UnreadableSource(f"{name}: {err.strerror or err}") from err
    try:
        _refuse_open_to_others(os.fstat(fd), name)
        reader = _Reader(fd, deadline)
        first = reader.line()
        if first is None:
            raise UnreadableSource(f"{name}: no stream arrived (is anything writing to it?)")
        width, height, colour = _header(first, name)
        size = width * height if colour == MONO else width * height * 3 // 2
        start = time.monotonic()
        index = 0
        while max_frames is None or index < max_frames:
            marker = reader.line()
            data = (
                None if marker is None or marker.split()[:1] != [b"FRAME"] else reader.exactly(size)
            )
            if data is None:
                if index == 0:  # as a camera that never delivered: no camera, not an error
                    raise UnreadableSource(f"{name}: the stream ended before its first frame")
                return
            image = _decode(data, width, height, colour)
            now = time.monotonic() - start
            yield Frame(image=image, source=name, index=index, t=now, kind=SourceKind.CAMERA)
            index += 1
    finally:
        os.close(fd)
