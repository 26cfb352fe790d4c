"""Liveness: refuse printed photos, screens and replays (presentation attacks).

- :mod:`~facegate.liveness.pad` — passive PAD: one frame's face, a bona fide score.
- :mod:`~facegate.liveness.challenge` — active challenge-response from blend shapes.
- :mod:`~facegate.liveness.eyelids` — whether the eyes changed as eyelids, not a print, do.
- :mod:`~facegate.liveness.attention` — open eyes looking at the camera.
- :mod:`~facegate.liveness.check` — one unlock attempt's liveness, as the unlock flow uses it.
- :mod:`~facegate.liveness.train` — ``facegate train pad``.
- :mod:`~facegate.liveness.modes` — the liveness modes, light enough for the CLI.

Nothing is imported or loaded at import time: import the module you need.
"""
