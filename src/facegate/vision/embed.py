"""Identity embeddings: SFace on the aligned crop, dlib's ResNet as a second opinion.

Both return unit-length float32 vectors of 128 numbers, so cosine similarity is a
dot product. Embeddings are identity templates: they are handed only to
``facegate.biometrics`` and the sealed vault, never to logs, apps or streams.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facegate.vision.align import CROP_SIZE
from facegate.vision.detect import Faces

EMBEDDING_DIM = 128


def _unit(vector: np.ndarray) -> np.ndarray:
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("the recogniser returned a zero or non-finite embedding")
    return vec / norm


class SFaceEmbedder:
    """SFace through OpenCV's FaceRecognizerSF; input is an aligned 112x112 BGR crop."""

    def __init__(self, model: bytes) -> None:
        """``model`` is the verified ONNX file's bytes (``models.read_verified("sface")``)."""
        self._net: cv2.FaceRecognizerSF | None = cv2.FaceRecognizerSF.create(
            "onnx", np.frombuffer(model, np.uint8), np.zeros(0, np.uint8)
        )

    def embed(self, crop: np.ndarray) -> np.ndarray:
        """(128,) unit float32 embedding of one aligned crop."""
        if crop.shape != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"SFace needs a (112, 112, 3) crop, got {crop.shape}")
        if self._net is None:
            raise RuntimeError("this SFaceEmbedder has been closed")
        return _unit(self._net.feature(crop))

    def close(self) -> None:
        self._net = None


class DlibEmbedder:
    """dlib's ResNet (the face_recognition model) on its own 150x150 chip.

    The chip is cut by dlib's 5-point predictor inside the YuNet box, which is the
    alignment this network was trained with.
    """

    def __init__(self, resnet_path: Path, shape5_path: Path) -> None:
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(shape5_path))
        self._net = dlib.face_recognition_model_v1(str(resnet_path))

    def embed(self, image: np.ndarray, faces: Faces, index: int = 0) -> np.ndarray:
        """(128,) unit float32 embedding of face ``index`` in a BGR frame."""
        x, y, w, h = (float(v) for v in faces.boxes[index])
        rect = self._dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        shape = self._shape(rgb, rect)
        chip = self._dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        return _unit(np.array(self._net.compute_face_descriptor(chip)))

    def close(self) -> None:
        self._net = None
        self._shape = None
