"""The unlock decision as a pure function: recorded evidence in, one reason out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facegate.biometrics.decision import Evidence, Thresholds, decide
from facegate.biometrics.masked import Cover
from facegate.biometrics.match import enrolled_score, template_score
from facegate.biometrics.template import adapt, build_template
from facegate.errors import Reason
from facegate.liveness.check import LivenessMode
from facegate.vault.base import Outcome

THRESHOLD, MASKED, ADAPT = 0.53, 0.55, 0.65
STANDARD = Thresholds(THRESHOLD, MASKED, ADAPT)
NO_MASKS = Thresholds(THRESHOLD, None, ADAPT)  # a level that allows no masked unlock
BARE = Cover(masked=False, eyes_covered=False)
scores = st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=5)
modes = st.sampled_from(list(LivenessMode))
covers = st.sampled_from(
    [None, *(Cover(masked=m, eyes_covered=e) for m in (False, True) for e in (False, True))]
)
thresholds = st.builds(
    Thresholds,
    st.floats(0.0, 1.0),
    st.one_of(st.none(), st.floats(0.0, 1.0)),
    st.floats(0.0, 1.0),
    # the per-class cosine threshold the masked one was calibrated against, which a
    # template's cohort threshold (bare) may exceed
    st.one_of(st.none(), st.floats(0.0, 1.0)),
)


def evidence(
    s: list[float],
    *,
    live: bool = True,
    attentive: bool | None = True,
    mode: LivenessMode = LivenessMode.PASSIVE,
    cover: Cover | None = BARE,
    anchors: list[float] | None = None,
    challenged: bool = True,
) -> Evidence:
    """Evidence against a template of enrolled entries only (anchors = scores) unless
    ``anchors`` says otherwise."""
    near = tuple(s if anchors is None else anchors)
    return Evidence(len(s), tuple(s), (), mode, live, attentive, (), near, challenged, cover)


@given(scores, modes, st.booleans(), st.sampled_from([True, False, None]))
def test_a_mean_below_the_threshold_never_matches_and_always_counts(
    s: list[float], mode: LivenessMode, live: bool, attentive: bool | None
) -> None:
    decision = decide(evidence(s, live=live, attentive=attentive, mode=mode), STANDARD)
    if float(np.mean(s)) < THRESHOLD:
        assert decision.reason is Reason.NOT_MATCHED
        assert decision.outcome is Outcome.FAILURE
    if decision.outcome is Outcome.SUCCESS:
        assert decision.matched
    if decision.matched and decision.outcome is not Outcome.SUCCESS:
        assert mode is LivenessMode.OFF and decision.outcome is Outcome.NEUTRAL


@given(scores, modes)
def test_a_failed_liveness_check_is_never_a_match(s: list[float], mode: LivenessMode) -> None:
    decision = decide(evidence(s, live=False, mode=mode), STANDARD)
    assert not decision.matched
    assert decision.outcome is Outcome.FAILURE


@given(scores, modes, st.booleans(), st.booleans(), covers)
def test_only_a_live_challenged_confident_whole_face_may_teach(
    s: list[float], mode: LivenessMode, live: bool, challenged: bool, cover: Cover | None
) -> None:
    """A masked, half-hidden or unassessed face never enters the template: a masked
    entry would lift every masked impostor's score against it."""
    seen = evidence(s, live=live, mode=mode, cover=cover, challenged=challenged)
    decision = decide(seen, STANDARD)
    if decision.adapt_frame is not None:
        assert decision.matched and live and challenged and mode is not LivenessMode.OFF
        assert cover == BARE
        assert float(np.mean(s)) >= ADAPT
        assert s[decision.adapt_frame] == max(s)


@given(scores, thresholds, covers, st.booleans())
def test_a_mask_never_loosens_the_threshold(
    s: list[float], limits: Thresholds, cover: Cover | None, live: bool
) -> None:
    """Whatever the occlusion map says (or if it was not assessed), no attempt matches
    below the bare threshold, nor a masked or unassessed one below the masked threshold."""
    if limits.masked is None and cover is None:
        return  # refused as a programming error, tested below
    decision = decide(evidence(s, live=live, cover=cover), limits)
    if decision.matched:
        score = float(np.mean(s))
        assert score >= limits.bare
        if cover is None or cover.masked:
            assert limits.masked is not None and score >= limits.masked


def test_one_masked_frame_cannot_lower_the_bar_below_the_templates_own() -> None:
    """Outside attack F4 with its scores: a template that strangers resemble holds bare
    faces at 0.6282 (its cohort threshold), above the masked 0.5472; an impostor refused
    bare (0.6225) added one drawn-mask frame (0.5366), the attempt counted as masked, and
    its mean 0.5939 passed."""
    limits = Thresholds(bare=0.6282, masked=0.5472, adapt=0.70, mask_floor=0.5375)
    masked = Cover(masked=True, eyes_covered=False)
    bare_only = decide(evidence([0.6225] * 3), limits)
    mixed = decide(evidence([0.6225, 0.6225, 0.5366], cover=masked), limits)
    assert bare_only.reason is Reason.NOT_MATCHED
    assert mixed.reason is Reason.NOT_MATCHED and mixed.outcome is Outcome.FAILURE


