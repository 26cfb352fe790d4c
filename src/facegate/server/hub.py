"""Fan-out of one feed to every authorised stream, and the switch that cuts them off.

One producer thread reads the feed and encodes each record once per distinct set of
granted scopes; the event loop then hands the text to every subscriber's queue. A
slow client loses its oldest frames (live data goes stale), never its session.

A stream ends within a second of its grant ending, whichever process ends it:

* a revocation or ban made through this service calls ``end_grants`` directly
  (``Sharing.on_revocation``), which closes the streams at once;
* one made elsewhere (``facegate grants revoke`` in a terminal) or a grant that
  simply expires is caught by the watcher, which asks the database every
  ``poll_seconds`` (0.2 s) which live grants have ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from facegate.errors import FaceGateError
from facegate.server.feeds import Feed, SourceStatus
from facegate.sharing.consent import Grant
from facegate.sharing.frames import encode_frame
from facegate.sharing.scopes import Scope
from facegate.sharing.service import Sharing

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
IDLE_SECONDS = 2.0
"""How long the feed keeps running with nobody watching, so a reconnect is instant."""
QUEUE_FRAMES = 4


class RecordFilter(Protocol):
    def reset(self) -> None: ...

    def __call__(self, record: Mapping[str, Any]) -> Mapping[str, Any]: ...


MAX_STREAMS_PER_GRANT = 2
"""A grant is one person's consent to one app: two sessions cover a reconnect overlap."""


