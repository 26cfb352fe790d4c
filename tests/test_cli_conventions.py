"""The command line behaves as people who know Click and Typer expect, on every command.

Each test walks the whole command tree, so a new command is held to the same rules.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from facegate.cli import PANELS, app

ROOT = typer.main.get_command(app)
LISTINGS = (
    "users", "doctor", "apps list", "consent list", "grants list", "audit show",
    "system users", "system log",
)  # fmt: skip


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _command(path: tuple[str, ...]) -> Any:
    """The Click command object (Typer's vendored Click) at ``path``."""
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    return command


COMMANDS = [p for p in _walk(ROOT) if p]


@pytest.fixture
def runner_env(home: Path) -> dict[str, str]:
    return {"FACEGATE_HOME": str(home), "FACEGATE_KEY_SOURCE": "keyfile"}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_dash_h_and_prints_a_plain_usage(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert f" {' '.join(path)} " in f"{usage} ", usage
    assert "{" not in usage and "<" not in usage and "list[" not in usage, usage


def test_the_version_is_printed_by_the_root_only() -> None:
    assert CliRunner().invoke(app, ["--version"]).output.startswith("facegate ")
    owners = [
        " ".join(path)
        for path in COMMANDS
        for param in _command(path).params
        if "--version" in getattr(param, "opts", ())
    ]
    assert owners == [], f"--version means 'show the version'; these use it otherwise: {owners}"


def test_json_is_a_flag_everywhere_and_takes_no_value() -> None:
    for path in COMMANDS:
        for param in _command(path).params:
            if "--json" in getattr(param, "opts", ()):
                assert getattr(param, "is_flag", False), " ".join(path)
    result = CliRunner().invoke(app, ["users", "--json", "true"])
    assert result.exit_code == 2 and "unexpected extra argument" in result.output.lower()


@pytest.mark.parametrize("listing", LISTINGS)
def test_every_listing_offers_json(listing: str) -> None:
    options = [o for p in _command(tuple(listing.split())).params for o in p.opts]
    assert "--json" in options, listing


def test_one_name_per_concept() -> None:
    names = {o for path in COMMANDS for p in _command(path).params for o in p.opts}
    assert "--max-frames" not in names, "frames read per source is --read-frames"


def test_commands_are_grouped_and_sorted() -> None:
    in_panels = sorted(name for names in PANELS.values() for name in names)
    assert in_panels == sorted(ROOT.commands), "every top-level command has one panel"
    for path in [(), *COMMANDS]:
        command = _command(path)
        if hasattr(command, "commands"):
            listed = command.list_commands(typer.Context(command))
            assert listed == sorted(listed), " ".join(path)
    help_text = CliRunner().invoke(app, ["-h"]).output
    assert all(panel in help_text for panel in PANELS)


def test_verbose_is_accepted_after_the_subcommand(runner_env: dict[str, str]) -> None:
    from facegate.cli import global_flags_first

    args = global_flags_first(["users", "--json", "-v"])
    result = CliRunner().invoke(app, args, env=runner_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_an_error_is_json_when_json_was_asked_for(
    runner_env: dict[str, str], image_files: dict
) -> None:
    result = CliRunner().invoke(
        app, ["verify", "nobody", str(image_files["enrol"][0]), "--json"], env=runner_env
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)
    assert error["error"] == "NotEnrolled" and "nobody" in error["message"]


def test_piped_output_is_neither_cut_nor_wrapped(runner_env: dict[str, str]) -> None:
    from facegate.models import MODELS

    result = CliRunner().invoke(app, ["doctor"], env=runner_env)
    lines = result.output.splitlines()
    for spec in MODELS.values():
        assert any(spec.sha256 in line and spec.filename in line for line in lines), spec.name


def test_a_missing_extra_is_named(
    runner_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in [m for m in sys.modules if m.split(".")[0] in ("fastapi", "facegate")]:
        if module == "fastapi" or module.startswith(("fastapi.", "facegate.server")):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env=runner_env)
    assert result.exit_code == 2, result.output
    assert "pip install 'facegate[server]'" in result.stderr
