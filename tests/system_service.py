"""Test helpers for the login service on top of ``facegate.system.testbed``."""

from __future__ import annotations

import functools
import socket
import sys
from pathlib import Path

import pytest

import facegate
from facegate.system import client
from facegate.system.testbed import missing_requirements
from facegate.system.trusted_paths import current_root_run, unsafe_paths


def require_root_and_pam() -> None:
    """Skip, saying why, where a real PAM test bed cannot be built (CI runs as root)."""
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"the login-service tests cannot run here: {reason}")


@functools.cache
def _why_install_refuses_this_checkout() -> str | None:
    script = Path(sys.executable).with_name("facegate")
    run = current_root_run(Path(client.__file__), script, Path(facegate.__file__).parent)
    found = unsafe_paths(run)
    return None if not found else f"{found[0].path} {found[0].problem}"


def require_root_installable_checkout() -> None:
    """Skip, saying why, where ``facegate system install`` would refuse this very
    checkout (it must, when someone other than root could change what PAM runs): the
    install and uninstall tests then cannot install from it."""
    why = _why_install_refuses_this_checkout()
    if why is not None:
        pytest.skip(f"install rightly refuses this checkout for root ({why})")


def raw_exchange(path: Path, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the socket and return everything the daemon answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
