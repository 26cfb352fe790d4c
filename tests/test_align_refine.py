"""Alignment is a least-squares similarity over all five points, and a poorly lit face
takes its five points from MediaPipe's mesh: real models, synthetic side light."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.bench.frames import side_lit
from facegate.vision.align import REFERENCE_POINTS, align, similarity_matrix
from facegate.vision.detect import Faces
from facegate.vision.illumination import is_poorly_lit, lift_frame
from facegate.vision.mesh import FaceMesher, MeshOptions
from facegate.vision.pipeline import FacePipeline
from facegate.vision.refine import mesh_five_points, with_mesh_points
from facegate.vision.sources import Frame


def _residual(matrix: np.ndarray, points: np.ndarray) -> float:
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    return float(np.sum((mapped - REFERENCE_POINTS) ** 2))


@settings(max_examples=60, deadline=None)
@given(
    scale=st.floats(0.3, 6.0),
    angle=st.floats(-0.6, 0.6),
    shift=st.tuples(st.floats(-300, 300), st.floats(-300, 300)),
    noise=st.lists(st.floats(-4, 4), min_size=10, max_size=10),
)
def test_fit_is_least_squares_over_all_five_points(
    scale: float, angle: float, shift: tuple[float, float], noise: list[float]
) -> None:
    """No similarity fits the five points better: a robust fit that drops points (as
    OpenCV's default RANSAC does) can only leave a larger residual on all five."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    points = REFERENCE_POINTS @ np.array([[c, -s], [s, c]], np.float32).T + np.float32(shift)
    points = (points + np.array(noise, np.float32).reshape(5, 2)).astype(np.float32)
    ours = _residual(similarity_matrix(points), points)
    ransac, _ = cv2.estimateAffinePartial2D(points, REFERENCE_POINTS)
    assert ransac is not None
    assert ours <= _residual(ransac, points) + 1e-3


def test_degenerate_points_are_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        similarity_matrix(np.zeros((5, 2), np.float32))


@pytest.fixture(scope="module")
def mesher() -> Iterator[FaceMesher]:
    with FaceMesher.create_from_options(MeshOptions()) as m:
        yield m


def test_mesh_points_of_the_same_face_replace_yunets(
    mesher: FaceMesher, astronaut_bgr: np.ndarray
) -> None:
    mesh = mesher.detect(astronaut_bgr)
    assert mesh is not None
    box = np.array([[170, 60, 110, 130]], np.float32)  # the astronaut's face
    faces = Faces(box, np.zeros((1, 5, 2), np.float32), np.ones(1, np.float32))
    refined = with_mesh_points(faces, mesh)
    assert np.array_equal(refined.landmarks[0], mesh_five_points(mesh))
    # Eyes above the nose, nose above the mouth, the subject's right eye on the left.
    right_eye, left_eye, nose, mouth_r, mouth_l = refined.landmarks[0]
    assert right_eye[0] < left_eye[0] and mouth_r[0] < mouth_l[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])


def test_a_mesh_of_another_face_is_ignored(mesher: FaceMesher, astronaut_bgr: np.ndarray) -> None:
    mesh = mesher.detect(astronaut_bgr)
    far = np.array([[400, 400, 60, 60]], np.float32)
    faces = Faces(far, np.full((1, 5, 2), 420, np.float32), np.ones(1, np.float32))
    assert with_mesh_points(faces, mesh) is faces
    assert with_mesh_points(faces, None) is faces


def test_side_lit_face_is_aligned_on_the_mesh_points(
    pipeline: FacePipeline, mesher: FaceMesher, astronaut_bgr: np.ndarray
) -> None:
    lit = side_lit(astronaut_bgr)
    obs = pipeline.observe(Frame(lit, "side-lit"))
    assert obs.usable, obs.reason
    assert obs.quality is not None
    mesh = mesher.detect(lift_frame(lit))
    assert mesh is not None
    np.testing.assert_allclose(obs.faces.landmarks[0], mesh_five_points(mesh), atol=0.5)
    even = pipeline.observe(Frame(astronaut_bgr, "even"))
    assert even.embedding is not None and obs.embedding is not None
    assert float(even.embedding @ obs.embedding) > 0.6


def test_evenly_lit_face_keeps_yunets_points(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    obs = pipeline.observe(Frame(astronaut_bgr, "even"))
    yunet = pipeline.detector.detect(astronaut_bgr)
    assert not is_poorly_lit(align(astronaut_bgr, yunet, 0))
    assert np.array_equal(obs.faces.landmarks, yunet.landmarks)
