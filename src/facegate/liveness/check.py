"""One unlock attempt's liveness: passive PAD, the active challenge, and attention.

:class:`LivenessEngine` owns the PAD weights and the mesh models for a process and
loads each lazily, once. For every attempt it hands out a :class:`LivenessAttempt`,
which the unlock loop feeds with each frame and its detection, and which gives one
:class:`LivenessVerdict` at the end.

- OFF: no liveness check (attention may still be required).
- PASSIVE: the mean PAD score of the usable frames decides (:class:`PadDecision`).
  On a still, every decision fails (a LIVE one passes only with
  ``accept_on_pad_alone``: sharpened prints reach it). On a camera or a video
  (``LivenessOptions.challenge_when_uncertain``), ATTACK fails and anything else
  asks for a blink and a smile, in random order, and passes if they are answered.
  Held out by camera, the PAD cannot tell an unfamiliar webcam from a screen (and a
  held-out replay clip scored LIVE), so there it can only refuse; a prompt that a
  replay cannot answer in time admits, instead of the owner being locked out.
- ACTIVE: a random 2-3 step challenge judged over the video frames, which must pass,
  and a PAD that does not say ATTACK.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.liveness.attention import AttentionOptions, judge_attention
from facegate.liveness.challenge import (
    Challenge,
    ChallengeJudge,
    ChallengeKind,
    ChallengeOptions,
    ChallengeResult,
    random_sequence,
)
from facegate.liveness.eyelids import FaceCrop
from facegate.liveness.features import colourless
from facegate.liveness.modes import LivenessMode
from facegate.liveness.pad import PadDecision, PadModel
from facegate.models import ModelFiles
from facegate.vision.detect import FaceDetector, Faces
from facegate.vision.mesh import FaceMesh, FaceMesher, MeshOptions, RunningMode
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame

# The prompts asked when a PASSIVE attempt's PAD evidence is weak: the two actions
# with the best genuine pass rates (docs/liveness.md), both, in random order, so that
# a replay must show a smile as well as one of the blinks people make every few seconds.
FALLBACK_POOL: tuple[ChallengeKind, ...] = (ChallengeKind.BLINK, ChallengeKind.SMILE)


@dataclass(frozen=True)
class LivenessOptions:
    """mode: see LivenessMode; require_attention: open eyes towards the camera;
    challenges: a fixed sequence (tests, recorded evaluations) instead of a random one,
    also used by the fallback; challenge_when_uncertain: whether an UNCERTAIN PAD in
    PASSIVE mode asks for a challenge instead of failing; None (the default) decides
    from the frames: yes when they come from a camera or a video, which can answer;
    pad_frames: usable frames scored before the PAD decides whether to ask;
    accept_on_pad_alone: whether a LIVE PAD passes on its own. Off by default: held
    out by person, a replayed clip scored LIVE (docs/liveness.md, whole clips), and a
    printed photo sharpened with an unsharp mask scores LIVE (an outside attack: 9 of
    49 NUAA prints), so the PAD can only refuse; on a camera or video only the
    challenge admits, and a still, which cannot answer, is refused."""

    mode: LivenessMode = LivenessMode.PASSIVE
    require_attention: bool = True
    challenges: tuple[ChallengeKind, ...] | None = None
    challenge: ChallengeOptions = field(default_factory=ChallengeOptions)
    attention: AttentionOptions = field(default_factory=AttentionOptions)
    challenge_when_uncertain: bool | None = None
    pad_frames: int = 3
    accept_on_pad_alone: bool = False


@dataclass(frozen=True)
class LivenessVerdict:
    """live: passed (see the module docstring), or mode OFF; attentive: None when not
    required.

    pad_score: mean bona fide score of the usable frames (None when none was scored),
    LIVE when >= pad_threshold; pad_decision: its three-way decision. challenge: the
    challenge's result (None when none was asked); fallback: True when it was asked
    because the PAD was UNCERTAIN.
    """

    live: bool
    attentive: bool | None
    pad_score: float | None
    pad_threshold: float | None
    challenge: ChallengeResult | None
    pad_decision: PadDecision | None = None
    fallback: bool = False


class LivenessEngine:
    """The liveness models of one process, loaded on first use; close() frees them."""

    def __init__(
        self,
        models: ModelFiles,
        pad_path: Path | None = None,
        *,
        pipeline: FacePipeline | None = None,
    ) -> None:
        """``pipeline``: the process's vision models, whose detector and landmarker are
        shared here rather than loaded a second time."""
        self.models = models
        self._pad_path = pad_path
        self._pad: PadModel | None = None
        self._still_mesher: FaceMesher | None = None
        self._spare_video: FaceMesher | None = None
        self._pipeline = pipeline

    @property
    def pad(self) -> PadModel:
        if self._pad is None:
            self._pad = PadModel.load(self._pad_path)
        return self._pad

    @property
    def detector(self) -> FaceDetector | None:
        """The shared YuNet, if a pipeline was given (video meshers borrow it)."""
        return self._pipeline.detector if self._pipeline is not None else None

    @property
    def still_mesher(self) -> FaceMesher:
        if self._pipeline is not None:
            return self._pipeline.mesher
        if self._still_mesher is None:
            mesher = FaceMesher.create_from_options(MeshOptions(), self.models)
            # Free MediaPipe's graph before interpreter teardown even if nobody calls
            # close() (its own finaliser fails once the runtime is half unloaded).
            weakref.finalize(self, mesher.close)
            self._still_mesher = mesher
        return self._still_mesher

    def take_video_mesher(self) -> FaceMesher:
        """A VIDEO-mode landmarker for one challenge, which the caller closes: the spare
        :meth:`prepare_video_mesher` built ahead of time, else one built now (70 ms on an
        idle 2-core machine, up to 0.37 s under load, between a challenge starting and
        its first frame being judged)."""
        spare, self._spare_video = self._spare_video, None
        if spare is not None:
            return spare
        return FaceMesher.create_from_options(
            MeshOptions(running_mode=RunningMode.VIDEO), self.models, detector=self.detector
        )

    def prepare_video_mesher(self) -> None:
        """Build the next challenge's landmarker now, off the login path (the login
        service calls this after warming up and after each attempt). It is never fed a
        frame before its challenge, so MediaPipe's tracking state starts empty exactly
        as in one built when the challenge starts: no verdict can differ."""
        if self._spare_video is None:
            self._spare_video = self.take_video_mesher()

    def attempt(
        self,
        options: LivenessOptions,
        on_challenge: Callable[[Challenge], None] | None = None,
    ) -> LivenessAttempt:
        """A fresh attempt; ``on_challenge`` is told each prompt as it is issued."""
        return LivenessAttempt(self, options, on_challenge)

    def close(self) -> None:
        for mesher in (self._still_mesher, self._spare_video):
            if mesher is not None:
                mesher.close()
        self._still_mesher = self._spare_video = None


class LivenessAttempt:
    """Collects the evidence of one attempt; feed every frame with :meth:`add`."""

    def __init__(
        self,
        engine: LivenessEngine,
        options: LivenessOptions,
        on_challenge: Callable[[Challenge], None] | None,
    ) -> None:
        self.engine = engine
        self.options = options
        self._on_challenge = on_challenge
        self._scores: list[float] = []
        self._colourless = False
        self._attentive: list[bool] = []
        self._judge: ChallengeJudge | None = None
        self._video: FaceMesher | None = None
        self._prompted: Challenge | None = None
        self._fallback = False
        self._moving = False
        self._last_ms = -1
        self._read: FaceMesh | None = None
        if options.mode is LivenessMode.ACTIVE:
            self._start_challenge(options.challenges or random_sequence())

    def _start_challenge(self, kinds: Sequence[ChallengeKind]) -> None:
        self._judge = ChallengeJudge(kinds, self.options.challenge)
        self._video = self.engine.take_video_mesher()

    def _decision(self) -> PadDecision | None:
        if self.options.mode is LivenessMode.OFF or not self._scores:
            return None
        return self.engine.pad.decide(float(np.mean(self._scores)), self._colourless)

    def _fall_back_if_uncertain(self) -> None:
        """In PASSIVE mode on a source that can answer, turn a PAD that does not say
        ATTACK into a challenge (once; the PAD frames already scored stay in the
        decision). A LIVE PAD is trusted alone only with ``accept_on_pad_alone``."""
        allowed = self.options.challenge_when_uncertain
        decision = self._decision()
        unsure = decision is PadDecision.UNCERTAIN or (
            decision is PadDecision.LIVE and not self.options.accept_on_pad_alone
        )
        if (
            self.options.mode is LivenessMode.PASSIVE
            and (self._moving if allowed is None else allowed)
            and self._judge is None
            and unsure
        ):
            self._fallback = True
            kinds = self.options.challenges or random_sequence(2, FALLBACK_POOL)
            self._start_challenge(kinds)

    @property
    def read_face(self) -> FaceMesh | None:
        """The face the challenge read on the last frame :meth:`add` was given (None when
        no challenge ran on it). The landmarker picks its own face, so the caller must
        check it is the one identity was checked on (outside attack R1: the owner's
        print beside the attacker, who answered)."""
        return self._read

    @property
    def challenging(self) -> bool:
        """Whether the next frame goes to a running challenge (whose answer must come
        from the face that matched)."""
        return self._judge is not None and not self._judge.done

    @property
    def time_limit(self) -> float:
        """Seconds this attempt may need (0 without a challenge); it grows when an
        UNCERTAIN PAD starts the fallback challenge."""
        return self._judge.time_limit if self._judge is not None else 0.0

    @property
    def settled(self) -> bool:
        """True when no more frames are needed beyond the match's own.

        Asked once the match has its frames: an UNCERTAIN PAD may start the fallback
        challenge here, and then the attempt needs frames until it is judged.
        """
        self._fall_back_if_uncertain()
        return self._judge is None or self._judge.done

    def add(self, frame: Frame, faces: Faces, usable: bool) -> None:
        """One frame with its detection; ``usable`` frames are scored for PAD and attention."""
        mesh = None
        self._read = None
        self._moving |= frame.kind.moving  # a camera or video can answer a prompt
        if self._judge is not None and self._video is not None and not self._judge.done:
            ms = max(round(frame.t * 1000), self._last_ms + 1)
            self._last_ms = ms
            mesh = self._video.detect_for_video(frame.image, ms) if len(faces) else None
            self._read = mesh
            crop = FaceCrop.of(frame.image, mesh) if mesh is not None else None
            self._judge.update(frame.t, mesh, crop)
            current = self._judge.current
            if current is not None and current is not self._prompted:
                self._prompted = current
                if self._on_challenge is not None:
                    self._on_challenge(current)
        if not usable or not len(faces):
            return
        if self.options.mode is not LivenessMode.OFF and not self._fallback:
            box = faces.boxes[0]
            self._scores.append(self.engine.pad.score(frame.image, box))
            self._colourless |= colourless(frame.image, box, self.engine.pad.spec)
            if len(self._scores) >= self.options.pad_frames:
                self._fall_back_if_uncertain()
        if self.options.require_attention:
            if mesh is None:
                mesh = self.engine.still_mesher.detect(frame.image)
            self._attentive.append(judge_attention(mesh, self.options.attention).attentive)

    def abandon(self) -> None:
        """End the attempt without a verdict (no usable frame), freeing the video mesher."""
        if self._video is not None:
            self._video.close()
            self._video = None

    def verdict(self) -> LivenessVerdict:
        """The attempt's verdict; raises ChallengeIncomplete if the frames ran out first."""
        try:
            challenge = self._judge.finish() if self._judge is not None else None
        finally:
            self.abandon()
        mode = self.options.mode
        score = float(np.mean(self._scores)) if self._scores else None
        threshold = self.engine.pad.threshold if mode is not LivenessMode.OFF else None
        decision = self._decision()
        if mode is LivenessMode.OFF:
            live = True
        elif challenge is None:
            live = decision is PadDecision.LIVE and self.options.accept_on_pad_alone
        else:
            live = decision is not PadDecision.ATTACK and challenge.passed
        attentive = any(self._attentive) if self.options.require_attention else None
        return LivenessVerdict(
            live, attentive, score, threshold, challenge, decision, self._fallback
        )
