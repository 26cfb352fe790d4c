"""A stand-in for a person at the login prompt: real frames of them that answer when asked.

A challenge exists so that a recording cannot log in. To test the whole login path
through PAM, and to time it, something must still answer the prompts as a person
would. The responder plays real webcam frames of one person: a stretch of them at
rest, played forwards and back (a still face moves a little, with no cut), and when it
hears a prompt, after a reaction of a few frames, the stretch where they make that
action; then it rests again. It reads the prompt where a person would: in the text
PAM shows (``hear_text``), or from the unlock core's callback (``hear``).

``PipeFeed`` writes it into a named pipe as YUV4MPEG2, as a camera pipeline would, so
the service reads it as a live camera at the clip's own frame rate.

This is the interactive replay that someone holding clips of the owner could stage in
front of a camera, and nothing in the challenge can tell it from the person: what
must stop that attacker is the PAD (docs/liveness.md). It is a test aid: nothing in
the service can reach it.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import cycle
from pathlib import Path

import cv2
import numpy as np

from facegate.errors import InputError
from facegate.liveness.challenge import ChallengeKind
from facegate.vision.sources import Frame, SourceKind, iter_frames

PROMPT = re.compile("(" + "|".join(re.escape(kind.prompt) for kind in ChallengeKind) + ") now")
_BY_PROMPT = {kind.prompt: kind for kind in ChallengeKind}


@dataclass(frozen=True)
class Cast:
    """One person's recording and where in it they rest and make each action
    (frame index ranges, end excluded)."""

    clip: Path
    rest: tuple[int, int]
    actions: Mapping[ChallengeKind, tuple[int, int]]
    reaction_frames: int = 2


def soniya(clips: Path) -> Cast:
    """The one recording at hand with both a blink and a smile (6 fps webcam clip of
    ``blink_webcam_videos``); the person is enrolled from her other clip."""
    return Cast(
        clip=clips / "soniya_test_5_low_fps.avi",
        rest=(160, 185),
        actions={ChallengeKind.BLINK: (190, 200), ChallengeKind.SMILE: (320, 331)},
    )


class Responder:
    """Frames of ``cast`` at rest, with each heard action played once, in the order heard."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.images = [frame.image for frame in iter_frames(cast.clip)]
        capture = cv2.VideoCapture(str(cast.clip))
        self.fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        capture.release()
        spans = [cast.rest, *cast.actions.values()]
        if not all(0 <= a < b <= len(self.images) for a, b in spans):
            raise InputError(f"{cast.clip}: {len(self.images)} frames; a span lies outside")
        self._heard: deque[ChallengeKind] = deque()
        self._prompts_seen = 0
        self._lock = threading.Lock()

    def hear(self, kind: ChallengeKind) -> None:
        """A prompt, as the unlock core's ``on_challenge`` tells it (in this process)."""
        with self._lock:
            self._heard.append(kind)

    def hear_text(self, shown: str) -> None:
        """Everything the prompt has shown so far; prompts not yet heard are queued."""
        found = [_BY_PROMPT[m.group(1)] for m in PROMPT.finditer(shown)]
        with self._lock:
            self._heard.extend(found[self._prompts_seen :])
            self._prompts_seen = max(self._prompts_seen, len(found))

    def restart(self) -> None:
        """Forget what was heard: a new attempt starts from rest."""
        with self._lock:
            self._heard.clear()
            self._prompts_seen = 0

    def images_forever(self) -> Iterator[np.ndarray]:
        """The person's frames, one per camera tick: rest played forwards and back (a
        still face moves a little, with no cut), and each action as soon as the one
        before has been played, after ``reaction_frames`` of rest."""
        a, b = self.cast.rest
        rest = cycle([*range(a, b), *range(b - 2, a, -1)])
        plan: list[int] = []
        while True:
            if not plan:
                with self._lock:
                    kind = self._heard.popleft() if self._heard else None
                if kind is not None and kind in self.cast.actions:
                    start, end = self.cast.actions[kind]
                    lead = [next(rest) for _ in range(self.cast.reaction_frames)]
                    plan = [*lead, *range(start, end)]
            yield self.images[plan.pop(0) if plan else next(rest)]

    def frames(self, limit: int) -> Iterator[Frame]:
        """Up to ``limit`` frames timed at the clip's rate, as a camera delivers them,
        for an unlock attempt in this process (``on_challenge`` calls ``hear``)."""
        for index, image in enumerate(self.images_forever()):
            if index >= limit:
                return
            t = index / self.fps
            yield Frame(image=image, source="responder", index=index, t=t, kind=SourceKind.CAMERA)


def y4m_header(width: int, height: int, fps: float) -> bytes:
    """A YUV4MPEG2 stream header for 4:2:0 frames (the frame rate as a ratio)."""
    rate = Fraction(fps).limit_denominator(1000)
    return (
        f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
    ).encode()


class PipeFeed:
    """A responder writing into a new named pipe (mode 0600), one stream per reader, paced
    at its frame rate; the pipe is removed by ``stop``."""

    def __init__(self, path: Path, responder: Responder) -> None:
        self.path, self.responder = path, responder
        os.mkfifo(path, 0o600)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pipe-feed", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            fd = os.open(self.path, os.O_WRONLY)  # blocks until an attempt opens the camera
            try:
                if not self._stopping.is_set():
                    self._stream(fd)
            except BrokenPipeError:  # the attempt ended and closed the camera
                pass
            finally:
                os.close(fd)

    def _stream(self, fd: int) -> None:
        self.responder.restart()
        first = self.responder.images[0]
        os.write(fd, y4m_header(first.shape[1], first.shape[0], self.responder.fps))
        period, due = 1.0 / self.responder.fps, time.monotonic()
        for image in self.responder.images_forever():
            if self._stopping.is_set():
                return
            yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
            _write_all(fd, b"FRAME\n" + yuv.tobytes())
            due += period
            if _reader_left(fd, max(0.0, due - time.monotonic())):
                return

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):  # wake a writer blocked in open() for a reader
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._thread.join(timeout=10)
        self.path.unlink(missing_ok=True)


def _reader_left(fd: int, seconds: float) -> bool:
    """Wait ``seconds``, or less if the reader closes the pipe. A writer that noticed
    only at its next write would leave a window in which the next attempt's reader
    joins the old stream halfway (no header), so the wait watches for it."""
    poller = select.poll()
    poller.register(fd, 0)  # a pipe's write end reports POLLERR once no reader is left
    return bool(poller.poll(seconds * 1000))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
