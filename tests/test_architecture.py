"""The one-way data flow of DESIGN.md, checked on the source: identity code and the
template vault must be unreachable from the code that feeds apps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facegate"

FORBIDDEN = {
    "vision": (
        "facegate.biometrics",
        "facegate.sharing",
        "facegate.server",
        "facegate.cli",
        "facegate.vault",
        "facegate.liveness",
    ),
    "sharing": ("facegate.biometrics", "facegate.vault"),
    "server": ("facegate.biometrics", "facegate.vault"),
    "client": ("facegate.biometrics", "facegate.vault"),
    "system": ("facegate.cli", "facegate.server", "facegate.sharing"),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_what_is_upstream_of_it(package: str) -> None:
    files = sorted((PACKAGE / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    breaches = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert not breaches, breaches


def test_the_checker_sees_a_breach(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from facegate.biometrics.template import Template\nimport facegate.vault\n")
    assert {"facegate.biometrics.template", "facegate.vault"} <= imported_modules(module)
