"""Enrol and unlock: the decisions, the lockout and the adaptive update.

Unlock collects up to ``max_frames`` usable frames within ``budget_seconds`` and
decides once, on the mean of their scores: averaging steadies a genuine user's
score across blinks and motion, while an impostor's mean is no likelier to cross
the threshold than a single frame's score, so the calibrated FMR still holds.
Only a real non-match counts toward the lockout; frames that could not be judged
(no face, blur, darkness) do not, since they say nothing about who is there.

Liveness (``facegate.liveness``) is judged on the same frames: a matching face that
fails it is refused with ``Reason.LIVENESS`` and counts toward the lockout, as an
attack should; closed eyes or a look away give ``Reason.NO_ATTENTION``, which does not.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from facegate.biometrics.match import Calibration, SecurityLevel, template_score
from facegate.biometrics.template import (
    EMBEDDING_MODEL,
    Template,
    adapt,
    build_template,
    consistent_captures,
)
from facegate.errors import ConfigError, EnrolmentError, Reason
from facegate.liveness.challenge import Challenge, ChallengeKind
from facegate.liveness.check import (
    LivenessEngine,
    LivenessMode,
    LivenessOptions,
    LivenessVerdict,
)
from facegate.vault import Vault
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import Frame

# A match this far above the threshold may be added to the template (Face ID style).
ADAPT_MARGIN = 0.10


@dataclass(frozen=True)
class UnlockOptions:
    """level: which calibrated threshold; max_frames / budget_seconds bound one attempt.

    liveness: OFF here by default, so library callers opt in; the ``facegate verify``
    command applies :func:`default_liveness` for the level. require_attention: open
    eyes looking towards the camera (off for accessibility). challenges: a fixed
    ACTIVE sequence for recorded tests; None draws a random one per attempt.
    """

    level: SecurityLevel = SecurityLevel.STANDARD
    max_frames: int = 3
    budget_seconds: float = 3.0
    adaptive_update: bool = True
    liveness: LivenessMode = LivenessMode.OFF
    require_attention: bool = True
    challenges: tuple[ChallengeKind, ...] | None = None


def default_liveness(level: SecurityLevel, moving: bool) -> LivenessMode:
    """The level's liveness: STANDARD -> PASSIVE; HIGH -> ACTIVE when frames come from a
    camera or video (``moving``), else PASSIVE, since a still cannot answer a challenge."""
    if level is SecurityLevel.HIGH and moving:
        return LivenessMode.ACTIVE
    return LivenessMode.PASSIVE


@dataclass(frozen=True)
class Verdict:
    """The outcome of one unlock attempt; ``reason`` is the single reason given.

    ``score`` is the fused similarity (None when no frame could be judged) and
    ``threshold`` the level's calibrated threshold: a match needs score >= threshold.
    """

    user: str
    matched: bool
    reason: Reason
    level: SecurityLevel
    threshold: float
    score: float | None
    frames_seen: int
    frames_used: int
    failures: int
    locked: bool
    liveness: LivenessVerdict | None = None


@dataclass(frozen=True)
class EnrolmentReport:
    """What enrolment kept and refused; ``rejected`` counts refusals by reason."""

    user: str
    seen: int
    kept: int
    rejected: dict[Reason, int] = field(default_factory=dict)


def _dominant(reasons: list[Reason]) -> Reason:
    return Counter(reasons).most_common(1)[0][0] if reasons else Reason.NO_FACE


class Unlocker:
    """Enrolment and verification against one vault, with one shared pipeline."""

    def __init__(
        self,
        vault: Vault,
        pipeline: FacePipeline,
        calibration: Calibration,
        liveness: LivenessEngine | None = None,
    ) -> None:
        if calibration.embedding_model != EMBEDDING_MODEL:
            raise ConfigError(
                f"calibration is for {calibration.embedding_model}, the pipeline makes "
                f"{EMBEDDING_MODEL}; re-run the calibration command"
            )
        self.vault = vault
        self.pipeline = pipeline
        self.calibration = calibration
        self.liveness = liveness or LivenessEngine(pipeline.settings)

    def enroll(
        self, user: str, frames: Iterable[Frame], *, max_frames: int = 200, replace: bool = False
    ) -> EnrolmentReport:
        """Build and seal a template from the good captures among ``frames``."""
        embeddings: list[np.ndarray] = []
        rejected: Counter[Reason] = Counter()
        seen = 0
        for frame in frames:
            seen += 1
            obs = self.pipeline.observe(frame, ENROL_QUALITY)
            if obs.embedding is not None:
                embeddings.append(obs.embedding)
            elif obs.reason is not None:
                rejected[obs.reason] += 1
            if seen >= max_frames:
                break
        if not embeddings:
            detail = ", ".join(f"{r.value}: {n}" for r, n in rejected.items()) or "no frames"
            raise EnrolmentError(f"no usable capture among {seen} frame(s) ({detail})")
        keep = consistent_captures(embeddings, self.calibration.consistency_threshold)
        if len(keep) < len(embeddings):
            rejected[Reason.NOT_MATCHED] += len(embeddings) - len(keep)
        template = build_template([embeddings[i] for i in keep], time.time())
        if replace:
            self.vault.replace_template(user, template.to_bytes())
        else:
            self.vault.create_user(user, template.to_bytes())
        return EnrolmentReport(user=user, seen=seen, kept=len(template), rejected=dict(rejected))

    def verify(
        self,
        user: str,
        frames: Iterable[Frame],
        options: UnlockOptions | None = None,
        on_challenge: Callable[[Challenge], None] | None = None,
    ) -> Verdict:
        """One unlock attempt. Raises NotEnrolled for an unknown user, and
        ChallengeIncomplete when an ACTIVE challenge's frames ran out undecided.
        ``on_challenge`` is told each liveness prompt as it is issued."""
        opts = options or UnlockOptions()
        threshold = self.calibration.threshold(opts.level)
        record = self.vault.user(user)
        if record.locked:
            return Verdict(
                user,
                False,
                Reason.LOCKED_OUT,
                opts.level,
                threshold,
                None,
                0,
                0,
                record.failures,
                True,
            )
        template = Template.from_bytes(self.vault.get_template(user))
        if template.model != EMBEDDING_MODEL:
            raise EnrolmentError(
                f"{user}'s template was made by {template.model}, but this FaceGate embeds "
                f"with {EMBEDDING_MODEL}; re-enrol with `facegate enroll --replace {user} ...`"
            )
        usable: list[Observation] = []
        refusals: list[Reason] = []
        seen = 0
        check = self.liveness.attempt(
            LivenessOptions(opts.liveness, opts.require_attention, opts.challenges), on_challenge
        )
        deadline = time.monotonic() + max(opts.budget_seconds, check.time_limit)
        for frame in frames:
            seen += 1
            obs = self.pipeline.observe(frame)
            wanted = obs.usable and len(usable) < opts.max_frames
            check.add(frame, obs.faces, wanted)
            if wanted:
                usable.append(obs)
            elif obs.reason is not None and not obs.usable:
                refusals.append(obs.reason)
            if (len(usable) >= opts.max_frames or time.monotonic() > deadline) and check.settled:
                break
        if not usable:
            check.abandon()
            return Verdict(
                user,
                False,
                _dominant(refusals),
                opts.level,
                threshold,
                None,
                seen,
                0,
                record.failures,
                record.locked,
            )
        live = check.verdict()
        scores = [template_score(template, o.embedding) for o in usable if o.embedding is not None]
        score = float(np.mean(scores))
        if score >= threshold and not live.live:
            record = self.vault.record_failure(user)
            return Verdict(
                user, False, Reason.LIVENESS, opts.level, threshold, score, seen,
                len(usable), record.failures, record.locked, live,
            )  # fmt: skip
        if score >= threshold and live.attentive is False:
            return Verdict(
                user, False, Reason.NO_ATTENTION, opts.level, threshold, score, seen,
                len(usable), record.failures, record.locked, live,
            )  # fmt: skip
        if score >= threshold:
            record = self.vault.record_success(user)
            if opts.adaptive_update and score >= threshold + ADAPT_MARGIN:
                best = usable[int(np.argmax(scores))].embedding
                if best is not None:
                    self.vault.replace_template(user, adapt(template, best, time.time()).to_bytes())
            return Verdict(
                user,
                True,
                Reason.MATCH,
                opts.level,
                threshold,
                score,
                seen,
                len(usable),
                record.failures,
                record.locked,
                live,
            )
        record = self.vault.record_failure(user)
        return Verdict(
            user,
            False,
            Reason.NOT_MATCHED,
            opts.level,
            threshold,
            score,
            seen,
            len(usable),
            record.failures,
            record.locked,
        )
