"""Attacks on the unlock path, each kept as a test: the quick path, races, a full disk,
a re-enrolment during a verify, and scores as an oracle. Real models, real SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import facegate
from conftest import astronaut_probe
from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.template import Template
from facegate.cli import app
from facegate.demo import _captures
from facegate.errors import Reason, VaultError
from facegate.liveness.challenge import ChallengeKind
from facegate.liveness.check import LivenessMode
from facegate.session import Session
from facegate.system.responder import Responder, soniya
from facegate.vault import DEFAULT_MAX_FAILURES
from facegate.vision.sources import Frame, iter_frames, read_image

NUAA = "nuaa_photo_imposter_subset"
FACEGATE = [str(Path(sys.executable).with_name("facegate"))]


def _nuaa(data_dir: Path, subject: str) -> dict[str, list[Path]]:
    root = data_dir / NUAA
    live = sorted((root / "ClientRaw" / subject).glob("*.jpg"))
    attacks = sorted((root / "ImposterRaw" / subject).glob("*.jpg"))
    if len(live) < 23 or len(attacks) < 20:
        pytest.skip(f"{root} lacks subject {subject}'s live and print images")
    return {
        "enrol": live[:3],
        "live": live[3:23],
        "attacks": attacks[:: len(attacks) // 20][:20],
    }


@pytest.fixture
def nuaa_user(data_dir: Path) -> dict[str, list[Path]]:
    return _nuaa(data_dir, "0001")


def test_cli_and_python_give_the_same_verdicts_and_no_print_gets_in(
    home: Path, nuaa_user: dict[str, list[Path]]
) -> None:
    """The issue's 40 inputs: 20 live frames and 20 printed-photo attacks of the enrolled
    person. The quick path once accepted every print and learnt it into the template."""
    facegate.enroll("n1", list(nuaa_user["enrol"]))
    runner = CliRunner()
    python_reasons, cli_reasons = [], []
    for kind in ("live", "attacks"):
        with Session.open() as session:
            version = session.vault.read_template("n1").version  # live matches may teach
        for path in nuaa_user[kind]:
            verdict = facegate.verify("n1", [path])
            python_reasons.append((kind, verdict.reason))
            result = runner.invoke(app, ["verify", "n1", str(path), "--json"])
            assert result.exit_code in (0, 1), result.output
            cli_reasons.append((kind, Reason(json.loads(result.output)["reason"])))
            with Session.open() as session:
                session.vault.reset_lockout("n1")
            if kind == "attacks":
                assert not verdict.matched
                with Session.open() as session:
                    assert session.vault.read_template("n1").version == version
    assert python_reasons == cli_reasons
    accepted = Counter(k for k, r in python_reasons if r is Reason.MATCH)
    assert accepted["attacks"] == 0
    # The prints are refused for liveness after matching, or do not match at all.
    attack_reasons = Counter(r for k, r in python_reasons if k == "attacks")
    assert set(attack_reasons) <= {Reason.LIVENESS, Reason.NOT_MATCHED}
    assert attack_reasons[Reason.LIVENESS] >= 10, attack_reasons


def _impostor_verdicts_in_parallel(user: str, probe: Path, n: int) -> list[facegate.Verdict]:
    barrier = threading.Barrier(n)
    verdicts: list[facegate.Verdict] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with Session.open() as session:
                assert session.vault.user(user)  # open the vault before the start line
                barrier.wait()
                verdicts.append(session.verify(user, [probe]))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return verdicts


@pytest.fixture
def enrolled_astronaut(home: Path, astronaut_bgr: np.ndarray) -> str:
    with Session.open() as session:
        session.unlocker.enroll("astro", _captures(astronaut_bgr, "astronaut"))
    return "astro"


@pytest.fixture
def astronaut_probe_path(tmp_path: Path, astronaut_bgr: np.ndarray) -> Path:
    path = tmp_path / "probe.png"
    cv2.imwrite(str(path), astronaut_probe(astronaut_bgr))
    return path


@pytest.mark.dataset
def test_parallel_python_attempts_are_scored_at_most_as_often_as_attempts_remain(
    enrolled_astronaut: str, other_person_path: Path, astronaut_probe_path: Path
) -> None:
    verdicts = _impostor_verdicts_in_parallel(enrolled_astronaut, other_person_path, 12)
    reasons = Counter(v.reason for v in verdicts)
    assert reasons[Reason.NOT_MATCHED] == DEFAULT_MAX_FAILURES
    assert reasons[Reason.LOCKED_OUT] == 12 - DEFAULT_MAX_FAILURES
    off = UnlockOptions(liveness=LivenessMode.OFF)
    with Session.open() as session:
        assert session.vault.user(enrolled_astronaut).failures == DEFAULT_MAX_FAILURES
        genuine = session.verify(enrolled_astronaut, [astronaut_probe_path], off)
    assert genuine.reason is Reason.LOCKED_OUT and not genuine.matched


@pytest.mark.dataset
def test_parallel_cli_attempts_cannot_race_the_lockout(
    enrolled_astronaut: str, other_person_path: Path, home: Path
) -> None:
    """The issue's reproduction: 4 failures recorded, then 8 processes started together
    were all scored. One attempt remains, so at most one may be scored."""
    with Session.open() as session:
        for _ in range(DEFAULT_MAX_FAILURES - 1):
            session.vault.record_failure(enrolled_astronaut)
    env = {**os.environ, "FACEGATE_HOME": str(home), "FACEGATE_KEY_SOURCE": "keyfile"}
    command = [*FACEGATE, "verify", enrolled_astronaut, str(other_person_path), "--json"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    reasons: Counter[str] = Counter()
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr.decode()
        reasons[json.loads(stdout)["reason"]] += 1
    assert reasons == {"not_matched": 1, "locked_out": 7}
    with Session.open() as session:
        assert session.vault.user(enrolled_astronaut).failures == DEFAULT_MAX_FAILURES


def test_a_match_decided_after_the_lock_closed_is_refused(
    enrolled_astronaut: str, astronaut_bgr: np.ndarray, home: Path
) -> None:
    """A slow genuine attempt is overtaken by failures that close the lock while it runs."""
    off = UnlockOptions(liveness=LivenessMode.OFF)
    with Session.open() as session, Session.open() as other:

        def frames() -> Iterator[Frame]:
            yield Frame(astronaut_probe(astronaut_bgr), "probe")
            for _ in range(DEFAULT_MAX_FAILURES):
                other.vault.record_failure(enrolled_astronaut)

        verdict = session.unlocker.verify(enrolled_astronaut, frames(), off)
    assert not verdict.matched
    assert verdict.reason is Reason.LOCKED_OUT and verdict.locked


@pytest.fixture
def full_disk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    mount = tmp_path / "small-fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        home = mount / "facegate-home"
        monkeypatch.setenv("FACEGATE_HOME", str(home))
        monkeypatch.setenv("FACEGATE_KEY_SOURCE", "keyfile")
        yield home
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


@pytest.mark.dataset
def test_a_full_disk_never_turns_the_lockout_off(
    full_disk_home: Path,
    astronaut_bgr: np.ndarray,
    astronaut_probe_path: Path,
    other_person_path: Path,
) -> None:
    off = UnlockOptions(liveness=LivenessMode.OFF)
    with Session.open() as session:
        session.unlocker.enroll("astro", _captures(astronaut_bgr, "astronaut"))
    filler = _fill(full_disk_home.parent)
    for _ in range(8):
        with Session.open() as session, pytest.raises(VaultError):
            session.verify("astro", [other_person_path], off)
    with Session.open() as session, pytest.raises(VaultError):
        session.verify("astro", [astronaut_probe_path], off)
    filler.unlink()
    with Session.open() as session:
        verdict = session.verify("astro", [other_person_path], off)
        assert verdict.reason is Reason.NOT_MATCHED
        assert session.vault.user("astro").failures == 1


@pytest.mark.dataset
def test_a_re_enrolment_during_a_verify_wins(home: Path, data_dir: Path) -> None:
    """A live, confident match teaches the template (a webcam clip answering a blink
    challenge); the same verify racing a re-enrolment must not overwrite it."""
    clips = data_dir / "blink_webcam_videos"
    if not (clips / "mahie_test_1.avi").is_file():
        pytest.skip(f"{clips} absent")
    blink = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.BLINK,))
    with Session.open() as session:
        session.unlocker.enroll(
            "m", iter_frames(clips / "mahie_test_2.avi", max_frames=200, step=10)
        )
        control = session.unlocker.verify("m", iter_frames(clips / "mahie_test_1.avi"), blink)
        assert control.matched and control.liveness is LivenessMode.ACTIVE
        learnt = Template.from_bytes(session.vault.get_template("m"))
        assert learnt.adaptive.any(), "a confident live match should teach the template"

        def frames() -> Iterator[Frame]:
            clip = iter_frames(clips / "mahie_test_1.avi")
            yield next(clip)
            with Session.open() as admin:
                soniya = iter_frames(clips / "soniya_test_3.avi", max_frames=200, step=10)
                admin.unlocker.enroll("m", soniya, replace=True)
            yield from clip

        verdict = session.unlocker.verify("m", frames(), blink)
        assert verdict.matched  # decided on the template read when the attempt began
        final = Template.from_bytes(session.vault.get_template("m"))
    assert not final.adaptive.any()


def test_verify_output_holds_no_score(enrolled_astronaut: str, astronaut_probe_path: Path) -> None:
    runner = CliRunner()
    for extra in ([], ["--json"]):
        result = runner.invoke(
            app, ["verify", enrolled_astronaut, str(astronaut_probe_path), *extra]
        )
        assert result.exit_code == 1  # a photo: refused for liveness
        assert "reason=liveness" in result.output or '"liveness"' in result.output
        assert "score" not in result.output.lower()
        assert "threshold" not in result.output.lower()
    result = runner.invoke(app, ["verify", enrolled_astronaut, str(astronaut_probe_path), "--json"])
    record = json.loads(result.output)
    assert set(record) == {
        "user", "matched", "reason", "level", "liveness",
        "frames_used", "frames_seen", "failures", "locked", "mask",
    }  # fmt: skip
    assert record["mask"] in (True, False, None)


def _clip(path: Path, lead: list[np.ndarray], video: Path, spans: list[tuple[int, int]]) -> Path:
    """A 6 fps MJPG clip: ``lead`` frames, then the frame ``spans`` of ``video``."""
    frames = [f.image for f in iter_frames(video)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 6.0, (640, 480))
    for image in lead + [frames[i] for a, b in spans for i in range(a, b)]:
        writer.write(cv2.resize(image, (640, 480)))
    writer.release()
    return path


# Frames of soniya_test_5_low_fps.avi: a blink (~195), a smile (~325), another blink (~224).
BLINK_SMILE_BLINK = [(185, 200), (318, 331), (205, 232)]


def _owner_print_and_other(data_dir: Path) -> tuple[list[Path], list[Path], Path]:
    """The attacks' cast: NUAA person 0001's webcam photos (the owner) and printed-photo
    attacks, and another person's clip (soniya) to answer the challenge."""
    nuaa = data_dir / "nuaa_photo_imposter_subset"
    clients = sorted((nuaa / "ClientRaw" / "0001").glob("*.jpg"))
    prints = sorted((nuaa / "ImposterRaw" / "0001").glob("*.jpg"))
    other = data_dir / "blink_webcam_videos" / "soniya_test_5_low_fps.avi"
    if len(clients) < 41 or not prints or not other.is_file():
        pytest.skip("NUAA person 0001 or soniya's clip absent")
    return clients, prints, other


