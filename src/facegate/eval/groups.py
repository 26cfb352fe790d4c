"""How cross-validation folds are grouped: a closed set, light enough for the CLI."""

from __future__ import annotations

from enum import StrEnum


class GroupBy(StrEnum):
    """What a cross-validation fold holds out: a capture source or a person."""

    SOURCE = "source"
    SUBJECT = "subject"
