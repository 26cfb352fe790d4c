"""OSC (VMC protocol) output, received by a real python-osc server on 127.0.0.1, only under
a grant that includes expressions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from typer.testing import CliRunner

from facegate.cli import app as cli_app
from facegate.client import StreamClosed
from facegate.client.osc import BLEND_APPLY, BLEND_VAL, VmcSender, bridge
from facegate.vision.blendshapes import NAMES
from sharing_service import LiveService, add_app, approved_token, live_fixture  # noqa: F401

FRAMES = 10


class Receiver:
    """Everything a VMC receiver got, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[object, ...]]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._record)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)

    def _record(self, address: str, *args: object) -> None:
        self.messages.append((address, args))

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_blend_shapes_arrive_as_vmc_messages(live: LiveService, receiver: Receiver) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])
    sender = VmcSender("127.0.0.1", receiver.port)
    sent = asyncio.run(bridge(live.stream_url, issued.token, sender, max_frames=FRAMES))
    assert sent > 0
    for _ in range(100):
        if sum(a == BLEND_APPLY for a, _ in receiver.messages) >= sent:
            break
        threading.Event().wait(0.02)
    applies = [i for i, (address, _) in enumerate(receiver.messages) if address == BLEND_APPLY]
    assert len(applies) == sent
    first = receiver.messages[: applies[0]]
    assert {address for address, _ in first} == {BLEND_VAL}
    names = [args[0] for _, args in first]
    assert names == [n for n in NAMES if n != "tongueOut"], "every measured shape, in order"
    assert all(isinstance(args[1], float) and 0 <= args[1] <= 1 for _, args in first)


def test_no_expressions_grant_no_osc(live: LiveService, receiver: Receiver) -> None:
    app, _ = add_app(live.sharing)
    sender = VmcSender("127.0.0.1", receiver.port)
    with pytest.raises(StreamClosed) as unknown:
        asyncio.run(bridge(live.stream_url, "fgt_" + "n" * 43, sender, max_frames=3))
    assert unknown.value.code == 4401
    pose_only = approved_token(live.sharing, app.id, ["head_pose"])
    with pytest.raises(StreamClosed, match="expressions"):
        asyncio.run(bridge(live.stream_url, pose_only.token, sender, max_frames=3))
    threading.Event().wait(0.2)
    assert receiver.messages == []


def test_the_osc_command_forwards_under_a_grant(
    live: LiveService, receiver: Receiver, tmp_path: Path
) -> None:
    app, _ = add_app(live.sharing)
    token_file = tmp_path / "token"
    token_file.write_text(approved_token(live.sharing, app.id, ["expressions"]).token)
    args = ["osc", "--stream-url", live.stream_url, "--token-file", str(token_file)]
    args += ["--port", str(receiver.port), "--frames", "5"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "forwarded" in result.output and f"127.0.0.1:{receiver.port}" in result.output
    token_file.write_text("fgt_" + "q" * 43)
    refused = CliRunner().invoke(cli_app, args)
    assert refused.exit_code == 2 and "4401" in refused.stderr
