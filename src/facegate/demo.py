"""``facegate demo``: the main job end to end, in a throw-away vault.

With a camera it enrols you from a few seconds of video and then unlocks you.
Without one it uses scikit-image's public-domain astronaut photo (Eileen Collins,
NASA): enrolment from varied captures of it, an unlock from a fresh capture, and
two refusals with their reasons (a cat, an image of a different scene).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.unlock import Verdict
from facegate.liveness.check import LivenessMode
from facegate.session import Session
from facegate.vision.sources import Frame, camera_exists, iter_video, to_bgr


def _camera_present(index: int | None) -> bool:
    if index is None or not camera_exists(index):  # OpenCV crashes on a negative index
        return False
    cap = cv2.VideoCapture(index)
    try:
        return bool(cap.isOpened()) and cap.read()[0]
    finally:
        cap.release()


def _captures(image: np.ndarray, source: str) -> Iterator[Frame]:
    """Varied captures of one photo: small rotations, scales and exposure changes,
    as a person moving in front of a camera would give."""
    h, w = image.shape[:2]
    for i, (angle, scale, gain) in enumerate(
        [(0, 1.0, 1.0), (-6, 0.95, 0.9), (6, 1.05, 1.1), (-3, 0.9, 1.0), (3, 1.0, 0.85)]
    ):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        moved = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        yield Frame(np.clip(moved * gain, 0, 255).astype(np.uint8), f"{source}#{i}", i)


def _show(console: Console, label: str, verdict: Verdict) -> None:
    colour = "green" if verdict.matched else "yellow"
    console.print(
        f"  {label}: [{colour}]{'MATCH' if verdict.matched else 'refused'}[/] "
        f"(reason={verdict.reason.value}, liveness={verdict.liveness.value})"
    )


def run_demo(console: Console, camera: int | None) -> None:
    """Enrol and verify in a temporary FaceGate home; nothing of yours is touched."""
    from skimage import data

    with tempfile.TemporaryDirectory(prefix="facegate-demo-") as tmp:
        home = Path(tmp)
        with Session.open(home) as session:
            console.print(f"[bold]FaceGate demo[/] (throw-away vault in {home})")
            unlocker = session.unlocker
            if _camera_present(camera):
                assert camera is not None
                console.print("Camera found: look at it for enrolment...")
                report = unlocker.enroll("you", iter_video(camera, max_frames=40, step=4))
                console.print(f"  enrolled 'you' with {report.kept} captures")
                console.print("Now unlocking: keep looking at the camera...")
                _show(console, "unlock", unlocker.verify("you", iter_video(camera, max_frames=30)))
                return
            console.print("No camera: using scikit-image's public-domain astronaut photo.")
            astronaut = to_bgr(data.astronaut()[:, :, ::-1])
            report = unlocker.enroll("astronaut", _captures(astronaut, "astronaut"))
            console.print(
                f"  enrolled 'astronaut': kept {report.kept} of {report.seen} captures, "
                "sealed with AES-GCM in the vault"
            )
            probe = [Frame(cv2.resize(cv2.flip(astronaut, 1), (400, 400)), "astronaut-probe")]
            _show(console, "the photo, default policy", unlocker.verify("astronaut", probe))
            console.print("  (liveness refuses photos; turned off explicitly from here on)")
            off = UnlockOptions(liveness=LivenessMode.OFF)
            _show(console, "unlock with a new capture", unlocker.verify("astronaut", probe, off))
            cat = [Frame(to_bgr(data.chelsea()[:, :, ::-1]), "chelsea")]
            _show(console, "a cat tries", unlocker.verify("astronaut", cat, off))
            cam = [Frame(to_bgr(data.camera()), "cameraman")]
            _show(console, "the cameraman photo", unlocker.verify("astronaut", cam, off))
            records = session.vault.users()
            console.print(
                f"  vault holds {len(records)} user(s): "
                + ", ".join(f"{r.name} (failures={r.failures})" for r in records)
            )
        console.print(
            f"Demo vault deleted. Enrol yourself with: {_command()} enroll $USER 0", highlight=False
        )


def _command() -> str:
    """How to call ``facegate`` from where the person is: the bare name when it is on
    PATH, else this interpreter's copy (``.venv/bin/facegate`` after ``make demo``)."""
    beside = Path(sys.executable).with_name("facegate")
    if shutil.which("facegate") == str(beside) or not beside.exists():
        return "facegate"
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)
