"""Where the service's expression records come from: the live tracker, or a replay.

A feed yields tracker records as JSON-ready mappings (``ExpressionRecord.to_json()``)
at the pace they happen, until its ``stop`` event is set. The hub runs one feed for
all apps, and only while at least one app is streaming, so the camera is on only
when someone is allowed to watch it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from facegate.errors import FaceGateError
from facegate.models import ModelFiles

Record = Mapping[str, Any]


@dataclass(frozen=True)
class SourceStatus:
    """Whether the feed's source can be read; ``message`` says what it is, or what is wrong.

    ``message`` is public: ``/api/v1/status`` and every page (the sign-in page too)
    show it to anyone on this machine, another user's process included. So it never
    names a file's path (which says whose home it is in and what the person called
    it); ``detail`` holds that, for the person's own terminal only.
    """

    ok: bool
    message: str
    detail: str = ""


class Feed(Protocol):
    def frames(self, stop: threading.Event) -> Generator[Record, None, None]:
        """Records, paced in real time, until ``stop`` is set or the source ends."""
        ...

    def check(self) -> SourceStatus:
        """Can the source be read now? Cheap: never turns a camera on."""
        ...


class TrackerFeed:
    """The tracker over a camera (``"0"``) or a video file, paced to the source's own time.

    A file would otherwise be read as fast as the CPU allows; pacing by each record's
    ``t`` makes a recording behave like a camera. ``loop`` replays a file forever.
    """

    def __init__(
        self, source: str, models: ModelFiles, *, loop: bool = False, smoothing: bool = True
    ) -> None:
        self.source = source
        self.models = models
        self.loop = loop
        self.smoothing = smoothing

    def __repr__(self) -> str:
        return f"TrackerFeed({self.source!r}, loop={self.loop})"

    def check(self) -> SourceStatus:
        """A camera must have its device; a file must decode at least one frame."""
        from facegate.vision.sources import camera_exists, camera_index, iter_video

        index = camera_index(self.source)
        if index is not None:
            if camera_exists(index):
                return SourceStatus(True, f"camera {index}")
            return SourceStatus(
                False,
                f"there is no camera {index} on this machine (/dev/video{index}); plug one in, "
                "or restart with --source <video file>",
            )
        try:
            for _ in iter_video(self.source, max_frames=1):
                break
        except FaceGateError as err:
            return SourceStatus(
                False,
                "the video file given to --source cannot be read; restart with another --source",
                detail=str(err),
            )
        looping = " (looping)" if self.loop else ""
        return SourceStatus(True, f"a video file{looping}", detail=self.source)

    def frames(self, stop: threading.Event) -> Generator[Record, None, None]:
        from facegate.sharing.tracker import track  # loads MediaPipe: only when streaming

        offset = 0.0
        while not stop.is_set():
            start = time.monotonic()
            last_t = 0.0
            for record in track([self.source], smoothing=self.smoothing, models=self.models):
                if stop.is_set():
                    return
                last_t = record.t
                delay = start + record.t - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return
                frame = dict(record.to_json())
                frame["t"] = offset + record.t
                yield frame
            if not self.loop:
                return
            offset += last_t + 1.0 / 30.0


class ReplayFeed:
    """Recorded records replayed at ``fps``, looping, with ``t`` counting up from the start.

    For demos, tests and the stream benchmark: the records are real tracker output,
    but replaying them costs no model time, so what is measured is the stream.
    ``on_emit(t)`` is called just before each record is handed over.
    """

    def __init__(
        self,
        records: Sequence[Record],
        fps: float = 30.0,
        *,
        loop: bool = True,
        on_emit: Callable[[float], None] | None = None,
    ) -> None:
        if not records:
            raise ValueError("a replay needs at least one record")
        if not 0 < fps <= 1000:
            raise ValueError(f"fps must be in (0, 1000], got {fps}")
        self.records = list(records)
        self.fps = fps
        self.loop = loop
        self.on_emit = on_emit

    def __repr__(self) -> str:
        return f"ReplayFeed({len(self.records)} records, {self.fps} fps, loop={self.loop})"

    def check(self) -> SourceStatus:
        return SourceStatus(True, f"a replay of {len(self.records)} recorded frames")

    def frames(self, stop: threading.Event) -> Generator[Record, None, None]:
        period = 1.0 / self.fps
        start = time.monotonic()
        index = 0
        while not stop.is_set():
            if index >= len(self.records) and not self.loop:
                return
            due = start + index * period
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            frame = dict(self.records[index % len(self.records)])
            frame["t"] = round(index * period, 6)
            if self.on_emit is not None:
                self.on_emit(frame["t"])
            yield frame
            index += 1
