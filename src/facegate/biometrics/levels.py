"""Security levels: a closed set, kept in a module light enough for the command line
to import without loading NumPy or any model."""

from __future__ import annotations

from enum import StrEnum


class SecurityLevel(StrEnum):
    """STANDARD targets FMR 1e-5 (unlock, sudo); HIGH targets FMR 1e-6 (payments)."""

    STANDARD = "standard"
    HIGH = "high"

    @property
    def target_fmr(self) -> float:
        return {SecurityLevel.STANDARD: 1e-5, SecurityLevel.HIGH: 1e-6}[self]
