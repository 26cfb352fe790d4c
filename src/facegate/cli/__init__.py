"""The ``facegate`` command line: thin commands over the library.

Each module registers its commands on the shared Typer app in ``app.py``.
"""

from __future__ import annotations

import sys

from facegate.cli import eval as _eval  # noqa: F401  (registers commands)
from facegate.cli import liveness as _liveness  # noqa: F401  (registers commands)
from facegate.cli import occlusion as _occlusion  # noqa: F401  (registers commands)
from facegate.cli import sharing as _sharing  # noqa: F401  (registers commands)
from facegate.cli import system as _system  # noqa: F401  (registers commands)
from facegate.cli import track as _track  # noqa: F401  (registers commands)
from facegate.cli import unlock as _unlock  # noqa: F401  (registers commands)
from facegate.cli.app import app

__all__ = ["app", "global_flags_first", "main"]

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
