"""Active liveness: a random sequence of facial actions, each with a nonce and a deadline.

Why it stops what it stops:

- A **static photo** never moves, so no action ever starts: the first deadline passes.
- A **moved or tilted photo** can fool the blend-shape model (tilting a print squashes
  the eyes into a "blink"), so every action must also show in landmark geometry that
  a tilt cannot fake (:class:`Geometry`: ratios along one axis), while the face's
  rigid points keep their shape (:func:`distortion`) and the head stays still; a
  turn must move the nose across the face as a 3-D head does. A faint blink the
  landmarks barely see counts only when the eyes' appearance changed while the rest
  of the face did not (:mod:`facegate.liveness.eyelids`); a print's eyes only warp
  with it.
- A **slideshow** of the owner's photos (neutral, eyes shut, smiling) shows real
  expressions, but arrives at each by a cut: the whole face jumps in one frame (or a
  crossfade's few) between frames held still. Each action's run-up must show the
  face moving on its own (:mod:`facegate.liveness.continuity`).
- A **replayed clip** was recorded before the sequence was drawn. Each action must
  start *after* its prompt, from rest, before its deadline, and no other prompted
  kind of action may come first, so a clip whose actions come in another order fails.

Signals come from :mod:`facegate.vision.mesh` (ARKit blend shapes in [0, 1] and head
yaw in degrees, > 0 turning to the subject's own left). Each action is judged against
the person's own rest pose (the median of the first frames), so a resting smile or
a slightly turned head does not count. Blinks are found by the calibrated
:class:`facegate.vision.blink.BlinkDetector` (adaptive open-eye baseline, eye aspect
fused with the blend shapes, hysteresis), fed every frame from the first; a blink
counts once the detector reports it, so it must be over by the deadline (the detector
decides half its peak window after the peak, or at :meth:`ChallengeJudge.finish`).
Times are seconds on the frames' own clock (``Frame.t``), so a recorded video and a
live camera are judged alike.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from facegate.errors import ChallengeIncomplete
from facegate.liveness.continuity import ContinuityOptions, Pose, continuous
from facegate.liveness.eyelids import EyeChange, FaceCrop, eye_change
from facegate.vision import landmarks as lm
from facegate.vision.blendshapes import BlendShape
from facegate.vision.blink import Blink, BlinkDetector, BlinkOptions, EyeState
from facegate.vision.mesh import FaceMesh


class ChallengeKind(StrEnum):
    """The actions a person can be asked for; values are the stable prompt keys."""

    BLINK = "blink"
    SMILE = "smile"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    RAISE_BROWS = "raise_brows"
    OPEN_MOUTH = "open_mouth"

    @property
    def prompt(self) -> str:
        return {
            ChallengeKind.BLINK: "Blink",
            ChallengeKind.SMILE: "Smile",
            ChallengeKind.TURN_LEFT: "Turn your head to your left",
            ChallengeKind.TURN_RIGHT: "Turn your head to your right",
            ChallengeKind.RAISE_BROWS: "Raise your eyebrows",
            ChallengeKind.OPEN_MOUTH: "Open your mouth",
        }[self]


class ChallengeFailure(StrEnum):
    """Why a sequence failed."""

    DEADLINE = "deadline"  # the action did not come in time (static photo, no response)
    WRONG_ACTION = "wrong_action"  # another prompted kind of action came first
    PLANAR = "planar"  # the face moved like a flat picture, not like a face
    CUT = "cut"  # the action came by a cut between stills, not a face moving
    NO_FACE = "no_face"  # no face in any frame


# Actions that happen on their own or together with others, so they never count as
# the wrong action: people blink every few seconds, a broad smile opens the mouth,
# and surprise raises the brows with the mouth.
_EXEMPT: frozenset[frozenset[ChallengeKind]] = frozenset(
    {
        frozenset({ChallengeKind.SMILE, ChallengeKind.OPEN_MOUTH}),
        frozenset({ChallengeKind.RAISE_BROWS, ChallengeKind.OPEN_MOUTH}),
        frozenset({ChallengeKind.RAISE_BROWS, ChallengeKind.SMILE}),
    }
)


@dataclass(frozen=True)
class ActionRule:
    """When a signal counts as the action (every kind but blink, which the blink
    detector finds): it must reach ``trigger`` *and* exceed the
    rest pose by ``rise``; it is at rest again below ``rest + rise / 2``. For turns the
    units are degrees of yaw, else blend-shape activations in [0, 1]; raising either
    value is stricter."""

    trigger: float
    rise: float


@dataclass(frozen=True)
class ChallengeOptions:
    """Limits of the active challenge. Ratios are against the rest pose (unitless);
    moving one away from 1 (or 0) is stricter. The measurements behind each default
    are in docs/liveness.md ("Where the challenge limits come from")."""

    timeout: float = 5.0
    """Seconds allowed for each action after its prompt."""
    baseline_frames: int = 3
    """Frames with a face that set the rest pose before the first prompt counts."""
    blink_max_seconds: float = 0.5
    """A blink must reopen within this (people blink in 0.1-0.4 s; a tilted print
    "closes its eyes" for as long as it is held tilted)."""
    eye_gap_ratio: float = 0.7
    """A blink's lid gap is at most this share of rest (lower is stricter)."""
    faint_eye_gap_ratio: float = 0.92
    """A fainter blink may reach this share of rest if the eyes changed by at least
    ``min_eye_change`` (lower is stricter)."""
    min_eye_change: float = 0.15
    """Eye-crop change (1 - NCC) a faint blink needs (higher is stricter)."""
    min_blink_eye_change: float = 0.03
    """Eye-crop change every blink needs: the gap alone is passed by moved prints."""
    max_face_change: float = 0.05
    """Change of the rest of the face allowed during a blink (lower is stricter)."""
    mouth_width_ratio: float = 1.12
    """Smile: mouth width against rest (Yale happy 1.21-1.33)."""
    lip_gap_rise: float = 0.25
    """Open mouth: rise of the lip gap (Yale surprised +0.36-0.87)."""
    brow_ratio: float = 1.25
    """Raise brows: brow height against rest (Yale surprised 1.19-1.60)."""
    max_distortion: float = 0.12
    """Rigid points may move this share of the inter-ocular distance (tilted prints
    0.10-0.16 median, live expressions up to 0.17)."""
    max_pose_change: float = 12.0
    """Degrees of yaw and pitch allowed during an expression."""
    turn_offset_per_degree: float = 0.0042
    """Least nose shift per degree of yaw in a turn (live faces: 0.0084; half is asked)."""
    continuity: ContinuityOptions | None = field(default_factory=ContinuityOptions)
    """How each action's run-up must show a face moving, not a cut between stills
    (:mod:`facegate.liveness.continuity`). None skips it: only to evaluate the
    expression rules on pairs of stills, which no camera gives."""
    rules: dict[ChallengeKind, ActionRule] = field(
        default_factory=lambda: {
            ChallengeKind.SMILE: ActionRule(trigger=0.5, rise=0.25),
            ChallengeKind.OPEN_MOUTH: ActionRule(trigger=0.2, rise=0.15),
            ChallengeKind.RAISE_BROWS: ActionRule(trigger=0.35, rise=0.25),
            ChallengeKind.TURN_LEFT: ActionRule(trigger=15.0, rise=15.0),
            ChallengeKind.TURN_RIGHT: ActionRule(trigger=15.0, rise=15.0),
        }
    )


