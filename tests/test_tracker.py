"""The expression tracker on real models: record keys, no identity data, the face map's
size, quantisation and identity-freeness, smoothing, bad sources, the CLI and the
smile bar on Yale."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data
from typer.testing import CliRunner

from facegate.bench.track import write_sample_clip
from facegate.cli import app
from facegate.config import Settings, load_settings
from facegate.errors import UnreadableSource
from facegate.models import ModelFiles, resolve
from facegate.sharing.face_map import (
    MAX_VERTICES,
    QUANTUM_CM,
    FaceMapModel,
    align_to_canonical,
)
from facegate.sharing.one_euro import OneEuroFilter, OneEuroOptions
from facegate.sharing.tracker import RECORD_KEYS, ExpressionRecord, track
from facegate.vision.blendshapes import NAMES
from facegate.vision.canonical_face import load_canonical_face
from facegate.vision.mesh import FaceMesh, FaceMesher, MeshOptions
from facegate.vision.sources import read_image

HEAD = np.ascontiguousarray(data.astronaut()[0:300, 90:360, ::-1])


@pytest.fixture(scope="module")
def home_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(tmp_path_factory.mktemp("tracker-home"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tracker-files")
    paths = {
        "astronaut": folder / "astronaut.png",
        "cat": folder / "chelsea.png",
        "corrupt": folder / "corrupt.jpg",
        "truncated": folder / "truncated.avi",
    }
    cv2.imwrite(str(paths["astronaut"]), data.astronaut()[:, :, ::-1])
    cv2.imwrite(str(paths["cat"]), data.chelsea()[:, :, ::-1])
    paths["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    paths["truncated"].write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(64))
    paths["clip"] = write_sample_clip(folder / "clip.avi", n_frames=24)
    return paths


@pytest.fixture(scope="module")
def still_records(files: dict[str, Path], home_settings: Settings) -> list[ExpressionRecord]:
    return list(track([files["astronaut"], files["cat"]], models=ModelFiles.of(home_settings)))


@pytest.fixture(scope="module")
def face_map_model(home_settings: Settings) -> FaceMapModel:
    return FaceMapModel.load(ModelFiles.of(home_settings))


@pytest.fixture(scope="module")
def mesher(home_settings: Settings) -> Iterator[FaceMesher]:
    with FaceMesher.create_from_options(
        MeshOptions(num_faces=2), ModelFiles.of(home_settings)
    ) as m:
        yield m


def test_records_have_exactly_the_documented_keys(still_records: list[ExpressionRecord]) -> None:
    assert [r.face_found for r in still_records] == [True, False]
    for record in still_records:
        as_json = record.to_json()
        assert tuple(as_json) == RECORD_KEYS
        json.dumps(as_json, allow_nan=False)  # strict JSON
    found = still_records[0].to_json()
    assert list(found["blendshapes"]) == list(NAMES) and len(NAMES) == 52
    assert found["blendshapes"]["tongueOut"] is None
    assert set(found["head_pose"]) == {"yaw", "pitch", "roll", "tx", "ty", "tz"}
    assert set(found["gaze"]) == {"horizontal", "vertical"}
    assert found["t"] == 0.0 and found["source"].endswith("astronaut.png")


def test_no_face_gives_face_found_false_and_empty_fields(
    still_records: list[ExpressionRecord],
) -> None:
    cat = still_records[1].to_json()
    assert cat["face_found"] is False
    assert cat["blendshapes"] is None and cat["head_pose"] is None and cat["gaze"] is None
    assert cat["face_map"] == []


def _numbers(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        yield value
        for item in value:
            yield from _numbers(item)


def test_records_carry_no_raw_landmarks_or_embedding(
    still_records: list[ExpressionRecord],
) -> None:
    record = still_records[0].to_json()
    text = json.dumps(record).lower()
    assert "landmark" not in text and "embedding" not in text
    # No list anywhere is as long as the raw mesh (478) or its 468 face points.
    assert all(len(v) < 468 for v in _numbers(record) if isinstance(v, list))


def test_face_map_is_small_and_quantised(still_records: list[ExpressionRecord]) -> None:
    face_map = still_records[0].to_json()["face_map"]
    assert 0 < len(face_map) <= MAX_VERTICES
    coords = np.array(face_map, np.float64)
    assert coords.shape == (len(face_map), 3)
    steps = coords / QUANTUM_CM
    assert np.allclose(steps, np.round(steps), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=51, max_size=51))
def test_any_coefficients_give_a_bounded_quantised_map(
    face_map_model: FaceMapModel, weights: list[float]
) -> None:
    shapes = dict(zip(NAMES, [*weights, None], strict=True))  # tongueOut is last
    coords = np.array(face_map_model.face_map(shapes))
    assert coords.shape == (len(face_map_model.vertices), 3)
    assert np.all(np.abs(coords) < 25.0)  # centimetres: stays a head
    assert np.allclose(coords / QUANTUM_CM, np.round(coords / QUANTUM_CM), atol=1e-6)


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(axis=1).mean()))


def _geometry_and_map(
    mesh: FaceMesh, model: FaceMapModel, settings_: Settings
) -> tuple[np.ndarray, np.ndarray]:
    canonical = load_canonical_face(resolve("face_landmarker", settings_).path)
    geometry = align_to_canonical(mesh.landmarks, mesh.image_size, canonical)[model.vertices]
    return geometry, model.coordinates(mesh.blendshapes)


def test_same_expression_on_a_differently_shaped_face_gives_the_same_map(
    mesher: FaceMesher, face_map_model: FaceMapModel, home_settings: Settings
) -> None:
    """The astronaut and a face 25 % wider with her very expression: their pose-free
    geometry differs by millimetres, their face maps must not (copying geometry fails)."""
    wide = cv2.resize(HEAD, (round(HEAD.shape[1] * 1.25), HEAD.shape[0]))
    a, b = mesher.detect(HEAD), mesher.detect(wide)
    assert a is not None and b is not None
    geo_a, map_a = _geometry_and_map(a, face_map_model, home_settings)
    geo_b, map_b = _geometry_and_map(b, face_map_model, home_settings)
    geometry_gap, map_gap = _rms(geo_a, geo_b), _rms(map_a, map_b)
    assert geometry_gap > 0.3  # cm: the raw landmarks do tell the two faces apart
    assert map_gap < 0.2 * geometry_gap


@pytest.mark.dataset
def test_different_people_with_neutral_faces_get_near_identical_maps(
    data_dir: Path, mesher: FaceMesher, face_map_model: FaceMapModel, home_settings: Settings
) -> None:
    """Yale's 15 ``normal`` images: across the 105 pairs of different people the face
    maps differ far less than their geometry (a geometry copy would give a ratio of 1)."""
    paths = sorted((data_dir / "yale_faces").glob("subject*.normal.gif"))
    if len(paths) < 2:
        pytest.skip("yale_faces normal images absent")
    pairs = []
    for path in paths:
        mesh = mesher.detect(read_image(path).image)
        assert mesh is not None, path
        pairs.append(_geometry_and_map(mesh, face_map_model, home_settings))
    ratios, map_gaps = [], []
    for (geo_a, map_a), (geo_b, map_b) in itertools.combinations(pairs, 2):
        geometry_gap = _rms(geo_a, geo_b)
        assert geometry_gap > 0.1  # cm: every two people's landmarks differ
        map_gaps.append(_rms(map_a, map_b))
        ratios.append(map_gaps[-1] / geometry_gap)
    assert float(np.median(ratios)) < 0.5
    assert float(np.median(map_gaps)) < 0.15  # cm


def test_a_video_is_tracked_frame_by_frame_with_optional_smoothing(
    files: dict[str, Path], home_settings: Settings
) -> None:
    raw = list(track([files["clip"]], models=ModelFiles.of(home_settings)))
    smooth = list(track([files["clip"]], smoothing=True, models=ModelFiles.of(home_settings)))
    assert len(raw) == len(smooth) == 24
    assert all(r.face_found for r in raw + smooth)
    times = [r.t for r in raw]
    assert times == sorted(times) and times[-1] > times[0]
    yaw_raw = np.array([r.head_pose.yaw for r in raw if r.head_pose])
    yaw_smooth = np.array([r.head_pose.yaw for r in smooth if r.head_pose])
    assert yaw_raw[0] == pytest.approx(yaw_smooth[0])  # the filter starts on the data
    assert np.abs(np.diff(yaw_smooth)).sum() <= np.abs(np.diff(yaw_raw)).sum()


def test_stills_are_never_smoothed(files: dict[str, Path], home_settings: Settings) -> None:
    plain = list(track([files["astronaut"]], models=ModelFiles.of(home_settings)))
    smooth = list(track([files["astronaut"]], smoothing=True, models=ModelFiles.of(home_settings)))
    assert plain[0].to_json() == smooth[0].to_json()


@pytest.mark.parametrize("name", ["corrupt", "truncated"])
def test_bad_sources_raise_unreadable_source(
    files: dict[str, Path], home_settings: Settings, name: str
) -> None:
    with pytest.raises(UnreadableSource):
        list(track([files[name]], models=ModelFiles.of(home_settings)))


def test_one_euro_holds_still_and_follows_steps() -> None:
    f = OneEuroFilter(OneEuroOptions(min_cutoff=1.0, beta=0.0))
    assert f(0.0, np.array([2.0]))[0] == 2.0
    assert f(0.1, np.array([2.0]))[0] == pytest.approx(2.0)
    halfway = f(0.2, np.array([4.0]))[0]
    assert 2.0 < halfway < 4.0
    for i in range(3, 60):
        last = f(i / 10, np.array([4.0]))[0]
    assert last == pytest.approx(4.0, abs=1e-3)
    assert f(1.0, np.array([9.0]))[0] == pytest.approx(last)  # time went backwards
    fast = OneEuroFilter(OneEuroOptions(min_cutoff=1.0, beta=5.0))
    fast(0.0, np.array([0.0]))
    assert fast(0.1, np.array([1.0]))[0] > halfway - 2.0  # beta opens the cutoff


def test_cli_writes_one_record_per_line(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(
        app, ["track", str(files["astronaut"]), str(files["cat"]), "--jsonl", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [tuple(r) for r in lines] == [RECORD_KEYS, RECORD_KEYS]
    assert [r["face_found"] for r in lines] == [True, False]
    assert out.stat().st_mode & 0o777 == 0o600, "the raw stream can identify its person"
    missing = CliRunner().invoke(app, ["track", str(tmp_path / "nope.png"), "--jsonl", str(out)])
    assert missing.exit_code == 2 and "UnreadableSource" in missing.output


@pytest.mark.dataset
def test_smile_separates_yale_happy_from_normal(data_dir: Path, home_settings: Settings) -> None:
    from facegate.eval.smile import evaluate_smile

    yale = data_dir / "yale_faces"
    if not any(yale.glob("subject*.happy.gif")):
        pytest.skip("yale_faces absent")
    report = evaluate_smile(yale, ModelFiles.of(home_settings))
    assert report.n_happy == report.n_normal == 15 and report.n_no_face == 0
    assert report.auc >= 0.95


def test_the_reidentification_attack_tells_identity_from_noise() -> None:
    from facegate.eval.reid import attack

    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(20) for _ in range(5)]
    centres = rng.normal(0, 1, (20, 8))
    identifying = np.repeat(centres, 5, axis=0) + rng.normal(0, 0.1, (100, 8))
    anonymous = rng.normal(0, 1, (100, 8))
    strong, blind = attack("id", identifying, ids), attack("noise", anonymous, ids)
    assert strong.eer < 0.05 and strong.rank1 > 0.9
    assert 0.4 < blind.eer < 0.6
    assert strong.n_genuine == 20 * 10 and strong.n_impostor == 100 * 99 // 2 - 200
