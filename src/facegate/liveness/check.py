"""One unlock attempt's liveness: passive PAD, the active challenge, and attention.

:class:`LivenessEngine` owns the PAD weights and the mesh models for a process and
loads each lazily, once. For every attempt it hands out a :class:`LivenessAttempt`,
which the unlock loop feeds with each frame and its detection, and which gives one
:class:`LivenessVerdict` at the end.

- OFF: no liveness check (attention may still be required).
- PASSIVE: the mean PAD score of the usable frames must reach the model's threshold.
- ACTIVE: PASSIVE, plus a random 2-3 step challenge judged over the video frames.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.config import Settings
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
from facegate.liveness.modes import LivenessMode
from facegate.liveness.pad import PadModel
from facegate.vision.detect import FaceDetector, Faces
from facegate.vision.mesh import FaceMesher, MeshOptions, RunningMode
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame


@dataclass(frozen=True)
class LivenessOptions:
    """mode: see LivenessMode; require_attention: open eyes towards the camera;
    challenges: a fixed sequence (tests, recorded evaluations) instead of a random one."""

    mode: LivenessMode = LivenessMode.PASSIVE
    require_attention: bool = True
    challenges: tuple[ChallengeKind, ...] | None = None
    challenge: ChallengeOptions = field(default_factory=ChallengeOptions)
    attention: AttentionOptions = field(default_factory=AttentionOptions)


@dataclass(frozen=True)
class LivenessVerdict:
    """live: PAD (and challenge) passed, or mode OFF; attentive: None when not required.

    pad_score: mean bona fide score of the usable frames (None when none was scored),
    accepted when >= pad_threshold. challenge: the active result (None unless ACTIVE).
    """

    live: bool
    attentive: bool | None
    pad_score: float | None
    pad_threshold: float | None
    challenge: ChallengeResult | None


class LivenessEngine:
    """The liveness models of one process, loaded on first use; close() frees them."""

    def __init__(
        self,
        settings: Settings,
        pad_path: Path | None = None,
        *,
        pipeline: FacePipeline | None = None,
    ) -> None:
        """``pipeline``: the process's vision models, whose detector and landmarker are
        shared here rather than loaded a second time."""
        self.settings = settings
        self._pad_path = pad_path
        self._pad: PadModel | None = None
        self._still_mesher: FaceMesher | None = None
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
            mesher = FaceMesher.create_from_options(MeshOptions(), self.settings)
            # Free MediaPipe's graph before interpreter teardown even if nobody calls
            # close() (its own finaliser fails once the runtime is half unloaded).
            weakref.finalize(self, mesher.close)
            self._still_mesher = mesher
        return self._still_mesher

    def attempt(
        self,
        options: LivenessOptions,
        on_challenge: Callable[[Challenge], None] | None = None,
    ) -> LivenessAttempt:
        """A fresh attempt; ``on_challenge`` is told each prompt as it is issued."""
        return LivenessAttempt(self, options, on_challenge)

    def close(self) -> None:
        if self._still_mesher is not None:
            self._still_mesher.close()
        self._still_mesher = None


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
        self._attentive: list[bool] = []
        self._judge: ChallengeJudge | None = None
        self._video: FaceMesher | None = None
        self._prompted: Challenge | None = None
        if options.mode is LivenessMode.ACTIVE:
            kinds: Sequence[ChallengeKind] = options.challenges or random_sequence()
            self._judge = ChallengeJudge(kinds, options.challenge)
            video = MeshOptions(running_mode=RunningMode.VIDEO)
            self._video = FaceMesher.create_from_options(
                video, engine.settings, detector=engine.detector
            )
            self._last_ms = -1

    @property
    def time_limit(self) -> float:
        """Seconds this attempt may need (0 without a challenge)."""
        return self._judge.time_limit if self._judge is not None else 0.0

    @property
    def settled(self) -> bool:
        """True when no more frames are needed beyond the match's own."""
        return self._judge is None or self._judge.done

    def add(self, frame: Frame, faces: Faces, usable: bool) -> None:
        """One frame with its detection; ``usable`` frames are scored for PAD and attention."""
        mesh = None
        if self._judge is not None and self._video is not None and not self._judge.done:
            ms = max(round(frame.t * 1000), self._last_ms + 1)
            self._last_ms = ms
            mesh = self._video.detect_for_video(frame.image, ms) if len(faces) else None
            crop = FaceCrop.of(frame.image, mesh) if mesh is not None else None
            self._judge.update(frame.t, mesh, crop)
            current = self._judge.current
            if current is not None and current is not self._prompted:
                self._prompted = current
                if self._on_challenge is not None:
                    self._on_challenge(current)
        if not usable or not len(faces):
            return
        if self.options.mode is not LivenessMode.OFF:
            self._scores.append(self.engine.pad.score(frame.image, faces.boxes[0]))
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
        live = mode is LivenessMode.OFF or (
            score is not None and threshold is not None and score >= threshold
        )
        if challenge is not None:
            live = live and challenge.passed
        attentive = any(self._attentive) if self.options.require_attention else None
        return LivenessVerdict(live, attentive, score, threshold, challenge)
