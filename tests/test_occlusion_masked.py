"""The masked mode: its calibration record, and the mode real photos of held-out people get."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np
import pytest

from facegate.biometrics.masked import (
    FaceMode,
    MaskedCalibration,
    Outcome,
    face_mode,
    judge,
    load_masked_calibration,
)
from facegate.biometrics.match import SecurityLevel, load_calibration
from facegate.eval.metrics import threshold_at_fmr
from facegate.eval.occlusion import rmfrd_folds
from facegate.vision.align import REFERENCE_POINTS, align
from facegate.vision.occlusion import OcclusionAssessor, OcclusionMap, Region
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image

RMFRD = "rmfrd_masked_identities"


def _record() -> dict:
    text = resources.files("facegate.biometrics").joinpath("masked_calibration.json").read_text()
    return json.loads(text)


def test_masked_calibration_records_its_command_and_tuning_people_only(data_dir: Path) -> None:
    record = _record()
    assert "scripts/calibrate_masked.py" in record["command"]
    tuning, held_out = rmfrd_folds(data_dir / RMFRD)
    assert record["tuning_people"] == tuning
    assert not set(record["tuning_people"]) & set(held_out)


def test_masked_standard_threshold_is_its_recorded_impostors_fmr_point() -> None:
    """The threshold is what ``threshold_at_fmr`` gives for the recorded count at the
    recorded target: with k = floor(n * target) false matches allowed, it sits just
    above the (k+1)-th highest impostor score, which the record lists."""
    record = _record()
    level = record["levels"]["standard"]
    n, target = record["n_impostor"], level["target_fmr"]
    k = int(n * target)
    assert k < len(record["impostor_top5"])
    tail = np.array(record["impostor_top5"][: k + 1] + [-1.0] * (n - k - 1))
    assert level["threshold"] == pytest.approx(threshold_at_fmr(tail, target), abs=1e-6)
    # Rounded up: the (k+1)-th highest impostor score is rejected.
    assert level["threshold"] > record["impostor_top5"][k]


def test_high_level_allows_no_masked_unlock_and_standard_is_stricter_than_chance() -> None:
    calibration = load_masked_calibration()
    assert calibration.threshold(SecurityLevel.HIGH) is None
    masked_standard = calibration.threshold(SecurityLevel.STANDARD)
    assert masked_standard is not None
    # A masked threshold far below the bare one would be a hole; it must stay in range.
    assert 0.0 < masked_standard <= 1.0
    assert load_calibration().threshold(SecurityLevel.STANDARD) > 0


def _map(**values: float) -> OcclusionMap:
    base = dict.fromkeys(Region, 0.0)
    base.update({Region(k): v for k, v in values.items()})
    return OcclusionMap(base)


def test_covered_eyes_take_precedence_over_a_mask() -> None:
    cal = MaskedCalibration(
        thresholds=MappingProxyType({SecurityLevel.STANDARD: 0.4, SecurityLevel.HIGH: None}),
        target_fmr=MappingProxyType({SecurityLevel.STANDARD: 1e-4, SecurityLevel.HIGH: None}),
        mask_mouth=0.5,
        eyes_covered=0.6,
        command="test",
    )
    assert face_mode(_map(), cal) is FaceMode.BARE
    assert face_mode(_map(mouth=0.5), cal) is FaceMode.MASKED
    assert face_mode(_map(mouth=0.9, left_eye=0.6), cal) is FaceMode.EYES_COVERED
    assert face_mode(_map(right_eye=0.59, mouth=0.49), cal) is FaceMode.BARE


@pytest.fixture(scope="module")
def held_out_people(data_dir: Path) -> list[Path]:
    root = data_dir / RMFRD
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    return [root / name for name in rmfrd_folds(root)[1]]


@pytest.fixture(scope="module")
def held_out_person(held_out_people: list[Path]) -> Path:
    return held_out_people[1]


def test_held_out_masked_photos_mostly_enter_the_masked_mode(
    held_out_people: list[Path], pipeline: FacePipeline
) -> None:
    """The masked photos of the first 10 held-out people: most are judged masked (on all
    61, 100 of 121 usable masked probes: scripts/calibrate_masked.py --report)."""
    cal = load_masked_calibration()
    assessor = OcclusionAssessor(pipeline)
    modes = [
        face_mode(m, cal)
        for person in held_out_people[:10]
        for p in sorted((person / "masked").glob("*.jpg"))
        if (m := assessor.assess(read_image(p)).map) is not None
    ]
    assert len(modes) >= 15
    assert sum(m is FaceMode.MASKED for m in modes) * 2 > len(modes)


def test_drawn_sunglasses_on_a_held_out_face_give_eyes_covered(
    held_out_person: Path, pipeline: FacePipeline
) -> None:
    """Dark lenses drawn over both eyes of an unmasked photo of a held-out person."""
    frame = read_image(sorted((held_out_person / "unmasked").glob("*.jpg"))[0])
    assessor = OcclusionAssessor(pipeline)
    faces = pipeline.observe(frame).faces
    bare = assessor.assess_faces(frame, faces).map
    assert (
        bare is not None and face_mode(bare, load_masked_calibration()) is not FaceMode.EYES_COVERED
    )
    crop = align(frame.image, faces, 0)
    for cx, cy in REFERENCE_POINTS[:2]:
        cv2.ellipse(
            crop, (round(float(cx)), round(float(cy))), (15, 10), 0, 0, 360, (25, 25, 25), -1
        )
    covered = assessor.models.map(crop)
    assert face_mode(covered, load_masked_calibration()) is FaceMode.EYES_COVERED


def _calibration(high: float | None = None) -> MaskedCalibration:
    return MaskedCalibration(
        thresholds=MappingProxyType({SecurityLevel.STANDARD: 0.55, SecurityLevel.HIGH: high}),
        target_fmr=MappingProxyType({SecurityLevel.STANDARD: 1e-4, SecurityLevel.HIGH: None}),
        mask_mouth=0.5,
        eyes_covered=0.6,
        command="test",
    )


def test_a_masked_probe_must_clear_the_masked_threshold_and_says_mask_yes() -> None:
    cal = _calibration()
    passed = judge(0.56, FaceMode.MASKED, SecurityLevel.STANDARD, 0.53, cal)
    assert passed.matched and passed.mask and passed.threshold == 0.55
    between = judge(0.54, FaceMode.MASKED, SecurityLevel.STANDARD, 0.53, cal)
    assert between.outcome is Outcome.NOT_MATCHED and between.mask


def test_high_level_refuses_a_mask_whatever_the_score() -> None:
    verdict = judge(0.99, FaceMode.MASKED, SecurityLevel.HIGH, 0.55, _calibration())
    assert verdict.outcome is Outcome.MASK_NOT_ALLOWED and not verdict.matched


def test_covered_eyes_are_a_reason_not_a_false_non_match() -> None:
    cal = _calibration()
    refused = judge(0.2, FaceMode.EYES_COVERED, SecurityLevel.STANDARD, 0.53, cal)
    assert refused.outcome is Outcome.EYES_COVERED
    # Recognised despite sunglasses: a match, judged on the bare threshold.
    assert judge(0.6, FaceMode.EYES_COVERED, SecurityLevel.STANDARD, 0.53, cal).matched
    assert judge(0.2, FaceMode.BARE, SecurityLevel.STANDARD, 0.53, cal).outcome is (
        Outcome.NOT_MATCHED
    )
