"""Test helpers for the login service on top of ``facegate.system.testbed``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from facegate.system.testbed import missing_requirements


def require_root_and_pam() -> None:
    """Skip, saying why, where a real PAM test bed cannot be built (CI runs as root)."""
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"the login-service tests cannot run here: {reason}")


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
