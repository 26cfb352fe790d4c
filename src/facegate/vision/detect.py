"""Face boxes and five points from YuNet, on any frame size.

YuNet misses faces that fill the whole frame (tight crops such as ID photos or
the ORL set), because it never saw a face without surrounding context. When the
plain pass finds nothing, the frame is padded with a grey border and searched
again. Coordinates always come back in the original frame's pixels. (Badly lit
frames are retried on a lifted copy by ``pipeline``, which can judge the crop.)

``detect`` searches the whole frame at full resolution (up to ``max_side``) and is what
stills, enrolment and the calibration sets use. Two cheaper searches serve video,
where the last frame says where the face is (``vision.follow``): ``detect_coarse`` on a
downscaled frame, and ``detect_near`` on a window around a known box, downscaled so the
face spans about ``near_face_px``. The downscale is bounded by the face, not the frame,
because YuNet's five points move with the scale and the context it sees: with a window
0.4 face sides wide and the face at 160 px, the embeddings of webcam frames agree with a
full search's nearly as closely as a full search agrees with itself after a 3-pixel
shift of the frame; at 128 px and a 0.5 margin they agreed less
(``scripts/compare_face_follow.py``, docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# YuNet point order, in image coordinates (the subject's right eye appears on the left).
POINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
MIN_WINDOW = 32  # pixels: the smallest window ``detect_near`` searches


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
    coarse_side: longer side of the downscaled frame ``detect_coarse`` searches.
    near_face_px: ``detect_near`` downscales its window so the face spans about this
        many pixels (never upscales); lower is faster and the five points coarser.
    near_margin: ``detect_near``'s window reaches this share of the face's side beyond
        the known box on each side: how far the face may move between two frames.
    """

    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    top_k: int = 50
    max_side: int = 640
    pad_ratio: float = 0.35
    coarse_side: int = 320
    near_face_px: int = 160
    near_margin: float = 0.4


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

    def _run(self, image: np.ndarray, max_side: int | None = None) -> Faces:
        return self._run_scaled(
            image, min(1.0, (max_side or self.options.max_side) / max(image.shape[:2]))
        )

    def _run_scaled(self, image: np.ndarray, scale: float) -> Faces:
        if self._net is None:
            raise RuntimeError("this FaceDetector has been closed")
        h, w = image.shape[:2]
        small = np.ascontiguousarray(image)
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
        return _moved(self._run(big), -px, -py)

    def detect(self, image: np.ndarray) -> Faces:
        """All faces in a BGR frame, largest first; ``Faces.empty()`` if none."""
        faces = self._run(image)
        if not len(faces):
            faces = self._padded(image)
        return _largest_first(faces)

    def detect_coarse(self, image: np.ndarray) -> Faces:
        """Faces on the frame downscaled to ``coarse_side``, largest first: a quarter of
        the work of ``detect``; boxes are good, five points only on large faces."""
        return _largest_first(self._run(image, self.options.coarse_side))

    def detect_near(self, image: np.ndarray, box: np.ndarray) -> Faces:
        """Faces in a window around ``box`` (x, y, width, height pixels), largest first,
        in the frame's pixels. The window is ``near_margin`` face sides larger on each
        side, downscaled so the face spans about ``near_face_px``; a window cut off by
        the frame's edge to under MIN_WINDOW pixels finds nothing."""
        x, y, w, h = (float(v) for v in box)
        side = max(w, h)
        if side <= 0:
            return Faces.empty()
        margin = self.options.near_margin * side
        rows, cols = image.shape[:2]
        x0, y0 = max(0, int(x - margin)), max(0, int(y - margin))
        x1 = min(cols, int(np.ceil(x + w + margin)))
        y1 = min(rows, int(np.ceil(y + h + margin)))
        if min(x1 - x0, y1 - y0) < MIN_WINDOW:
            return Faces.empty()
        scale = min(1.0, self.options.near_face_px / side)
        return _largest_first(_moved(self._run_scaled(image[y0:y1, x0:x1], scale), x0, y0))

    def close(self) -> None:
        self._net = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _moved(faces: Faces, dx: int, dy: int) -> Faces:
    """``faces`` found in a window whose corner is at (dx, dy) of the frame, in the
    frame's pixels."""
    if not len(faces) or (dx == 0 and dy == 0):
        return faces
    offset = np.array([dx, dy], np.float32)
    boxes = faces.boxes.copy()
    boxes[:, :2] += offset
    return Faces(boxes, faces.landmarks + offset, faces.scores)


def _largest_first(faces: Faces) -> Faces:
    return faces[np.argsort(-faces.areas, kind="stable")]
