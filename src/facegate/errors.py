"""Every error FaceGate raises, and how each one reaches a person.

Library code raises these and never exits; only the CLI (and later the HTTP
service) turns them into exit codes or statuses, through ``EXIT_CODE`` and
``HTTP_STATUS`` below, so the two can never disagree.

    FaceGateError
    ├── InputError                bad input from the caller
    │   ├── UnreadableSource      corrupt / not an image / truncated video / no camera
    │   ├── ImageSizeError        1-pixel or absurdly large frames
    │   └── ChallengeIncomplete   the video ended before the liveness challenge was judged
    ├── CaptureRejected           a readable frame that cannot be used (has a Reason)
    │   ├── NoFace
    │   ├── SeveralFaces
    │   ├── FaceTooSmall
    │   ├── TooBlurred
    │   ├── BadPose
    │   └── BadExposure
    ├── EnrolmentError            too few usable captures to build a template
    ├── UserError
    │   ├── NotEnrolled
    │   ├── AlreadyEnrolled
    │   └── LockedOut
    ├── ModelError
    │   ├── ModelMissing          names the wheel to install
    │   └── ModelTampered         sha256 mismatch: the file is refused
    ├── VaultError
    │   ├── VaultTampered         a sealed record failed authentication
    │   └── VaultKeyError         no key, or the wrong key / passphrase
    └── ConfigError
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """The single reason a verdict or a capture gives; values are stable strings."""

    MATCH = "match"
    NOT_MATCHED = "not_matched"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    TOO_BLURRED = "too_blurred"
    BAD_POSE = "bad_pose"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    LOCKED_OUT = "locked_out"
    LIVENESS = "liveness"  # a presentation attack was suspected; counts toward lockout
    NO_ATTENTION = "no_attention"  # eyes closed or looking away; does not count


class FaceGateError(Exception):
    """Base of every FaceGate error; the message is written for the person using it."""


class InputError(FaceGateError):
    """The caller gave input FaceGate cannot read."""


class UnreadableSource(InputError):
    """A file, video or camera could not be decoded."""


class ImageSizeError(InputError):
    """A frame is too small to hold a face or too large to process safely."""


class ChallengeIncomplete(InputError):
    """The frames ran out before an active liveness challenge could be judged."""


class CaptureRejected(FaceGateError):
    """A frame was read but cannot be used; ``reason`` says why."""

    reason: Reason = Reason.NO_FACE

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class NoFace(CaptureRejected):
    reason = Reason.NO_FACE


class SeveralFaces(CaptureRejected):
    reason = Reason.SEVERAL_FACES


class FaceTooSmall(CaptureRejected):
    reason = Reason.TOO_SMALL


class TooBlurred(CaptureRejected):
    reason = Reason.TOO_BLURRED


class BadPose(CaptureRejected):
    reason = Reason.BAD_POSE


class BadExposure(CaptureRejected):
    reason = Reason.TOO_DARK


class EnrolmentError(FaceGateError):
    """Not enough good captures to build a template."""


class UserError(FaceGateError):
    """Something about the named user prevents the operation."""


class NotEnrolled(UserError):
    pass


class AlreadyEnrolled(UserError):
    pass


class LockedOut(UserError):
    """Too many consecutive failures; only an explicit reset unlocks."""


class ModelError(FaceGateError):
    pass


class ModelMissing(ModelError):
    pass


class ModelTampered(ModelError):
    pass


class VaultError(FaceGateError):
    pass


class VaultTampered(VaultError):
    pass


class VaultKeyError(VaultError):
    pass


class ConfigError(FaceGateError):
    pass


# Every error is exit code 2 at the CLI: 0 and 1 are reserved for match / no match.
EXIT_CODE: dict[type[FaceGateError], int] = {FaceGateError: 2}

HTTP_STATUS: dict[type[FaceGateError], int] = {
    InputError: 422,
    CaptureRejected: 422,
    EnrolmentError: 422,
    NotEnrolled: 404,
    AlreadyEnrolled: 409,
    LockedOut: 423,
    ModelError: 503,
    VaultError: 500,
    ConfigError: 500,
    FaceGateError: 500,
}


def lookup(table: dict[type[FaceGateError], int], err: FaceGateError) -> int:
    """The entry for the most specific class of ``err`` that the table names."""
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    return table[FaceGateError]
