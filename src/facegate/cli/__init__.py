"""The ``facegate`` command line: thin commands over the library.

Each module registers its commands on the shared Typer app in ``app.py``.
"""

from __future__ import annotations

from facegate.cli import eval as _eval  # noqa: F401  (registers commands)
from facegate.cli import liveness as _liveness  # noqa: F401  (registers commands)
from facegate.cli import occlusion as _occlusion  # noqa: F401  (registers commands)
from facegate.cli import sharing as _sharing  # noqa: F401  (registers commands)
from facegate.cli import track as _track  # noqa: F401  (registers commands)
from facegate.cli import unlock as _unlock  # noqa: F401  (registers commands)
from facegate.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
