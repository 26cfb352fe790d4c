"""The cameras this machine has, for ``facegate doctor``: which open, which look infrared.

A camera "looks infrared" when its V4L2 name says so (``IR``, ``Infrared``) or its
first frame is grey (all three channels equal), as IR cameras deliver. The stable
``/dev/v4l/by-id`` name is shown when there is one: it survives re-plugging, unlike
an index.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

_INDEX = re.compile(r"video(\d+)")
_IR_NAME = re.compile(r"\b(ir|infra-?red)\b", re.IGNORECASE)


@dataclass(frozen=True)
class CameraInfo:
    """One ``/dev/videoN``: its index, V4L2 name, stable path, and what a read showed."""

    index: int
    name: str
    stable_path: str | None
    opens: bool
    looks_infrared: bool


def _stable_paths(dev: Path) -> dict[int, str]:
    found: dict[int, str] = {}
    by_id = dev / "v4l" / "by-id"
    if by_id.is_dir():
        for link in sorted(by_id.iterdir()):
            match = _INDEX.fullmatch(link.resolve().name)
            if match is not None:
                found.setdefault(int(match.group(1)), str(link))
    return found


def _probe(node: Path, index: int) -> tuple[bool, bool]:
    """(opens, first frame is grey); a node that is not a character device never opens."""
    try:
        if not stat.S_ISCHR(node.stat().st_mode):
            return False, False
    except OSError:
        return False, False
    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return False, False
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or frame.ndim != 3:
        return bool(ok), bool(ok and frame is not None and frame.ndim == 2)
    grey = bool(np.array_equal(frame[..., 0], frame[..., 1]))
    return True, grey and bool(np.array_equal(frame[..., 1], frame[..., 2]))


def list_cameras(
    dev: Path = Path("/dev"), sysfs: Path = Path("/sys/class/video4linux")
) -> list[CameraInfo]:
    """Every ``/dev/videoN``, opened once each to see whether it delivers frames."""
    stable = _stable_paths(dev)
    cameras = []
    for node in sorted(dev.glob("video*"), key=lambda p: p.name):
        match = _INDEX.fullmatch(node.name)
        if match is None:
            continue
        index = int(match.group(1))
        try:
            name = (sysfs / node.name / "name").read_text().strip()
        except OSError:
            name = ""
        opens, grey = _probe(node, index)
        infrared = grey or bool(_IR_NAME.search(name))
        cameras.append(CameraInfo(index, name, stable.get(index), opens, infrared))
    return cameras
