"""Enrol and unlock: evidence from frames, the one decision, the lockout, the update.

``Unlocker.verify`` is the only path by which anyone gets in. It:

1. reads the template (an unknown user is an error before anything is counted);
2. takes a lockout slot in the vault (``begin_attempt``): a locked user is refused
   before any frame is judged, and an attempt that cannot be recorded (a full disk)
   fails with an error, never a match;
3. collects evidence from up to ``max_frames`` usable frames within the budget,
   with liveness judged on the same frames (:mod:`facegate.liveness`);
   The occlusion map of each usable frame (:mod:`facegate.vision.occlusion`) says what
   covers the face: a mask sets the threshold, also for settling identity before
   liveness, and the verdict's ``mask``; covered eyes name a non-match;
4. decides with :func:`facegate.biometrics.decision.decide`;
5. settles the slot (``finish_attempt``): a match decided after the lock closed
   behind it is refused with ``locked_out``;
6. may refresh the template by compare-and-swap: an update that lost a race with a
   re-enrolment is dropped.

The verdict carries the decision and the reason, never a score: a score returned on
every attempt would let an attacker hill-climb the matcher or the PAD.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from facegate.biometrics.decision import (
    Decision,
    Evidence,
    Thresholds,
    decide,
    identity_threshold,
)
from facegate.biometrics.masked import MaskedCalibration, cover_of, load_masked_calibration
from facegate.biometrics.match import (
    Calibration,
    SecurityLevel,
    enrolled_score,
    template_score,
)
from facegate.biometrics.policy import ADAPT_MARGIN, UnlockOptions
from facegate.biometrics.template import (
    EMBEDDING_MODEL,
    Template,
    adapt,
    build_template,
    consistent_captures,
    extend,
)
from facegate.errors import (
    ChallengeIncomplete,
    ConfigError,
    EnrolmentError,
    FaceGateError,
    InputError,
    NotEnrolled,
    Reason,
)
from facegate.liveness.challenge import Challenge
from facegate.liveness.check import (
    LivenessAttempt,
    LivenessEngine,
    LivenessMode,
    LivenessOptions,
)
from facegate.vault import Vault
from facegate.vault.base import Attempt, Outcome
from facegate.vision.capture import CaptureClass
from facegate.vision.detect import Faces
from facegate.vision.mesh import FaceMesh
from facegate.vision.occlusion import OcclusionMap, RegionModels
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY
from facegate.vision.sources import Frame

log = logging.getLogger(__name__)

SAME_FACE_EVERY_S = 0.1
SAME_FACE_EVERY_FRAMES = 3
"""Identity checks of the frames a challenge reads: every 0.1 s of the frame clock or
every third frame, whichever comes first (a file can claim any frame rate): every third
frame of a 30 fps camera, every frame of a slower one. An action (a blink is 0.1-0.4 s)
cannot be answered by another face between two checks, and the run-up the challenge's
continuity rule asks for is longer still. Every such frame is also tied to the face
identity was checked on (``_one_face``)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one unlock attempt: the decision and its single reason.

    liveness: the mode the attempt ran under (``off`` only when a caller asked).
    failures / locked: the user's lockout state after the attempt.
    mask: the face wore a mask (True) or not (False) by the occlusion map; None when no
    frame was usable (or the attempt was refused at the door).
    """

    user: str
    matched: bool
    reason: Reason
    level: SecurityLevel
    liveness: LivenessMode
    frames_seen: int
    frames_used: int
    failures: int
    locked: bool
    mask: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "user": self.user,
            "matched": self.matched,
            "reason": self.reason.value,
            "level": self.level.value,
            "liveness": self.liveness.value,
            "frames_used": self.frames_used,
            "frames_seen": self.frames_seen,
            "failures": self.failures,
            "locked": self.locked,
            "mask": self.mask,
        }


@dataclass(frozen=True)
class Refusal:
    """One capture enrolment did not use: where it came from and why."""

    source: str
    index: int
    reason: Reason


@dataclass(frozen=True)
class EnrolmentReport:
    """What enrolment kept and refused; ``rejected`` counts refusals by reason and
    ``refusals`` names each refused capture, so a person knows which file to retake."""

    user: str
    seen: int
    kept: int
    rejected: dict[Reason, int] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class _Captures:
    seen: int
    embeddings: tuple[np.ndarray, ...] = field(repr=False)
    sources: tuple[tuple[str, int], ...]
    refusals: tuple[Refusal, ...]


def _detail(refusals: list[Refusal] | tuple[Refusal, ...]) -> str:
    counts = Counter(r.reason for r in refusals)
    return ", ".join(f"{r.value}: {n}" for r, n in counts.items()) or "no frames"


def _report(user: str, seen: int, kept: int, refusals: list[Refusal]) -> EnrolmentReport:
    rejected = dict(Counter(r.reason for r in refusals))
    return EnrolmentReport(user, seen, kept, rejected, tuple(refusals))


@dataclass(frozen=True)
class _Collected:
    evidence: Evidence
    embeddings: tuple[np.ndarray, ...] = field(repr=False)


class Unlocker:
    """Enrolment and verification against one vault, with the process's one pipeline."""

    def __init__(
        self,
        vault: Vault,
        pipeline: FacePipeline,
        calibration: Calibration,
        liveness: LivenessEngine | None = None,
        masked: MaskedCalibration | None = None,
    ) -> None:
        if calibration.embedding_model != EMBEDDING_MODEL:
            raise ConfigError(
                f"calibration is for {calibration.embedding_model}, the pipeline makes "
                f"{EMBEDDING_MODEL}; re-run the calibration command"
            )
        self.vault = vault
        self.pipeline = pipeline
        self.calibration = calibration
        self.liveness = liveness or LivenessEngine(pipeline.models, pipeline=pipeline)
        self.masked = masked or load_masked_calibration()
        self._occlusion: RegionModels | None = None

    @property
    def occlusion(self) -> RegionModels:
        """The occlusion models, loaded when an attempt first needs a map. The map is
        drawn on the observation's own aligned crop, the one the embedding came from."""
        if self._occlusion is None:
            self._occlusion = RegionModels.load()
        return self._occlusion

    def enroll(
        self, user: str, frames: Iterable[Frame], *, max_frames: int = 200, replace: bool = False
    ) -> EnrolmentReport:
        """Build and seal a template from the good captures among ``frames``."""
        captures = self._captures(frames, max_frames)
        keep = consistent_captures(
            list(captures.embeddings), self.calibration.consistency_threshold
        )
        refusals = list(captures.refusals)
        refusals += [
            Refusal(captures.sources[i][0], captures.sources[i][1], Reason.NOT_MATCHED)
            for i in range(len(captures.embeddings))
            if i not in keep
        ]
        template = build_template([captures.embeddings[i] for i in keep], time.time())
        payload = template.to_bytes()
        if not replace:
            self.vault.create_user(user, payload)
        else:
            try:
                self.vault.replace_template(user, payload)
            except NotEnrolled:
                self.vault.create_user(user, payload)  # --replace of someone new enrols them
        return _report(user, captures.seen, len(template), refusals)

    def add(self, user: str, frames: Iterable[Frame], *, max_frames: int = 200) -> EnrolmentReport:
        """Add captures to ``user``'s template (a new pair of glasses, another camera).

        A capture is added only if it matches the stored template at the enrolment
        consistency threshold, so another person's face cannot slip in; the template
        then keeps the most varied of old and new captures. Raises EnrolmentError if
        none qualifies or the template changed meanwhile.
        """
        stored = self.vault.read_template(user)
        template = Template.from_bytes(stored.payload)
        captures = self._captures(frames, max_frames)
        refusals = list(captures.refusals)
        fresh: list[np.ndarray] = []
        for (source, index), embedding in zip(captures.sources, captures.embeddings, strict=True):
            if template_score(template, embedding) >= self.calibration.consistency_threshold:
                fresh.append(embedding)
            else:
                refusals.append(Refusal(source, index, Reason.NOT_MATCHED))
        if not fresh:
            raise EnrolmentError(
                f"none of the {captures.seen} capture(s) could be added to {user}'s template "
                f"({_detail(refusals)})"
            )
        updated = extend(template, fresh, time.time())
        if not self.vault.update_template(user, updated.to_bytes(), stored.version):
            raise EnrolmentError(f"{user}'s template changed while adding; try again")
        return _report(user, captures.seen, len(fresh), refusals)

    def _captures(self, frames: Iterable[Frame], max_frames: int) -> _Captures:
        embeddings: list[np.ndarray] = []
        sources: list[tuple[str, int]] = []
        refusals: list[Refusal] = []
        seen = 0
        for frame in frames:
            seen += 1
            obs = self.pipeline.observe(frame, ENROL_QUALITY)
            if obs.embedding is not None:
                embeddings.append(obs.embedding)
                sources.append((frame.source, frame.index))
            elif obs.reason is not None:
                refusals.append(Refusal(frame.source, frame.index, obs.reason))
            if seen >= max_frames:
                break
        if not embeddings:
            raise EnrolmentError(f"no usable capture among {seen} frame(s) ({_detail(refusals)})")
        return _Captures(seen, tuple(embeddings), tuple(sources), tuple(refusals))

    def verify(
        self,
        user: str,
        frames: Iterable[Frame],
        options: UnlockOptions | None = None,
        on_challenge: Callable[[Challenge], None] | None = None,
    ) -> Verdict:
        """One unlock attempt (see the module docstring for the steps).

        Raises NotEnrolled for an unknown user and VaultError when the attempt cannot be
        recorded. ``on_challenge`` is told each liveness prompt as it is issued.
        """
        opts = options or UnlockOptions()
        stream = iter(frames)
        first = next(stream, None)
        if first is None:
            raise InputError("no frame to verify: the sources held no picture")
        mode = opts.liveness_for(first.kind)
        stored = self.vault.read_template(user)
        template = Template.from_bytes(stored.payload)
        if template.model != EMBEDDING_MODEL:
            raise EnrolmentError(
                f"{user}'s template was made by {template.model}, but this FaceGate embeds "
                f"with {EMBEDDING_MODEL}; re-enrol with `facegate enroll --replace {user} ...`"
            )
        attempt = self.vault.begin_attempt(user)
        if not attempt.admitted:
            record = attempt.record
            locked_out = Decision(Reason.LOCKED_OUT, Outcome.FAILURE)
            return _verdict(attempt, opts, mode, locked_out, None, record.failures, True)
        try:
            collected = self._collect(
                itertools.chain([first], stream), template, opts, mode, on_challenge
            )
        except FaceGateError:
            # Bad input before any usable face is no evidence about who is there: give
            # the slot back. Anything else (a crash) leaves it counted, failing closed.
            self._settle_quietly(attempt, Outcome.NEUTRAL)
            raise
        evidence = collected.evidence
        decision = decide(evidence, self._thresholds(opts.level, list(evidence.captures), template))
        if decision.outcome is Outcome.NEUTRAL:
            failures, locked = self._settle_quietly(attempt, Outcome.NEUTRAL)
            # A liveness-off match is neutral, so no success moves the lock: it still
            # may not be a match once failures made while it ran have closed it.
            if locked and decision.matched:
                decision = replace(decision, reason=Reason.LOCKED_OUT, adapt_frame=None)
            return _verdict(attempt, opts, mode, decision, evidence, failures, locked)
        record, accepted = self.vault.finish_attempt(attempt, decision.outcome)
        if decision.outcome is Outcome.SUCCESS and not accepted:
            decision = replace(decision, reason=Reason.LOCKED_OUT, adapt_frame=None)
        elif accepted and opts.adaptive_update:
            self._adapt(user, template, stored.version, decision, collected)
        return _verdict(attempt, opts, mode, decision, evidence, record.failures, record.locked)

    def _collect(
        self,
        frames: Iterator[Frame],
        template: Template,
        opts: UnlockOptions,
        mode: LivenessMode,
        on_challenge: Callable[[Challenge], None] | None,
    ) -> _Collected:
        """Score up to ``max_frames`` usable frames and judge liveness on the same ones.

        Identity is settled first: once the usable frames are in and their mean score
        misses the threshold, the attempt ends as a non-match (a counted failure) without
        waiting for a liveness challenge, which an impostor could otherwise let run out
        so that the attempt ends as unfinished input and never counts. The threshold is
        the one the decision will use for the frames' cover, so a masked face below the
        masked threshold (or any masked face where masks are refused) is never asked
        for a challenge either.
        """
        embeddings: list[np.ndarray] = []
        maps: list[OcclusionMap] = []
        scores: list[float] = []
        anchors: list[float] = []
        captures: list[CaptureClass] = []
        refusals: list[Reason] = []
        seen = 0
        others: list[np.ndarray] = []  # faces a challenge read that were not scored
        same_face = True
        last_checked, unchecked = -np.inf, 0
        check = self.liveness.attempt(
            LivenessOptions(mode, opts.require_attention, opts.challenges), on_challenge
        )
        follower = self.pipeline.follower()
        start = time.monotonic()
        try:
            for frame in frames:
                seen += 1
                # Frames past max_frames only feed liveness (a challenge's answer): they
                # are located and gated but not embedded, as their embedding was unused.
                obs = self.pipeline.observe(
                    frame, follower=follower, embed=len(embeddings) < opts.max_frames
                )
                unchecked += 1
                if (
                    check.challenging
                    and obs.embedding is None
                    and obs.crop is not None
                    and (
                        unchecked >= SAME_FACE_EVERY_FRAMES
                        or frame.t - last_checked >= SAME_FACE_EVERY_S - 1e-3  # jitter
                    )
                ):
                    # A frame the challenge reads but the match does not score: before
                    # the scored frames at `high` (too small, blurred) or after them.
                    last_checked, unchecked = frame.t, 0
                    others.append(self.pipeline.embed_crop(obs.crop))
                    if len(embeddings) >= opts.max_frames:
                        same_face = self._same_face(embeddings, others[-1:])  # ends early
                        if not same_face:
                            break
                wanted = obs.embedding is not None
                check.add(frame, obs.faces, wanted)
                read = check.read_face
                if read is not None and not (len(obs.faces) and _one_face(read, obs.faces)):
                    same_face = False  # the challenge read a face identity did not see
                    break
                if obs.embedding is not None:
                    embeddings.append(obs.embedding)
                    if obs.crop is not None:
                        maps.append(self.occlusion.map(obs.crop))
                    scores.append(template_score(template, obs.embedding))
                    anchors.append(enrolled_score(template, obs.embedding))
                    if obs.capture is not None:
                        captures.append(obs.capture)
                elif obs.reason is not None:
                    refusals.append(obs.reason)
                # The limit is read each frame: a fallback challenge started on weak PAD
                # evidence extends it by the challenge's own time.
                limit = max(opts.budget_seconds, check.time_limit)
                enough = len(embeddings) >= opts.max_frames or time.monotonic() - start > limit
                if enough and (
                    check.settled or not self._matches(scores, captures, maps, template, opts)
                ):
                    break
        except FaceGateError:
            # A source that fails part-way ends the stream, and what was seen still
            # counts: were the slot given back, appending a broken file to a replay
            # would make every wrong guess at the challenge free.
            if not embeddings:
                check.abandon()
                raise
            log.info("a source failed part-way; deciding on the %d frame(s) read", seen)
        # Also the faces read before the scored frames were in (`high`'s challenge).
        same_face = same_face and (not embeddings or self._same_face(embeddings, others))
        if (
            not embeddings
            or not same_face
            or not self._matches(scores, captures, maps, template, opts)
        ):
            check.abandon()  # no face, or not this person: liveness has nothing to add
            live, attentive, challenged = False, None, False
        else:
            live, attentive, challenged = _judge_liveness(check)
        cover = cover_of(maps, self.masked) if maps else None
        evidence = Evidence(
            seen,
            tuple(scores),
            tuple(refusals),
            mode,
            live,
            attentive,
            tuple(captures),
            tuple(anchors),
            challenged,
            cover,
            same_face,
        )
        return _Collected(evidence, tuple(embeddings))

    def _same_face(self, matched: list[np.ndarray], others: list[np.ndarray]) -> bool:
        """Whether every other frame a challenge read shows the face that matched, so a
        challenge cannot be answered by someone else before or after the owner's photo
        wins the match. Each was embedded whatever its quality (an attacker could blur
        or shrink their own face below the gates) and must resemble one of the matched
        frames as two captures of one person do at enrolment (``consistency_threshold``,
        FMR 1e-3 for a single pair). Compared with the attempt's own frames, not the
        template, so a masked or side-lit owner is held to the same bar as anyone.
        Frames no challenge reads (a camera's first, darker ones) are not checked."""
        limit = self.calibration.consistency_threshold
        stack = np.stack(matched)
        return all(float(np.max(stack @ other)) >= limit for other in others)

    def _threshold(
        self, level: SecurityLevel, captures: list[CaptureClass], template: Template
    ) -> float:
        """The fused score must clear the strictest threshold of the frames' capture
        classes (a dark frame is never judged at the even-light threshold), set for this
        template against the impostor cohort. Derived from the template: never logged."""
        return self.calibration.decision_threshold(level, captures, template)

    def _thresholds(
        self, level: SecurityLevel, captures: list[CaptureClass], template: Template
    ) -> Thresholds:
        """The attempt's thresholds: bare and masked at ``level``, and the stricter
        adaptation one (HIGH plus a margin), all for these capture classes. The bare
        ones are set for this template against the impostor cohort; a masked face keeps
        the rule its threshold was calibrated with (max of masked and per-class cosine)."""
        return Thresholds(
            bare=self._threshold(level, captures, template),
            masked=self.masked.threshold(level),
            adapt=self._threshold(SecurityLevel.HIGH, captures, template) + ADAPT_MARGIN,
            mask_floor=self.calibration.decision_threshold(level, captures),
        )

    def _matches(
        self,
        scores: list[float],
        captures: list[CaptureClass],
        maps: list[OcclusionMap],
        template: Template,
        opts: UnlockOptions,
    ) -> bool:
        """Whether the usable frames so far match, by the threshold the decision will
        use for their cover (:func:`facegate.biometrics.decision.identity_threshold`)."""
        if not scores or not maps:
            return False
        cover = cover_of(maps, self.masked)
        limit = identity_threshold(self._thresholds(opts.level, captures, template), cover)
        return limit is not None and float(np.mean(scores)) >= limit

    def _adapt(
        self,
        user: str,
        template: Template,
        version: int,
        decision: Decision,
        collected: _Collected,
    ) -> None:
        if decision.adapt_frame is None:
            return
        best = collected.embeddings[decision.adapt_frame]
        updated = adapt(template, best, time.time()).to_bytes()
        if not self.vault.update_template(user, updated, version):
            log.info("template of %s changed during the attempt; adaptive update dropped", user)

    def _settle_quietly(self, attempt: Attempt, outcome: Outcome) -> tuple[int, bool]:
        """Settle a slot whose outcome cannot be a match; if the vault cannot take the
        write, the slot simply stays counted as a failure (failing closed)."""
        try:
            record, _ = self.vault.finish_attempt(attempt, outcome)
        except FaceGateError as err:
            log.warning("could not give back an attempt's lockout slot: %s", err)
            return attempt.record.failures, attempt.record.locked
        return record.failures, record.locked