@pytest.mark.dataset
def test_the_owners_print_cannot_win_the_match_for_someone_else_to_answer(
    home: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Outside attack F2: three frames of the owner's printed photo (NUAA's attack of
    person 0001) won the match on identity, then another person (soniya) blinked and
    smiled for the challenge, which read frames no longer compared with anyone: 6 of 6
    such clips unlocked at `standard`. Now the frames a challenge reads must still show
    the matched face."""
    clients, prints, other = _owner_print_and_other(data_dir)
    lead = [cv2.imread(str(prints[0]))] * 3
    clip = _clip(tmp_path / "swap.avi", lead, other, BLINK_SMILE_BLINK)
    with Session.open(home) as session:
        session.unlocker.enroll("owner", [read_image(clients[i]) for i in range(0, 50, 10)])
        verdicts = [session.verify("owner", [str(clip)]) for _ in range(3)]
    assert [v.reason for v in verdicts] == [Reason.NOT_MATCHED] * 3
    assert [v.failures for v in verdicts] == [1, 2, 3], "each swap is a counted failure"


@pytest.mark.dataset
def test_a_person_answering_each_prompt_passes_either_order(home: Path, data_dir: Path) -> None:
    """The other side of F1: whatever closes that hole must still let the owner in.
    The responder plays soniya's real frames at rest and makes each action only when
    prompted (as a person does), for both draws of the `standard` fallback; without
    reading the prompts the same frames are refused on liveness."""
    clips = data_dir / "blink_webcam_videos"
    if not (clips / "soniya_test_5_low_fps.avi").is_file():
        pytest.skip(f"{clips} absent")
    person = Responder(soniya(clips))
    orders = [
        (ChallengeKind.BLINK, ChallengeKind.SMILE),
        (ChallengeKind.SMILE, ChallengeKind.BLINK),
    ]
    with Session.open(home) as session:
        session.unlocker.enroll(
            "s", iter_frames(clips / "soniya_test_3.avi", max_frames=200, step=10)
        )
        answered = []
        for order in orders:
            person.restart()
            verdict = session.unlocker.verify(
                "s",
                person.frames(200),
                UnlockOptions(challenges=order),
                lambda c: person.hear(c.kind),
            )
            answered.append(verdict.matched)
        person.restart()
        deaf = session.unlocker.verify("s", person.frames(200), UnlockOptions(), lambda c: None)
    assert answered == [True, True]
    assert (deaf.matched, deaf.reason) == (False, Reason.LIVENESS)


@pytest.mark.dataset
@pytest.mark.xfail(
    strict=True,
    reason="known hole (outside attack F1, docs/liveness.md): a blink is never a wrong "
    "action, so a recording that blinks, smiles and blinks answers the standard fallback "
    "in either order",
)
def test_a_recording_that_blinks_smiles_and_blinks_cannot_answer_both_orders(
    home: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The owner's own clip (soniya), cut to blink, smile, blink, must not pass both
    draws of the blink-and-smile fallback; it does, so this is expected to fail until
    the challenge has actions a cover-all recording cannot hold."""
    clips = data_dir / "blink_webcam_videos"
    own, other = clips / "soniya_test_5_low_fps.avi", clips / "soniya_test_3.avi"
    if not (own.is_file() and other.is_file()):
        pytest.skip(f"{clips} absent")
    clip = _clip(tmp_path / "bsb.avi", [], own, BLINK_SMILE_BLINK)
    orders = [
        (ChallengeKind.BLINK, ChallengeKind.SMILE),
        (ChallengeKind.SMILE, ChallengeKind.BLINK),
    ]
    with Session.open(home) as session:
        session.unlocker.enroll("s", iter_frames(other, max_frames=200, step=10))
        matched = [
            session.unlocker.verify("s", iter_frames(clip), UnlockOptions(challenges=o)).matched
            for o in orders
        ]
    assert matched != [True, True]


