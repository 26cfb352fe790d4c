"""One process's FaceGate: settings read once, models loaded once, the vault opened once.

The CLI and the ``facegate.enroll`` / ``facegate.verify`` shortcuts all go through a
``Session``, so there is a single implementation of each operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facegate.biometrics.match import load_calibration
from facegate.biometrics.unlock import Unlocker
from facegate.config import Settings, load_settings
from facegate.vault import SqliteVault, open_vault
from facegate.vision.pipeline import FacePipeline


@dataclass
class Session:
    settings: Settings
    pipeline: FacePipeline
    _vault: SqliteVault | None = field(default=None, repr=False)
    _unlocker: Unlocker | None = field(default=None, repr=False)

    @classmethod
    def open(cls, home: Path | None = None, *, vault: bool = True) -> Session:
        """Read settings; the vault is opened on first use unless ``vault`` is False."""
        settings = load_settings(home)
        session = cls(settings=settings, pipeline=FacePipeline(settings))
        if not vault:
            session._vault = None
        return session

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
