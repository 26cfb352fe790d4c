"""The one-way data flow of DESIGN.md, checked on the source: identity code and the
template vault must be unreachable from the code that feeds apps."""

from __future__ import annotations

import ast
import subprocess
import sys
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
        # Vision is handed its model files (models.ModelFiles), never the settings,
        # which also carry the vault's passphrase.
        "facegate.config",
    ),
    "liveness": ("facegate.config",),
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


# Every package's layer: a module may import its own package, the foundations (layer 0)
# and packages of a lower layer only, so data flows one way (DESIGN.md):
# sources -> vision -> liveness -> (biometrics | sharing) -> vault / server / system / cli,
# with eval and bench on top.
LAYER = {
    "errors": 0, "config": 0, "models": 0, "sqlite_io": 0, "private_files": 0, "closing": 0,
    "lazy_names": 0,
    "vision": 1, "vault": 1,
    "liveness": 2,
    "biometrics": 3, "sharing": 3,
    "session": 4, "server": 4, "client": 4,
    "system": 5, "demo": 5,
    "eval": 6, "bench": 6, "doctor": 6,
    "cli": 7,
    "__main__": 8,
}  # fmt: skip


def _package_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYER), sorted(packages - set(LAYER))


def test_every_package_imports_only_downstream_layers() -> None:
    breaches = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _package_of(path)
        if own == "__init__":
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "facegate" or len(parts) < 2 or parts[1] == own:
                continue
            if LAYER.get(parts[1], 99) >= LAYER[own] and LAYER.get(parts[1]) != 0:
                breaches.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not breaches, breaches


ENGINE = {"cv2", "mediapipe", "numpy", "scipy", "skimage", "PIL", "keyring"}
"""What the vision engine and the vault load: an app or ``--help`` must not wait for it."""


def _loaded_after(statement: str) -> set[str]:
    """Top-level packages a fresh interpreter holds after ``statement``."""
    listing = "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    code = f"{statement}\nimport sys\n{listing}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_the_app_sdk_loads_nothing_heavy() -> None:
    bare = _loaded_after("import facegate.client")
    assert bare & (ENGINE | {"httpx", "websockets"}) == set()
    sdk = _loaded_after("from facegate.client import AppClient, stream, verify_notice")
    assert sdk & ENGINE == set()


def test_the_command_line_loads_no_engine_before_a_command_runs() -> None:
    loaded = _loaded_after("import facegate.cli")
    assert loaded & (ENGINE | {"httpx"}) == set()
