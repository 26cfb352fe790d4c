"""Liveness: refuse printed photos, screens and replays (presentation attacks).

- :mod:`~facegate.liveness.pad` — passive PAD: one frame's face, a bona fide score, and
  its three-way decision (live, attack, or uncertain: then prefer a challenge).
- :mod:`~facegate.liveness.challenge` — active challenge-response from blend shapes.
- :mod:`~facegate.liveness.eyelids` — whether the eyes changed as eyelids, not a print, do.
- :mod:`~facegate.liveness.attention` — open eyes looking at the camera.
- :mod:`~facegate.liveness.check` — one unlock attempt's liveness, as the unlock flow uses it.

Nothing is loaded at import time.
"""

from __future__ import annotations

from facegate.liveness.challenge import ChallengeKind
from facegate.liveness.check import LivenessMode, LivenessOptions, LivenessVerdict

__all__ = ["ChallengeKind", "LivenessMode", "LivenessOptions", "LivenessVerdict"]
