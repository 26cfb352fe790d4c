"""`facegate serve` as a real process: the live tracker over a video file, the sign-in
link, a full consent flow and a stream, then a clean stop on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from facegate.bench.stream import write_sample_clip
from facegate.cli import app as cli_app
from facegate.client import AppClient, StreamClosed, stream
from facegate.config import load_settings
from facegate.models import ModelFiles
from facegate.server.feeds import TrackerFeed
from sharing_service import add_app, approved_token, open_sharing

FACEGATE = Path(sys.executable).with_name("facegate")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_streams_the_live_tracker_under_a_grant(tmp_path: Path) -> None:
    clip = write_sample_clip(tmp_path / "face.avi")
    home = tmp_path / "home"
    port = _free_port()
    env = {**os.environ, "FACEGATE_HOME": str(home), "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    command = [str(FACEGATE), "serve", "--port", str(port), "--source", str(clip), "--loop"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        login, printed = None, ""
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while login is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            printed += line
            login = re.search(r"(http://127\.0\.0\.1:\d+/login#(\S+))", line)
        assert login is not None, "no sign-in link was printed"
        assert f"expression source: a video file (looping) ({clip})" in printed
        base, user_token = f"http://127.0.0.1:{port}/", login.group(2)
        for _ in range(200):
            try:
                httpx.get(base + "api/v1/terms")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        # Public (any local process, any user): what the source is, never the file's path.
        status = httpx.get(base + "api/v1/status").json()
        assert status == {"source_ok": True, "source": "a video file (looping)"}
        assert str(tmp_path) not in httpx.get(base + "login").text

        with AppClient.register(
            base,
            Ed25519PrivateKey.generate(),
            name="Mirror",
            developer="Example Studio",
            contact="privacy@example.org",
            purpose="Mirror the face",
            retention_days=1,
            webhook_url="https://hooks.example.org/facegate",
        ) as app:
            app.accept_terms()
            asked = app.request_consent(["expressions", "head_pose"])
            approved = httpx.post(
                f"{base}api/user/consent-requests/{asked.id}/approve",
                headers={"Authorization": f"Bearer {user_token}"},
            )
            assert approved.status_code == 200, approved.text
            issued = app.claim_token(asked.id)

        async def take() -> list[object]:
            return [f async for f in stream(issued.stream_url, issued.token, max_frames=15)]

        frames = asyncio.run(asyncio.wait_for(take(), 60))
        assert len(frames) == 15
        found = [f for f in frames if f.face_found]  # type: ignore[attr-defined]
        assert found and all(f.blendshapes and f.head_pose for f in found)  # type: ignore[attr-defined]
        assert all(f.face_map is None for f in frames)  # type: ignore[attr-defined]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(15)
    assert code in (0, 130), "uvicorn shuts down, then re-raises Ctrl-C (exit 130)"
    with open_sharing(home) as sharing:
        events = [e.event for e in sharing.audit_entries()]
        assert "stream_started" in events and "stream_ended" in events
        assert sharing.verify_audit().ok


def test_serve_refuses_a_non_loopback_address(home: Path) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "8765"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.stderr


def test_serve_without_a_camera_says_so_and_streams_get_4503_not_a_traceback(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    port = _free_port()
    env = {**os.environ, "FACEGATE_HOME": str(home), "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    command = [str(FACEGATE), "serve", "--port", str(port), "--source", "96"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status = httpx.get(base + "api/v1/status").json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == {"source_ok": False, "source": status["source"]}
        assert "no camera 96" in status["source"]
        with open_sharing(home) as sharing:
            app, _ = add_app(sharing)
            issued = approved_token(sharing, app.id)

        url = f"ws://127.0.0.1:{port}/api/v1/stream"

        async def refused() -> list[object]:
            return [f async for f in stream(url, issued.token)]

        try:
            asyncio.run(asyncio.wait_for(refused(), 30))
        except StreamClosed as closed:
            assert closed.code == 4503 and "no camera 96" in closed.reason
        else:
            raise AssertionError("a stream without a source must be refused")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert "no expression source" in stderr and "no camera 96" in stderr
    assert "Traceback" not in stderr


def test_an_unreadable_file_source_is_described_without_its_path(tmp_path: Path) -> None:
    """The status is public to every local process; the path stays in the terminal."""
    missing = tmp_path / "alice-private" / "clip.avi"
    models = ModelFiles.of(load_settings(tmp_path / "home"))
    checked = TrackerFeed(str(missing), models).check()
    assert not checked.ok and "cannot be read" in checked.message
    assert "alice-private" not in checked.message and str(missing) in checked.detail
