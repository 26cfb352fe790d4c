"""The unlock decision as a pure function: recorded evidence in, one reason out."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from facegate.biometrics.decision import Evidence, decide
from facegate.errors import Reason
from facegate.liveness.check import LivenessMode
from facegate.vault.base import Outcome

THRESHOLD, ADAPT = 0.53, 0.65
scores = st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=5)
modes = st.sampled_from(list(LivenessMode))


def evidence(
    s: list[float],
    *,
    live: bool = True,
    attentive: bool | None = True,
    mode: LivenessMode = LivenessMode.PASSIVE,
) -> Evidence:
    return Evidence(len(s), tuple(s), (), mode, live, attentive)


@given(scores, modes, st.booleans(), st.sampled_from([True, False, None]))
def test_a_mean_below_the_threshold_never_matches_and_always_counts(
    s: list[float], mode: LivenessMode, live: bool, attentive: bool | None
) -> None:
    decision = decide(evidence(s, live=live, attentive=attentive, mode=mode), THRESHOLD, ADAPT)
    if float(np.mean(s)) < THRESHOLD:
        assert decision.reason is Reason.NOT_MATCHED
        assert decision.outcome is Outcome.FAILURE
    assert decision.matched == (decision.outcome is Outcome.SUCCESS)


@given(scores, modes)
def test_a_failed_liveness_check_is_never_a_match(s: list[float], mode: LivenessMode) -> None:
    decision = decide(evidence(s, live=False, mode=mode), THRESHOLD, ADAPT)
    assert not decision.matched
    assert decision.outcome is Outcome.FAILURE


@given(scores, modes, st.booleans())
def test_only_a_live_checked_confident_match_may_teach(
    s: list[float], mode: LivenessMode, live: bool
) -> None:
    decision = decide(evidence(s, live=live, mode=mode), THRESHOLD, ADAPT)
    if decision.adapt_frame is not None:
        assert decision.matched and live and mode is not LivenessMode.OFF
        assert float(np.mean(s)) >= ADAPT
        assert s[decision.adapt_frame] == max(s)


def test_no_usable_frame_gives_the_dominant_refusal_and_does_not_count() -> None:
    seen = Evidence(
        3, (), (Reason.TOO_DARK, Reason.NO_FACE, Reason.TOO_DARK), LivenessMode.PASSIVE, False, None
    )
    decision = decide(seen, THRESHOLD, ADAPT)
    assert decision.reason is Reason.TOO_DARK and decision.outcome is Outcome.NEUTRAL


def test_closed_eyes_on_a_live_match_do_not_count() -> None:
    decision = decide(evidence([0.9], attentive=False), THRESHOLD, ADAPT)
    assert decision.reason is Reason.NO_ATTENTION and decision.outcome is Outcome.NEUTRAL


def test_a_live_match_above_the_adaptation_threshold_teaches_its_best_frame() -> None:
    decision = decide(evidence([0.7, 0.9, 0.8]), THRESHOLD, ADAPT)
    assert decision.matched and decision.adapt_frame == 1
    off = decide(evidence([0.7, 0.9, 0.8], mode=LivenessMode.OFF), THRESHOLD, ADAPT)
    assert off.matched and off.adapt_frame is None