@pytest.mark.dataset
def test_the_owners_print_beside_someone_answering_is_not_a_match(
    home: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Re-attack R1 of the same-face check: the owner's printed photo (NUAA 0001, the
    larger face, which identity follows) stays in view on the left while another
    person (soniya) on the right blinks, smiles and blinks; MediaPipe's landmarker,
    which the challenge reads, picked her: 6 of 6 such clips unlocked. The face a
    challenge reads must now be the face identity was checked on."""
    clients, prints, other = _owner_print_and_other(data_dir)
    printed = cv2.resize(cv2.imread(str(prints[0])), (640, 480))
    answers = [f.image for f in iter_frames(other)]

    def beside(face: np.ndarray | None) -> np.ndarray:
        canvas = np.full((480, 1280, 3), 90, np.uint8)
        canvas[:, :640] = printed
        if face is not None:
            canvas[:, 640:] = cv2.resize(face, (640, 480))
        return canvas

    stream = [beside(None)] * 3 + [
        beside(answers[i]) for a, b in BLINK_SMILE_BLINK for i in range(a, b)
    ]
    clip = tmp_path / "beside.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 6.0, (1280, 480))
    for image in stream:
        writer.write(image)
    writer.release()
    with Session.open(home) as session:
        session.unlocker.enroll("owner", [read_image(clients[i]) for i in range(0, 50, 10)])
        verdicts = [session.verify("owner", [str(clip)]) for _ in range(3)]
    assert not any(v.matched for v in verdicts)
    assert all(v.reason is Reason.NOT_MATCHED for v in verdicts)
