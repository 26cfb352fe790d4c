"""How often callers may call: a budget per app, and service-wide ones for strangers.

Every caller reaches the service from this machine, so an address tells callers
apart no better than a name would (all are 127.0.0.1). Budgets are therefore kept
per app id, for calls whose signature checked out, and service-wide for what no
registered key vouches for: registrations (each adds rows to the sharing store),
and calls that failed authentication (a flood of guesses). A call over budget is
refused with 429 and ``Retry-After``. Only failed calls spend the failure budget, so a
stranger's flood cannot lock out an app that signs correctly. The person's own
endpoints have no budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from facegate.sharing.errors import RateLimited


@dataclass(frozen=True)
class Budgets:
    """Calls allowed per moving window, in ``limits`` notation ("120/minute").

    An app polling its consent request once a second spends 60 a minute, half its
    budget; a developer registers a handful of apps a day, not ten a minute.
    """

    app_calls: str = "120/minute"
    registrations: str = "10/minute"
    failed_auth: str = "30/minute"
    stream_starts: str = "20/minute"
    """Per grant: each session costs two audit entries, so reconnect churn is bounded."""


class RateLimits:
    """Moving-window counters in memory: a restart forgets them, which only forgives."""

    def __init__(self, budgets: Budgets | None = None) -> None:
        budgets = budgets or Budgets()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._app_calls = parse(budgets.app_calls)
        self._registrations = parse(budgets.registrations)
        self._failed_auth = parse(budgets.failed_auth)
        self._stream_starts = parse(budgets.stream_starts)

    def app_call(self, app_id: str) -> None:
        """Spend one of an authenticated app's calls; RateLimited when none is left."""
        self._spend(self._app_calls, "app", app_id, what=f"calls from app {app_id}")

    def registration(self) -> None:
        """Spend one of the service's registrations (signed by the key it registers)."""
        self._spend(self._registrations, "registrations", what="app registrations")

    def stream_start(self, grant_id: str) -> None:
        """Spend one of a grant's stream starts; RateLimited when none is left."""
        self._spend(self._stream_starts, "stream", grant_id, what=f"streams of grant {grant_id}")

    def failed_auth(self) -> None:
        """Count a call that failed authentication; RateLimited past the budget."""
        self._spend(self._failed_auth, "failed-auth", what="calls that failed authentication")

    def _spend(self, item: RateLimitItem, *key: str, what: str) -> None:
        if not self._limiter.hit(item, *key):
            stats = self._limiter.get_window_stats(item, *key)
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(f"too many {what} ({item}); try again in {wait} s", retry_after=wait)
