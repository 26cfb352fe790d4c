"""Properties of the ISO/IEC 19795-1 error rates and of the written report.

Scores are similarities; a comparison is accepted when ``score >= threshold``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.eval.metrics import (
    DEFAULT_TARGETS,
    det_curve,
    eer,
    fmr_fnmr,
    fnmr_at_fmr,
    impostors_needed,
    summarise,
    threshold_at_fmr,
    thresholds_at_fmr,
)
from facegate.eval.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

scores = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)
# Few distinct values, so ties are the rule rather than the exception.
tied_scores = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=200)
targets = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


def _fmr(impostor: list[float] | np.ndarray, threshold: float) -> float:
    return fmr_fnmr([0.0], impostor, threshold)[0]


@settings(max_examples=300, deadline=None)
@given(impostor=st.one_of(scores, tied_scores), target=targets)
def test_threshold_at_fmr_meets_the_target_and_is_the_lowest_that_does(
    impostor: list[float], target: float
) -> None:
    t = threshold_at_fmr(impostor, target)
    assert _fmr(impostor, t) <= target
    assert _fmr(impostor, float(np.nextafter(t, -np.inf))) > target


@settings(max_examples=100, deadline=None)
@given(genuine=st.one_of(scores, tied_scores), impostor=st.one_of(scores, tied_scores))
def test_eer_is_a_rate_at_a_candidate_score_and_the_det_curve_is_monotone(
    genuine: list[float], impostor: list[float]
) -> None:
    rate, threshold = eer(genuine, impostor)
    assert 0.0 <= rate <= 1.0
    assert threshold in set(genuine) | set(impostor) or threshold > max(genuine + impostor)
    fmr, fnmr = fmr_fnmr(genuine, impostor, threshold)
    assert rate == pytest.approx((fmr + fnmr) / 2)
    curve = det_curve(genuine, impostor, max_points=5)
    assert 2 <= curve.thresholds.size <= 5
    assert np.all(np.diff(curve.thresholds) > 0)
    assert np.all(np.diff(curve.fmr) <= 0) and np.all(np.diff(curve.fnmr) >= 0)
    assert (curve.fmr[0], curve.fnmr[0]) == (1.0, 0.0)
    assert (curve.fmr[-1], curve.fnmr[-1]) == (0.0, 1.0)


def test_hand_worked_example() -> None:
    genuine = [0.6, 0.7, 0.8, 0.9]
    impostor = [0.1, 0.2, 0.3, 0.65]
    # At 0.65: impostor 0.65 is accepted (>=), genuine 0.6 is rejected (<).
    assert fmr_fnmr(genuine, impostor, 0.65) == (0.25, 0.25)
    assert fmr_fnmr(genuine, impostor, 0.5) == (0.25, 0.0)
    assert fmr_fnmr(genuine, impostor, 0.75) == (0.0, 0.5)
    assert eer(genuine, impostor) == (0.25, 0.65)
    # One false match allowed at 25 %: the threshold sits just above the 2nd highest.
    assert threshold_at_fmr(impostor, 0.25) == np.nextafter(0.3, np.inf)
    assert threshold_at_fmr(impostor, 0.2) == np.nextafter(0.65, np.inf)


def test_ties_at_the_threshold() -> None:
    impostor = [0.5] * 10 + [0.1] * 90
    # 5 false matches allowed, but the 6th highest is tied with the top 10: reject all 10.
    t = threshold_at_fmr(impostor, 0.05)
    assert t == np.nextafter(0.5, np.inf)
    assert _fmr(impostor, t) == 0.0
    assert _fmr(impostor, 0.5) == 0.1
    t = threshold_at_fmr(impostor, 0.1)
    assert _fmr(impostor, t) == 0.1
    # A genuine score equal to the threshold is accepted.
    assert fmr_fnmr([0.5, 0.5], [0.0], 0.5) == (0.0, 0.0)
    assert eer([0.5] * 4, [0.5] * 4) == (0.5, 0.5)


def test_eer_of_perfectly_separated_scores_is_zero() -> None:
    rate, threshold = eer([0.8, 0.9, 0.95], [0.1, 0.2, 0.3])
    assert rate == 0.0
    assert 0.3 < threshold <= 0.8


def test_eer_of_identical_distributions_is_one_half() -> None:
    rng = np.random.default_rng(19795)
    rate, _ = eer(rng.normal(size=20_000), rng.normal(size=20_000))
    assert rate == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    "n", [999, 1000, 9_999, 10_000, 15_600, 99_999, 100_000, 999_999, 1_000_000]
)
def test_fnmr_at_fmr_is_null_exactly_when_unsupported(n: int) -> None:
    impostor = np.linspace(-1.0, 0.5, n)
    genuine = np.linspace(0.0, 1.0, 500)
    fnmr = fnmr_at_fmr(genuine, impostor)
    thresholds = thresholds_at_fmr(genuine, impostor)
    assert list(fnmr) == ["1e-3", "1e-4", "1e-5", "1e-6"]
    assert list(thresholds) == list(fnmr)
    for target, key in zip(DEFAULT_TARGETS, fnmr, strict=True):
        unsupported = n * target < 1
        assert (fnmr[key] is None) == unsupported
        assert (thresholds[key] is None) == unsupported
        assert (n >= impostors_needed(target)) != unsupported
        if not unsupported:
            threshold = thresholds[key]
            assert threshold is not None
            fmr, fnmr_value = fmr_fnmr(genuine, impostor, threshold)
            assert fnmr_value == fnmr[key]
            assert fmr <= target


def test_15600_impostors_support_1e_4_but_not_1e_5() -> None:
    fnmr = fnmr_at_fmr([0.9], np.zeros(15_600))
    assert fnmr["1e-4"] is not None
    assert fnmr["1e-5"] is None
    assert impostors_needed(1e-5) == 100_000


def test_a_million_scores_stay_fast_and_exact() -> None:
    rng = np.random.default_rng(7)
    impostor = rng.normal(size=1_000_000)
    t = threshold_at_fmr(impostor, 1e-6)
    assert np.count_nonzero(impostor >= t) == 1
    curve = det_curve(rng.normal(3.0, 1.0, size=10_000), impostor)
    assert curve.thresholds.size <= 2000
    # Thinning keeps the low-FMR tail: the single remaining false match is still drawn.
    assert curve.fmr[curve.fmr > 0].min() == 1e-6


@pytest.mark.parametrize(
    ("genuine", "impostor", "message"),
    [
        ([0.5, math.nan], [0.1], "finite"),
        ([0.5, math.inf], [0.1], "finite"),
        ([[0.5, 0.6]], [0.1], "1-D"),
        ([], [0.1], "at least one"),
        ([0.5], [], "at least one"),
        (["a"], [0.1], "real numbers"),
    ],
)
def test_invalid_scores_raise_value_error(genuine: Any, impostor: Any, message: str) -> None:
    for call in (
        lambda: eer(genuine, impostor),
        lambda: fmr_fnmr(genuine, impostor, 0.5),
        lambda: fnmr_at_fmr(genuine, impostor),
        lambda: det_curve(genuine, impostor),
        lambda: summarise(
            genuine, impostor, n_attempts=1, n_failed_acquisitions=0, seconds_per_image=0.0
        ),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_invalid_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="target FMR"):
        threshold_at_fmr([0.1], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        fmr_fnmr([0.1], [0.2], math.nan)
    with pytest.raises(ValueError, match="n_failed_acquisitions"):
        summarise([0.9], [0.1], n_attempts=2, n_failed_acquisitions=3, seconds_per_image=0.1)
    with pytest.raises(ValueError, match="seconds_per_image"):
        summarise([0.9], [0.1], n_attempts=2, n_failed_acquisitions=0, seconds_per_image=-1.0)


def test_write_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    genuine = rng.normal(0.7, 0.1, size=975)
    impostor = rng.normal(0.1, 0.1, size=15_600)
    summary = summarise(
        genuine, impostor, n_attempts=600, n_failed_acquisitions=3, seconds_per_image=0.0123
    )
    out = tmp_path / "nested" / "run"
    path = write_report(
        summary,
        det_curve(genuine, impostor),
        out,
        title="Synthetic",
        extra={"dataset": "synthetic", "command": ["facegate", "eval"], "root": tmp_path},
    )

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    record = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert path == out / "report.json"
    for key in (
        "n_genuine", "n_impostor", "fta", "eer", "eer_threshold",
        "fnmr_at_fmr", "thresholds_at_fmr", "ms_per_image", "dataset", "command",
    ):  # fmt: skip
        assert key in record
    assert record["n_genuine"] == 975 and record["n_impostor"] == 15_600
    assert record["fta"] == 0.005
    assert record["ms_per_image"] == pytest.approx(12.3)
    assert record["root"] == str(tmp_path)
    assert list(record["fnmr_at_fmr"]) == ["1e-3", "1e-4", "1e-5", "1e-6"]
    assert record["fnmr_at_fmr"]["1e-4"] is not None
    assert record["fnmr_at_fmr"]["1e-5"] is None
    assert record["thresholds_at_fmr"]["1e-6"] is None

    assert (out / "det.png").read_bytes()[:8] == PNG_SIGNATURE
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert "975" in markdown and "15,600" in markdown
    assert "3 / 600 attempts" in markdown
    assert "n/a (needs ≥ 100,000 impostor comparisons)" in markdown
    point = summary.operating_points[1]
    assert f"{point.false_non_matches:,} / 975" in markdown


def test_write_report_refuses_extra_that_overwrites_a_figure(tmp_path: Path) -> None:
    summary = summarise([0.9], [0.1], n_attempts=1, n_failed_acquisitions=0, seconds_per_image=0)
    with pytest.raises(ValueError, match="eer"):
        write_report(summary, det_curve([0.9], [0.1]), tmp_path, title="t", extra={"eer": 0.0})
    with pytest.raises(ValueError, match="JSON"):
        write_report(summary, det_curve([0.9], [0.1]), tmp_path, title="t", extra={"x": math.nan})
