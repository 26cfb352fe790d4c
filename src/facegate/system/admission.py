"""Who may hold one of the login service's connections, and how often refusals are logged.

The socket is world-connectable, so connection slots are a resource any local user can
try to exhaust. Admission is decided by the kernel-reported uid (``SO_PEERCRED``) at
accept, before anything is read:

* root (the PAM stack) may use every slot, and ``ROOT_RESERVED`` of them only root may
  use, so unprivileged clients together can never leave root without one;
* each other uid may hold at most ``PER_UID`` connections at once (it can only ask for
  ``status``, which is answered at once).

``Throttle`` keeps a flood of refusals from flooding the daemon's log (and the attempt
log): a few events per uid pass, then one per interval, with a count of those dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

ROOT = 0
MAX_CLIENTS = 16
ROOT_RESERVED = 4
PER_UID = 2


@dataclass(frozen=True)
class Limits:
    """Connection limits: ``total`` at once, ``root_reserved`` of them for root only,
    ``per_uid`` for each unprivileged uid."""

    total: int = MAX_CLIENTS
    root_reserved: int = ROOT_RESERVED
    per_uid: int = PER_UID


class Admission:
    """Counts open connections by uid; ``enter`` says why one is refused (None: admitted)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}

    def enter(self, uid: int) -> str | None:
        """Take a slot for ``uid``; the refusal's reason when there is none for it."""
        limits = self.limits
        with self._lock:
            total = sum(self._open.values())
            mine = self._open.get(uid, 0)
            if uid == ROOT:
                if total >= limits.total:
                    return "too many connections"
            else:
                unprivileged = total - self._open.get(ROOT, 0)
                if mine >= limits.per_uid:
                    return f"too many connections from uid {uid}"
                if unprivileged >= limits.total - limits.root_reserved or total >= limits.total:
                    return "too many connections"
            self._open[uid] = mine + 1
        return None

    def leave(self, uid: int) -> None:
        """Give back a slot taken by ``enter``."""
        with self._lock:
            left = self._open.get(uid, 0) - 1
            if left > 0:
                self._open[uid] = left
            else:
                self._open.pop(uid, None)


class Throttle:
    """Per-key token bucket: ``burst`` events pass at once, then one per ``interval``
    seconds. ``allow`` returns how many were dropped since the last one that passed
    (so a log line can say so), or None when this one is dropped too."""

    def __init__(self, burst: int, interval: float, max_keys: int = 1024) -> None:
        self.burst = burst
        self.interval = interval
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._state: OrderedDict[object, tuple[float, float, int]] = OrderedDict()

    def allow(self, key: object) -> int | None:
        now = time.monotonic()
        with self._lock:
            tokens, last, dropped = self._state.pop(key, (float(self.burst), now, 0))
            tokens = min(float(self.burst), tokens + (now - last) / self.interval)
            if tokens >= 1.0:
                self._remember(key, (tokens - 1.0, now, 0))
                return dropped
            self._remember(key, (tokens, now, dropped + 1))
            return None

    def _remember(self, key: object, state: tuple[float, float, int]) -> None:
        self._state[key] = state
        while len(self._state) > self._max_keys:  # the least recently seen key goes first
            self._state.popitem(last=False)
