"""Slideshow attacks: a video made of a few ordinary photos of the owner.

The outside tester's attack (notes of 2026-12-01, finding 1): Yale stills of one
person, ``normal`` between actions, ``sleepy`` (eyes nearly shut) for a blink,
``happy`` for a smile and ``surprised`` for an open mouth, shown one after another at
15 fps, upscaled 2x. The cheap variants that would hide the cuts are built too: a
crossfade between photos, noise on every frame, and small random shifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facegate.vision.sources import read_image

# Each action letter: the photo that shows it, how long, then neutral for how long.
_ACTIONS = {"b": ("sleepy", 0.2, 1.0), "s": ("happy", 1.2, 0.5), "m": ("surprised", 1.2, 1.0)}


@dataclass(frozen=True)
class Slideshow:
    """How the photos are shown: fps; scale of the stills; lead and tail: seconds of
    neutral before the first action and after the last; fade_frames: frames blending
    one photo into the next (0: cut); noise: Gaussian sigma added to every frame;
    shift: largest random shift of a frame, in pixels either way; seed: of the noise
    and shifts."""

    fps: float = 15.0
    scale: float = 2.0
    lead: float = 1.0
    tail: float = 3.0
    fade_frames: int = 0
    noise: float = 0.0
    shift: int = 0
    seed: int = 0


def slideshow_frames(
    yale: Path, subject: str, order: str, show: Slideshow
) -> tuple[list[tuple[float, np.ndarray]], list[int]]:
    """The frames (t seconds, BGR image) of ``subject``'s slideshow acting out
    ``order`` (letters b, s, m), and the index of each photo's first full frame."""

    def still(name: str) -> np.ndarray:
        image = read_image(yale / f"{subject}.{name}.gif").image
        return cv2.resize(image, None, fx=show.scale, fy=show.scale)

    normal = still("normal")
    plan = [(normal, show.lead)]
    for letter in order:
        name, hold, rest = _ACTIONS[letter]
        plan += [(still(name), hold), (normal, rest)]
    plan[-1] = (normal, plan[-1][1] + show.tail)
    images: list[np.ndarray] = []
    starts: list[int] = []
    previous: np.ndarray | None = None
    for image, seconds in plan:
        if previous is not None:
            for k in range(1, show.fade_frames + 1):
                a = k / (show.fade_frames + 1)
                images.append(cv2.addWeighted(previous, 1 - a, image, a, 0))
        starts.append(len(images))
        images += [image] * max(1, round(seconds * show.fps))
        previous = image
    rng = np.random.default_rng(show.seed)
    frames = []
    for i, image in enumerate(images):
        frame: np.ndarray = image.astype(np.float32)
        if show.shift:
            dx, dy = rng.integers(-show.shift, show.shift + 1, 2)
            move = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            size = (frame.shape[1], frame.shape[0])
            frame = cv2.warpAffine(frame, move, size, borderMode=cv2.BORDER_REPLICATE)
        if show.noise:
            frame = frame + rng.normal(0, show.noise, frame.shape).astype(np.float32)
        frames.append((i / show.fps, np.clip(frame, 0, 255).astype(np.uint8)))
    return frames, starts[1:]