@dataclass(frozen=True)
class Challenge:
    """One prompt: ``nonce`` is random and single-use; ``issued_at`` and ``deadline``
    are seconds on the frame clock."""

    kind: ChallengeKind
    nonce: str
    issued_at: float
    deadline: float


@dataclass(frozen=True)
class ChallengeResult:
    """The outcome: ``answered`` lists the challenges met, in order; ``failure`` is
    None when every one was met, else why the ``failed_on`` challenge failed."""

    kinds: tuple[ChallengeKind, ...]
    answered: tuple[Challenge, ...]
    failure: ChallengeFailure | None
    failed_on: ChallengeKind | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and len(self.answered) == len(self.kinds)


DEFAULT_POOL: tuple[ChallengeKind, ...] = (
    ChallengeKind.BLINK,
    ChallengeKind.SMILE,
    ChallengeKind.OPEN_MOUTH,
)
"""Kinds drawn by default. Turns are left out: a print turned about its vertical axis
moves MediaPipe's yaw and nose landmarks much as a head does (in simulation a tilted
print passed a turn-right-then-turn-left sequence), so a turn alone proves little.
Raised brows are left out too: no labelled data shows deliberate raises (on Yale's
"surprised" faces, where many subjects barely raise them, 3 of 15 pass), and with them
in the pool moved prints met them twice in 100 trials at seed 1, more than any other
action (without them: a smile once in 100 at each seed). Both stay available for an
explicit sequence, behind the passive PAD."""


