"""The enrolled person logs in by face through the real PAM stack, answering the prompts.

A matching face on a camera is asked for a blink and a smile in random order, and a
recording cannot answer (test_system_pam.py). Here the camera is a named pipe fed by a
responder (``facegate.system.responder``): real webcam frames of the enrolled person
(soniya, enrolled from her other clip) at rest, who blinks or smiles when PAM's
conversation shows that prompt, as a person at the prompt would. The service reads the
pipe as a live camera, with the default timeout (10 s).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from facegate.system import attempts
from facegate.system.authenticate import enroll, open_system_session
from facegate.system.client import Outcome
from facegate.system.paths import SystemPaths
from facegate.system.responder import PipeFeed, Responder, soniya
from facegate.system.testbed import Daemon, PamService, UnixUser, temporary_root
from facegate.vision.sources import iter_frames
from system_service import require_root_and_pam

PROMPTS = ("Blink now", "Smile now")


@dataclass(frozen=True)
class Answering:
    paths: SystemPaths
    pam: PamService
    user: UnixUser
    feed: PipeFeed

    def failures(self) -> int:
        with open_system_session(self.paths) as session:
            return session.vault.user(self.user.name).failures


@pytest.fixture(scope="module")
def answering(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Answering]:
    require_root_and_pam()
    clips = data_dir / "blink_webcam_videos"
    cast = soniya(clips)
    enrol = clips / "soniya_test_3.avi"
    if not (cast.clip.is_file() and enrol.is_file()):
        pytest.skip(f"soniya's clips absent from {clips}")
    with ExitStack() as cleanup:  # undone in reverse order, whatever fails
        root = temporary_root()
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        user = UnixUser.create()
        cleanup.callback(user.remove)
        paths = SystemPaths(root=root)
        feed = PipeFeed(root / "camera.y4m", Responder(cast))
        cleanup.callback(feed.stop)
        paths.config_dir.mkdir(parents=True)
        paths.config_file.write_text(f'camera = "{feed.path}"\n')
        with open_system_session(paths) as session:
            enroll(session, user.name, iter_frames(enrol, max_frames=200, step=10))
        daemon = Daemon(paths, tmp_path_factory.mktemp("daemon") / "daemon.log")
        cleanup.callback(daemon.stop)
        pam = PamService(paths, paths.socket)
        cleanup.callback(pam.remove)
        yield Answering(paths, pam, user, feed)


def test_the_enrolled_person_answering_the_prompts_logs_in_by_face(answering: Answering) -> None:
    for _ in range(2):  # the draw is random: two logins rarely see only one order
        result = answering.pam.authenticate_watching(
            answering.user.name, "", " now", on_output=answering.feed.responder.hear_text
        )
        assert result.rc == 0, result.output
        assert not result.reached_password, "the face alone must have logged in"
        assert all(prompt in result.output for prompt in PROMPTS), result.output
        assert Outcome.MATCH.line in result.output
        last = attempts.recent(answering.paths.attempt_log, 1)[-1]
        assert (last.user, last.outcome) == (answering.user.name, Outcome.MATCH.value)
        assert answering.failures() == 0


def test_the_same_person_not_answering_falls_to_the_password(answering: Answering) -> None:
    """The same frames with nobody reading the prompts: a recording of the person."""
    result = answering.pam.authenticate_watching(
        answering.user.name, answering.user.password, " now"
    )
    assert result.reached_password and result.rc == 0, result.output
    assert any(prompt in result.output for prompt in PROMPTS)
    face = attempts.recent(answering.paths.attempt_log, 2)[0]
    assert face.outcome == Outcome.NO_MATCH.value, face
    assert answering.failures() == 0, "the password's clear line resets the count"
