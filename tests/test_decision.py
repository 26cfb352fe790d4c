"""The unlock decision as a pure function: recorded evidence in, one reason out."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from facegate.biometrics.decision import Evidence, decide
from facegate.biometrics.match import enrolled_score, template_score
from facegate.biometrics.template import adapt, build_template
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
    anchors: list[float] | None = None,
    challenged: bool = True,
) -> Evidence:
    """Evidence against a template of enrolled entries only (anchors = scores) unless
    ``anchors`` says otherwise."""
    near = tuple(s if anchors is None else anchors)
    return Evidence(len(s), tuple(s), (), mode, live, attentive, (), near, challenged)


@given(scores, modes, st.booleans(), st.sampled_from([True, False, None]))
def test_a_mean_below_the_threshold_never_matches_and_always_counts(
    s: list[float], mode: LivenessMode, live: bool, attentive: bool | None
) -> None:
    decision = decide(evidence(s, live=live, attentive=attentive, mode=mode), THRESHOLD, ADAPT)
    if float(np.mean(s)) < THRESHOLD:
        assert decision.reason is Reason.NOT_MATCHED
        assert decision.outcome is Outcome.FAILURE
    if decision.outcome is Outcome.SUCCESS:
        assert decision.matched
    if decision.matched and decision.outcome is not Outcome.SUCCESS:
        assert mode is LivenessMode.OFF and decision.outcome is Outcome.NEUTRAL


@given(scores, modes)
def test_a_failed_liveness_check_is_never_a_match(s: list[float], mode: LivenessMode) -> None:
    decision = decide(evidence(s, live=False, mode=mode), THRESHOLD, ADAPT)
    assert not decision.matched
    assert decision.outcome is Outcome.FAILURE


@given(scores, modes, st.booleans(), st.booleans())
def test_only_a_live_challenged_confident_match_may_teach(
    s: list[float], mode: LivenessMode, live: bool, challenged: bool
) -> None:
    decision = decide(evidence(s, live=live, mode=mode, challenged=challenged), THRESHOLD, ADAPT)
    if decision.adapt_frame is not None:
        assert decision.matched and live and challenged and mode is not LivenessMode.OFF
        assert float(np.mean(s)) >= ADAPT
        assert s[decision.adapt_frame] == max(s)


@given(scores)
def test_a_match_without_liveness_is_neutral_on_the_lockout(s: list[float]) -> None:
    """The attack: a printed photo matched with liveness off would otherwise wipe the
    failures of the liveness checks it had just failed, buying unlimited tries."""
    decision = decide(evidence(s, mode=LivenessMode.OFF), THRESHOLD, ADAPT)
    if decision.matched:
        assert decision.outcome is Outcome.NEUTRAL and decision.adapt_frame is None


def test_a_passive_pad_alone_never_teaches() -> None:
    decision = decide(evidence([0.9, 0.95], challenged=False), THRESHOLD, ADAPT)
    assert decision.matched and decision.adapt_frame is None


def test_a_frame_close_only_to_a_learnt_entry_is_not_learnt() -> None:
    decision = decide(evidence([0.9, 0.95], anchors=[0.6, 0.62]), THRESHOLD, ADAPT)
    assert decision.matched and decision.adapt_frame is None


def test_a_walk_of_morphs_cannot_carry_the_template_to_another_face() -> None:
    """The attack: 25 blends from the owner's face to the attacker's, each a live,
    challenged match. Judged against the learnt entries, each step needs only resemble
    the last one and the attacker ends up enrolled; judged against the enrolled entries,
    the walk stops where the blends stop resembling the owner."""
    rng = np.random.default_rng(7)
    owner, attacker = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)))
    template = build_template([owner.astype(np.float32)], now=0.0)
    for step, alpha in enumerate(np.linspace(0.04, 1.0, 25)):
        blend = ((1 - alpha) * owner + alpha * attacker).astype(np.float32)
        blend /= np.linalg.norm(blend)
        seen = Evidence(
            1,
            (template_score(template, blend),),
            (),
            LivenessMode.ACTIVE,
            True,
            True,
            (),
            (enrolled_score(template, blend),),
            True,
        )
        decision = decide(seen, THRESHOLD, ADAPT)
        if decision.adapt_frame is not None:
            template = adapt(template, blend, now=float(step))
    assert int(template.adaptive.sum()) > 0, "the walk must have taught something"
    assert template_score(template, attacker.astype(np.float32)) < THRESHOLD
    halfway = template.embeddings[template.adaptive][-1]
    assert float(halfway @ attacker) >= THRESHOLD, "a learnt entry alone would let them in"


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