def random_sequence(
    length: int | None = None, pool: Sequence[ChallengeKind] = DEFAULT_POOL
) -> tuple[ChallengeKind, ...]:
    """2 or 3 distinct kinds from ``pool``, drawn with the OS's secure random source."""
    rng = secrets.SystemRandom()
    n = length if length is not None else rng.choice((2, 3))
    if not 1 <= n <= len(pool):
        raise ValueError(f"a sequence holds 1 to {len(pool)} challenges, got {n}")
    return tuple(rng.sample(list(pool), n))


def signal(mesh: FaceMesh, kind: ChallengeKind) -> float:
    """The value judged for ``kind``: mean of the left/right blend shapes, or yaw in
    degrees signed so that the asked-for turn is positive."""
    b = mesh.blendshapes

    def mean(*shapes: BlendShape) -> float:
        return float(np.mean([b[s.value] or 0.0 for s in shapes]))

    match kind:
        case ChallengeKind.BLINK:
            return mean(BlendShape.EYE_BLINK_LEFT, BlendShape.EYE_BLINK_RIGHT)
        case ChallengeKind.SMILE:
            return mean(BlendShape.MOUTH_SMILE_LEFT, BlendShape.MOUTH_SMILE_RIGHT)
        case ChallengeKind.OPEN_MOUTH:
            return mean(BlendShape.JAW_OPEN)
        case ChallengeKind.RAISE_BROWS:
            return mean(BlendShape.BROW_INNER_UP)
        case ChallengeKind.TURN_LEFT:
            return mesh.head_pose.yaw
        case ChallengeKind.TURN_RIGHT:
            return -mesh.head_pose.yaw


# Mesh points by name (vision/landmarks.py); each lid is its centre (upper, lower) pair.
_EYE_R_OUT, _EYE_R_IN = lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER
_EYE_L_IN, _EYE_L_OUT = lm.LEFT_EYE_INNER, lm.LEFT_EYE_OUTER
_LID_R, _LID_L = lm.RIGHT_LIDS[1], lm.LEFT_LIDS[1]
_BROW_R, _BROW_L = lm.RIGHT_BROW, lm.LEFT_BROW
_NOSE_BRIDGE, _NOSE_TIP = lm.NOSE_BRIDGE, lm.NOSE_TIP
_MOUTH_R, _MOUTH_L, _LIP_UP, _LIP_DOWN = lm.MOUTH_RIGHT, lm.MOUTH_LEFT, lm.UPPER_LIP, lm.LOWER_LIP


@dataclass(frozen=True)
class Geometry:
    """Ratios of landmark distances (unitless) that an action changes and a moved or
    tilted photo cannot: each is normalised by a distance along the same axis, so a
    photo squashed by tilting changes numerator and denominator alike.

    eye_gap: mean eyelid gap / nose length (bridge to tip); a blink shrinks it.
    mouth_width: mouth-corner distance / inter-ocular distance; a smile widens it.
    lip_gap: inner-lip gap / nose length; opening the mouth raises it from ~0.
    brow_height: brow-to-upper-lid distance / nose length; raised brows lift it.
    nose_offset: where the nose tip falls between the outer eye corners (0-1, ~0.5
        facing the camera); a 3-D head turn moves it, ~0.008 per degree of yaw.
    """

    eye_gap: float
    mouth_width: float
    lip_gap: float
    brow_height: float
    nose_offset: float

    @classmethod
    def of(cls, mesh: FaceMesh) -> Geometry:
        p = mesh.pixels()[:, :2].astype(np.float64)

        def dist(a: int, b: int) -> float:
            return float(np.linalg.norm(p[a] - p[b]))

        nose = max(dist(_NOSE_BRIDGE, _NOSE_TIP), 1e-6)
        eye_r = (p[_EYE_R_OUT] + p[_EYE_R_IN]) / 2
        eye_l = (p[_EYE_L_IN] + p[_EYE_L_OUT]) / 2
        iod = max(float(np.linalg.norm(eye_l - eye_r)), 1e-6)
        axis = p[_EYE_L_OUT] - p[_EYE_R_OUT]
        return cls(
            eye_gap=(dist(*_LID_R) + dist(*_LID_L)) / 2 / nose,
            mouth_width=dist(_MOUTH_R, _MOUTH_L) / iod,
            lip_gap=dist(_LIP_UP, _LIP_DOWN) / nose,
            brow_height=(dist(_BROW_R, _LID_R[0]) + dist(_BROW_L, _LID_L[0])) / 2 / nose,
            nose_offset=float((p[_NOSE_TIP] - p[_EYE_R_OUT]) @ axis / max(axis @ axis, 1e-6)),
        )


