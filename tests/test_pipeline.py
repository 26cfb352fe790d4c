"""The real detect -> align -> quality -> embed chain on real photos: each refusal
comes back as its own reason, and a good face as a unit 128-d embedding."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from skimage import data

from facegate.errors import Reason
from facegate.vision.capture import CaptureClass
from facegate.vision.detect import Faces
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.sources import Frame, to_bgr


def observe(pipeline: FacePipeline, image: np.ndarray, name: str = "test") -> Observation:
    return pipeline.observe(Frame(np.ascontiguousarray(image), name))


def test_astronaut_gives_a_unit_128d_embedding(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    obs = observe(pipeline, astronaut_bgr, "astronaut")
    assert obs.usable and obs.reason is None
    assert obs.source == "astronaut"
    assert len(obs.faces) == 1
    assert obs.quality is not None and obs.quality.ok
    assert obs.embedding is not None
    assert obs.embedding.shape == (128,)
    assert obs.embedding.dtype == np.float32
    assert np.linalg.norm(obs.embedding) == pytest.approx(1.0, abs=1e-4)


def test_without_embedding_the_face_is_still_located_and_gated(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    """``embed=False`` (an unlock's frames past the ones it scores) skips only SFace:
    the same faces, gates, class and aligned crop as the full chain."""
    frame = Frame(np.ascontiguousarray(astronaut_bgr), "astronaut")
    full = pipeline.observe(frame)
    gated = pipeline.observe(frame, embed=False)
    assert gated.usable and gated.embedding is None
    assert full.embedding is not None
    assert gated.quality == full.quality and gated.capture == full.capture
    np.testing.assert_array_equal(gated.faces.boxes, full.faces.boxes)
    assert gated.crop is not None and full.crop is not None
    np.testing.assert_array_equal(gated.crop, full.crop)
    assert gated.crop.shape == (112, 112, 3)


def test_a_refused_frame_keeps_its_reason_without_embedding(pipeline: FacePipeline) -> None:
    cat = to_bgr(data.chelsea())
    assert pipeline.observe(Frame(cat, "cat"), embed=False).reason is Reason.NO_FACE


def test_face_box_lies_on_the_astronaut_face(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    x, y, w, h = observe(pipeline, astronaut_bgr).faces.boxes[0]
    # Eileen Collins' face sits around x 180-270, y 60-180 of the 512x512 photo.
    assert 150 < x < 210 and 40 < y < 100
    assert 60 < w < 130 and 80 < h < 150


def test_same_face_embeds_consistently(pipeline: FacePipeline, astronaut_bgr: np.ndarray) -> None:
    a = observe(pipeline, astronaut_bgr).embedding
    b = observe(pipeline, cv2.resize(astronaut_bgr, (400, 400))).embedding
    assert a is not None and b is not None
    assert float(a @ b) > 0.8


@pytest.mark.dataset
def test_different_people_embed_apart(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray, other_person_bgr: np.ndarray
) -> None:
    a = observe(pipeline, astronaut_bgr).embedding
    b = observe(pipeline, other_person_bgr).embedding
    assert a is not None and b is not None
    assert float(a @ b) < 0.4


def test_cat_has_no_face(pipeline: FacePipeline) -> None:
    obs = observe(pipeline, to_bgr(data.chelsea()[:, :, ::-1]), "chelsea")
    assert obs.reason is Reason.NO_FACE
    assert len(obs.faces) == 0
    assert obs.embedding is None and not obs.usable


def test_astronaut_twice_is_several_faces(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    obs = observe(pipeline, np.hstack([astronaut_bgr, astronaut_bgr]))
    assert obs.reason is Reason.SEVERAL_FACES
    assert len(obs.faces) == 2
    assert obs.embedding is None


@pytest.mark.dataset
def test_two_different_people_of_similar_size_is_several_faces(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray, other_person_bgr: np.ndarray
) -> None:
    # The Yale face is ~120 px wide at 320x243; scaled by 0.75 it roughly matches the
    # astronaut's ~90 px face.
    other = cv2.resize(other_person_bgr, None, fx=0.75, fy=0.75)
    canvas = np.full((512, 512 + other.shape[1], 3), 128, np.uint8)
    canvas[:, :512] = astronaut_bgr
    canvas[100 : 100 + other.shape[0], 512:] = other
    obs = observe(pipeline, canvas)
    assert obs.reason is Reason.SEVERAL_FACES
    assert len(obs.faces) == 2


def test_small_background_face_is_ignored(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    small = cv2.resize(astronaut_bgr, (200, 200))  # its face has ~15% of the main one's area
    canvas = np.full((512, 712, 3), 128, np.uint8)
    canvas[:, :512] = astronaut_bgr
    canvas[300:500, 512:712] = small
    obs = observe(pipeline, canvas)
    assert len(obs.faces) == 2
    assert obs.usable, obs.reason


def test_faces_come_largest_first(pipeline: FacePipeline, astronaut_bgr: np.ndarray) -> None:
    canvas = np.full((512, 812, 3), 128, np.uint8)
    canvas[:300, :300] = cv2.resize(astronaut_bgr, (300, 300))
    canvas[:, 300:] = astronaut_bgr
    faces = pipeline.detector.detect(canvas)
    assert len(faces) == 2
    assert faces.areas[0] > faces.areas[1]
    assert faces.boxes[0, 0] > 300  # the larger face is the full-size one on the right


def test_cameraman_face_is_too_small(pipeline: FacePipeline) -> None:
    obs = observe(pipeline, to_bgr(data.camera()), "cameraman")
    assert obs.reason is Reason.TOO_SMALL
    assert obs.quality is not None and obs.quality.reason is Reason.TOO_SMALL
    assert obs.embedding is None


def test_heavy_blur_is_too_blurred(pipeline: FacePipeline, astronaut_bgr: np.ndarray) -> None:
    obs = observe(pipeline, cv2.GaussianBlur(astronaut_bgr, (0, 0), 5))
    assert obs.reason is Reason.TOO_BLURRED
    assert obs.embedding is None


def _scaled(image: np.ndarray, mean: float) -> np.ndarray:
    return (image.astype(np.float32) * (mean / image.mean())).astype(np.uint8)


def test_near_black_frame_is_refused_as_dark(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    dark = _scaled(astronaut_bgr, 3.0)
    obs = observe(pipeline, dark)
    assert obs.reason in (Reason.TOO_DARK, Reason.NO_FACE)
    assert obs.reason is not None and not obs.usable
    assert obs.embedding is None
    if obs.reason is Reason.TOO_DARK:
        assert obs.quality is not None and obs.quality.brightness < 8


def test_dark_frame_is_judged_in_the_dark_class_not_refused(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    """A dim face (crop mean ~24 of 255) is usable and carries the dark class, whose own
    calibrated threshold then judges it."""
    obs = observe(pipeline, _scaled(astronaut_bgr, 20.0))
    assert obs.usable and obs.embedding is not None
    assert obs.capture is CaptureClass.DARK


def test_evenly_lit_face_is_in_the_even_class(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    assert observe(pipeline, astronaut_bgr).capture is CaptureClass.EVEN


def test_no_face_has_no_capture_class(pipeline: FacePipeline) -> None:
    cat = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    assert observe(pipeline, cat).capture is None


def test_tight_crop_filling_the_frame_is_still_found(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    x, y, w, h = observe(pipeline, astronaut_bgr).faces.boxes[0]
    # Cut 30% off each side (and less from the bottom): only the inner face remains.
    x0, x1 = round(x + 0.3 * w), round(x + 0.7 * w)
    y0, y1 = round(y + 0.24 * h), round(y + 0.85 * h)
    crop = np.ascontiguousarray(astronaut_bgr[y0:y1, x0:x1])
    assert crop.shape[1] < 45 and crop.shape[0] < 75
    assert len(pipeline.detector._run(crop)) == 0, "the plain pass should miss this crop"
    faces = pipeline.detector.detect(crop)
    assert len(faces) == 1
    # Coordinates come back in the crop's own pixels, not the padded frame's.
    nose = faces.landmarks[0, 2]
    assert 0 <= nose[0] < crop.shape[1] and 0 <= nose[1] < crop.shape[0]


def test_padding_path_maps_boxes_back_to_the_frame(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    x, y, w, h = observe(pipeline, astronaut_bgr).faces.boxes[0]
    crop = np.ascontiguousarray(astronaut_bgr[int(y) : int(y + h), int(x) : int(x + w)])
    detector = pipeline.detector
    plain, padded = detector._run(crop), detector._padded(crop)
    assert len(plain) == 1 and len(padded) == 1
    np.testing.assert_allclose(padded.boxes[0], plain.boxes[0], atol=8)
    np.testing.assert_allclose(padded.landmarks[0], plain.landmarks[0], atol=6)


def test_tight_face_crop_is_usable(pipeline: FacePipeline, astronaut_bgr: np.ndarray) -> None:
    full = observe(pipeline, astronaut_bgr)
    x, y, w, h = full.faces.boxes[0].astype(int)
    obs = observe(pipeline, astronaut_bgr[y : y + h, x : x + w])
    assert obs.usable, obs.reason
    assert obs.embedding is not None and full.embedding is not None
    assert float(obs.embedding @ full.embedding) > 0.7


# --- Faces -------------------------------------------------------------------------------


def _faces(n: int) -> Faces:
    rng = np.random.default_rng(n)
    return Faces(
        boxes=rng.uniform(0, 100, (n, 4)).astype(np.float32),
        landmarks=rng.uniform(0, 100, (n, 5, 2)).astype(np.float32),
        scores=np.linspace(0.75, 0.99, n).astype(np.float32),
    )


def test_faces_boolean_mask_selects_rows() -> None:
    faces = _faces(5)
    sure = faces[faces.scores > 0.9]
    assert isinstance(sure, Faces)
    assert len(sure) == int(np.sum(faces.scores > 0.9)) == 2
    np.testing.assert_array_equal(sure.boxes, faces.boxes[3:])
    np.testing.assert_array_equal(sure.landmarks, faces.landmarks[3:])
    assert len(faces[faces.scores > 1.0]) == 0


@pytest.mark.parametrize("index", [0, 2, -1, -2, np.int64(1)])
def test_faces_integer_index_keeps_one_face(index: int) -> None:
    faces = _faces(4)
    one = faces[index]
    assert len(one) == 1
    np.testing.assert_array_equal(one.boxes[0], faces.boxes[int(index)])


def test_faces_empty_is_empty() -> None:
    empty = Faces.empty()
    assert len(empty) == 0
    assert empty.areas.shape == (0,)


@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("boxes", np.zeros((2, 5), np.float32), "(2, 4)"),
        ("boxes", np.zeros((2, 4), np.float64), "(2, 4)"),
        ("landmarks", np.zeros((2, 5), np.float32), "(2, 5, 2)"),
        ("landmarks", np.zeros((3, 5, 2), np.float32), "(2, 5, 2)"),
        ("scores", np.zeros((2, 1), np.float32), "(2,)"),
    ],
)
def test_faces_rejects_wrong_shapes(field: str, bad: np.ndarray, expected: str) -> None:
    parts = {
        "boxes": np.zeros((2, 4), np.float32),
        "landmarks": np.zeros((2, 5, 2), np.float32),
        "scores": np.zeros(2, np.float32),
    }
    parts[field] = bad
    with pytest.raises(ValueError, match=re.escape(f"Faces.{field} must be float32 {expected}")):
        Faces(**parts)
