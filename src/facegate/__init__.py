"""FaceGate: private, offline face unlock.

The quick path::

    import facegate
    facegate.enroll("alice", ["a1.jpg", "a2.jpg", "a3.jpg"])
    verdict = facegate.verify("alice", ["probe.jpg"])
    verdict.matched, verdict.reason

Each shortcut opens the default session (settings, models, vault) for one call;
long-running programs should hold a ``Session`` instead.
"""

from __future__ import annotations

from pathlib import Path

from facegate.biometrics.match import SecurityLevel
from facegate.biometrics.unlock import EnrolmentReport, UnlockOptions, Verdict
from facegate.errors import FaceGateError, Reason
from facegate.session import Session
from facegate.vision.sources import iter_sources

__all__ = [
    "EnrolmentReport",
    "FaceGateError",
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
    with Session.open() as session:
        return session.unlocker.enroll(user, iter_sources(sources, max_frames=120), replace=replace)


def verify(
    user: str, sources: list[str | Path], level: SecurityLevel = SecurityLevel.STANDARD
) -> Verdict:
    """One unlock attempt for ``user``; ``Verdict.matched`` and ``.reason`` say how it went."""
    with Session.open() as session:
        frames = iter_sources(sources, max_frames=120)
        return session.unlocker.verify(user, frames, UnlockOptions(level=level))
