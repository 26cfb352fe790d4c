"""``with`` for every holder of an open resource (a database, an HTTP client).

Each holder says only how it closes; entering gives the holder itself and leaving
closes it, whether or not an exception is on its way out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closing(ABC):
    """A resource holder usable as ``with Holder(...) as holder:``."""

    @abstractmethod
    def close(self) -> None:
        """Release what the holder holds; calling it twice must be harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
