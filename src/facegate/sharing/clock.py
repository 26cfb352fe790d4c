"""Time for the sharing side: one clock, one stored format.

Every timestamp is timezone-aware UTC and stored as ISO 8601 with microseconds
always present, so stored strings sort and compare in time order inside SQL. The
clock is a parameter, so expiry is tested by moving time rather than by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The stored form; refuses naive datetimes, whose zone would be a guess."""
    if moment.tzinfo is None:
        raise ValueError("sharing timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
