"""Expression frames out as OSC in the VMC protocol, for avatar software.

The bridge is an ordinary app: it streams under a grant token, so without a grant
nothing is sent, and a revocation stops it within a second. Each frame with a face
becomes one OSC bundle (https://protocol.vmc.info/english):

``/VMC/Ext/OK (int 1, int 3, int 0, int tracking)``
    a model is loaded, calibrated, in normal mode; tracking 1 when a face was found.
``/VMC/Ext/T (float t)``
    the frame's time, seconds from the stream's start.
``/VMC/Ext/Root/Pos ("root", px, py, pz, qx, qy, qz, qw)``  (``head_pose`` scope)
    where the head is relative to where it was on the first tracked frame, in
    **metres** in Unity's left-handed frame as seen by the avatar facing the viewer:
    +x the person's own left, +y up, +z away from the camera. Rotation is identity.
``/VMC/Ext/Bone/Pos ("Head", 0, 0, 0, qx, qy, qz, qw)``  (``head_pose`` scope)
    the head's local rotation: Unity's ``Quaternion.Euler(-pitch, -yaw, -roll)``
    (applied Z, X, Y), so the avatar turns, nods and tilts the way the person does,
    as a person facing you would (not mirrored).
``/VMC/Ext/Blend/Val (name, value)`` then ``/VMC/Ext/Blend/Apply``  (``expressions``)
    every measured ARKit blend shape under its own name (for "perfect sync" models;
    ``tongueOut`` is not measured, so it is left out rather than sent as 0), then
    the standard VRM clips any VRM model has: ``Blink_L``, ``Blink_R``, ``Blink``
    and the vowels ``A``, ``I``, ``U``, ``E``, ``O`` (``vrm_clips``).

The default port 39539 is the VMC performer port (VSeeFace, VNyan and VTube Studio
listen there when their VMC receiver is on; see docs/apps.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from facegate.client.streaming import StreamClosed, StreamFrame, stream
from facegate.vision.blendshapes import NAMES

BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"
BONE_POS = "/VMC/Ext/Bone/Pos"
ROOT_POS = "/VMC/Ext/Root/Pos"
OK = "/VMC/Ext/OK"
TIME = "/VMC/Ext/T"
HEAD_BONE = "Head"
VRM_CLIPS = ("Blink_L", "Blink_R", "Blink", "A", "I", "U", "E", "O")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 39539
CM_PER_M = 100.0

Quaternion = tuple[float, float, float, float]


def _message(address: str, *args: str | float | int) -> OscMessageBuilder:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def vrm_clips(shapes: Mapping[str, float | None]) -> dict[str, float]:
    """The VRM 0.x preset clips from ARKit coefficients, each in [0, 1].

    Blinks are the eye-blink coefficients. The vowels are a simple mouth-shape
    reading, not speech recognition: how open the jaw is, how wide (stretch, smile)
    and how round (funnel, pucker) the lips are. ``A`` open and not round, ``I`` wide
    and nearly closed, ``U`` round and nearly closed, ``E`` wide and half open,
    ``O`` round and open.
    """

    def get(name: str) -> float:
        return float(shapes.get(name) or 0.0)

    blink_l, blink_r = get("eyeBlinkLeft"), get("eyeBlinkRight")
    jaw = get("jawOpen")
    wide = max(
        (get("mouthStretchLeft") + get("mouthStretchRight")) / 2,
        (get("mouthSmileLeft") + get("mouthSmileRight")) / 2,
    )
    funnel, pucker = get("mouthFunnel"), get("mouthPucker")
    round_ = max(funnel, pucker)
    return {
        "Blink_L": _clip(blink_l),
        "Blink_R": _clip(blink_r),
        "Blink": _clip(min(blink_l, blink_r)),
        "A": _clip(jaw * (1 - round_) * (1 - wide)),
        "I": _clip(wide * (1 - jaw)),
        "U": _clip(pucker * (1 - jaw)),
        "E": _clip(wide * jaw * 2),
        "O": _clip(funnel * jaw * 2),
    }


def _axis_angle(axis: int, degrees: float) -> Quaternion:
    half = math.radians(degrees) / 2
    xyz = [0.0, 0.0, 0.0]
    xyz[axis] = math.sin(half)
    return (xyz[0], xyz[1], xyz[2], math.cos(half))


def _multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def head_rotation(yaw: float, pitch: float, roll: float) -> Quaternion:
    """The head bone's rotation (x, y, z, w) for a pose in FaceGate's degrees.

    Unity's ``Quaternion.Euler(x, y, z)`` is ``Ry(y) * Rx(x) * Rz(z)``; in its
    left-handed frame a positive Y turn moves the face towards +x, the avatar's
    right, so each FaceGate angle (yaw > 0 to the person's left, pitch > 0 up, roll
    > 0 towards the right shoulder) enters negated.
    """
    return _multiply(_multiply(_axis_angle(1, -yaw), _axis_angle(0, -pitch)), _axis_angle(2, -roll))


class VmcSender:
    """Sends frames to one VMC receiver over UDP; remembers where the head started."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self._client = SimpleUDPClient(host, port)
        self._origin: tuple[float, float, float] | None = None
        shown_host = f"[{host}]" if ":" in host else host
        # An OSC URL (as liblo writes them): says the frames go out as OSC over UDP.
        self.destination = f"osc.udp://{shown_host}:{port}"

    def send(self, blendshapes: Mapping[str, float | None]) -> int:
        """Blend shapes only (no pose): one bundle. Returns how many values went."""
        return self.send_frame(StreamFrame(t=0.0, face_found=True, blendshapes=blendshapes))

    def send_frame(self, frame: StreamFrame) -> int:
        """One bundle for a frame: OK, T, then root and head bone, blend shapes, Apply.

        Returns how many blend-shape values were sent.
        """
        bundle = OscBundleBuilder(IMMEDIATELY)
        bundle.add_content(_message(OK, 1, 3, 0, int(frame.face_found)).build())
        bundle.add_content(_message(TIME, float(frame.t)).build())
        if frame.head_pose is not None:
            for message in self._pose_messages(frame.head_pose):
                bundle.add_content(message.build())
        sent = 0
        if frame.blendshapes is not None:
            for name in NAMES:
                value = frame.blendshapes.get(name)
                if value is None:
                    continue
                bundle.add_content(_message(BLEND_VAL, name, float(value)).build())
                sent += 1
            for clip, value in vrm_clips(frame.blendshapes).items():
                bundle.add_content(_message(BLEND_VAL, clip, value).build())
            bundle.add_content(_message(BLEND_APPLY).build())
        self._client.send(bundle.build())
        return sent

    def _pose_messages(self, pose: Mapping[str, float | None]) -> list[OscMessageBuilder]:
        values = {k: pose.get(k) for k in ("yaw", "pitch", "roll", "tx", "ty", "tz")}
        if any(v is None for v in values.values()):
            return []
        yaw, pitch, roll, tx, ty, tz = (float(v) for v in values.values())  # type: ignore[arg-type]
        if self._origin is None:
            self._origin = (tx, ty, tz)
        ox, oy, oz = self._origin
        root = ((tx - ox) / CM_PER_M, (ty - oy) / CM_PER_M, -(tz - oz) / CM_PER_M)
        qx, qy, qz, qw = head_rotation(yaw, pitch, roll)
        return [
            _message(ROOT_POS, "root", *root, 0.0, 0.0, 0.0, 1.0),
            _message(BONE_POS, HEAD_BONE, 0.0, 0.0, 0.0, qx, qy, qz, qw),
        ]


async def bridge(
    stream_url: str,
    token: str,
    sender: VmcSender,
    *,
    max_frames: int | None = None,
) -> int:
    """Forward the stream to ``sender``; returns the frames forwarded.

    The service is told where the frames go (``sender.destination``), so the person's
    audit log names the receiver of each session. A grant with neither
    ``expressions`` nor ``head_pose`` is refused at the first frame; a frame where no
    face was found is skipped, so the avatar holds its pose.
    """
    forwarded = 0
    frames = stream(stream_url, token, max_frames=max_frames, destination=sender.destination)
    async for frame in frames:
        if frame.blendshapes is None and frame.head_pose is None:
            raise StreamClosed(
                None, "the grant includes neither the expressions nor the head_pose scope"
            )
        if not frame.face_found:
            continue
        sender.send_frame(frame)
        forwarded += 1
    return forwarded
