"""Thresholds per capture class: the class of a crop, the choice of threshold, the
calibration rule and the per-class error counts that `facegate eval` reports."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facegate.biometrics.match import Calibration, SecurityLevel, load_calibration
from facegate.eval.calibrate import ImpostorDecisions, class_thresholds
from facegate.eval.levels import level_rates
from facegate.eval.metrics import rule_of_three, threshold_at_fmr
from facegate.eval.protocols import harder_capture
from facegate.eval.tail import TailRule, fit_tail
from facegate.vision.capture import CaptureClass, capture_class

EVEN, SIDE, DARK = CaptureClass.EVEN, CaptureClass.SIDE_LIT, CaptureClass.DARK


def _crop(left: int, right: int) -> np.ndarray:
    crop = np.empty((112, 112, 3), np.uint8)
    crop[:, :56], crop[:, 56:] = left, right
    return crop


def test_crop_class_follows_its_light() -> None:
    assert capture_class(_crop(130, 120)) is EVEN
    assert capture_class(_crop(200, 90)) is SIDE  # lit from the left
    assert capture_class(_crop(30, 40)) is DARK
    assert capture_class(_crop(100, 10)) is DARK  # darker wins over side light


def _calibration() -> Calibration:
    return Calibration(
        thresholds={
            SecurityLevel.STANDARD: {EVEN: 0.50, SIDE: 0.60, DARK: 0.70},
            SecurityLevel.HIGH: {EVEN: 0.55, SIDE: 0.65, DARK: 0.75},
        },
        consistency_threshold=0.4,
        embedding_model="m",
        n_impostor=1,
        command="c",
    )


def test_unknown_class_gets_the_strictest_threshold() -> None:
    cal = _calibration()
    assert cal.threshold(SecurityLevel.STANDARD, SIDE) == 0.60
    assert cal.threshold(SecurityLevel.STANDARD) == 0.70
    assert cal.decision_threshold(SecurityLevel.HIGH, [EVEN, SIDE]) == 0.65
    assert cal.decision_threshold(SecurityLevel.HIGH, []) == 0.75


def test_shipped_calibration_has_every_level_and_class() -> None:
    cal = load_calibration()
    for level in SecurityLevel:
        for cls in CaptureClass:
            assert 0.0 < cal.threshold(level, cls) < 1.0
        # HIGH promises a lower FMR than STANDARD, so it is at least as strict in each class.
        assert all(
            cal.threshold(SecurityLevel.HIGH, c) >= cal.threshold(SecurityLevel.STANDARD, c)
            for c in CaptureClass
        )


def test_class_threshold_is_the_strictest_over_pooled_and_each_population() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    scores = rng.normal(0.1, 0.1, n)
    pops = np.where(np.arange(n) < 150_000, "", "b")
    scores[pops == "b"] += 0.1  # population b's impostors score higher
    caps = np.array([EVEN.value, SIDE.value, DARK.value])[np.arange(n) % 3]
    got = class_thresholds(ImpostorDecisions(scores, caps, pops), ["a", "b"], per_population=True)
    for cls in CaptureClass:
        in_class = caps == cls.value
        pooled = threshold_at_fmr(scores[in_class], 1e-5)
        b_only = threshold_at_fmr(scores[in_class & (pops == "b")], 1e-5)
        # Equal for even light; a harder class may be raised to an easier one's threshold.
        assert got[SecurityLevel.STANDARD][cls] >= max(pooled, b_only)
        if cls is EVEN:
            assert got[SecurityLevel.STANDARD][cls] == max(pooled, b_only)
        # At the chosen threshold, population b itself meets the level's FMR bound.
        b = scores[in_class & (pops == "b")]
        assert np.mean(b >= got[SecurityLevel.STANDARD][cls]) <= 1e-5


@given(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=10**7))
def test_rule_of_three_only_bounds_a_clean_record(false_matches: int, n: int) -> None:
    bound = rule_of_three(false_matches, n)
    if false_matches == 0 and n > 0:
        assert bound == pytest.approx(3.0 / n)
    else:
        assert bound is None


def test_level_rates_judge_each_decision_at_its_own_class_threshold() -> None:
    cal = _calibration()
    genuine = np.array([0.65, 0.65, 0.65])
    g_caps = np.array([EVEN.value, SIDE.value, DARK.value])
    impostor = np.array([0.55, 0.55, 0.55, 0.2])
    i_caps = np.array([EVEN.value, SIDE.value, DARK.value, ""])
    rates = {
        (r.level, r.capture): r
        for r in level_rates(cal, genuine, g_caps, impostor, i_caps, np.array([0, 1, 0], bool))
    }
    std = SecurityLevel.STANDARD
    assert (rates[std, "even"].false_matches, rates[std, "even"].n_impostor) == (1, 1)
    assert rates[std, "side_lit"].false_matches == 0
    assert rates[std, "side_lit"].fmr_upper95 == pytest.approx(3.0)
    assert rates[std, "dark"].false_non_matches == 1  # 0.65 < 0.70
    assert rates[std, "side_lit"].false_non_matches == 1  # refused by liveness
    assert (rates[std, "all"].n_impostor, rates[std, "all"].false_matches) == (4, 1)
    assert not rates[std, "all"].supports_target


def test_a_pair_takes_the_class_of_its_harder_lit_image() -> None:
    a = np.array(["even", "dark", "side_lit", ""])
    b = np.array(["side_lit", "even", "side_lit", "even"])
    assert harder_capture(a, b).tolist() == ["side_lit", "dark", "side_lit", "even"]


@pytest.mark.parametrize("tail", list(TailRule))
def test_harder_light_never_gets_a_looser_threshold(tail: TailRule) -> None:
    """Side-lit impostors that happen to score low in a small sample must not undercut
    the even-light threshold; dark is at least as strict as side light, whichever way
    the thresholds are read off the scores."""
    rng = np.random.default_rng(1)
    n = 300_000
    caps = np.array([EVEN.value, SIDE.value, DARK.value])[np.arange(n) % 3]
    scores = rng.normal(0.1, 0.1, n) - np.where(caps == SIDE.value, 0.2, 0.0)
    got = class_thresholds(ImpostorDecisions(scores, caps, np.full(n, "")), [], tail=tail)
    for level in SecurityLevel:
        assert got[level][EVEN] <= got[level][SIDE] <= got[level][DARK]
        assert got[level][SIDE] == got[level][EVEN]


def test_each_class_threshold_is_its_tail_fits_quantile() -> None:
    """With the tail rule, a class's threshold is its own fit's quantile at the level's
    FMR (here no class is raised by an easier one)."""
    rng = np.random.default_rng(2)
    n = 300_000
    caps = np.array([EVEN.value, SIDE.value, DARK.value])[np.arange(n) % 3]
    scores = rng.normal(0.0, 1.0, n) + np.where(caps == DARK.value, 1.0, 0.0)
    scores += np.where(caps == SIDE.value, 0.5, 0.0)
    got = class_thresholds(ImpostorDecisions(scores, caps, np.full(n, "")), [], tail=TailRule.GPD)
    for cls in CaptureClass:
        fit = fit_tail(scores[caps == cls.value])
        assert fit.n == n // 3 and fit.n_exceed == pytest.approx(n // 300, abs=1)
        for level in SecurityLevel:
            assert fit.quantile(level.target_fmr) == pytest.approx(got[level][cls], abs=1e-4)
