"""Every error FaceGate raises, and how each one reaches a person.

Library code raises these and never exits; only the CLI (and the HTTP service)
turns them into exit codes or statuses, through the one ``STATUS`` table below, so
the two can never disagree. A verdict's refusal (no face, not matched, locked out)
is a ``Reason`` on the verdict, not an exception: only errors are raised.

    FaceGateError
    ├── InputError                bad input from the caller
    │   ├── UnreadableSource      corrupt / not an image / truncated video / no camera
    │   ├── ImageSizeError        1-pixel or absurdly large frames
    │   └── ChallengeIncomplete   the video ended before the liveness challenge was judged
    ├── EnrolmentError            too few usable captures to build a template
    ├── UserError
    │   ├── NotEnrolled
    │   └── AlreadyEnrolled
    ├── ModelError
    │   ├── ModelMissing          names the wheel to install
    │   └── ModelTampered         sha256 mismatch: the file is refused
    ├── VaultError                unreadable, busy, full or foreign vault file
    │   ├── VaultTampered         a sealed record failed authentication
    │   └── VaultKeyError         no key, or the wrong key / passphrase
    └── ConfigError
"""

from __future__ import annotations

from dataclasses import dataclass
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
    EYES_COVERED = "eyes_covered"  # a non-match with sunglasses or a hand over the eyes; counts
    MASK_NOT_ALLOWED = "mask_not_allowed"  # a mask at a level without masked unlock; counts


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


class EnrolmentError(FaceGateError):
    """Not enough good captures to build a template."""


class UserError(FaceGateError):
    """Something about the named user prevents the operation."""


class NotEnrolled(UserError):
    pass


class AlreadyEnrolled(UserError):
    pass


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


@dataclass(frozen=True)
class Status:
    """How an error reaches a person: the CLI's exit code and the service's HTTP status.

    Every error is exit code 2 at the CLI: 0 and 1 are reserved for match / no match.
    """

    exit_code: int
    http: int


STATUS: dict[type[FaceGateError], Status] = {
    InputError: Status(2, 422),
    EnrolmentError: Status(2, 422),
    NotEnrolled: Status(2, 404),
    AlreadyEnrolled: Status(2, 409),
    ModelError: Status(2, 503),
    VaultError: Status(2, 500),
    ConfigError: Status(2, 500),
    FaceGateError: Status(2, 500),
}
EXIT_CODE: dict[type[FaceGateError], int] = {cls: s.exit_code for cls, s in STATUS.items()}
HTTP_STATUS: dict[type[FaceGateError], int] = {cls: s.http for cls, s in STATUS.items()}


def lookup(table: dict[type[FaceGateError], int], err: FaceGateError) -> int:
    """The entry for the most specific class of ``err`` that the table names."""
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    return table[FaceGateError]
