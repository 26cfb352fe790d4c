"""From a frame to an observation: detect, pick the face, align, gate, embed.

``FacePipeline`` is the one owner of the vision models in a process. Models load
lazily on first use, are shared by every later call, and are released by
``close()`` (or the ``with`` block).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facegate.errors import Reason
from facegate.models import ModelFiles
from facegate.vision.align import align
from facegate.vision.capture import CaptureClass, capture_class
from facegate.vision.detect import DetectorOptions, FaceDetector, Faces
from facegate.vision.embed import SFaceEmbedder
from facegate.vision.follow import FaceFollower
from facegate.vision.illumination import is_poorly_lit, lift_frame, variants
from facegate.vision.mesh import FaceMesher, MeshOptions
from facegate.vision.quality import Quality, QualityOptions, assess
from facegate.vision.refine import with_mesh_points
from facegate.vision.sources import Frame

# A second face at least this share of the largest face's area makes the frame
# ambiguous (who is unlocking?); smaller faces in the background are ignored.
SECOND_FACE_AREA = 0.5


@dataclass(frozen=True)
class Observation:
    """What one frame showed. ``embedding`` is set only when ``reason`` is None and the
    caller asked for it (``FacePipeline.observe``'s ``embed``).

    ``capture`` is the lighting class of the aligned crop (None when no face was
    aligned); the match threshold is chosen by it. ``crop`` is that aligned crop, kept
    so later judges of the same face (the occlusion map) need not align it again. The
    embedding is an identity template and the crop a face image: never log, print or
    send either.
    """

    source: str
    index: int
    t: float
    faces: Faces
    quality: Quality | None
    reason: Reason | None
    embedding: np.ndarray | None = field(default=None, repr=False)
    capture: CaptureClass | None = None
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        return self.reason is None


class FacePipeline:
    """Detect -> align -> quality -> embed, with lazily loaded models."""

    def __init__(self, models: ModelFiles, detector: DetectorOptions | None = None) -> None:
        self.models = models
        self._detector_options = detector or DetectorOptions()
        self._detector: FaceDetector | None = None
        self._embedder: SFaceEmbedder | None = None
        self._mesher: FaceMesher | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            model = self.models.read("yunet")
            self._detector = FaceDetector(model, self._detector_options)
        return self._detector

    @property
    def embedder(self) -> SFaceEmbedder:
        if self._embedder is None:
            self._embedder = SFaceEmbedder(self.models.read("sface"))
        return self._embedder

    @property
    def mesher(self) -> FaceMesher:
        """MediaPipe's landmarker, loaded only once a poorly lit frame needs it."""
        if self._mesher is None:
            self._mesher = FaceMesher.create_from_options(
                MeshOptions(), self.models, detector=self.detector
            )
        return self._mesher

    def follower(self) -> FaceFollower:
        """Detection in video mode for one stream of frames (see ``vision.follow``)."""
        return FaceFollower(self.detector)

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        """Unit embedding of an aligned crop, averaged over its lighting variants."""
        total = sum(self.embedder.embed(v) for v in variants(crop))
        vec = np.asarray(total, dtype=np.float32)
        return vec / np.float32(np.linalg.norm(vec))

    def observe(
        self,
        frame: Frame,
        quality: QualityOptions | None = None,
        follower: FaceFollower | None = None,
        embed: bool = True,
    ) -> Observation:
        """Run the whole chain on one frame; a refusal is a reason, not an exception.

        ``follower`` (from :meth:`follower`, one per stream) finds the face near where
        the stream's last frame had it; without one the whole frame is searched.
        ``embed=False`` stops after the quality gates: a caller that already has the
        embeddings it needs (an unlock waiting for a liveness answer) still learns where
        the face is and whether it was usable, without SFace's run, most of a frame's
        cost.
        """
        faces = (
            follower.detect(frame) if follower is not None else self.detector.detect(frame.image)
        )
        crop = align(frame.image, faces, 0) if len(faces) else None
        if crop is None or is_poorly_lit(crop):
            # A badly lit face is located again on a shadow-lifted copy of the frame,
            # whose five points are kept when it finds a face.
            lit = lift_frame(frame.image)
            lifted = self.detector.detect(lit)
            if len(lifted):
                faces, crop = lifted, align(frame.image, lifted, 0)
            if crop is not None and is_poorly_lit(crop):
                # Still poorly lit: take the five points from MediaPipe's face mesh of
                # the lifted frame, which stay in place where YuNet's follow shadows.
                refined = with_mesh_points(faces, self.mesher.detect(lit))
                if refined is not faces:
                    faces, crop = refined, align(frame.image, refined, 0)

        def result(
            q: Quality | None, reason: Reason | None, emb: np.ndarray | None = None
        ) -> Observation:
            cls = None if crop is None else capture_class(crop)
            return Observation(frame.source, frame.index, frame.t, faces, q, reason, emb, cls, crop)

        if crop is None:
            return result(None, Reason.NO_FACE)
        if len(faces) > 1 and faces.areas[1] >= SECOND_FACE_AREA * faces.areas[0]:
            return result(None, Reason.SEVERAL_FACES)
        q = assess(faces, 0, crop, quality or QualityOptions())
        if not q.ok:
            return result(q, q.reason)
        return result(q, None, self.embed_crop(crop) if embed else None)

    def close(self) -> None:
        if self._mesher is not None:
            self._mesher.close()
        if self._detector is not None:
            self._detector.close()
        if self._embedder is not None:
            self._embedder.close()
        self._detector = self._embedder = None
        self._mesher = None

    def __enter__(self) -> FacePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
