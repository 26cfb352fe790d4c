"""Refused stream attempts: counted, budgeted, and written to the audit log once a minute.

An app that lost its grant can reconnect hundreds of times a second. Writing one
audit entry per attempt would let it flood the person's log (and the disk), so
refusals are tallied in memory and each app gets **one** ``stream_refused`` entry
per minute that holds the number of attempts and why they were refused. The entry
is written when its minute is over: by the next refusal, by the service's
background worker (every second), or when the service closes.

Each token also has a budget of refusals per minute (``REFUSALS_PER_MINUTE``). Past
it, the attempt is refused without reading the database at all (``over_budget``),
and still counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

REFUSALS_PER_MINUTE = 10


@dataclass(frozen=True)
class RefusalMinute:
    """Every refused attempt of one app in one minute (``start`` to ``start + 1 min``)."""

    app_id: str
    start: datetime
    reasons: dict[str, int]
    grant_ids: tuple[str, ...]

    @property
    def attempts(self) -> int:
        return sum(self.reasons.values())


@dataclass
class _Bucket:
    reasons: Counter[str] = field(default_factory=Counter)
    grant_ids: set[str] = field(default_factory=set)


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


class RefusalTally:
    """Thread-safe counts of refused attempts, per app and minute, and per token."""

    def __init__(self, per_token_per_minute: int = REFUSALS_PER_MINUTE) -> None:
        self._budget = per_token_per_minute
        self._buckets: dict[tuple[str, datetime], _Bucket] = {}
        self._tokens: dict[str, tuple[str, str | None, datetime, int]] = {}
        self._lock = threading.Lock()

    def over_budget(self, token_hash: str, now: datetime) -> tuple[str, str | None] | None:
        """The (app, grant) of a token that spent its refusals this minute, else None."""
        with self._lock:
            seen = self._tokens.get(token_hash)
        if seen is None or seen[2] != _minute(now) or seen[3] < self._budget:
            return None
        return seen[0], seen[1]

    def note(
        self,
        app_id: str,
        grant_id: str | None,
        reason: str,
        now: datetime,
        token_hash: str | None = None,
    ) -> None:
        """Count one refused attempt (and spend one of the token's refusals)."""
        minute = _minute(now)
        with self._lock:
            bucket = self._buckets.setdefault((app_id, minute), _Bucket())
            bucket.reasons[reason] += 1
            if grant_id is not None:
                bucket.grant_ids.add(grant_id)
            if token_hash is not None:
                _, _, at, count = self._tokens.get(token_hash, (app_id, grant_id, minute, 0))
                count = count + 1 if at == minute else 1
                self._tokens[token_hash] = (app_id, grant_id, minute, count)

    def take(self, now: datetime, *, everything: bool = False) -> list[RefusalMinute]:
        """Remove and return the minutes that are over (all of them if ``everything``)."""
        current = _minute(now)
        with self._lock:
            done = [k for k in self._buckets if everything or k[1] < current]
            taken = [
                RefusalMinute(
                    app_id,
                    start,
                    dict(sorted(self._buckets[(app_id, start)].reasons.items())),
                    tuple(sorted(self._buckets[(app_id, start)].grant_ids)),
                )
                for app_id, start in sorted(done, key=lambda k: (k[1], k[0]))
            ]
            for key in done:
                del self._buckets[key]
            stale = current - timedelta(minutes=1)
            self._tokens = {k: v for k, v in self._tokens.items() if v[2] > stale}
        return taken
