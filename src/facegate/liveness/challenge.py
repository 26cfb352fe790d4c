"""Active liveness: a random sequence of facial actions, each with a nonce and a deadline.

Why it stops what it stops:

- A **static photo** never moves, so no action ever starts: the first deadline passes.
- A **moved or tilted photo** is a plane: every change between two of its frames is a
  homography of the image. Each accepted action must also *deform* the face, measured
  as the landmarks' residual after the best homography from the rest pose
  (:func:`nonplanar_residual`); a tilted print fits a homography almost exactly.
- A **replayed clip** was recorded before the sequence was drawn. Each action must
  start *after* its prompt, from rest, before its deadline, and no other prompted
  kind of action may come first, so a clip whose actions come in another order fails.

Signals come from :mod:`facegate.vision.mesh` (ARKit blend shapes in [0, 1] and head
yaw in degrees, > 0 turning to the subject's own left). Each action is judged against
the person's own rest pose (the median of the first frames), so a resting smile or
a slightly turned head does not count. Times are seconds on the frames' own clock
(``Frame.t``), so a recorded video and a live camera are judged alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from facegate.errors import ChallengeIncomplete
from facegate.vision.blendshapes import BlendShape
from facegate.vision.mesh import FaceMesh

MESH_POINTS = 468  # the face-mesh points; the iris points follow gaze, not the face


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
    PLANAR = "planar"  # the face moved like a flat picture, not a face
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
    """When a signal counts as the action: it must reach ``trigger`` *and* exceed the
    rest pose by ``rise``; it is at rest again below ``rest + rise / 2``. For turns the
    units are degrees of yaw, else blend-shape activations in [0, 1]; raising either
    value is stricter."""

    trigger: float
    rise: float


@dataclass(frozen=True)
class ChallengeOptions:
    """timeout: seconds allowed for each action after its prompt; baseline_frames:
    frames with a face that set the rest pose before the first prompt counts;
    blink_max_seconds: a blink must reopen within this; min_deformation: least
    non-planar landmark residual (share of the inter-ocular distance) an action
    must show; raising it is stricter on photos and on subtle genuine actions.

    Default rules were set from Yale normal / happy / surprised stills and labelled
    webcam blinks (see ``facegate eval challenges``).
    """

    timeout: float = 5.0
    baseline_frames: int = 3
    blink_max_seconds: float = 1.0
    min_deformation: float = 0.03
    rules: dict[ChallengeKind, ActionRule] = field(
        default_factory=lambda: {
            ChallengeKind.BLINK: ActionRule(trigger=0.45, rise=0.25),
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
    None when every one was met; ``deformation`` is the least non-planar residual of
    the accepted actions (None if there were none)."""

    kinds: tuple[ChallengeKind, ...]
    answered: tuple[Challenge, ...]
    failure: ChallengeFailure | None
    failed_on: ChallengeKind | None = None
    deformation: float | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and len(self.answered) == len(self.kinds)


def random_sequence(length: int | None = None) -> tuple[ChallengeKind, ...]:
    """2 or 3 distinct kinds drawn with the OS's secure random source."""
    rng = secrets.SystemRandom()
    n = length if length is not None else rng.choice((2, 3))
    if not 1 <= n <= len(ChallengeKind):
        raise ValueError(f"a sequence holds 1 to {len(ChallengeKind)} challenges, got {n}")
    return tuple(rng.sample(list(ChallengeKind), n))


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


def nonplanar_residual(rest: FaceMesh, moved: FaceMesh) -> float:
    """How far the face deformed beyond what a flat picture can do, as a share of the
    inter-ocular distance: the 90th percentile of the 2-D landmark residuals after the
    least-squares homography from ``rest`` to ``moved``. A tilted, bent-free print
    gives landmark jitter only (~0.01); a blink, a smile or a 3-D head turn more."""
    src = rest.pixels()[:MESH_POINTS, :2].astype(np.float64)
    dst = moved.pixels()[:MESH_POINTS, :2].astype(np.float64)
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None:
        return 0.0
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    residual = np.linalg.norm(mapped - dst, axis=1)
    iris = moved.pixels()[[468, 473], :2]
    eye_distance = max(float(np.linalg.norm(iris[0] - iris[1])), 1.0)
    return float(np.percentile(residual, 90) / eye_distance)


class ChallengeJudge:
    """Judges one sequence frame by frame; feed every frame with :meth:`update`.

    The first prompt is issued at the first frame; each later one when the previous
    action is accepted, with a fresh nonce and deadline. ``current`` is the prompt to
    show. After the last frame call :meth:`finish`.
    """

    def __init__(self, kinds: Sequence[ChallengeKind], options: ChallengeOptions | None = None):
        if not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"expected distinct challenge kinds, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.options = options or ChallengeOptions()
        self._answered: list[Challenge] = []
        self._current: Challenge | None = None
        self._rest_frames: list[FaceMesh] = []
        self._rest: dict[ChallengeKind, float] = {}
        self._rest_mesh: FaceMesh | None = None
        self._at_rest: set[ChallengeKind] = set()
        self._closed_at: float | None = None
        self._peak: FaceMesh | None = None
        self._deformations: list[float] = []
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
        self._closed_at = None
        self._peak = None

    def _fail(self, failure: ChallengeFailure) -> None:
        self._failure = failure
        self._failed_on = self._current.kind if self._current else None

    def update(self, t: float, mesh: FaceMesh | None) -> None:
        """One frame at ``t`` seconds; ``mesh`` is None when it showed no face."""
        if self.done:
            return
        self._last_t = t
        if self._current is None:
            self._issue(t)
        assert self._current is not None
        if t > self._current.deadline:
            self._fail(ChallengeFailure.DEADLINE if self._faces else ChallengeFailure.NO_FACE)
            return
        if mesh is None:
            return
        self._faces += 1
        if self._rest_mesh is None:
            self._rest_frames.append(mesh)
            if len(self._rest_frames) >= self.options.baseline_frames:
                self._set_rest()
            return
        self._judge(t, mesh)

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
        for kind in ChallengeKind:
            if self._resting(kind, signal(mesh, kind)):
                self._at_rest.add(kind)

    def _judge(self, t: float, mesh: FaceMesh) -> None:
        assert self._current is not None and self._rest_mesh is not None
        kind = self._current.kind
        values = {k: signal(mesh, k) for k in ChallengeKind}
        wanted = kind in self._at_rest and self._active(kind, values[kind])
        if not wanted and self._closed_at is None:
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
        if kind is ChallengeKind.BLINK:
            if wanted and self._closed_at is None:
                self._closed_at, self._peak = t, mesh
            elif self._closed_at is not None and self._resting(kind, values[kind]):
                if t - self._closed_at <= self.options.blink_max_seconds:
                    self._accept(t)
                    return
                self._closed_at = None
        elif wanted:
            self._peak = mesh
            self._accept(t)
            return
        self._note_rest(mesh)

    def _accept(self, t: float) -> None:
        assert self._current is not None and self._peak is not None
        assert self._rest_mesh is not None
        deformation = nonplanar_residual(self._rest_mesh, self._peak)
        self._deformations.append(deformation)
        if deformation < self.options.min_deformation:
            self._fail(ChallengeFailure.PLANAR)
            return
        self._answered.append(self._current)
        if not self.done:
            self._issue(t)
        else:
            self._current = None

    def finish(self) -> ChallengeResult:
        """The result after the last frame.

        Raises ChallengeIncomplete when the frames ran out before the sequence was
        decided (a recording shorter than the prompts' deadlines, or no frame at all).
        """
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
            deformation=min(self._deformations) if self._deformations else None,
        )
