"""The terms every app accepts before asking for consent, shipped with the package.

Acceptance names a version; only ``CURRENT_VERSION`` can be accepted, so a change of
terms is a new file and a new version that every app must accept again.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

CURRENT_VERSION = "1"


@dataclass(frozen=True)
class Terms:
    """One version of the terms: ``text`` is Markdown."""

    version: str
    text: str


def current_terms() -> Terms:
    """The terms in force, read from the package data."""
    text = resources.files(__name__).joinpath(f"v{CURRENT_VERSION}.md").read_text("utf-8")
    return Terms(version=CURRENT_VERSION, text=text)
