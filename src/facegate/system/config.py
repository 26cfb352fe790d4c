"""``/etc/facegate/config.toml``: the login service's settings, read once, keys checked.

Example (every key optional)::

    camera = "/dev/v4l/by-id/usb-Acme_Webcam-video-index0"   # or 0, "/dev/video2"
    ir_camera = false          # true for an infrared (grey) camera
    level = "standard"         # standard: passive liveness; high: active challenges
    timeout = 10.0             # seconds a face attempt may take before the password
    disabled_services = ["login"]   # PAM services where face unlock is off

``camera`` may also name a named pipe carrying YUV4MPEG2, read as a live camera (for a
camera behind a userspace pipeline; root's, mode 0600), or a video or image file: a
test aid, so the whole login path runs without hardware. An unknown key or a wrong
type is a ``ConfigError`` naming it: a misspelt ``timout`` silently ignored would
leave an administrator believing it set.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facegate.biometrics.levels import SecurityLevel
from facegate.errors import ConfigError
from facegate.system.client import MAX_WAIT_S

MIN_TIMEOUT_S = 0.5
MAX_TIMEOUT_S = MAX_WAIT_S  # the client waits no longer than this


@dataclass(frozen=True)
class SystemConfig:
    """camera: an index ("0"), a device path, a named pipe or a file; timeout in seconds."""

    camera: str = "0"
    ir_camera: bool = False
    level: SecurityLevel = SecurityLevel.STANDARD
    timeout: float = 10.0
    disabled_services: frozenset[str] = field(default_factory=frozenset)


KEYS = ("camera", "ir_camera", "level", "timeout", "disabled_services")


def parse_config(raw: dict[str, Any], where: str) -> SystemConfig:
    """Check every key and type of a parsed TOML table; raise ConfigError naming the fault."""
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(KEYS)}"
        )
    config = SystemConfig()
    camera = raw.get("camera", config.camera)
    if isinstance(camera, bool) or not isinstance(camera, int | str) or camera == "":
        raise ConfigError(
            f"{where}: camera must be an index, a device path, a named pipe or a file path"
        )
    ir_camera = raw.get("ir_camera", config.ir_camera)
    if not isinstance(ir_camera, bool):
        raise ConfigError(f"{where}: ir_camera must be true or false")
    try:
        level = SecurityLevel(raw.get("level", config.level.value))
    except ValueError:
        levels = ", ".join(level.value for level in SecurityLevel)
        raise ConfigError(f"{where}: level must be one of {levels}") from None
    timeout = raw.get("timeout", config.timeout)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S
    ):
        raise ConfigError(
            f"{where}: timeout must be a number of seconds from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}"
        )
    services = raw.get("disabled_services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise ConfigError(f"{where}: disabled_services must be a list of PAM service names")
    return SystemConfig(
        camera=str(camera),
        ir_camera=ir_camera,
        level=level,
        timeout=float(timeout),
        disabled_services=frozenset(services),
    )


def load_config(path: Path) -> SystemConfig:
    """The settings in ``path``; the defaults when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SystemConfig()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
    return parse_config(raw, str(path))
