"""What protects the login vault's key, and what this machine could seal it with.

The key is a root-only file (``/etc/facegate/vault.key``, 0600 in a 0700 directory),
apart from the vault so a backup of ``/var/lib`` holds no key. ``systemd-creds`` can
seal a secret to the machine (its host key under ``/var/lib/systemd``) and, where a
TPM2 is present, to the TPM as well, so a copy of ``/etc`` alone no longer opens the
vault. FaceGate does not seal the key yet; ``facegate doctor`` says so and says which
sealing this machine offers, rather than implying a protection that is not there.
"""

from __future__ import annotations

import shutil
import subprocess
from enum import StrEnum

PROBE_TIMEOUT_S = 5.0


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


def describe_key_protection(key_file: str, sealing: Sealing) -> str:
    """The doctor's line: what protects the key now, then what could."""
    used = f"root-only key file {key_file} (0600, not sealed)"
    if sealing is Sealing.NONE:
        return f"{used}; {sealing.value} on this machine to seal it with"
    return f"{used}; {sealing.value} is available here but FaceGate does not use it yet"
