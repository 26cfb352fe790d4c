"""Names a package exports without importing the modules behind them (PEP 562).

``import facegate`` and an app's ``import facegate.client`` must not pay for OpenCV,
MediaPipe or an HTTP client before a name that needs them is used; each name is
imported from its module on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, modules: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``; ``modules``: name -> module holding it."""

    def getattr_(name: str) -> Any:
        if name in modules:
            return getattr(importlib.import_module(modules[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *modules})

    return getattr_, dir_
