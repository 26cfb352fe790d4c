"""FaceGate: private, offline face unlock.

The quick path::

    import facegate
    facegate.enroll("alice", ["a1.jpg", "a2.jpg", "a3.jpg"])
    verdict = facegate.verify("alice", ["probe.jpg"])
    verdict.matched, verdict.reason

Each shortcut opens the default session (settings, models, vault) for one call and
takes the same options, with the same defaults, as ``facegate verify`` on the
command line; long-running programs should hold a ``Session`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facegate.lazy_names import lazy_names

if TYPE_CHECKING:
    from facegate.biometrics.levels import SecurityLevel
    from facegate.biometrics.policy import UnlockOptions
    from facegate.biometrics.unlock import EnrolmentReport, Verdict
    from facegate.errors import FaceGateError, Reason
    from facegate.liveness.check import LivenessMode
    from facegate.session import Session

# The public names and the modules that hold them. They are imported on first use, so
# ``import facegate`` (and a third-party app importing ``facegate.client``) does not pay
# for OpenCV, MediaPipe or SciPy before it needs them.
_LAZY = {
    "EnrolmentReport": "facegate.biometrics.unlock",
    "FaceGateError": "facegate.errors",
    "LivenessMode": "facegate.liveness.check",
    "Reason": "facegate.errors",
    "SecurityLevel": "facegate.biometrics.levels",
    "Session": "facegate.session",
    "UnlockOptions": "facegate.biometrics.policy",
    "Verdict": "facegate.biometrics.unlock",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "EnrolmentReport",
    "FaceGateError",
    "LivenessMode",
    "Reason",
    "SecurityLevel",
    "Session",
    "UnlockOptions",
    "Verdict",
    "enroll",
    "verify",
]


def enroll(user: str, sources: list[str | Path], *, replace: bool = False) -> EnrolmentReport:
    """Enrol ``user`` from image / video paths (or a camera index as "0")."""
    from facegate.session import Session

    with Session.open() as session:
        return session.enroll(user, sources, replace=replace)


def verify(
    user: str,
    sources: list[str | Path],
    *,
    level: SecurityLevel | str = "standard",
    frames: int = 3,
    budget: float = 3.0,
    liveness: LivenessMode | None = None,
    attention: bool = True,
) -> Verdict:
    """One unlock attempt for ``user``; ``Verdict.matched`` and ``.reason`` say how it went.

    ``liveness=None`` applies the level's default (passive at standard; active for a
    camera or video at high). ``LivenessMode.OFF`` must be asked for, and such a
    verdict says so and never updates the template.
    """
    from facegate.biometrics.policy import UnlockOptions
    from facegate.session import Session

    options = UnlockOptions(
        level=level,  # type: ignore[arg-type]  # strings are checked by UnlockOptions
        max_frames=frames,
        budget_seconds=budget,
        liveness=liveness,
        require_attention=attention,
    )
    with Session.open() as session:
        return session.verify(user, sources, options)
