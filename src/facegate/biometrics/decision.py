"""The unlock decision: recorded evidence in, one reason out, no models and no I/O.

Keeping it pure means every rule of who gets in can be tested with plain numbers,
and every caller shares it. The order of the rules matters:

1. No usable frame: the most common capture refusal; says nothing about who is
   there, so it does not count toward the lockout.
2. A mask at a level that allows no masked unlock (``high``): ``mask_not_allowed``,
   whatever the score, and counted. The reason depends on the occlusion map alone, so
   it tells an attacker nothing about the score; counting it means a masked impostor
   gets no free tries.
3. The mean score of the usable frames below the threshold: a counted failure. The
   threshold is the bare one for a bare face and the larger of the masked and the bare
   one for a masked face (or a face whose cover was not assessed), so a mask never
   loosens it (:func:`identity_threshold`, which unlock also uses to settle identity
   before any liveness challenge). The reason is ``eyes_covered`` when the eyes were
   covered, else ``not_matched``: identity is settled first and the occlusion only
   names the failure, so covering the eyes buys an impostor no uncounted tries.
   Averaging steadies a genuine user's score across blinks and motion, while an
   impostor's mean is no likelier to cross the threshold than one frame's.
   A frame read after the matched ones (for a liveness challenge) that no longer shows
   the matched face is a counted ``not_matched`` too: the owner's photo must not win
   the match for someone else to answer the challenge.
4. A match that fails liveness: ``liveness`` (a failure, as an attack should be).
5. A live match with eyes closed or looking away: ``no_attention`` (not a failure).
6. A match with liveness off (which a caller must ask for): ``match``, but neutral on
   the lockout. It proves nobody is there, so it may not wipe the failures: a printed
   photo would otherwise buy unlimited tries at the liveness check.
7. Otherwise ``match``. The best frame may refresh the template only when a challenge
   was answered (a passive PAD alone can be fooled by a doctored still), the mean
   similarity to the *enrolled* entries clears the stricter adaptation threshold, so a
   learnt frame never vouches for the next one and morphs cannot walk the template,
   and the face was assessed and seen whole (a masked or half-hidden face never
   teaches the template).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from facegate.biometrics.masked import Cover
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
    the threshold. ``challenged``: a liveness challenge was asked and answered.
    ``cover`` is what the occlusion maps of the usable frames showed, or None when they
    were not assessed (an evaluation without maps; judged as masked, never looser).
    ``same_face``: every frame checked after the matched ones (those a liveness
    challenge reads) still showed the face that matched; False ends the attempt as a
    non-match, as someone else answered the challenge."""

    frames_seen: int
    scores: tuple[float, ...] = field(repr=False)
    refusals: tuple[Reason, ...]
    liveness: LivenessMode
    live: bool
    attentive: bool | None
    captures: tuple[CaptureClass, ...] = ()
    anchors: tuple[float, ...] = field(default=(), repr=False)
    challenged: bool = False
    cover: Cover | None = None
    same_face: bool = True


@dataclass(frozen=True)
class Thresholds:
    """The cosine thresholds one attempt is held to (accept when score >= threshold).

    bare: the level's threshold for the attempt's capture classes.
    masked: the level's masked threshold, or None when the level allows no masked unlock.
    adapt: the similarity to the enrolled entries a match needs before it may refresh
    the template.
    mask_floor: the bare threshold the masked one was calibrated against (the per-class
    cosine one, when ``bare`` is a template's cohort threshold); None = ``bare``.
    """

    bare: float
    masked: float | None
    adapt: float
    mask_floor: float | None = None

    @property
    def covered(self) -> float:
        """The threshold of a masked face: never looser than the bare one it was
        calibrated against, nor than this template's own bare one. A template that
        strangers resemble has a cohort threshold above the global masked one; without
        the second bound, one masked frame among an impostor's bare ones lowered the
        bar below it (outside attack F4)."""
        floor = self.bare if self.mask_floor is None else max(self.bare, self.mask_floor)
        return floor if self.masked is None else max(self.masked, floor)


@dataclass(frozen=True)
class Decision:
    """The reason given, what it does to the lockout, which usable frame (by index into
    ``Evidence.scores``) may refresh the template, if any, and whether the face was
    masked (None: no usable frame, or the cover was not assessed)."""

    reason: Reason
    outcome: Outcome
    adapt_frame: int | None = None
    mask: bool | None = None

    @property
    def matched(self) -> bool:
        return self.reason is Reason.MATCH


def dominant_refusal(refusals: tuple[Reason, ...]) -> Reason:
    """The most frequent capture refusal, so a person hears the most useful one."""
    return Counter(refusals).most_common(1)[0][0] if refusals else Reason.NO_FACE


def identity_threshold(thresholds: Thresholds, cover: Cover | None) -> float | None:
    """The score a face with this cover must reach (accept when mean >= it), or None when
    the level refuses it whatever the score (a mask where masks are not allowed). An
    unassessed face (None) is held to the masked face's threshold; at a level without
    masked unlock it cannot be judged at all (ValueError)."""
    if thresholds.masked is None:
        if cover is None:
            raise ValueError("a level that allows no masked unlock needs the cover assessed")
        if cover.masked:
            return None
    whole = cover is not None and not cover.masked
    return thresholds.bare if whole else thresholds.covered


def decide(evidence: Evidence, thresholds: Thresholds) -> Decision:
    """Apply the rules in the module docstring."""
    if not evidence.scores:
        return Decision(dominant_refusal(evidence.refusals), Outcome.NEUTRAL)
    cover = evidence.cover
    mask = None if cover is None else cover.masked
    limit = identity_threshold(thresholds, cover)
    if limit is None:
        return Decision(Reason.MASK_NOT_ALLOWED, Outcome.FAILURE, mask=True)
    score = float(np.mean(evidence.scores))
    if score < limit:
        eyes = cover is not None and cover.eyes_covered
        reason = Reason.EYES_COVERED if eyes else Reason.NOT_MATCHED
        return Decision(reason, Outcome.FAILURE, mask=mask)
    if not evidence.same_face:
        return Decision(Reason.NOT_MATCHED, Outcome.FAILURE, mask=mask)
    if not evidence.live:
        return Decision(Reason.LIVENESS, Outcome.FAILURE, mask=mask)
    if evidence.attentive is False:
        return Decision(Reason.NO_ATTENTION, Outcome.NEUTRAL, mask=mask)
    if evidence.liveness is LivenessMode.OFF:
        return Decision(Reason.MATCH, Outcome.NEUTRAL, mask=mask)
    learns = (
        evidence.challenged
        and bool(evidence.anchors)
        and float(np.mean(evidence.anchors)) >= thresholds.adapt
        and cover is not None
        and not cover.masked
        and not cover.eyes_covered
    )
    best = int(np.argmax(evidence.anchors)) if learns else None
    return Decision(Reason.MATCH, Outcome.SUCCESS, best, mask)
