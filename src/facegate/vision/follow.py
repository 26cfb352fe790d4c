"""Detection in video mode: follow the face from frame to frame instead of searching.

A webcam face moves a little between two frames, so the last box says where to
look: ``FaceDetector.detect_near`` searches a window around it, downscaled so the
face spans about 160 px, a fraction of a full search's work. The whole frame is
searched again on the first frame, when the face is lost or jumps, and every
``full_every`` frames, so a second face that walks in is seen within that many
frames (the pipeline refuses a frame with two comparable faces only on a full
search). Where the last frame had a face, a full search runs on a downscaled frame
first and keeps its result when the largest face is big enough to be found there;
otherwise, and while no face is in view (where a downscaled pass would only add work
to every empty frame), it is the still search of ``FaceDetector.detect``.

Stills never take this path: every still, enrolment capture and calibration image
is searched whole, so this mode changes nothing they measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegate.vision.detect import FaceDetector, Faces
from facegate.vision.sources import Frame


@dataclass(frozen=True)
class FollowOptions:
    """When a followed face counts as the same one, and how often to search anew.

    full_every: frames between full searches (1 searches every frame); higher is
        faster, lower sees a newcomer sooner.
    min_overlap: intersection over union of the new box with the last; lower follows
        faster motion, higher falls back to a full search sooner.
    coarse_min_face: pixels (frame scale) the largest face of the downscaled search
        must span for that search to be kept; at 96 px any face of at least half its
        area still spans 34 px on the 320 px frame, where YuNet finds faces reliably.
    """

    full_every: int = 5
    min_overlap: float = 0.3
    coarse_min_face: float = 96.0


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x, y, width, height) boxes, 0 to 1."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, float(min(ax1, bx1) - max(a[0], b[0])))
    ih = max(0.0, float(min(ay1, by1) - max(a[1], b[1])))
    inter = iw * ih
    union = float(a[2] * a[3] + b[2] * b[3]) - inter
    return inter / union if union > 0 else 0.0


class FaceFollower:
    """The detector's video mode for one stream of frames; make one per stream.

    ``detect`` returns the same ``Faces`` value as ``FaceDetector.detect``: every face on
    a full search, only the followed face otherwise. Moving frames only: a still is
    always searched whole.
    """

    def __init__(self, detector: FaceDetector, options: FollowOptions | None = None) -> None:
        self.detector = detector
        self.options = options or FollowOptions()
        self._box: np.ndarray | None = None
        self._since_full = 0

    def detect(self, frame: Frame) -> Faces:
        """Faces in ``frame``, largest first; ``Faces.empty()`` if none."""
        if (
            frame.kind.moving
            and self._box is not None
            and self._since_full < self.options.full_every
        ):
            near = self.detector.detect_near(frame.image, self._box)
            if len(near) and overlap(near.boxes[0], self._box) >= self.options.min_overlap:
                self._box = near.boxes[0]
                self._since_full += 1
                return near[0]
        faces = self._full(frame) if self._box is not None else self.detector.detect(frame.image)
        self._box = faces.boxes[0] if len(faces) and frame.kind.moving else None
        self._since_full = 1
        return faces

    def _full(self, frame: Frame) -> Faces:
        """A full search where the last frame had a face: on the downscaled frame first."""
        if not frame.kind.moving:
            return self.detector.detect(frame.image)
        coarse = self.detector.detect_coarse(frame.image)
        if len(coarse) and float(coarse.boxes[0, 2:].max()) >= self.options.coarse_min_face:
            near = self.detector.detect_near(frame.image, coarse.boxes[0])
            if len(near) and overlap(near.boxes[0], coarse.boxes[0]) >= self.options.min_overlap:
                return _with_others(near[0], coarse[1:])
        return self.detector.detect(frame.image)


def _with_others(face: Faces, others: Faces) -> Faces:
    """The precisely located face followed by the other faces of the coarse search,
    which the pipeline needs only to see whether a second face is as large."""
    merged = Faces(
        np.concatenate([face.boxes, others.boxes]),
        np.concatenate([face.landmarks, others.landmarks]),
        np.concatenate([face.scores, others.scores]),
    )
    return merged[np.argsort(-merged.areas, kind="stable")]
