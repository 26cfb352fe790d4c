"""Face boxes and five points from YuNet, on any frame size.

YuNet misses faces that fill the whole frame (tight crops such as ID photos or
the ORL set), because it never saw a face without surrounding context. When the
plain pass finds nothing, the frame is padded with a grey border and searched
again. Coordinates always come back in the original frame's pixels. (Badly lit
frames are retried on a lifted copy by ``pipeline``, which can judge the crop.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# YuNet point order, in image coordinates (the subject's right eye appears on the left).
POINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class Faces:
    """Detected faces, one row each; empty (N=0) when there are none, never None.

    boxes      (N, 4) float32: x, y, width, height in pixels of the source frame
    landmarks  (N, 5, 2) float32: x, y pixels, in POINT_NAMES order
    scores     (N,) float32: detector confidence in [0, 1]
    """

    boxes: np.ndarray = field(repr=False)
    landmarks: np.ndarray = field(repr=False)
    scores: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.scores)
        checks = (
            ("boxes", self.boxes, (n, 4)),
            ("landmarks", self.landmarks, (n, 5, 2)),
            ("scores", self.scores, (n,)),
        )
        for name, arr, shape in checks:
            if arr.shape != shape or arr.dtype != np.float32:
                raise ValueError(
                    f"Faces.{name} must be float32 {shape}, got {arr.dtype} {arr.shape}"
                )

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: int | slice | np.ndarray) -> Faces:
        """Select faces by index, slice or boolean mask, e.g. ``faces[faces.scores > 0.9]``."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        return Faces(self.boxes[index], self.landmarks[index], self.scores[index])

    @property
    def areas(self) -> np.ndarray:
        return self.boxes[:, 2] * self.boxes[:, 3]

    @property
    def eye_distance(self) -> np.ndarray:
        """Inter-ocular distance in pixels, (N,)."""
        return np.linalg.norm(self.landmarks[:, 0] - self.landmarks[:, 1], axis=1)

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        )


@dataclass(frozen=True)
class DetectorOptions:
    """How YuNet is run.

    score_threshold: minimum confidence; higher is stricter (fewer, surer faces).
    max_side: frames are downscaled so their longer side is at most this, for speed.
    pad_ratio: border added on each side, as a share of the frame, for tight crops.
    """

    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    top_k: int = 50
    max_side: int = 640
    pad_ratio: float = 0.35


class FaceDetector:
    """YuNet behind one ``detect`` call. Create once and reuse; not thread-safe."""

    def __init__(self, model: bytes, options: DetectorOptions | None = None) -> None:
        """``model`` is the verified ONNX file's bytes (``models.read_verified("yunet")``)."""
        self.options = options or DetectorOptions()
        self._net: cv2.FaceDetectorYN | None = cv2.FaceDetectorYN.create(
            "onnx",
            np.frombuffer(model, np.uint8),
            np.zeros(0, np.uint8),
            (320, 320),
            self.options.score_threshold,
            self.options.nms_threshold,
            self.options.top_k,
        )

    def _run(self, image: np.ndarray) -> Faces:
        if self._net is None:
            raise RuntimeError("this FaceDetector has been closed")
        h, w = image.shape[:2]
        scale = min(1.0, self.options.max_side / max(h, w))
        small = image
        if scale < 1.0:
            small = cv2.resize(
                image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        sh, sw = small.shape[:2]
        self._net.setInputSize((sw, sh))
        _, raw = self._net.detect(small)
        if raw is None or len(raw) == 0:
            return Faces.empty()
        raw = raw.astype(np.float32)
        coords = raw[:, 0:14] / np.float32(scale)
        return Faces(
            boxes=np.ascontiguousarray(coords[:, 0:4]),
            landmarks=np.ascontiguousarray(coords[:, 4:14].reshape(-1, 5, 2)),
            scores=np.ascontiguousarray(raw[:, 14]),
        )

    def _padded(self, image: np.ndarray) -> Faces:
        h, w = image.shape[:2]
        py, px = round(h * self.options.pad_ratio), round(w * self.options.pad_ratio)
        fill = [int(v) for v in image.reshape(-1, 3).mean(axis=0)]
        big = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=fill)
        faces = self._run(big)
        if len(faces):
            offset = np.array([px, py], np.float32)
            boxes = faces.boxes.copy()
            boxes[:, :2] -= offset
            faces = Faces(boxes, faces.landmarks - offset, faces.scores)
        return faces

    def detect(self, image: np.ndarray) -> Faces:
        """All faces in a BGR frame, largest first; ``Faces.empty()`` if none."""
        faces = self._run(image)
        if not len(faces):
            faces = self._padded(image)
        order = np.argsort(-faces.areas, kind="stable")
        return faces[order]

    def close(self) -> None:
        self._net = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
