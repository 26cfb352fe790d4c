"""Enrol and unlock: the decisions, the lockout and the adaptive update.

Unlock collects up to ``max_frames`` usable frames within ``budget_seconds`` and
decides once, on the mean of their scores: averaging steadies a genuine user's
score across blinks and motion, while an impostor's mean is no likelier to cross
the threshold than a single frame's score, so the calibrated FMR still holds.
Only a real non-match counts toward the lockout; frames that could not be judged
(no face, blur, darkness) do not, since they say nothing about who is there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
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
from facegate.vault import Vault
from facegate.vision.pipeline import FacePipeline, Observation
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import Frame

# A match this far above the threshold may be added to the template (Face ID style).
ADAPT_MARGIN = 0.10


@dataclass(frozen=True)
class UnlockOptions:
    """level: which calibrated threshold; max_frames / budget_seconds bound one attempt."""

    level: SecurityLevel = SecurityLevel.STANDARD
    max_frames: int = 3
    budget_seconds: float = 3.0
    adaptive_update: bool = True


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

    def __init__(self, vault: Vault, pipeline: FacePipeline, calibration: Calibration) -> None:
        if calibration.embedding_model != EMBEDDING_MODEL:
            raise ConfigError(
                f"calibration is for {calibration.embedding_model}, the pipeline makes "
                f"{EMBEDDING_MODEL}; re-run the calibration command"
            )
        self.vault = vault
        self.pipeline = pipeline
        self.calibration = calibration

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
        self, user: str, frames: Iterable[Frame], options: UnlockOptions | None = None
    ) -> Verdict:
        """One unlock attempt. Raises NotEnrolled for an unknown user."""
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
        deadline = time.monotonic() + opts.budget_seconds
        for frame in frames:
            seen += 1
            obs = self.pipeline.observe(frame)
            if obs.usable:
                usable.append(obs)
            elif obs.reason is not None:
                refusals.append(obs.reason)
            if len(usable) >= opts.max_frames or time.monotonic() > deadline:
                break
        if not usable:
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
        scores = [template_score(template, o.embedding) for o in usable if o.embedding is not None]
        score = float(np.mean(scores))
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