def _one_face(read: FaceMesh, faces: Faces) -> bool:
    """Whether the challenge's face (MediaPipe's pick) is the face identity follows
    (YuNet's first): each one's centre lies inside the other's box. Two faces side by
    side fail it, as the owner's print beside an attacker who answers does."""
    width, height = read.image_size
    points = np.asarray(read.landmarks[:, :2], np.float64) * (width, height)
    (mx0, my0), (mx1, my1) = points.min(axis=0), points.max(axis=0)
    x, y, w, h = (float(v) for v in faces.boxes[0])
    mesh_centre, box_centre = points.mean(axis=0), (x + w / 2, y + h / 2)
    return bool(
        x <= mesh_centre[0] <= x + w
        and y <= mesh_centre[1] <= y + h
        and mx0 <= box_centre[0] <= mx1
        and my0 <= box_centre[1] <= my1
    )


def _judge_liveness(check: LivenessAttempt) -> tuple[bool, bool | None, bool]:
    """Liveness of a face that matched: (live, attentive, a challenge was answered).

    A challenge whose frames ran out unanswered is a failed liveness check, counted like
    any other: were it given back, a replay of the owner cut short of the prompt could
    be tried without limit."""
    try:
        verdict = check.verdict()
    except ChallengeIncomplete:
        return False, None, False
    answered = verdict.challenge is not None and verdict.challenge.passed
    return verdict.live, verdict.attentive, answered


def _verdict(
    attempt: Attempt,
    opts: UnlockOptions,
    mode: LivenessMode,
    decision: Decision,
    evidence: Evidence | None,
    failures: int,
    locked: bool,
) -> Verdict:
    """The one place a Verdict is built (``evidence`` is None when refused at the door).

    It is logged (``-v``) with what the verdict already shows, never a score."""
    verdict = Verdict(
        user=attempt.user,
        matched=decision.matched,
        reason=decision.reason,
        level=opts.level,
        liveness=mode,
        frames_seen=evidence.frames_seen if evidence else 0,
        frames_used=len(evidence.scores) if evidence else 0,
        failures=failures,
        locked=locked,
        mask=decision.mask,
    )
    log.info(
        "verify %s: %s (reason=%s, level=%s, liveness=%s, frames %d/%d, failures %d%s)",
        verdict.user,
        "match" if verdict.matched else "no match",
        verdict.reason.value,
        verdict.level.value,
        verdict.liveness.value,
        verdict.frames_used,
        verdict.frames_seen,
        verdict.failures,
        ", locked" if verdict.locked else "",
    )
    return verdict
