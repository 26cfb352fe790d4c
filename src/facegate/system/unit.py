"""The systemd unit ``facegate system install`` writes for the daemon.

systemd creates ``/run/facegate`` (0755: clients must reach the socket) and the 0700
state and configuration directories itself, and restarts the daemon if it dies; a
login meanwhile falls through to the password, as with any absent service.
"""

from __future__ import annotations

import os
from pathlib import Path

UNIT_MARK = "# Written by `facegate system install`; `facegate system uninstall` removes it."


def unit_text(facegate: Path) -> str:
    """The unit running ``facegate daemon`` from the installed ``facegate`` executable."""
    return f"""{UNIT_MARK}
[Unit]
Description=FaceGate face unlock service (answers pam_exec on /run/facegate/facegate.sock)
After=systemd-udevd.service

[Service]
Type=simple
ExecStart={facegate} daemon
Restart=on-failure
RuntimeDirectory=facegate
RuntimeDirectoryMode=0755
StateDirectory=facegate
StateDirectoryMode=0700
ConfigurationDirectory=facegate
ConfigurationDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


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
