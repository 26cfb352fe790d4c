"""The Python client for apps: register, ask for consent, then stream frames.

::

    from facegate.client import AppClient, stream

    app = AppClient.register("http://127.0.0.1:8765", private_key, name="Mirror", ...)
    app.accept_terms()
    request = app.request_consent(["expressions", "head_pose"])
    print("Ask the person to open", request.consent_url)
    token = app.wait_for_token(request.id)
    async for frame in stream(token.stream_url, token.token):
        frame.blendshapes["jawOpen"]

``stream`` ends when the source ends and raises ``StreamClosed`` when the service
refuses or ends the grant (revoked, expired, app banned). ``verify_notice`` checks a
deletion notice POSTed to the app's webhook. ``facegate.client.osc`` forwards the
stream to avatar software over OSC (VMC protocol). The protocol is in ``docs/apps.md``.

The names are imported on first use, and the HTTP client when an ``AppClient`` is
made, so an app that only imports the SDK does not pay for them at start-up
(``facegate bench startup``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facegate.lazy_names import lazy_names

if TYPE_CHECKING:
    from facegate.client.app import AppClient, AppError, ConsentInfo, TokenInfo
    from facegate.client.notices import DeletionNotice, InvalidNotice, verify_notice
    from facegate.client.streaming import StreamClosed, StreamFrame, stream

_LAZY = {
    "AppClient": "facegate.client.app",
    "AppError": "facegate.client.app",
    "ConsentInfo": "facegate.client.app",
    "TokenInfo": "facegate.client.app",
    "DeletionNotice": "facegate.client.notices",
    "InvalidNotice": "facegate.client.notices",
    "verify_notice": "facegate.client.notices",
    "StreamClosed": "facegate.client.streaming",
    "StreamFrame": "facegate.client.streaming",
    "stream": "facegate.client.streaming",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "AppClient",
    "AppError",
    "ConsentInfo",
    "DeletionNotice",
    "InvalidNotice",
    "StreamClosed",
    "StreamFrame",
    "TokenInfo",
    "stream",
    "verify_notice",
]
