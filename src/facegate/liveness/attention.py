"""Attention: unlock only for open eyes looking towards the camera, as Face ID does.

A sleeping person, or someone whose face is turned away while another holds the
device up to them, should not unlock it. Attention is judged on one frame's
:class:`facegate.vision.mesh.FaceMesh`: both eyes open (ARKit ``eyeBlink*``), the head
facing the camera (yaw and pitch in degrees) and the eyes not turned aside
(``Gaze``, head-relative activations in [-1, 1]). It can be switched off
(``UnlockOptions.require_attention``) for people who cannot hold their gaze or keep
their eyes open; that is an accessibility setting, not a liveness one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from facegate.vision.blendshapes import BlendShape
from facegate.vision.mesh import FaceMesh


class Inattention(StrEnum):
    """Why a frame was judged inattentive."""

    EYES_CLOSED = "eyes_closed"
    HEAD_TURNED = "head_turned"
    LOOKING_AWAY = "looking_away"
    NO_MESH = "no_mesh"


@dataclass(frozen=True)
class AttentionOptions:
    """Limits; lowering any of them is stricter.

    max_eye_closure: eyeBlink activation of the more closed eye (Yale: open eyes
        0.03-0.42, "sleepy" half-closed 0.44-0.84).
    max_head_degrees: |yaw| and |pitch| of the head, degrees.
    max_gaze: |horizontal| and |vertical| eye gaze activation relative to the head
        (NUAA webcam users reading a screen: vertical down to -0.6 at the 1st percentile).
    """

    max_eye_closure: float = 0.5
    max_head_degrees: float = 30.0
    max_gaze: float = 0.7


@dataclass(frozen=True)
class Attention:
    """One frame's judgement: ``reason`` is None when the person pays attention."""

    eye_closure: float | None
    yaw: float | None
    pitch: float | None
    reason: Inattention | None

    @property
    def attentive(self) -> bool:
        return self.reason is None


def judge_attention(mesh: FaceMesh | None, options: AttentionOptions | None = None) -> Attention:
    """Whether the face in ``mesh`` has open eyes and looks towards the camera."""
    opts = options or AttentionOptions()
    if mesh is None:
        return Attention(None, None, None, Inattention.NO_MESH)
    shapes = mesh.blendshapes
    closure = max(
        float(shapes[BlendShape.EYE_BLINK_LEFT.value] or 0.0),
        float(shapes[BlendShape.EYE_BLINK_RIGHT.value] or 0.0),
    )
    pose, gaze = mesh.head_pose, mesh.gaze
    reason: Inattention | None = None
    if closure > opts.max_eye_closure:
        reason = Inattention.EYES_CLOSED
    elif max(abs(pose.yaw), abs(pose.pitch)) > opts.max_head_degrees:
        reason = Inattention.HEAD_TURNED
    elif max(abs(gaze.horizontal), abs(gaze.vertical)) > opts.max_gaze:
        reason = Inattention.LOOKING_AWAY
    return Attention(closure, pose.yaw, pose.pitch, reason)
