"""Where the login service keeps things, all under one root so tests use a temporary one.

    /etc/facegate/config.toml      settings (see ``facegate.system.config``)
    /etc/facegate/vault.key.cred   the system vault's key sealed by systemd-creds, or
    /etc/facegate/vault.key        the key as a root-only file where systemd-creds is absent
    /var/lib/facegate/             0700: the vault, the attempt log, PAM file backups
    /run/facegate/facegate.sock    the daemon's socket (anyone may connect; see daemon)
    /etc/pam.d/                    the PAM files ``facegate system install`` edits
    /etc/systemd/system/facegate.service

The key lives apart from the vault, so a copy of ``/var/lib`` (a backup) holds no key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from facegate.system.client import DEFAULT_SOCKET

UNIT_NAME = "facegate.service"


@dataclass(frozen=True)
class SystemPaths:
    """The login service's files under ``root`` ("/" in production)."""

    root: Path = Path("/")
    socket_override: Path | None = None
    pam_dir_override: Path | None = None

    def _at(self, absolute: str | Path) -> Path:
        return self.root / str(absolute).lstrip("/")

    @property
    def config_dir(self) -> Path:
        return self._at("/etc/facegate")

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def key_file(self) -> Path:
        return self.config_dir / "vault.key"

    @property
    def sealed_key_file(self) -> Path:
        return self.config_dir / "vault.key.cred"

    @property
    def key_in_use(self) -> Path:
        """The sealed key where there is one, else the plain key file."""
        return self.sealed_key_file if self.sealed_key_file.exists() else self.key_file

    @property
    def state_dir(self) -> Path:
        return self._at("/var/lib/facegate")

    @property
    def vault_file(self) -> Path:
        return self.state_dir / "vault.sqlite3"

    @property
    def attempt_log(self) -> Path:
        return self.state_dir / "attempts.sqlite3"

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "pam-backup"

    @property
    def socket(self) -> Path:
        return self.socket_override or self._at(DEFAULT_SOCKET)

    @property
    def pam_dir(self) -> Path:
        return self.pam_dir_override or self._at("/etc/pam.d")

    @property
    def unit_file(self) -> Path:
        return self._at("/etc/systemd/system") / UNIT_NAME


def wants_system_vault(asked: bool | None, euid: int, environ: Mapping[str, str]) -> bool:
    """Whether ``facegate enroll`` / ``facegate add`` write to the system vault (the one
    the login service reads) rather than the caller's own.

    ``asked`` (``--system`` / ``--personal``) decides when given. Otherwise root gets the
    system vault, unless ``FACEGATE_HOME`` names a personal one: root enrols faces to
    log in with, and ``sudo`` may keep the invoking user's ``HOME``, where a root-owned
    personal vault would only be in the way. ``sudo`` drops ``FACEGATE_HOME``, so
    ``sudo facegate enroll alice 0`` enrols alice for login.
    """
    if asked is not None:
        return asked
    return euid == 0 and not environ.get("FACEGATE_HOME")
