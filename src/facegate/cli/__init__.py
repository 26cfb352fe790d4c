"""The ``facegate`` command line: thin commands over the library.

Each module registers its commands on the shared Typer app in ``app.py``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from typer.core import TyperGroup
from typer.main import get_command_name

from facegate.cli import eval as _eval  # noqa: F401  (registers commands)
from facegate.cli import liveness as _liveness  # noqa: F401  (registers commands)
from facegate.cli import occlusion as _occlusion  # noqa: F401  (registers commands)
from facegate.cli import sharing as _sharing  # noqa: F401  (registers commands)
from facegate.cli import system as _system  # noqa: F401  (registers commands)
from facegate.cli import track as _track  # noqa: F401  (registers commands)
from facegate.cli import unlock as _unlock  # noqa: F401  (registers commands)
from facegate.cli.app import app

if TYPE_CHECKING:
    from typer._click import Context

__all__ = ["PANELS", "app", "global_flags_first", "main"]

PANELS = {
    "Unlock": ("add", "delete", "demo", "doctor", "enroll", "reset", "users", "verify"),
    "Log in with your face": ("daemon", "system"),
    "Share expressions with apps": (
        "apps", "audit", "consent", "grants", "osc", "serve", "terms", "track",
    ),
    "Measure": ("bench", "eval", "occlusion", "train"),
}  # fmt: skip
"""Where each top-level command stands in ``facegate -h``; within a panel, by name."""


class SortedGroup(TyperGroup):
    """Lists its commands by name, as Click does, rather than in registration order."""

    def list_commands(self, ctx: Context) -> list[str]:
        return sorted(self.commands)


def _arrange() -> None:
    """Give every top-level command its panel and every group its sorted listing."""
    panel_of = {name: panel for panel, names in PANELS.items() for name in names}
    for command in app.registered_commands:
        name = command.name or get_command_name(command.callback.__name__)  # type: ignore[union-attr]
        command.rich_help_panel = panel_of.get(name)
    for group in app.registered_groups:
        group.rich_help_panel = panel_of.get(group.name or "")
        group.cls = SortedGroup
    app.info.cls = SortedGroup


_arrange()

_GLOBAL_FLAGS = frozenset({"-v", "--verbose"})


def global_flags_first(argv: list[str]) -> list[str]:
    """Move ``-v`` / ``--verbose`` to the front, so ``facegate verify alice 0 -v`` works as
    people type it (Click only reads a group's options before the subcommand). Nothing
    after ``--`` is touched."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in _GLOBAL_FLAGS]
    rest = [a for a in argv[:end] if a not in _GLOBAL_FLAGS]
    return flags + rest + argv[end:]


def main() -> None:
    """The ``facegate`` console script."""
    app(args=global_flags_first(sys.argv[1:]), prog_name="facegate")
