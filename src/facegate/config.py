"""Settings, read once into a typed value.

Sources, later ones winning: built-in defaults, ``$FACEGATE_HOME/config.toml``,
environment variables. Nothing here touches the disk at import time.

``config.toml`` example::

    [models]
    sface = "/opt/models/face_recognition_sface_2021dec_int8bq.onnx"

    [vault]
    key_source = "keyfile"        # auto | keyring | keyfile | passphrase
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from facegate.errors import ConfigError
from facegate.models import MODELS


class KeySource(StrEnum):
    """Where the vault key comes from; AUTO tries the OS keyring, then a 0600 key file."""

    AUTO = "auto"
    KEYRING = "keyring"
    KEYFILE = "keyfile"
    PASSPHRASE = "passphrase"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved to concrete values."""

    home: Path
    model_paths: dict[str, Path] = field(default_factory=dict)
    key_source: KeySource = KeySource.AUTO
    passphrase: str | None = field(default=None, repr=False)

    @property
    def vault_path(self) -> Path:
        return self.home / "vault.sqlite3"

    @property
    def key_path(self) -> Path:
        return self.home / "vault.key"


def default_home() -> Path:
    """``$FACEGATE_HOME``, else ``$XDG_DATA_HOME/facegate``, else ``~/.local/share/facegate``."""
    if env := os.environ.get("FACEGATE_HOME"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "facegate"


# The keys config.toml may hold, per table; anything else is a mistake worth hearing about.
_KNOWN_KEYS = {"models": None, "vault": frozenset({"key_source"})}


def _read_config_file(path: Path) -> dict[str, dict[str, str]]:
    """Parse and type-check config.toml: every value must be a string in a known table.

    A typo (``[vualt]``) or a wrong type (``models = "x"``) is an error naming the key,
    not a setting silently ignored or a crash deep inside.
    """
    if not path.exists():
        return {}
    if not path.is_file():  # a FIFO would block every command on its read
        raise ConfigError(f"{path} is not a regular file (a pipe or a device?)")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
    except OSError as err:
        raise ConfigError(f"{path} cannot be read: {err.strerror}") from err
    tables: dict[str, dict[str, str]] = {}
    for table, body in raw.items():
        if table not in _KNOWN_KEYS:
            raise ConfigError(f"{path}: unknown table [{table}]; known: models, vault")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {table} must be a table ([{table}]), not a value")
        allowed = _KNOWN_KEYS[table]
        for key, value in body.items():
            if allowed is not None and key not in allowed:
                raise ConfigError(f"{path}: unknown key {key!r} in [{table}]")
            if not isinstance(value, str):
                raise ConfigError(f"{path}: [{table}] {key} must be a string")
        tables[table] = body
    return tables


def load_settings(home: Path | None = None) -> Settings:
    """Read the config file and the environment once; raise ConfigError on a bad value.

    Environment: ``FACEGATE_HOME``, ``FACEGATE_MODEL_<NAME>`` (e.g.
    ``FACEGATE_MODEL_SFACE``), ``FACEGATE_KEY_SOURCE``, ``FACEGATE_PASSPHRASE``.
    """
    home = home or default_home()
    if home.exists() and not home.is_dir():
        raise ConfigError(f"FaceGate's home {home} is a file, not a folder (FACEGATE_HOME?)")
    file_cfg = _read_config_file(home / "config.toml")
    model_paths = {k: Path(v).expanduser() for k, v in file_cfg.get("models", {}).items()}
    for key, value in os.environ.items():
        if key.startswith("FACEGATE_MODEL_") and value:
            model_paths[key.removeprefix("FACEGATE_MODEL_").lower()] = Path(value).expanduser()
    unknown = sorted(set(model_paths) - set(MODELS))
    if unknown:
        raise ConfigError(
            f"no model is called {', '.join(unknown)} (in [models] or FACEGATE_MODEL_*); "
            f"known: {', '.join(MODELS)}"
        )

    raw_source = os.environ.get("FACEGATE_KEY_SOURCE") or file_cfg.get("vault", {}).get(
        "key_source", "auto"
    )
    try:
        key_source = KeySource(raw_source)
    except ValueError as err:
        choices = ", ".join(s.value for s in KeySource)
        raise ConfigError(f"key_source {raw_source!r} is not one of: {choices}") from err

    return Settings(
        home=home,
        model_paths=model_paths,
        key_source=key_source,
        passphrase=os.environ.get("FACEGATE_PASSPHRASE"),
    )
