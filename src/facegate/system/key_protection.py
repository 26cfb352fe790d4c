"""What protects the login vault's key: sealed by ``systemd-creds`` where it works.

The key lives apart from the vault (``/etc/facegate``, a 0700 directory), so a backup of
``/var/lib`` holds no key. Where ``systemd-creds`` is installed, a new key is sealed
with it (``vault.key.cred``): encrypted with the machine's host key under
``/var/lib/systemd`` and, where a TPM2 is present, with the TPM as well, so a copy of
``/etc`` alone (or of the disk, with a TPM) no longer opens the vault. Without
``systemd-creds`` the key is a root-only file (``vault.key``, 0600), as it was before;
``facegate system seal-key`` seals such a key later. ``facegate doctor`` says which.

The sealed file is read with the key file's guards (a regular file, owned by this
user, private) and its bytes are handed to ``systemd-creds`` on standard input, so
what was checked is what is decrypted.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import subprocess
from enum import StrEnum
from pathlib import Path

from facegate.errors import VaultKeyError
from facegate.private_files import create_private_file
from facegate.vault.sqlite import KEY_BYTES

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
CREDENTIAL_NAME = "facegate-vault-key"  # embedded in the sealed file; decrypt checks it
MAX_SEALED_BYTES = 64 * 1024


class Sealing(StrEnum):
    """What ``systemd-creds`` could seal the key with here."""

    TPM2 = "systemd-creds with a TPM2"
    HOST_KEY = "systemd-creds, host key only (no usable TPM2)"
    NONE = "no systemd-creds"


def available_sealing(path: str | None = None) -> Sealing:
    """Ask ``systemd-creds has-tpm2`` (found on ``path``, default ``$PATH``): exit code 0
    means firmware, driver and systemd all support a TPM2; anything else, or a probe that
    fails, leaves the host key."""
    tool = shutil.which("systemd-creds", path=path)
    if tool is None:
        return Sealing.NONE
    try:
        probe = subprocess.run(
            [tool, "has-tpm2"], capture_output=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return Sealing.HOST_KEY
    return Sealing.TPM2 if probe.returncode == 0 else Sealing.HOST_KEY


def _creds(args: list[str], data: bytes, path: str | None) -> bytes:
    tool = shutil.which("systemd-creds", path=path)
    if tool is None:
        raise VaultKeyError("systemd-creds is not installed, so the sealed key cannot be used")
    try:
        done = subprocess.run(
            [tool, *args, f"--name={CREDENTIAL_NAME}", "-", "-"],
            input=data,
            capture_output=True,
            timeout=30.0,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VaultKeyError(f"systemd-creds {args[0]} did not run: {err}") from err
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise VaultKeyError(
            f"systemd-creds {args[0]} failed (exit {done.returncode}): "
            f"{detail[-1] if detail else 'no message'}"
        )
    return done.stdout


def seal(key: bytes, path: str | None = None) -> bytes:
    """The key encrypted by ``systemd-creds`` (``--with-key=auto``: TPM2 and host key
    where a TPM2 works, else the host key)."""
    return _creds(["encrypt", "--with-key=auto"], key, path)


def _read_private(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise VaultKeyError(f"cannot read the sealed key {path}: {err.strerror}") from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise VaultKeyError(f"the sealed key {path} is not a regular file")
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise VaultKeyError(
                f"the sealed key {path} must belong to uid {os.geteuid()} and be readable "
                f"by it alone (it is uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o})"
            )
        return fh.read(MAX_SEALED_BYTES)


def unseal(sealed_file: Path, path: str | None = None) -> bytes:
    """The key inside ``sealed_file``; a clear error when this machine cannot open it."""
    key = _creds(["decrypt"], _read_private(sealed_file), path)
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"the sealed key {sealed_file} does not hold a {KEY_BYTES}-byte key")
    return key


def new_sealed_key(sealed_file: Path, path: str | None = None) -> bytes:
    """Mint a key and store it sealed, or read the one another process sealed first."""
    key = secrets.token_bytes(KEY_BYTES)
    if not create_private_file(sealed_file, seal(key, path)):
        return unseal(sealed_file, path)
    log.info("created a new login vault key, sealed with systemd-creds at %s", sealed_file)
    return key


def seal_existing(key_file: Path, sealed_file: Path, key: bytes, path: str | None = None) -> None:
    """Seal the key of ``key_file``, check the sealed copy opens to the same key, then
    remove the plain file: the key is never missing, and never plain once sealed."""
    created = create_private_file(sealed_file, seal(key, path))
    if unseal(sealed_file, path) != key:
        if created:
            sealed_file.unlink()
        raise VaultKeyError(
            "the sealed copy did not open to the same key; the plain key file stays"
        )
    # Also reached when a seal-key was interrupted after sealing: the plain copy goes.
    key_file.unlink()
    dir_fd = os.open(key_file.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def describe_key_protection(key_file: Path, sealed_file: Path, sealing: Sealing) -> str:
    """The doctor's line: what protects the key now, then what could."""
    if sealed_file.exists():
        return f"sealed with systemd-creds in {sealed_file}; this machine offers {sealing.value}"
    if key_file.exists():
        used = f"root-only key file {key_file} (0600, not sealed)"
        if sealing is Sealing.NONE:
            return f"{used}; {sealing.value} on this machine to seal it with"
        return f"{used}; `facegate system seal-key` seals it with {sealing.value}"
    if sealing is Sealing.NONE:
        return f"no key yet; the first login enrolment writes {key_file} ({sealing.value})"
    return f"no key yet; the first login enrolment seals it in {sealed_file} ({sealing.value})"