@given(scores, covers)
def test_covered_eyes_name_a_non_match_and_it_still_counts(
    s: list[float], cover: Cover | None
) -> None:
    """Identity first: covering the eyes changes only the name of a failure, never
    whether it counts, so an impostor in sunglasses gets no uncounted tries."""
    decision = decide(evidence(s, cover=cover), STANDARD)
    if decision.reason is Reason.EYES_COVERED:
        assert cover is not None and cover.eyes_covered
    if not decision.matched and decision.reason in (Reason.EYES_COVERED, Reason.NOT_MATCHED):
        assert decision.outcome is Outcome.FAILURE


def test_a_masked_face_needs_the_masked_threshold_and_says_so() -> None:
    masked = Cover(masked=True, eyes_covered=False)
    between = decide(evidence([0.54], cover=masked), STANDARD)
    assert between.reason is Reason.NOT_MATCHED and between.outcome is Outcome.FAILURE
    assert between.mask is True
    passed = decide(evidence([0.56], cover=masked), STANDARD)
    assert passed.matched and passed.mask is True and passed.adapt_frame is None
    assert decide(evidence([0.54]), STANDARD).matched  # the same score bare


def test_a_mask_with_sunglasses_is_still_held_to_the_masked_threshold() -> None:
    both = Cover(masked=True, eyes_covered=True)
    decision = decide(evidence([0.54], cover=both), STANDARD)
    assert decision.reason is Reason.EYES_COVERED and decision.outcome is Outcome.FAILURE


def test_sunglasses_on_a_recognised_face_are_a_match() -> None:
    eyes = Cover(masked=False, eyes_covered=True)
    assert decide(evidence([0.6], cover=eyes), STANDARD).matched
    refused = decide(evidence([0.2], cover=eyes), STANDARD)
    assert refused.reason is Reason.EYES_COVERED and refused.outcome is Outcome.FAILURE


def test_an_unassessed_face_is_judged_as_masked_and_reports_no_mask_value() -> None:
    assert decide(evidence([0.54], cover=None), STANDARD).reason is Reason.NOT_MATCHED
    above = decide(evidence([0.56], cover=None), STANDARD)
    assert above.matched and above.mask is None


@given(scores, st.booleans())
def test_a_level_without_masked_unlock_refuses_a_mask_whatever_the_score(
    s: list[float], eyes: bool
) -> None:
    """The reason hangs on the occlusion map alone (no score oracle) and counts."""
    decision = decide(evidence(s, cover=Cover(True, eyes)), NO_MASKS)
    assert decision.reason is Reason.MASK_NOT_ALLOWED
    assert decision.outcome is Outcome.FAILURE and decision.mask is True


def test_a_level_without_masked_unlock_cannot_be_decided_unassessed() -> None:
    with pytest.raises(ValueError, match="cover assessed"):
        decide(evidence([0.9], cover=None), NO_MASKS)


def test_no_usable_frame_gives_the_dominant_refusal_and_does_not_count() -> None:
    seen = Evidence(
        3, (), (Reason.TOO_DARK, Reason.NO_FACE, Reason.TOO_DARK), LivenessMode.PASSIVE, False, None
    )
    decision = decide(seen, STANDARD)
    assert decision.reason is Reason.TOO_DARK and decision.outcome is Outcome.NEUTRAL


def test_closed_eyes_on_a_live_match_do_not_count() -> None:
    decision = decide(evidence([0.9], attentive=False), STANDARD)
    assert decision.reason is Reason.NO_ATTENTION and decision.outcome is Outcome.NEUTRAL


def test_a_live_match_above_the_adaptation_threshold_teaches_its_best_frame() -> None:
    decision = decide(evidence([0.7, 0.9, 0.8]), STANDARD)
    assert decision.matched and decision.adapt_frame == 1 and decision.mask is False
    off = decide(evidence([0.7, 0.9, 0.8], mode=LivenessMode.OFF), STANDARD)
    assert off.matched and off.adapt_frame is None


@given(scores)
def test_a_match_without_liveness_is_neutral_on_the_lockout(s: list[float]) -> None:
    """The attack: a printed photo matched with liveness off would otherwise wipe the
    failures of the liveness checks it had just failed, buying unlimited tries."""
    decision = decide(evidence(s, mode=LivenessMode.OFF), STANDARD)
    if decision.matched:
        assert decision.outcome is Outcome.NEUTRAL and decision.adapt_frame is None


def test_a_passive_pad_alone_never_teaches() -> None:
    decision = decide(evidence([0.9, 0.95], challenged=False), STANDARD)
    assert decision.matched and decision.adapt_frame is None


def test_a_frame_close_only_to_a_learnt_entry_is_not_learnt() -> None:
    decision = decide(evidence([0.9, 0.95], anchors=[0.6, 0.62]), STANDARD)
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
            BARE,
        )
        decision = decide(seen, STANDARD)
        if decision.adapt_frame is not None:
            template = adapt(template, blend, now=float(step))
    assert int(template.adaptive.sum()) > 0, "the walk must have taught something"
    assert template_score(template, attacker.astype(np.float32)) < THRESHOLD
    halfway = template.embeddings[template.adaptive][-1]
    assert float(halfway @ attacker) >= THRESHOLD, "a learnt entry alone would let them in"
