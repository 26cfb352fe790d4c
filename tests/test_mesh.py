"""The real MediaPipe face landmarker behind FaceMesher: names, shapes, pose signs, the
YuNet crop fallback for distant faces, the primary face, and refusals of bad input."""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from skimage import data

from facegate.config import load_settings
from facegate.errors import ConfigError, ImageSizeError, InputError
from facegate.models import ModelFiles, resolve
from facegate.vision.blendshapes import NAMES, NOT_MEASURED, BlendShape, empty_blendshapes
from facegate.vision.canonical_face import load_canonical_face
from facegate.vision.mesh import (
    N_LANDMARKS,
    FaceMesh,
    FaceMesher,
    Gaze,
    HeadPose,
    MeshOptions,
    RunningMode,
    next_timestamp_ms,
)


@pytest.fixture(scope="module")
def mesher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceMesher]:
    settings = load_settings(tmp_path_factory.mktemp("mesh-home"))
    with FaceMesher.create_from_options(MeshOptions(num_faces=2), ModelFiles.of(settings)) as m:
        yield m


@pytest.fixture(scope="module")
def astronaut_mesh(mesher: FaceMesher) -> FaceMesh:
    face = mesher.detect(np.ascontiguousarray(data.astronaut()[:, :, ::-1]))
    assert face is not None
    return face


def test_the_enum_holds_the_52_arkit_names_exactly() -> None:
    assert len(BlendShape) == 52 == len(set(NAMES))
    for name in (
        "eyeBlinkLeft",
        "eyeLookDownLeft",
        "jawOpen",
        "mouthSmileLeft",
        "browInnerUp",
        "cheekPuff",
        "noseSneerLeft",
        "tongueOut",
        "mouthRollUpper",
    ):
        assert name in NAMES
    assert {BlendShape.TONGUE_OUT} == NOT_MEASURED
    assert list(empty_blendshapes()) == list(NAMES)


def test_mediapipe_names_are_the_enum_less_tongue_out(astronaut_mesh: FaceMesh) -> None:
    from mediapipe.tasks.python.vision.face_landmarker import Blendshapes

    def camel(member: str) -> str:
        head, *rest = member.lower().split("_")
        return head + "".join(word.title() for word in rest)

    mediapipe_names = {camel(b.name) for b in Blendshapes} - {"neutral"}
    assert mediapipe_names == set(NAMES) - {"tongueOut"}


def test_astronaut_gives_478_landmarks_52_shapes_and_tongue_out_none(
    astronaut_mesh: FaceMesh,
) -> None:
    face = astronaut_mesh
    assert face.landmarks.shape == (N_LANDMARKS, 3) and face.landmarks.dtype == np.float32
    assert not face.landmarks.flags.writeable
    assert face.image_size == (512, 512) and not face.from_crop
    # Eileen Collins' face lies around x 0.35-0.53, y 0.12-0.35 of the photo.
    cx, cy = face.centre
    assert 0.35 < cx < 0.55 and 0.12 < cy < 0.4
    assert tuple(face.blendshapes) == NAMES
    assert face.blendshapes["tongueOut"] is None
    others = [v for k, v in face.blendshapes.items() if k != "tongueOut"]
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in others)
    # She looks into the camera and smiles.
    assert abs(face.head_pose.yaw) < 15 and abs(face.head_pose.roll) < 15
    assert face.head_pose.tz < 0
    assert face.blendshapes["mouthSmileLeft"] > 0.3  # type: ignore[operator]


def test_no_face_on_a_cat(mesher: FaceMesher) -> None:
    assert mesher.detect(np.ascontiguousarray(data.chelsea()[:, :, ::-1])) is None


def test_pose_signs_follow_the_documented_conventions(
    mesher: FaceMesher, astronaut_mesh: FaceMesh
) -> None:
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    mirrored = mesher.detect(np.ascontiguousarray(image[:, ::-1]))
    assert mirrored is not None
    base = astronaut_mesh.head_pose
    # Mirroring swaps the subject's left and right: roll and tx change sign.
    assert mirrored.head_pose.roll == pytest.approx(-base.roll, abs=2.0)
    assert mirrored.head_pose.tx == pytest.approx(-base.tx, abs=1.0)
    # Turning the picture 15 degrees counter-clockwise adds about 15 degrees of roll.
    turn = cv2.getRotationMatrix2D((256.0, 256.0), 15.0, 1.0)
    rotated = mesher.detect(cv2.warpAffine(image, turn, (512, 512)))
    assert rotated is not None
    assert rotated.head_pose.roll - base.roll == pytest.approx(15.0, abs=4.0)


