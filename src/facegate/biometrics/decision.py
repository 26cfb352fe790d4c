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
5. A match with liveness off (which a caller must ask for): ``match``, but neutral on
   the lockout. It proves nobody is there, so it may not wipe the failures: a printed
   photo would otherwise buy unlimited tries at the liveness check.
6. Otherwise ``match``. The best frame may refresh the template only when a challenge
   was answered (a passive PAD alone can be fooled by a doctored still) and the mean
   similarity to the *enrolled* entries clears the stricter adaptation threshold, so a
   learnt frame never vouches for the next one and morphs cannot walk the template.
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
    the template (higher = more alike); they never leave the decision. ``anchors`` are
    the same frames' similarities to the enrolled entries alone, which decide whether
    one may be learnt. ``captures`` are the usable frames' lighting classes, which chose
    the threshold. ``challenged``: a liveness challenge was asked and answered."""

    frames_seen: int
    scores: tuple[float, ...] = field(repr=False)
    refusals: tuple[Reason, ...]
    liveness: LivenessMode
    live: bool
    attentive: bool | None
    captures: tuple[CaptureClass, ...] = ()
    anchors: tuple[float, ...] = field(default=(), repr=False)
    challenged: bool = False


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
    if evidence.liveness is LivenessMode.OFF:
        return Decision(Reason.MATCH, Outcome.NEUTRAL)
    learns = (
        evidence.challenged
        and bool(evidence.anchors)
        and float(np.mean(evidence.anchors)) >= adapt_threshold
    )
    best = int(np.argmax(evidence.anchors)) if learns else None
    return Decision(Reason.MATCH, Outcome.SUCCESS, best)
