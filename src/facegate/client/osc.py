"""Expression frames out as OSC in the VMC protocol, for avatar software.

The bridge is an ordinary app: it streams under a grant token, so without a grant
that includes ``expressions`` nothing is sent, and a revocation stops it within a
second. Per frame it sends one OSC bundle holding ``/VMC/Ext/Blend/Val`` (name,
value) for each measured ARKit blend shape, then ``/VMC/Ext/Blend/Apply``; values
that are not measured (``tongueOut``) are left out rather than sent as 0.
Receivers that support "perfect sync" (VSeeFace, VNyan, ...) map the ARKit names
directly. The default port 39539 is the VMC performer port.
"""

from __future__ import annotations

from collections.abc import Mapping

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from facegate.client.stream import StreamClosed, stream
from facegate.vision.blendshapes import NAMES

BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 39539


def _message(address: str, *args: str | float) -> OscMessageBuilder:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder


class VmcSender:
    """Sends blend shapes to one VMC receiver over UDP."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self._client = SimpleUDPClient(host, port)

    def send(self, blendshapes: Mapping[str, float | None]) -> int:
        """One bundle: a Val per measured shape, then Apply. Returns how many values went."""
        bundle = OscBundleBuilder(IMMEDIATELY)
        sent = 0
        for name in NAMES:
            value = blendshapes.get(name)
            if value is None:
                continue
            bundle.add_content(_message(BLEND_VAL, name, float(value)).build())
            sent += 1
        bundle.add_content(_message(BLEND_APPLY).build())
        self._client.send(bundle.build())
        return sent


async def bridge(
    stream_url: str,
    token: str,
    sender: VmcSender,
    *,
    max_frames: int | None = None,
) -> int:
    """Forward the stream's blend shapes to ``sender``; returns the frames forwarded.

    A grant without the ``expressions`` scope is refused at the first frame; a frame
    where no face was found is skipped, so the avatar holds its last expression.
    """
    forwarded = 0
    async for frame in stream(stream_url, token, max_frames=max_frames):
        if frame.blendshapes is None:
            raise StreamClosed(None, "the grant does not include the expressions scope")
        if not frame.face_found:
            continue
        sender.send(frame.blendshapes)
        forwarded += 1
    return forwarded