def test_head_pose_decomposition_of_known_rotations() -> None:
    def ry(deg: float) -> np.ndarray:
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    def rx(deg: float) -> np.ndarray:
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])

    m = np.eye(4)
    m[:3, :3] = 1.3 * ry(30) @ rx(-10)  # scale is divided out; pitch up 10 degrees
    m[:3, 3] = [1.0, 2.0, -50.0]
    pose = HeadPose.from_matrix(m)
    assert pose.yaw == pytest.approx(30.0) and pose.pitch == pytest.approx(10.0)
    assert pose.roll == pytest.approx(0.0, abs=1e-9)
    assert (pose.tx, pose.ty, pose.tz) == (1.0, 2.0, -50.0)
    assert set(pose.as_dict()) == {"yaw", "pitch", "roll", "tx", "ty", "tz"}


def test_gaze_from_eye_look_shapes() -> None:
    shapes = empty_blendshapes()
    shapes.update(eyeLookOutLeft=1.0, eyeLookInRight=1.0, eyeLookUpLeft=0.4, eyeLookUpRight=0.4)
    gaze = Gaze.from_blendshapes(shapes)
    assert gaze.horizontal == pytest.approx(1.0)  # towards the subject's left
    assert gaze.vertical == pytest.approx(0.4)
    assert Gaze.from_blendshapes(empty_blendshapes()) == Gaze(0.0, 0.0)


def small_face_scene() -> np.ndarray:
    """The astronaut's head, 60 px wide, in a 1280x960 frame: too far for MediaPipe's
    own short-range detector."""
    head = cv2.resize(np.ascontiguousarray(data.astronaut()[0:300, 90:360, ::-1]), (108, 120))
    scene = np.full((960, 1280, 3), 100, np.uint8)
    scene[700:820, 900:1008] = head
    return scene


def test_a_distant_face_is_found_on_a_yunet_crop_and_mapped_back(mesher: FaceMesher) -> None:
    scene = small_face_scene()
    face = mesher.detect(scene)
    assert face is not None and face.from_crop
    assert face.image_size == (1280, 960)
    px = face.pixels()
    assert 900 < px[:, 0].mean() < 1008 and 700 < px[:, 1].mean() < 820
    # The distance is re-projected for the full frame: far away, not crop-close.
    assert face.head_pose.tz < -150


def test_the_larger_of_two_faces_is_the_primary_one(mesher: FaceMesher) -> None:
    head = np.ascontiguousarray(data.astronaut()[0:300, 90:360, ::-1])
    scene = np.full((600, 900, 3), 100, np.uint8)
    scene[150:450, 50:320] = head
    scene[250:370, 650:758] = cv2.resize(head, (108, 120))
    face = mesher.detect(scene)
    assert face is not None
    assert face.pixels()[:, 0].mean() < 320


def test_video_mode_needs_increasing_timestamps(tmp_path_factory: pytest.TempPathFactory) -> None:
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    options = MeshOptions(running_mode=RunningMode.VIDEO)
    settings = load_settings(tmp_path_factory.mktemp("video-home"))
    with FaceMesher.create_from_options(options, ModelFiles.of(settings)) as video:
        assert video.detect_for_video(image, 0) is not None
        assert video.detect_for_video(image, 33) is not None
        with pytest.raises(InputError, match="increase"):
            video.detect_for_video(image, 33)
        with pytest.raises(ConfigError, match="video mode"):
            video.detect(image)
    assert next_timestamp_ms(0.5, None) == 500
    assert next_timestamp_ms(0.5, 500) == 501


def test_bad_frames_are_refused_with_input_errors(mesher: FaceMesher) -> None:
    with pytest.raises(InputError):
        mesher.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(InputError):
        mesher.detect(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ImageSizeError):
        mesher.detect(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ConfigError):
        MeshOptions(num_faces=0)


def test_canonical_face_comes_from_the_model_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = resolve("face_landmarker", load_settings(tmp_path_factory.mktemp("c-home"))).path
    face = load_canonical_face(path)
    v = face.vertices
    assert v.shape == (468, 3)
    assert v[33, 0] == pytest.approx(-v[263, 0]) and v[263, 0] > 0  # +x: subject's left
    assert v[10, 1] > 0 > v[152, 1]  # forehead up, chin down
    assert v[1, 2] > 5  # the nose tip points at the viewer
    assert face.triangles.max() < 468 and len(face.procrustes_ids) > 0


def test_a_distant_face_is_followed_on_crops_in_video_mode(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    scene = small_face_scene()
    options = MeshOptions(running_mode=RunningMode.VIDEO)
    settings = load_settings(tmp_path_factory.mktemp("follow-home"))
    with FaceMesher.create_from_options(options, ModelFiles.of(settings)) as video:
        faces = []
        for i, dx in enumerate((0, 6, 12, 18)):
            moved = np.roll(scene, dx, axis=1)
            faces.append(video.detect_for_video(moved, 33 * i))
    assert all(f is not None and f.from_crop for f in faces)
    xs = [f.pixels()[:, 0].mean() for f in faces if f is not None]
    assert np.diff(xs) == pytest.approx([6, 6, 6], abs=3)  # it follows the face
