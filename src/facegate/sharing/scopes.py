"""The scopes an app may ask for: the one source of their names.

A scope names a part of the expression stream, never a person. There is no identity
scope and there never will be one: templates, embeddings, raw 478-point landmarks and
images stay on the machine. Asking for anything that is not a :class:`Scope` is an
error, and names that sound like identity data get a message saying why they can
never be granted, so a developer learns the rule rather than guessing a spelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from facegate.sharing.errors import InvalidScope


class Scope(StrEnum):
    """What a grant lets an app receive; ``facegate.sharing.frames`` maps each to fields."""

    EXPRESSIONS = "expressions"
    HEAD_POSE = "head_pose"
    FACE_MAP = "face_map"

    @property
    def description(self) -> str:
        """What the scope shares, in words shown to the person on the consent prompt."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Scope.EXPRESSIONS: (
        "Your facial expressions: 52 expression coefficients (smile, blink, jaw open, ...) "
        "and where your eyes look"
    ),
    Scope.HEAD_POSE: "How your head is turned and tilted, and where it is in front of the camera",
    Scope.FACE_MAP: (
        "A coarse 3D map of your face (at most about 300 points); the shape of a face is "
        "personal, so share it only with apps you trust"
    ),
}


# Words an app developer might try for identity data; all are refused with the reason.
_IDENTITY_WORDS = frozenset(
    {
        "identity",
        "id",
        "face_id",
        "faceid",
        "embedding",
        "embeddings",
        "template",
        "templates",
        "biometric",
        "biometrics",
        "landmarks",
        "raw_landmarks",
        "image",
        "images",
        "photo",
        "video",
        "frames",
        "camera",
        "name",
        "user",
    }
)


def choices() -> str:
    """The shareable scope names, for messages."""
    return ", ".join(scope.value for scope in Scope)


def parse_scope(name: object) -> Scope:
    """One scope from its name; identity-like and unknown names raise InvalidScope."""
    if not isinstance(name, str):
        raise InvalidScope(f"a scope must be a string, not {type(name).__name__}")
    try:
        return Scope(name)
    except ValueError:
        pass
    if name.strip().lower().replace("-", "_") in _IDENTITY_WORDS:
        raise InvalidScope(
            f"{name!r} can never be granted: FaceGate does not share identity data "
            f"(templates, embeddings, raw landmarks, images). Shareable scopes: {choices()}"
        )
    raise InvalidScope(f"unknown scope {name!r}; shareable scopes: {choices()}")


def parse_scopes(names: Iterable[object]) -> frozenset[Scope]:
    """A non-empty set of scopes; a repeated name is harmless, an empty request is not."""
    if isinstance(names, str):
        names = names.split(",") if "," in names else [names]
    scopes = frozenset(parse_scope(name) for name in names)
    if not scopes:
        raise InvalidScope(f"ask for at least one scope from: {choices()}")
    return scopes


def to_names(scopes: Iterable[Scope]) -> list[str]:
    """Scope names in the enum's order, so stored and shown lists are stable."""
    chosen = set(scopes)
    return [scope.value for scope in Scope if scope in chosen]
