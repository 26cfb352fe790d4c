"""The login service's one call into the unlock decision, and its engine's set-up.

The service decides nothing about who gets in: thresholds, liveness by level and
source kind, and the lockout all live in ``facegate.biometrics`` and the vault. This
module only opens that engine on the system vault, hands it the camera's frames, and
translates its verdict (or error) into an ``Outcome``. When the unlock core changes,
``authenticate`` is the single call site to adapt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.unlock import EnrolmentReport
from facegate.config import KeySource, Settings, load_settings
from facegate.errors import (
    FaceGateError,
    InputError,
    NotEnrolled,
    Reason,
    UnreadableSource,
    VaultKeyError,
)
from facegate.models import ModelFiles
from facegate.session import Session
from facegate.system.camera import camera_frames, camera_kind
from facegate.system.client import Outcome
from facegate.system.config import SystemConfig
from facegate.system.key_protection import Sealing, available_sealing, new_sealed_key, unseal
from facegate.system.paths import SystemPaths
from facegate.vault import SqliteVault, load_key, validate_name
from facegate.vault.sqlite import is_sealed
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptResult:
    """An attempt's outcome and, for a refusal, the decision's reason (never a score)."""

    outcome: Outcome
    reason: Reason | None = None


def open_system_session(paths: SystemPaths) -> Session:
    """A session on the system vault: templates in ``state_dir``, key in ``config_dir``."""
    settings = load_settings(paths.state_dir)
    vault = SqliteVault(paths.vault_file, system_key(paths))
    return Session(settings=settings, pipeline=FacePipeline(ModelFiles.of(settings)), _vault=vault)


def system_key(paths: SystemPaths) -> bytes:
    """The system vault's key: the sealed one, else a plain key file made before sealing
    (or on a machine without systemd-creds), else a new key, sealed where possible."""
    if paths.sealed_key_file.exists():
        return unseal(paths.sealed_key_file)
    plain = Settings(home=paths.config_dir, key_source=KeySource.KEYFILE)
    if paths.key_file.exists():
        return load_key(plain)
    if is_sealed(paths.vault_file):
        raise VaultKeyError(
            f"the system vault {paths.vault_file} exists but its key ({paths.sealed_key_file}"
            f" or {paths.key_file}) is missing; restore it: the vault cannot be opened without it"
        )
    if available_sealing() is Sealing.NONE:
        return load_key(plain)
    try:
        return new_sealed_key(paths.sealed_key_file)
    except VaultKeyError as err:
        log.warning("could not seal a new login vault key (%s); using a root-only key file", err)
        return load_key(plain)


def warm_up(session: Session) -> None:
    """Load every model an attempt needs now, so the first login is as fast as the rest."""
    engine = session.unlocker.liveness
    _ = engine.pad, engine.still_mesher, session.pipeline.embedder, session.pipeline.mesher
    blank = Frame(np.zeros((480, 640, 3), np.uint8), "warm-up")
    session.pipeline.observe(blank)
    prepare_next_attempt(session)


def prepare_next_attempt(session: Session) -> None:
    """Build what the next attempt would otherwise build on the login path: the
    challenge's VIDEO-mode landmarker, fresh (never fed a frame) and kept aside."""
    session.unlocker.liveness.prepare_video_mesher()


def authenticate(
    session: Session,
    user: str,
    config: SystemConfig,
    deadline: float,
    on_info: Callable[[str], None] | None = None,
) -> AttemptResult:
    """One face attempt for ``user`` from the configured camera, ending by ``deadline``
    (``time.monotonic()``). Never raises: every failure is an outcome to fall through on."""
    try:
        validate_name(user)
    except InputError:
        return AttemptResult(Outcome.NOT_ENROLLED)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return AttemptResult(Outcome.TIMEOUT)
    # The same policy as every other caller: liveness follows the level and the kind of
    # frames the camera delivers (the unlock core reads it from the frames).
    options = UnlockOptions(level=config.level, budget_seconds=min(remaining, 60.0))
    frames = camera_frames(
        config.camera,
        deadline=deadline,
        ir=config.ir_camera,
        max_frames=options.read_cap(camera_kind(config.camera)),
    )
    say = on_info or (lambda _text: None)
    try:
        with closing(frames):
            verdict = session.unlocker.verify(
                user, frames, options, on_challenge=lambda c: say(f"{c.kind.prompt} now")
            )
    except NotEnrolled:
        return AttemptResult(Outcome.NOT_ENROLLED)
    except UnreadableSource as err:
        log.info("camera %s unavailable: %s", config.camera, err)
        return AttemptResult(Outcome.NO_CAMERA)
    except FaceGateError as err:
        log.warning("face attempt for %s failed: %s: %s", user, type(err).__name__, err)
        return AttemptResult(Outcome.ERROR)
    if verdict.matched:
        return AttemptResult(Outcome.MATCH, verdict.reason)
    if verdict.reason is Reason.LOCKED_OUT:
        return AttemptResult(Outcome.LOCKED_OUT, verdict.reason)
    if verdict.frames_used == 0 and time.monotonic() >= deadline:
        return AttemptResult(Outcome.TIMEOUT, verdict.reason)
    return AttemptResult(Outcome.NO_MATCH, verdict.reason)


def clear_lockout(session: Session, user: str) -> Outcome:
    """After the password succeeded: the face may be tried again (as Face ID after the
    passcode). A user who never enrolled has nothing to clear."""
    try:
        session.vault.reset_lockout(validate_name(user))
    except (NotEnrolled, InputError):
        return Outcome.NOT_ENROLLED
    return Outcome.OK


def enroll(
    session: Session, user: str, frames: Iterable[Frame], *, replace: bool = False
) -> EnrolmentReport:
    """Enrol into the system vault through the same enrolment as ``facegate enroll``."""
    return session.unlocker.enroll(user, frames, replace=replace)
