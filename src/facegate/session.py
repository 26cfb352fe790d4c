"""One process's FaceGate: settings read once, models loaded once, the vault opened once.

The CLI, the ``facegate.enroll`` / ``facegate.verify`` shortcuts and the login
service all go through a ``Session``, so there is a single implementation of each
operation. The session owns one pipeline (one detector, one embedder, one
landmarker), which liveness shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facegate.biometrics.match import load_calibration
from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.unlock import EnrolmentReport, Unlocker, Verdict
from facegate.config import Settings, load_settings
from facegate.liveness.challenge import Challenge
from facegate.models import ModelFiles
from facegate.vault import SqliteVault, open_vault
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import open_sources

ENROL_READ_CAP = 60  # frames read per video or camera when enrolling


@dataclass
class Session:
    settings: Settings
    pipeline: FacePipeline
    _vault: SqliteVault | None = field(default=None, repr=False)
    _unlocker: Unlocker | None = field(default=None, repr=False)

    @classmethod
    def open(cls, home: Path | None = None) -> Session:
        """Read settings; models load and the vault opens on first use."""
        settings = load_settings(home)
        return cls(settings=settings, pipeline=FacePipeline(ModelFiles.of(settings)))

    @property
    def vault(self) -> SqliteVault:
        if self._vault is None:
            self._vault = open_vault(self.settings)
        return self._vault

    @property
    def unlocker(self) -> Unlocker:
        if self._unlocker is None:
            self._unlocker = Unlocker(self.vault, self.pipeline, load_calibration())
        return self._unlocker

    def enroll(
        self,
        user: str,
        sources: Iterable[str | Path],
        *,
        replace: bool = False,
        max_frames: int = ENROL_READ_CAP,
    ) -> EnrolmentReport:
        """Enrol ``user`` from images, a video or a camera (every source checked first)."""
        frames = open_sources(sources).frames(max_frames=max_frames)
        return self.unlocker.enroll(user, frames, replace=replace)

    def add(
        self, user: str, sources: Iterable[str | Path], *, max_frames: int = ENROL_READ_CAP
    ) -> EnrolmentReport:
        """Add captures of ``user`` to their template (see ``Unlocker.add``)."""
        frames = open_sources(sources).frames(max_frames=max_frames)
        return self.unlocker.add(user, frames)

    def verify(
        self,
        user: str,
        sources: Iterable[str | Path],
        options: UnlockOptions | None = None,
        on_challenge: Callable[[Challenge], None] | None = None,
    ) -> Verdict:
        """One unlock attempt from named sources under ``options`` (the CLI's defaults)."""
        opts = options or UnlockOptions()
        checked = open_sources(sources)
        frames = checked.frames(max_frames=opts.read_cap(checked.kind))
        return self.unlocker.verify(user, frames, opts, on_challenge)

    def close(self) -> None:
        if self._unlocker is not None:
            self._unlocker.liveness.close()
        if self._vault is not None:
            self._vault.close()
        self.pipeline.close()
        self._vault = self._unlocker = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
