"""The systemd unit ``facegate system install`` writes for the daemon.

systemd creates ``/run/facegate`` (0755: clients must reach the socket) and the 0700
state and configuration directories itself, and restarts the daemon if it dies; a
login meanwhile falls through to the password, as with any absent service.
"""

from __future__ import annotations

import os
from pathlib import Path

from facegate.system.client import DEFAULT_SOCKET

UNIT_MARK = "# Written by `facegate system install`; `facegate system uninstall` removes it."


def unit_text(facegate: Path, *, root: Path = Path("/"), socket: Path | None = None) -> str:
    """The unit running ``facegate daemon`` from the installed ``facegate`` executable,
    with the same ``--root`` and ``--socket`` the PAM lines were written for."""
    command = [str(facegate), "daemon"]
    if root != Path("/"):
        command += ["--root", str(root)]
    if socket is not None:
        command += ["--socket", str(socket)]
    listening = socket or root / str(DEFAULT_SOCKET).lstrip("/")
    tmp = _under_tmp(listening)
    private_tmp = (
        "# PrivateTmp is off: the socket is under a temporary directory, where PAM must see it.\n"
        if tmp
        else "PrivateTmp=yes\n"
    )
    return f"""{UNIT_MARK}
[Unit]
Description=FaceGate face unlock service (answers pam_exec on {listening})
After=systemd-udevd.service

[Service]
Type=simple
ExecStart={" ".join(command)}
Restart=on-failure
RuntimeDirectory=facegate
RuntimeDirectoryMode=0755
StateDirectory=facegate
StateDirectoryMode=0700
ConfigurationDirectory=facegate
ConfigurationDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
# read-only, not yes: FaceGate may be installed under /root or /home (a virtualenv, a
# pyenv interpreter), and its code must stay visible to the daemon; `install` has checked
# that all of it is root-owned. A fixed list of read-only bind mounts would miss any
# directory a .pth file adds to the import path. The daemon still cannot write to homes.
ProtectHome=read-only
{private_tmp}
[Install]
WantedBy=multi-user.target
"""


def _under_tmp(path: Path) -> bool:
    return any(path.is_relative_to(tmp) for tmp in (Path("/tmp"), Path("/var/tmp")))


def write_unit(path: Path, text: str) -> bool:
    """Write the unit (0644); False when it already holds exactly ``text``."""
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o644)
    return True


def remove_unit(path: Path) -> bool:
    """Remove the unit if FaceGate wrote it; an administrator's own unit is left alone."""
    if not path.is_file() or not path.read_text().startswith(UNIT_MARK):
        return False
    path.unlink()
    return True
