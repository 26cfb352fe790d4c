"""Listings: one list of rows, shown as a table to people and as JSON to scripts.

A listing command builds its rows once (JSON values; the keys are the columns), so the
table and ``--json`` never disagree about what a listing holds. Cells are plain text,
never Rich markup: an app's name cannot restyle the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Column, Table
from rich.text import Text

from facegate.cli.app import out

if TYPE_CHECKING:
    from facegate.vault.base import UserRecord


def print_rows(rows: Sequence[Mapping[str, Any]], *, as_json: bool, empty: str) -> None:
    """``rows`` as one JSON array, or as a table (``empty`` when there is none)."""
    if as_json:
        out.print_json(json.dumps(list(rows), default=str))
        return
    if not rows:
        out.print(empty, highlight=False)
        return
    table = Table(*(Column(key, overflow="fold") for key in rows[0]))
    for row in rows:
        table.add_row(*(_cell(value) for value in row.values()))
    out.print(table)


def user_rows(records: Iterable[UserRecord]) -> list[dict[str, Any]]:
    """The rows of a user listing: names, dates and lockout state; never a template."""
    return [
        {
            "user": r.name,
            "enrolled": r.created_at.isoformat(timespec="seconds"),
            "updated": r.updated_at.isoformat(timespec="seconds"),
            "failures": r.failures,
            "locked": r.locked,
        }
        for r in records
    ]


def _cell(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Text(", ".join(map(str, value)))
    return Text(str(value))