class CloseCode(IntEnum):
    """WebSocket close codes the stream uses; 4xxx are FaceGate's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    SOURCE_FAILED = 1011
    BAD_REQUEST = 4400
    UNAUTHORISED = 4401
    CONSENT_ENDED = 4403
    AUTH_TIMEOUT = 4408
    TOO_MANY_STREAMS = 4409
    RATE_LIMITED = 4429
    SOURCE_UNAVAILABLE = 4503


@dataclass(eq=False)
class Subscription:
    """One live stream: the grant it runs under, its queue, and what it was sent."""

    grant: Grant
    preview: bool = False
    """The person watching their own stream: no grant in the database to watch."""
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_FRAMES))
    frames_sent: int = 0
    close_code: CloseCode | None = None
    close_reason: str = ""

    @property
    def scopes(self) -> frozenset[Scope]:
        return self.grant.scopes

    def offer(self, text: str) -> None:
        """Queue a frame, dropping the oldest one if the client has fallen behind."""
        if self.close_code is not None:
            return
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(text)

    def end(self, code: CloseCode, reason: str) -> None:
        """Ask the stream to close; the sender sees the sentinel after at most one frame."""
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class StreamHub:
    """Owns the producer thread and the watcher task; lives on the service's event loop."""

    def __init__(
        self,
        feed: Feed,
        sharing: Sharing,
        poll_seconds: float = POLL_SECONDS,
        record_filter: RecordFilter | None = None,
    ) -> None:
        """``record_filter`` sees every record before any app does (``sharing.neutral``)."""
        self._feed = feed
        self._filter = record_filter
        self._sharing = sharing
        self._poll_seconds = poll_seconds
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._producer: threading.Thread | None = None
        self._halt = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] | None = None
        self.source = SourceStatus(True, "not checked yet")

    async def check_source(self) -> SourceStatus:
        """Look at the source again (a camera plugged in since, a file restored)."""
        self.source = await asyncio.to_thread(self._feed.check)
        return self.source

    async def start(self) -> None:
        """Check the source (logged, shown on the pages), then watch grants."""
        await self.check_source()
        if self.source.ok:
            log.info("expression source: %s", self.source.message)
        else:
            log.warning("expression source unavailable: %s", self.source.message)
        self._loop = asyncio.get_running_loop()
        self._halt.clear()
        self._watcher = asyncio.create_task(self._watch(), name="facegate-grant-watcher")
        self._stop_listening = self._sharing.on_revocation(self.end_grants)

    async def stop(self) -> None:
        """Close every stream as going away and stop the feed."""
        self._halt.set()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for sub in self.subscriptions():
            sub.end(CloseCode.GOING_AWAY, "the FaceGate service is stopping")
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        producer = self._producer
        if producer is not None:
            await asyncio.to_thread(producer.join, 5.0)

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs)

    def subscribe(self, grant: Grant, *, preview: bool = False) -> Subscription | None:
        """Start receiving frames under ``grant``; the feed starts if it was idle.

        None when the grant already has ``MAX_STREAMS_PER_GRANT`` live streams.
        """
        sub = Subscription(grant, preview=preview)
        with self._lock:
            live = sum(s.grant.id == grant.id and s.close_code is None for s in self._subs)
            if live >= MAX_STREAMS_PER_GRANT:
                return None
            self._subs.add(sub)
            if self._producer is None and not self._halt.is_set():
                self._producer = threading.Thread(
                    target=self._produce, name="facegate-feed", daemon=True
                )
                self._producer.start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def end_grants(self, grant_ids: Iterable[str]) -> None:
        """Close every stream of these grants; callable from any thread."""
        ids = frozenset(grant_ids)
        if self._loop is None or not ids:
            return
        self._loop.call_soon_threadsafe(self._end, ids, "the grant was revoked")

    def _end(self, grant_ids: frozenset[str], reason: str) -> None:
        for sub in self.subscriptions():
            if sub.grant.id in grant_ids:
                sub.end(CloseCode.CONSENT_ENDED, reason)

    async def _watch(self) -> None:
        """Catch grants ended by another process, or by the clock, within ``poll_seconds``."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            live = {
                sub.grant.id
                for sub in self.subscriptions()
                if sub.close_code is None and not sub.preview
            }
            if not live:
                continue
            try:
                ended = await asyncio.to_thread(self._sharing.ended_grants, live)
            except Exception:
                log.exception("could not check grants; retrying")
                continue
            if ended:
                self._end(frozenset(ended), "the grant ended (revoked, expired or app banned)")

    def _produce(self) -> None:
        """The producer thread: feed -> one encoding per scope set -> the event loop."""
        loop = self._loop
        assert loop is not None, "StreamHub.start() must run before subscribe()"
        frames = self._feed.frames(self._halt)
        if self._filter is not None:
            self._filter.reset()  # a new session: another person may be at the camera now
        code, reason = CloseCode.NORMAL, "the expression source ended"
        idle_since: float | None = None
        try:
            for record in frames:
                with self._lock:
                    scope_sets = {sub.scopes for sub in self._subs if sub.close_code is None}
                    if not scope_sets:
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > IDLE_SECONDS:
                            self._producer = None
                            return
                        continue
                idle_since = None
                if self._filter is not None:
                    record = self._filter(record)
                texts = {scopes: encode_frame(record, scopes) for scopes in scope_sets}
                loop.call_soon_threadsafe(self._deliver, texts)
        except FaceGateError as err:
            log.error("the expression source failed: %s", err)
            self.source = SourceStatus(False, str(err))
            code, reason = CloseCode.SOURCE_FAILED, f"the expression source failed: {err}"[:120]
        except Exception:
            log.exception("the expression source failed")
            code, reason = CloseCode.SOURCE_FAILED, "the expression source failed"
        finally:
            frames.close()
        with self._lock:
            self._producer = None
        if not self._halt.is_set():
            loop.call_soon_threadsafe(self._end_all, code, reason)

    def _deliver(self, texts: dict[frozenset[Scope], str]) -> None:
        for sub in self.subscriptions():
            text = texts.get(sub.scopes)
            if text is not None:
                sub.offer(text)

    def _end_all(self, code: CloseCode, reason: str) -> None:
        for sub in self.subscriptions():
            sub.end(code, reason)
