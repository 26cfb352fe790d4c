"""The 52 ARKit blend-shape names: the one source of these names in FaceGate.

Every other side (the tracker's JSON records, the sharing scopes, the web pages, OSC
addresses) is generated from :class:`BlendShape`, so a name can never be spelt two
ways. Values are the exact ARKit identifiers (``eyeBlinkLeft``, ``jawOpen``, ...), and
*Left* / *Right* mean the subject's own left and right, as in ARKit and MediaPipe:
on an unmirrored camera image, ``eyeBlinkLeft`` is the eye on the image's right.

Each coefficient is an activation in [0, 1] (0 = at rest, 1 = fully expressed).
MediaPipe's blend-shape model has no ``tongueOut`` output, so FaceGate always reports
it as ``None`` (JSON ``null``): "not measured" rather than a made-up 0.
"""

from __future__ import annotations

from enum import StrEnum


class BlendShape(StrEnum):
    """The 52 ARKit blend shapes, in ARKit's documented order."""

    EYE_BLINK_LEFT = "eyeBlinkLeft"
    EYE_LOOK_DOWN_LEFT = "eyeLookDownLeft"
    EYE_LOOK_IN_LEFT = "eyeLookInLeft"
    EYE_LOOK_OUT_LEFT = "eyeLookOutLeft"
    EYE_LOOK_UP_LEFT = "eyeLookUpLeft"
    EYE_SQUINT_LEFT = "eyeSquintLeft"
    EYE_WIDE_LEFT = "eyeWideLeft"
    EYE_BLINK_RIGHT = "eyeBlinkRight"
    EYE_LOOK_DOWN_RIGHT = "eyeLookDownRight"
    EYE_LOOK_IN_RIGHT = "eyeLookInRight"
    EYE_LOOK_OUT_RIGHT = "eyeLookOutRight"
    EYE_LOOK_UP_RIGHT = "eyeLookUpRight"
    EYE_SQUINT_RIGHT = "eyeSquintRight"
    EYE_WIDE_RIGHT = "eyeWideRight"
    JAW_FORWARD = "jawForward"
    JAW_LEFT = "jawLeft"
    JAW_RIGHT = "jawRight"
    JAW_OPEN = "jawOpen"
    MOUTH_CLOSE = "mouthClose"
    MOUTH_FUNNEL = "mouthFunnel"
    MOUTH_PUCKER = "mouthPucker"
    MOUTH_LEFT = "mouthLeft"
    MOUTH_RIGHT = "mouthRight"
    MOUTH_SMILE_LEFT = "mouthSmileLeft"
    MOUTH_SMILE_RIGHT = "mouthSmileRight"
    MOUTH_FROWN_LEFT = "mouthFrownLeft"
    MOUTH_FROWN_RIGHT = "mouthFrownRight"
    MOUTH_DIMPLE_LEFT = "mouthDimpleLeft"
    MOUTH_DIMPLE_RIGHT = "mouthDimpleRight"
    MOUTH_STRETCH_LEFT = "mouthStretchLeft"
    MOUTH_STRETCH_RIGHT = "mouthStretchRight"
    MOUTH_ROLL_LOWER = "mouthRollLower"
    MOUTH_ROLL_UPPER = "mouthRollUpper"
    MOUTH_SHRUG_LOWER = "mouthShrugLower"
    MOUTH_SHRUG_UPPER = "mouthShrugUpper"
    MOUTH_PRESS_LEFT = "mouthPressLeft"
    MOUTH_PRESS_RIGHT = "mouthPressRight"
    MOUTH_LOWER_DOWN_LEFT = "mouthLowerDownLeft"
    MOUTH_LOWER_DOWN_RIGHT = "mouthLowerDownRight"
    MOUTH_UPPER_UP_LEFT = "mouthUpperUpLeft"
    MOUTH_UPPER_UP_RIGHT = "mouthUpperUpRight"
    BROW_DOWN_LEFT = "browDownLeft"
    BROW_DOWN_RIGHT = "browDownRight"
    BROW_INNER_UP = "browInnerUp"
    BROW_OUTER_UP_LEFT = "browOuterUpLeft"
    BROW_OUTER_UP_RIGHT = "browOuterUpRight"
    CHEEK_PUFF = "cheekPuff"
    CHEEK_SQUINT_LEFT = "cheekSquintLeft"
    CHEEK_SQUINT_RIGHT = "cheekSquintRight"
    NOSE_SNEER_LEFT = "noseSneerLeft"
    NOSE_SNEER_RIGHT = "noseSneerRight"
    TONGUE_OUT = "tongueOut"


NOT_MEASURED: frozenset[BlendShape] = frozenset({BlendShape.TONGUE_OUT})
"""Blend shapes MediaPipe cannot estimate; they are always reported as ``None``."""

NAMES: tuple[str, ...] = tuple(shape.value for shape in BlendShape)
"""The 52 names in ARKit order, the key order of every blend-shape mapping."""


def empty_blendshapes() -> dict[str, float | None]:
    """All 52 keys with ``None``: the value of a frame where no face was found."""
    return dict.fromkeys(NAMES)
