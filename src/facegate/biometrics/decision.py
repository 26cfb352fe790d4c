"""The unlock decision: recorded evidence in, one reason out, no models and no I/O.

Keeping it pure means every rule of who gets in can be tested with plain numbers,
and every caller shares it. The order of the rules matters:

1. No usable frame: the most common capture refusal; says nothing about who is
   there, so it does not count toward the lockout.
2. The mean score of the usable frames below the threshold: ``not_matched`` (a
   failure). Averaging steadies a genuine user's score across blinks and motion,
   while an impostor's mean is no likelier to cross the threshold than one frame's.
3. A match that fails liveness: ``liveness`` (a failure, as an attack should be).
4. A live match with eyes closed or looking away: ``no_attention`` (not a failure).
5. Otherwise ``match``; the best frame may refresh the template only when liveness
   ran and passed and the mean clears the stricter adaptation threshold.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from facegate.errors import Reason
from facegate.liveness.check import LivenessMode
from facegate.vault.base import Outcome
from facegate.vision.capture import CaptureClass


@dataclass(frozen=True)
class Evidence:
    """What one attempt saw. ``scores`` are cosine similarities of the usable frames to
    the template (higher = more alike); they never leave the decision. ``captures``
    are the usable frames' lighting classes, which chose the threshold."""

    frames_seen: int
    scores: tuple[float, ...] = field(repr=False)
    refusals: tuple[Reason, ...]
    liveness: LivenessMode
    live: bool
    attentive: bool | None
    captures: tuple[CaptureClass, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The reason given, what it does to the lockout, and which usable frame (by index
    into ``Evidence.scores``) may refresh the template, if any."""

    reason: Reason
    outcome: Outcome
    adapt_frame: int | None = None

    @property
    def matched(self) -> bool:
        return self.reason is Reason.MATCH


def dominant_refusal(refusals: tuple[Reason, ...]) -> Reason:
    """The most frequent capture refusal, so a person hears the most useful one."""
    return Counter(refusals).most_common(1)[0][0] if refusals else Reason.NO_FACE


def decide(evidence: Evidence, threshold: float, adapt_threshold: float) -> Decision:
    """Apply the rules in the module docstring. Accept when mean score >= threshold."""
    if not evidence.scores:
        return Decision(dominant_refusal(evidence.refusals), Outcome.NEUTRAL)
    score = float(np.mean(evidence.scores))
    if score < threshold:
        return Decision(Reason.NOT_MATCHED, Outcome.FAILURE)
    if not evidence.live:
        return Decision(Reason.LIVENESS, Outcome.FAILURE)
    if evidence.attentive is False:
        return Decision(Reason.NO_ATTENTION, Outcome.NEUTRAL)
    learns = evidence.liveness is not LivenessMode.OFF and score >= adapt_threshold
    best = int(np.argmax(evidence.scores)) if learns else None
    return Decision(Reason.MATCH, Outcome.SUCCESS, best)
