"""How the pages say durations and times: words a person reads, not "0.2 hour(s)".

Times are rendered as ``<time datetime="...">`` holding the UTC instant, with UTC
text as the fallback; ``facegate.js`` rewrites them in the browser's own time zone.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration(seconds: float) -> str:
    """``90`` -> "2 minutes", ``5400`` -> "1 hour 30 minutes", ``172800`` -> "2 days".

    Rounded to the minute; only the two largest units are named.
    """
    minutes = max(0, round(seconds / 60))
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        _plural(value, unit)
        for value, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if value
    ]
    return " ".join(parts[:2])


def retention(days: int) -> str:
    """How long an app keeps data, as the consent prompt says it."""
    if days <= 0:
        return "does not keep it (deletes it at once)"
    return f"{_plural(days, 'day')} at most"


def local_time(moment: datetime | str | None) -> Markup:
    """A ``<time>`` element: UTC text now, the reader's local time once the page loads."""
    if moment is None:
        return Markup("")
    instant = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    text = instant.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        escape(instant.isoformat()), escape(text)
    )
