"""OSC (VMC protocol) output, received by a real python-osc server on 127.0.0.1, only under
a grant: blend shapes and VRM clips, the head bone and the root, and `facegate osc`
getting its own grant through the consent page."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from typer.testing import CliRunner

from facegate.cli import app as cli_app
from facegate.client import StreamClosed
from facegate.client.osc import (
    BLEND_APPLY,
    BLEND_VAL,
    BONE_POS,
    OK,
    ROOT_POS,
    TIME,
    VRM_CLIPS,
    VmcSender,
    bridge,
    head_rotation,
)
from facegate.sharing.consent import RequestStatus
from facegate.sharing.service import Via
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
    assert [address for address, _ in first[:2]] == [OK, TIME]
    values = first[2:]
    assert {address for address, _ in values} == {BLEND_VAL}, "no pose without head_pose"
    names = [args[0] for _, args in values]
    measured = [n for n in NAMES if n != "tongueOut"]
    assert names == measured + list(VRM_CLIPS), "every measured shape in order, then VRM clips"
    assert all(isinstance(args[1], float) and 0 <= args[1] <= 1 for _, args in values)


def test_no_expressions_grant_no_osc(live: LiveService, receiver: Receiver) -> None:
    app, _ = add_app(live.sharing)
    sender = VmcSender("127.0.0.1", receiver.port)
    with pytest.raises(StreamClosed) as unknown:
        asyncio.run(bridge(live.stream_url, "fgt_" + "n" * 43, sender, max_frames=3))
    assert unknown.value.code == 4401
    map_only = approved_token(live.sharing, app.id, ["face_map"])
    with pytest.raises(StreamClosed, match="expressions"):
        asyncio.run(bridge(live.stream_url, map_only.token, sender, max_frames=3))
    threading.Event().wait(0.2)
    assert receiver.messages == []


def test_the_osc_command_forwards_under_a_grant(
    live: LiveService, receiver: Receiver, tmp_path: Path
) -> None:
    app, _ = add_app(live.sharing)
    token_file = tmp_path / "token"
    token_file.write_text(approved_token(live.sharing, app.id, ["expressions"]).token)
    args = ["osc", "--service", live.base_url, "--token-file", str(token_file)]
    args += ["--port", str(receiver.port), "--frames", "5"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "forwarded" in result.output and f"127.0.0.1:{receiver.port}" in result.output
    assert "another machine" not in result.stderr
    token_file.write_text("fgt_" + "q" * 43)
    refused = CliRunner().invoke(cli_app, args)
    assert refused.exit_code == 2 and "4401" in refused.stderr
    # Another machine: said out loud, since the frames leave it unencrypted (outside
    # review: the consent text said "on this computer"). 192.0.2.1 is TEST-NET-1.
    elsewhere = CliRunner().invoke(cli_app, [*args[:-4], "--host", "192.0.2.1", "--frames", "1"])
    assert "192.0.2.1" in elsewhere.stderr and "unencrypted UDP" in elsewhere.stderr


def test_the_osc_command_names_its_receiver_in_the_audit_log(
    live: LiveService, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the frames went is in the session's audit entries, the API's and `facegate
    audit show`'s (outside review F4: only a session id was recorded)."""
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions"])
    token_file = tmp_path / "token"
    token_file.write_text(issued.token)
    args = ["osc", "--service", live.base_url, "--token-file", str(token_file)]
    args += ["--host", "127.0.0.1", "--port", str(receiver.port), "--frames", "5"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    where = f"osc.udp://127.0.0.1:{receiver.port}"
    for _ in range(100):
        session = [e for e in live.sharing.audit_entries() if e.grant_id == issued.grant.id]
        if any(e.event == "stream_ended" for e in session):
            break
        threading.Event().wait(0.05)
    streamed = {e.event: e for e in session if e.event.startswith("stream_")}
    assert set(streamed) == {"stream_started", "stream_ended"}
    assert {e.detail["destination"] for e in streamed.values()} == {where}
    assert streamed["stream_ended"].frames is not None and streamed["stream_ended"].frames >= 5
    user = {"Authorization": f"Bearer {live.user_token}"}
    listed = httpx.get(f"{live.base_url}api/user/audit", headers=user).json()
    assert [e["detail"]["destination"] for e in listed if "destination" in e["detail"]] == [
        where,
        where,
    ]
    monkeypatch.setenv("FACEGATE_HOME", str(live.home))
    shown = json.loads(CliRunner().invoke(cli_app, ["audit", "show", "--json"]).output)
    assert [e["destination"] for e in shown if e["destination"]] == [where, where]
    assert VmcSender("::1", 39539).destination == "osc.udp://[::1]:39539"


def _rotate(q: tuple[float, float, float, float], v: tuple[float, float, float]) -> list[float]:
    """``q * v`` as Unity applies a rotation to a vector."""
    x, y, z, w = q
    matrix = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return [sum(row[i] * v[i] for i in range(3)) for row in matrix]


@pytest.mark.parametrize(
    ("pose", "forward_moves"),
    [
        ((30.0, 0.0, 0.0), (0, -1)),  # turns to the person's left: the face goes to -x
        ((0.0, 20.0, 0.0), (1, +1)),  # looks up: the face goes up (+y)
    ],
)
def test_the_head_bone_turns_the_way_the_person_does(
    pose: tuple[float, float, float], forward_moves: tuple[int, int]
) -> None:
    q = head_rotation(*pose)
    assert abs(sum(c * c for c in q) - 1) < 1e-9
    forward = _rotate(q, (0.0, 0.0, 1.0))  # the avatar's face, in its own frame (+z)
    axis, sign = forward_moves
    assert forward[axis] * sign > 0.3
    up = _rotate(head_rotation(0.0, 0.0, 25.0), (0.0, 1.0, 0.0))
    assert up[0] > 0.3, "a tilt to the right shoulder moves the top of the head to +x"


def test_a_full_grant_moves_the_head_bone_and_root(live: LiveService, receiver: Receiver) -> None:
    app, _ = add_app(live.sharing)
    issued = approved_token(live.sharing, app.id, ["expressions", "head_pose"])
    sent = asyncio.run(
        bridge(live.stream_url, issued.token, VmcSender("127.0.0.1", receiver.port), max_frames=15)
    )
    assert sent > 0
    for _ in range(100):
        if sum(a == BLEND_APPLY for a, _ in receiver.messages) >= sent:
            break
        threading.Event().wait(0.02)
    bones = [args for address, args in receiver.messages if address == BONE_POS]
    roots = [args for address, args in receiver.messages if address == ROOT_POS]
    oks = [args for address, args in receiver.messages if address == OK]
    assert len(bones) == len(roots) == len(oks) == sent
    assert all(args[0] == "Head" and len(args) == 8 for args in bones)
    assert all(abs(sum(c * c for c in args[4:]) - 1) < 1e-4 for args in bones)  # type: ignore[misc, operator]
    assert any(abs(float(args[5])) > 1e-3 for args in bones), "the head turns in the clip"  # type: ignore[arg-type]
    assert all(args[0] == "root" and len(args) == 8 for args in roots)
    assert roots[0][1:4] == (0.0, 0.0, 0.0), "the root starts where the head first was"
    assert all(args == (1, 3, 0, 1) for args in oks)
    clips = {args[0] for address, args in receiver.messages if address == BLEND_VAL}
    assert set(VRM_CLIPS) <= clips


def test_the_osc_command_asks_for_consent_then_streams(
    live: LiveService, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_HOME", str(live.home))
    monkeypatch.delenv("FACEGATE_TOKEN", raising=False)
    args = ["osc", "--service", live.base_url, "--port", str(receiver.port), "--frames", "5"]
    results = []
    runner = threading.Thread(target=lambda: results.append(CliRunner().invoke(cli_app, args)))
    runner.start()
    for _ in range(300):
        pending = live.sharing.consent_requests(RequestStatus.PENDING)
        if pending:
            break
        threading.Event().wait(0.05)
    (request,) = pending
    assert live.sharing.app(request.app_id).name == "VMC avatar bridge"
    assert {s.value for s in request.scopes} == {"expressions", "head_pose"}
    live.sharing.approve(request.id, Via.WEB)
    runner.join(60)
    (result,) = results
    assert result.exit_code == 0, result.output
    assert f"/consent/{request.id}" in result.output
    assert "forwarded" in result.output
    assert any(address == BONE_POS for address, _ in receiver.messages)
    again = []
    second = threading.Thread(target=lambda: again.append(CliRunner().invoke(cli_app, args)))
    second.start()
    for _ in range(300):
        pending = live.sharing.consent_requests(RequestStatus.PENDING)
        if pending:
            break
        threading.Event().wait(0.05)
    assert pending[0].app_id == request.app_id, "the bridge registers once"
    live.sharing.refuse(pending[0].id, Via.WEB)
    second.join(60)
    assert again[0].exit_code == 2 and "refused" in again[0].output
