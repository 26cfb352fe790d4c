"""The configured camera as frames for one attempt, opened late and released at the end.

A camera is named by index ("0"), device node ("/dev/video2") or a stable
``/dev/v4l/by-id/...`` link. A video or image file may stand in for it, as a test aid:
a video is paced at its own frame rate, so an attempt sees frames as a live camera
would deliver them, and each attempt starts the file from its beginning. A named pipe
carrying a YUV4MPEG2 stream is read as a live camera (``pipe_camera``). A symbolic
link is followed at each attempt, so re-pointing it swaps the "camera" under a running
daemon, as plugging in another camera would.

A file or a pipe is every login's camera, so before each attempt it is refused unless
only root can change it and the path to it: otherwise a user could, for instance,
create the configured name in ``/tmp`` first, as a link to a recording of the owner.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path

import cv2

from facegate.errors import UnreadableSource
from facegate.system.pipe_camera import is_pipe, pipe_frames, refuse_unsafe_pipe
from facegate.system.trusted_paths import path_problem
from facegate.vision.sources import Frame, SourceKind, is_video, iter_video, read_image

_DEVICE = re.compile(r"/dev/video(\d+)")


def _resolved(camera: str) -> Path:
    try:
        return Path(camera).resolve()
    except (OSError, RuntimeError) as err:  # a link loop: RuntimeError before Python 3.13
        raise UnreadableSource(f"{camera}: cannot be followed ({err})") from err


def camera_kind(camera: str) -> SourceKind:
    """How the configured camera delivers frames; the unlock policy picks liveness by it
    (only moving frames can answer a challenge)."""
    if camera.isdigit() or camera.startswith("/dev/") or is_pipe(camera):
        return SourceKind.CAMERA
    try:
        return SourceKind.VIDEO if is_video(_resolved(camera)) else SourceKind.STILL
    except UnreadableSource:
        return SourceKind.STILL  # refused before any frame is read (check_camera)


def device_index(camera: str) -> int | None:
    """The V4L2 index a camera name points at, following links such as
    ``/dev/v4l/by-id/...``; None for a file."""
    if camera.isdigit():
        return int(camera)
    target = _resolved(camera)
    match = _DEVICE.fullmatch(str(target))
    if match is not None:
        return int(match.group(1))
    if camera.startswith("/dev/"):
        raise UnreadableSource(f"{camera}: not a /dev/videoN camera (it resolves to {target})")
    return None


def check_camera(camera: str) -> None:
    """Raise UnreadableSource when the configured camera must not be used: a file, or
    a link or directory on the way to a file, a pipe or a device, that someone other
    than root could change (or a missing name they could create). A device node itself
    is left to its own permissions (``video`` group), as every camera program is."""
    if camera.isdigit():
        return
    index = device_index(camera)
    path = Path(camera).absolute()
    if index is None and is_pipe(camera):
        refuse_unsafe_pipe(path)
        return
    problem = path_problem(path, ignore=_resolved(camera) if index is not None else None)
    if problem is not None:
        raise UnreadableSource(
            f"{camera}: refusing this camera, since whoever can change it or the path to it "
            f"shows any face to every login: {problem}"
        )


def camera_problem(camera: str) -> str | None:
    """Why the configured camera would be refused before its first frame, or None
    (``facegate doctor`` shows it; a device is otherwise judged only by opening it)."""
    try:
        check_camera(camera)
        path = Path(camera).absolute()
        if device_index(camera) is not None:
            return None
        if not path.exists():
            return f"{camera}: no such file or pipe"
        if path.suffix == ".y4m" and not is_pipe(camera):
            return (
                f"{camera}: a regular file, not a named pipe: a camera pipeline may be writing "
                f"frames into it; remove it and create the pipe as root (mkfifo -m 0600) in a "
                f"root-only directory"
            )
    except UnreadableSource as err:
        return str(err)
    return None


def _grey(frame: Frame) -> Frame:
    grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
    return replace(frame, image=cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


def _paced(frames: Iterator[Frame]) -> Iterator[Frame]:
    start = time.monotonic()
    for frame in frames:
        delay = start + frame.t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield frame


def _open(camera: str, deadline: float, max_frames: int | None) -> Iterator[Frame]:
    """The configured camera's frames, once it has been judged safe to read."""
    index = device_index(camera)
    if index is None and is_pipe(camera):
        # Judged as named (a link's directory must be safe too) by pipe_frames itself:
        # the path before opening and the pipe once opened.
        return pipe_frames(Path(camera).absolute(), deadline=deadline, max_frames=max_frames)
    check_camera(camera)
    if index is not None:
        return iter_video(index, max_frames=max_frames)
    target = _resolved(camera)
    if is_video(target):
        return _paced(iter_video(target, max_frames=max_frames))
    return iter([read_image(target)])


def camera_frames(
    camera: str, *, deadline: float, ir: bool = False, max_frames: int | None = None
) -> Generator[Frame, None, None]:
    """Frames until ``deadline`` (``time.monotonic()``); raises UnreadableSource when the
    camera is absent. ``ir`` turns frames grey, as an infrared camera's are."""
    frames = _open(camera, deadline, max_frames)
    try:
        for frame in frames:
            if time.monotonic() > deadline:
                return
            yield _grey(frame) if ir else frame
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # releases the device now, not when the generator is collected
