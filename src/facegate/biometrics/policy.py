"""THE unlock policy: what one attempt demands, the same for every caller.

The CLI, the ``facegate.verify`` shortcut, a held ``Session`` and the login service
all build an :class:`UnlockOptions` and go through ``Unlocker.verify``; none of them
decides liveness, frame caps or budgets on its own. Liveness follows the level and
how the frames arrive, unless a caller turns it off explicitly, and such a verdict
says ``liveness: off`` and never teaches the template anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from facegate.biometrics.match import SecurityLevel
from facegate.errors import InputError
from facegate.liveness.challenge import ChallengeKind
from facegate.liveness.check import LivenessMode
from facegate.vision.sources import SourceKind

# Frames read from a video or camera when no challenge can follow: enough to find three
# usable ones in a few seconds of 30 fps video.
PASSIVE_READ_CAP = 120

# A match this far above the HIGH threshold may be added to the template (Face ID
# style): stricter than any level's acceptance, so a borderline match never teaches.
ADAPT_MARGIN = 0.10


def default_liveness(level: SecurityLevel, kind: SourceKind) -> LivenessMode:
    """The level's liveness: STANDARD -> PASSIVE; HIGH -> ACTIVE, which needs moving
    frames. HIGH on stills is refused rather than quietly weakened to PASSIVE: whoever
    picks the input could otherwise always avoid the challenge."""
    if level is SecurityLevel.STANDARD:
        return LivenessMode.PASSIVE
    if not kind.moving:
        raise InputError(
            "the high level needs a camera or a video: a still image cannot answer a "
            "liveness challenge"
        )
    return LivenessMode.ACTIVE


E = TypeVar("E", SecurityLevel, LivenessMode)


def _member(enum: type[E], value: object, name: str) -> E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value in {m.value for m in enum}:
        return enum(value)
    choices = ", ".join(m.value for m in enum)
    raise InputError(f"{name} must be one of {choices}, not {value!r}")


@dataclass(frozen=True)
class UnlockOptions:
    """One attempt's policy.

    level: which calibrated threshold. max_frames / budget_seconds: usable frames fused
    and seconds allowed. liveness: None means the level's default for the source
    (:func:`default_liveness`); ``LivenessMode.OFF`` must be asked for. require_attention:
    open eyes towards the camera (off for accessibility). adaptive_update: let a
    confident, live match refresh the template. challenges: a fixed ACTIVE sequence for
    recorded tests; None draws a random one per attempt.
    """

    level: SecurityLevel = SecurityLevel.STANDARD
    max_frames: int = 3
    budget_seconds: float = 3.0
    liveness: LivenessMode | None = None
    require_attention: bool = True
    adaptive_update: bool = True
    challenges: tuple[ChallengeKind, ...] | None = None

    def __post_init__(self) -> None:
        # Accept the enums' string values (the Python shortcut's keywords), but nothing
        # else: an unknown mode must not be echoed back while another one runs.
        object.__setattr__(self, "level", _member(SecurityLevel, self.level, "level"))
        if self.liveness is not None:
            object.__setattr__(self, "liveness", _member(LivenessMode, self.liveness, "liveness"))
        if self.level is SecurityLevel.HIGH and self.liveness not in (None, LivenessMode.ACTIVE):
            # A verdict saying "high" must mean a challenge was answered: an app that
            # trusts the level would otherwise accept a still under passive or no liveness.
            raise InputError(
                f"the high level needs active liveness, not {self.liveness.value}; "
                "use the standard level for passive or off"
            )
        if not 1 <= self.max_frames <= 30:
            raise InputError(f"frames must be between 1 and 30, not {self.max_frames}")
        if not 0 < self.budget_seconds <= 60:
            raise InputError(f"budget must be in (0, 60] seconds, not {self.budget_seconds}")

    def liveness_for(self, kind: SourceKind) -> LivenessMode:
        return self.liveness if self.liveness is not None else default_liveness(self.level, kind)

    def read_cap(self, kind: SourceKind) -> int | None:
        """Frames to read per video or camera. Any liveness on moving frames may need the
        stream until a challenge is judged (ACTIVE always; PASSIVE when the PAD's evidence
        is weak and it falls back to one); the challenge's time limit ends it."""
        if kind.moving and self.liveness_for(kind) is not LivenessMode.OFF:
            return None
        return PASSIVE_READ_CAP
