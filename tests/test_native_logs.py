"""Native start-up chatter stays off the terminal; anything else still reaches it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from facegate.vision.native_logs import is_chatter, native_chatter_to_debug

# Lines MediaPipe 0.10 printed while building the face landmarker graph.
MEDIAPIPE_LINES = [
    "WARNING: Logging before InitGoogle() is written to STDERR",
    "W0000 00:00:1795563539.945577    5820 face_landmarker_graph.cc:181] Sets "
    "FaceBlendshapesGraph acceleration to xnnpack by default.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "W0000 00:00:1795563539.970084    5825 inference_feedback_manager.cc:121] Feedback "
    "manager requires a model with a single signature inference.",
]


@pytest.mark.parametrize("line", MEDIAPIPE_LINES)
def test_mediapipe_start_up_lines_are_chatter(line: str) -> None:
    assert is_chatter(line)


@pytest.mark.parametrize(
    "line",
    [
        "E0000 00:00:1795563539.945577    5820 calculator_graph.cc:887] INTERNAL: failed",
        "F0000 00:00:1795563539.945577    5820 graph.cc:1] Check failed: model != nullptr",
        "Segmentation fault",
        "error: the model file is corrupt",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU. And then it failed.",
    ],
)
def test_errors_and_unknown_lines_are_not_chatter(line: str) -> None:
    assert not is_chatter(line)


def test_chatter_goes_to_debug_log_and_errors_back_to_stderr(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    error = "E0000 00:00:1.0 1 graph.cc:2] the graph could not start"
    logger = "facegate.vision.native_logs"
    with caplog.at_level(logging.DEBUG, logger=logger), native_chatter_to_debug():
        os.write(2, ("\n".join([*MEDIAPIPE_LINES, error]) + "\n").encode())
    err = capfd.readouterr().err
    assert err.strip() == error
    assert [r.getMessage() for r in caplog.records] == [f"native: {x}" for x in MEDIAPIPE_LINES]


def test_stderr_is_restored_and_forwarded_when_the_block_raises(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError, match="load failed"), native_chatter_to_debug():
        os.write(2, b"mediapipe: cannot open model\n")
        raise RuntimeError("load failed")
    os.write(2, b"after the block\n")
    assert capfd.readouterr().err == "mediapipe: cannot open model\nafter the block\n"


def test_loading_the_face_landmarker_prints_nothing() -> None:
    # A fresh interpreter: MediaPipe prints its "before InitGoogle" notice only once
    # per process, so only a new process shows what a user's first command shows.
    code = (
        "from facegate.vision.mesh import FaceMesher\n"
        "FaceMesher.create_from_options().close()\n"
        "print('loaded')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "loaded"
    assert run.stderr == ""
