"""Identity embeddings: SFace on the aligned crop, dlib's ResNet as a second opinion.

Both return unit-length float32 vectors of 128 numbers, so cosine similarity is a
dot product. Embeddings are identity templates: they are handed only to
``facegate.biometrics`` and the sealed vault, never to logs, apps or streams.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegate.vision.align import CROP_SIZE

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