def distortion(rest: FaceMesh, moved: FaceMesh) -> float:
    """How much the face's rigid frame changed shape: the largest residual of the
    stable points after the best similarity transform (rotation, scale, shift) from
    ``rest``, as a share of the inter-ocular distance. A facial action leaves these
    points alone (~0.02 jitter); tilting a photo squashes them."""
    src = rest.pixels()[list(lm.RIGID), :2].astype(np.float64)
    dst = moved.pixels()[list(lm.RIGID), :2].astype(np.float64)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None:
        return float("inf")
    mapped = src @ matrix[:, :2].T + matrix[:, 2]
    iod = max(float(np.linalg.norm((dst[0] + dst[1]) / 2 - (dst[2] + dst[3]) / 2)), 1.0)
    return float(np.max(np.linalg.norm(mapped - dst, axis=1)) / iod)


@dataclass(frozen=True)
class _Seen:
    """One frame as the judge keeps it while a blink may still span it: the blink
    detector's frame index, time, mesh and crop (None without a face)."""

    index: int
    t: float
    mesh: FaceMesh | None
    crop: FaceCrop | None

    def eye_gap(self) -> float:
        assert self.mesh is not None
        return Geometry.of(self.mesh).eye_gap


class ChallengeJudge:
    """Judges one sequence frame by frame; feed every frame with :meth:`update`.

    The first prompt is issued at the first frame; each later one when the previous
    action is accepted, with a fresh nonce and deadline. ``current`` is the prompt to
    show. After the last frame call :meth:`finish`.
    """

    def __init__(
        self,
        kinds: Sequence[ChallengeKind],
        options: ChallengeOptions | None = None,
        blink_options: BlinkOptions | None = None,
    ):
        if not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"expected distinct challenge kinds, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.options = options or ChallengeOptions()
        self._blinks = BlinkDetector(blink_options)
        # Recent frames by detector index, to find a reported blink's frames.
        self._frames: deque[_Seen] = deque()
        # Recent frames' rigid points (None without a face), for continuity.
        self._poses: deque[tuple[float, Pose | None]] = deque()
        self._count = 0
        self._answered: list[Challenge] = []
        self._current: Challenge | None = None
        self._rest_frames: list[FaceMesh] = []
        self._rest: dict[ChallengeKind, float] = {}
        self._rest_mesh: FaceMesh | None = None
        self._at_rest: set[ChallengeKind] = set()
        self._peak: FaceMesh | None = None
        self._planar = False
        self._cut = False
        self._onset: float | None = None
        self._failure: ChallengeFailure | None = None
        self._failed_on: ChallengeKind | None = None
        self._last_t: float | None = None
        self._faces = 0

    @property
    def current(self) -> Challenge | None:
        """The prompt in force, None before the first frame and once decided."""
        return None if self.done else self._current

    @property
    def done(self) -> bool:
        return self._failure is not None or len(self._answered) == len(self.kinds)

    @property
    def time_limit(self) -> float:
        """Seconds the whole sequence may take at most."""
        return self.options.timeout * len(self.kinds)

    def _issue(self, t: float) -> None:
        kind = self.kinds[len(self._answered)]
        self._current = Challenge(kind, secrets.token_hex(8), t, t + self.options.timeout)
        self._at_rest = set()
        self._peak = None
        self._planar = False
        self._cut = False
        self._onset = None

    def _fail(self, failure: ChallengeFailure) -> None:
        self._failure = failure
        self._failed_on = self._current.kind if self._current else None

    def update(self, t: float, mesh: FaceMesh | None, crop: FaceCrop | None) -> None:
        """One frame at ``t`` seconds; ``mesh`` is None when it showed no face.

        ``crop`` (:meth:`FaceCrop.of` the frame and ``mesh``) shows how the eyelids
        changed the eyes: a blink counts only where its crops were seen.
        """
        if self.done:
            return
        self._last_t = t
        if self._current is None:
            self._issue(t)
        assert self._current is not None
        blinks = self._track_blinks(t, mesh, crop)
        if t > self._current.deadline:
            if not self._faces:
                self._fail(ChallengeFailure.NO_FACE)
            else:
                self._fail(self._why_late())
            return
        if self._judge_blinks(t, blinks) or mesh is None:
            return
        self._faces += 1
        if self._rest_mesh is None:
            self._rest_frames.append(mesh)
            if len(self._rest_frames) >= self.options.baseline_frames:
                self._set_rest()
            return
        self._judge(t, mesh)

    def _why_late(self) -> ChallengeFailure:
        """The failure at a deadline: what refused the action last seen, if any."""
        if self._cut:
            return ChallengeFailure.CUT
        return ChallengeFailure.PLANAR if self._planar else ChallengeFailure.DEADLINE

    def _track_blinks(self, t: float, mesh: FaceMesh | None, crop: FaceCrop | None) -> list[Blink]:
        """Feed the blink detector; keep the frames a pending blink may still span."""
        self._frames.append(_Seen(self._count, t, mesh, crop if mesh is not None else None))
        self._poses.append((t, None if mesh is None else Pose.of(mesh)))
        self._count += 1
        o = self._blinks.options
        keep = 2 * (o.peak_window_seconds + o.max_duration_seconds)
        while self._frames and self._frames[0].t < t - keep:
            self._frames.popleft()
        # A blink is reported after its peak: keep a continuity window before that.
        window = self.options.continuity.window_seconds if self.options.continuity else 0.0
        while self._poses and self._poses[0][0] < t - keep - window:
            self._poses.popleft()
        return self._blinks.update(t, None if mesh is None else EyeState.from_mesh(mesh))

    def _judge_blinks(self, t: float, blinks: list[Blink]) -> bool:
        """Accept the first detected blink that answers a blink prompt: the eyes were
        seen open after the prompt's frame before it began, it reopened within
        ``blink_max_seconds`` and shows as a face's blink (see :meth:`_face_like`).
        True when the judge moved on to another prompt."""
        if self._current is None or self._current.kind is not ChallengeKind.BLINK:
            return False
        if self._rest_mesh is None:
            return False
        issued = self._current.issued_at
        for blink in blinks:
            before_blink = [
                f for f in self._frames if issued < f.t < blink.start_t and f.mesh is not None
            ]
            if not before_blink:
                # Not seen open after the prompt before closing: a blink that began
                # before it (spontaneous or replayed), or the squint of the action
                # that met the previous prompt. Other actions need rest first too.
                continue
            if blink.end_t - blink.start_t > self.options.blink_max_seconds:
                continue
            during = [
                f
                for f in self._frames
                if blink.start_index <= f.index <= blink.end_index and f.mesh is not None
            ]
            if not during:
                continue
            # Judge where the eyes are most closed, against where they were most open
            # since the prompt (in a crop that shows them): both by the eyelid gap.
            peak = min(during, key=_Seen.eye_gap)
            shown = [f for f in before_blink if f.crop is not None and f.crop.in_frame]
            widest = max(shown, key=_Seen.eye_gap, default=None)
            eyes = (
                eye_change(widest.crop, peak.crop)
                if widest is not None and widest.crop is not None and peak.crop is not None
                else None
            )
            self._peak = peak.mesh
            before = len(self._answered)
            self._accept(t, blink.start_t, eyes)
            if len(self._answered) > before:
                return True
        return False

    def _set_rest(self) -> None:
        frames = self._rest_frames
        self._rest = {k: float(np.median([signal(m, k) for m in frames])) for k in ChallengeKind}
        self._rest_mesh = frames[len(frames) // 2]
        for mesh in frames:
            self._note_rest(mesh)

    def _active(self, kind: ChallengeKind, value: float) -> bool:
        rule = self.options.rules[kind]
        return value >= rule.trigger and value - self._rest[kind] >= rule.rise

    def _resting(self, kind: ChallengeKind, value: float) -> bool:
        return value < self._rest[kind] + self.options.rules[kind].rise / 2

    def _note_rest(self, mesh: FaceMesh) -> None:
        for kind in self.options.rules:
            if self._resting(kind, signal(mesh, kind)):
                self._at_rest.add(kind)

    def _judge(self, t: float, mesh: FaceMesh) -> None:
        assert self._current is not None and self._rest_mesh is not None
        kind = self._current.kind
        values = {k: signal(mesh, k) for k in ChallengeKind}
        active = kind is not ChallengeKind.BLINK and self._active(kind, values[kind])
        # The first frame of the run of active frames this one belongs to.
        self._onset = (t if self._onset is None else self._onset) if active else None
        wanted = active and kind in self._at_rest
        if not wanted:
            for other in self.kinds:
                if (
                    other is not kind
                    and other is not ChallengeKind.BLINK
                    and frozenset({kind, other}) not in _EXEMPT
                    and other in self._at_rest
                    and self._active(other, values[other])
                ):
                    self._fail(ChallengeFailure.WRONG_ACTION)
                    return
        if wanted:
            self._peak = mesh
            assert self._onset is not None
            self._accept(t, self._onset)
            if self.done or self._current is None or self._current.kind is not kind:
                return
        self._note_rest(mesh)

    def _accept(self, t: float, onset_t: float, eyes: EyeChange | None = None) -> None:
        """Answer the current prompt with the action begun at ``onset_t`` if it shows
        as a face's motion and its run-up as a face moving, not a cut."""
        assert self._current is not None and self._peak is not None
        assert self._rest_mesh is not None
        if not self._face_like(self._current.kind, self._rest_mesh, self._peak, eyes):
            # Keep watching: a later frame may show the whole action. If none does
            # before the deadline, the failure says the motion looked like a print's.
            self._planar = True
            return
        rule = self.options.continuity
        if rule is not None and not continuous(self._poses, onset_t, rule):
            self._cut = True
            return
        self._answered.append(self._current)
        if not self.done:
            self._issue(t)
        else:
            self._current = None

    def _face_like(
        self, kind: ChallengeKind, rest: FaceMesh, peak: FaceMesh, eyes: EyeChange | None
    ) -> bool:
        """Whether the accepted action also shows as a face's motion, not a print's.

        A blink counts only where ``eyes`` (widest-open frame to the peak) shows the
        eyes changed while the rest of the face stayed put: by a little when the
        eyelid gap shrank clearly, by much more for a faint blink the landmarks
        barely see.
        """
        o = self.options
        before, after = Geometry.of(rest), Geometry.of(peak)
        yaw = peak.head_pose.yaw - rest.head_pose.yaw
        if kind in (ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT):
            direction = 1.0 if kind is ChallengeKind.TURN_LEFT else -1.0
            shift = (after.nose_offset - before.nose_offset) * direction
            return shift >= o.turn_offset_per_degree * abs(yaw)
        pitch = peak.head_pose.pitch - rest.head_pose.pitch
        if max(abs(yaw), abs(pitch)) > o.max_pose_change:
            return False
        if distortion(rest, peak) > o.max_distortion:
            return False
        match kind:
            case ChallengeKind.BLINK:
                # ``eyes`` is None where the eyes were not seen (beyond the frame,
                # or edge-on), where the landmarker may still have placed them.
                if eyes is None or eyes.face > o.max_face_change:
                    return False
                if after.eye_gap <= o.eye_gap_ratio * before.eye_gap:
                    return eyes.eyes >= o.min_blink_eye_change
                return (
                    after.eye_gap <= o.faint_eye_gap_ratio * before.eye_gap
                    and eyes.eyes >= o.min_eye_change
                )
            case ChallengeKind.SMILE:
                return after.mouth_width >= o.mouth_width_ratio * before.mouth_width
            case ChallengeKind.OPEN_MOUTH:
                return after.lip_gap >= before.lip_gap + o.lip_gap_rise
            case _:
                return after.brow_height >= o.brow_ratio * before.brow_height

    def finish(self) -> ChallengeResult:
        """The result after the last frame.

        Raises ChallengeIncomplete when the frames ran out before the sequence was
        decided (a recording shorter than the prompts' deadlines, or no frame at all).
        """
        if self._failure is None and not self.done and self._last_t is not None:
            self._judge_blinks(self._last_t, self._blinks.flush())  # the video ended
        if self._failure is None and not self.done:
            if self._faces == 0 and self._last_t is not None:
                self._fail(ChallengeFailure.NO_FACE)
            else:
                pending = self._current.kind.value if self._current else self.kinds[0].value
                ended = "no frame" if self._last_t is None else f"{self._last_t:.2f} s"
                raise ChallengeIncomplete(
                    f"the video ended ({ended}) before the {pending} challenge could be "
                    f"judged; record at least {self.time_limit:.0f} s, or use a camera"
                )
        return ChallengeResult(
            kinds=self.kinds,
            answered=tuple(self._answered),
            failure=self._failure,
            failed_on=self._failed_on,
        )
