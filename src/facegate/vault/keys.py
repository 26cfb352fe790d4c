"""Where the vault's 32-byte AES key comes from.

* ``KEYRING``: the OS keyring (service ``facegate``, user = the vault's path).
* ``KEYFILE``: a random key in a 0600 file; a file others can read is refused.
* ``PASSPHRASE``: scrypt over the passphrase with a salt stored in the vault, so
  the same passphrase gives a different key for every vault.
* ``AUTO``: an existing key file wins (it exists only because it was chosen
  before); else the keyring; else a new key file. Headless machines have no
  keyring, and a keyring that does not answer in time counts as absent.

A new key is minted only for a vault that has none yet: minting one for an
existing vault could never open it, and would hide the real problem (a lost key
file, a locked keyring) behind a "wrong key" error.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import keyring
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from keyring.backends import fail

from facegate.config import KeySource, Settings
from facegate.errors import VaultKeyError
from facegate.private_files import create_private_file
from facegate.vault.sqlite import KEY_BYTES, is_sealed, passphrase_salt

log = logging.getLogger(__name__)

SERVICE = "facegate"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
KEYRING_TIMEOUT_S = 10.0
MIN_PASSPHRASE_CHARS = 12

T = TypeVar("T")


def load_key(settings: Settings) -> bytes:
    """The key for ``settings.vault_path``, creating one only if the vault has none yet."""
    source = settings.key_source
    if source is KeySource.PASSPHRASE:
        return _passphrase_key(settings)
    if source is KeySource.KEYFILE:
        return _key_file(settings)
    if source is KeySource.KEYRING:
        return _keyring_key(settings)
    if settings.key_path.exists():
        return _key_file(settings)
    try:
        return _keyring_key(settings)
    except VaultKeyError as err:
        if is_sealed(settings.vault_path):
            raise VaultKeyError(
                f"no key for the existing vault at {settings.vault_path}: there is no key "
                f"file {settings.key_path}, and {err}"
            ) from err
        log.info("using a key file instead of the OS keyring: %s", err)
    return _create_key_file(settings.key_path)


def describe_source(settings: Settings) -> str:
    """Which source the vault's key comes from, as ``load_key`` would choose it, without
    touching the keyring (which may prompt or hang): ``auto`` alone tells a person
    nothing about where their key is."""
    source = settings.key_source
    if source is not KeySource.AUTO:
        return source.value
    if settings.key_path.exists():
        return f"auto: the key file {settings.key_path}"
    if is_sealed(settings.vault_path):
        return "auto: the OS keyring (there is no key file)"
    return "auto: not chosen yet (the first enrolment uses the OS keyring, else a key file)"


def _passphrase_key(settings: Settings) -> bytes:
    if not settings.passphrase:
        raise VaultKeyError(
            "key_source is 'passphrase' but no passphrase was given; set FACEGATE_PASSPHRASE"
        )
    # Checked when a vault is sealed, not when one is opened: a vault sealed before this
    # rule must stay openable with the passphrase it was made with.
    if len(settings.passphrase) < MIN_PASSPHRASE_CHARS and not is_sealed(settings.vault_path):
        raise VaultKeyError(
            f"the passphrase is {len(settings.passphrase)} characters long; a new vault needs "
            f"at least {MIN_PASSPHRASE_CHARS} (scrypt slows guessing, it cannot make a short "
            "passphrase strong)"
        )
    salt = passphrase_salt(settings.vault_path)
    # NFC so the same passphrase typed on another system derives the same key.
    secret = unicodedata.normalize("NFC", settings.passphrase).encode()
    return Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)


def _key_file(settings: Settings) -> bytes:
    path = settings.key_path
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        if is_sealed(settings.vault_path):
            raise VaultKeyError(
                f"the vault at {settings.vault_path} exists but its key file {path} is "
                "missing; restore that file: the vault cannot be opened without it"
            ) from None
    return _create_key_file(path)


def _read_key_file(path: Path) -> bytes:
    """Read the key, refusing a file others could have read: that key is no longer secret."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise VaultKeyError(f"cannot read the key file {path}: {err.strerror}") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise VaultKeyError(
            f"the key file {path} is not a regular file; move it aside and restore the key file"
        )
    with os.fdopen(fd, "rb") as fh:
        if info.st_uid != os.geteuid():
            # A key someone else owns may have been planted beside a vault of theirs,
            # enrolling their face as this user's.
            raise VaultKeyError(
                f"the key file {path} belongs to uid {info.st_uid}, not to you "
                f"(uid {os.geteuid()}); a key others own cannot be trusted: check the folder"
            )
        if info.st_mode & 0o077:
            raise VaultKeyError(
                f"the key file {path} is accessible to other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}` "
                "and consider the key exposed if others could log in"
            )
        key = fh.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"the key file {path} is damaged: it must hold {KEY_BYTES} bytes")
    return key


def _create_key_file(path: Path) -> bytes:
    """Create the key file, or read the one another process created first."""
    key = secrets.token_bytes(KEY_BYTES)
    if not create_private_file(path, key):
        return _read_key_file(path)
    log.info("created a new vault key file at %s", path)
    return key


def _keyring_key(settings: Settings) -> bytes:
    """The keyring's key for this vault; VaultKeyError if there is no usable keyring."""
    user = str(settings.vault_path.resolve())

    def fetch() -> str | None:
        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or backend.priority <= 0:
            raise VaultKeyError(f"no OS keyring is available ({type(backend).__name__})")
        stored = backend.get_password(SERVICE, user)
        if stored is None and not is_sealed(settings.vault_path):
            stored = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
            backend.set_password(SERVICE, user, stored)
            log.info("stored a new vault key in the OS keyring (%s)", type(backend).__name__)
        return stored

    try:
        stored = _with_deadline(fetch, KEYRING_TIMEOUT_S)
    except VaultKeyError:
        raise
    except Exception as err:
        raise VaultKeyError(f"the OS keyring failed: {type(err).__name__}: {err}") from err
    if stored is None:
        raise VaultKeyError(
            f"the vault at {settings.vault_path} exists but the OS keyring holds no key for it "
            f"(service {SERVICE!r}, user {user!r}); unlock the keyring or restore the entry"
        )
    try:
        key = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"the OS keyring entry {SERVICE!r}/{user!r} is not a FaceGate key")
    return key


def _with_deadline(call: Callable[[], T], seconds: float) -> T:
    """Run ``call`` on a daemon thread: a D-Bus keyring can block forever, and unlock must not."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as err:
            future.set_exception(err)

    threading.Thread(target=run, name="facegate-keyring", daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        raise VaultKeyError(f"the OS keyring did not answer within {seconds:g} s") from None
