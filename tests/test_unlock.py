"""Enrolment and unlock end to end: real models, a real sealed SQLite vault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import astronaut_probe
from facegate.biometrics.match import SecurityLevel
from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.template import Template
from facegate.demo import _captures
from facegate.errors import AlreadyEnrolled, EnrolmentError, InputError, NotEnrolled, Reason
from facegate.liveness.check import LivenessMode
from facegate.session import Session
from facegate.vault import DEFAULT_MAX_FAILURES
from facegate.vision.sources import Frame, SourceKind, read_image, to_bgr

USER = "astronaut"
OFF_MODE = LivenessMode.OFF
# The astronaut is a photo, which passive liveness rightly refuses; these tests are
# about matching and lockout, so they turn liveness off, explicitly, as a caller must.
OFF = UnlockOptions(liveness=OFF_MODE)


@pytest.fixture
def session(home: Path) -> Iterator[Session]:
    with Session.open(home) as s:
        yield s


@pytest.fixture
def enrolled(session: Session, astronaut_bgr: np.ndarray) -> Session:
    report = session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
    assert report.kept >= 3
    return session


def genuine(astronaut_bgr: np.ndarray) -> list[Frame]:
    return [Frame(astronaut_probe(astronaut_bgr), "astronaut-probe")]


def cat() -> list[Frame]:
    return [Frame(to_bgr(data.chelsea()[:, :, ::-1]), "chelsea")]


def test_enrolment_keeps_the_varied_captures(session: Session, astronaut_bgr: np.ndarray) -> None:
    report = session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
    assert report.user == USER
    assert report.seen == 5
    assert report.kept == 5
    assert report.rejected == {}
    template = Template.from_bytes(session.vault.get_template(USER))
    assert len(template) == report.kept
    assert not template.adaptive.any()
    assert [r.name for r in session.vault.users()] == [USER]


def test_genuine_capture_matches(enrolled: Session, astronaut_bgr: np.ndarray) -> None:
    verdict = enrolled.unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert verdict.matched
    assert verdict.reason is Reason.MATCH
    assert verdict.liveness is OFF_MODE
    assert verdict.frames_used == verdict.frames_seen == 1
    assert verdict.failures == 0 and not verdict.locked


@pytest.mark.parametrize("mode", [OFF_MODE, LivenessMode.PASSIVE])
def test_the_high_level_refuses_any_liveness_but_a_challenge(mode: LivenessMode) -> None:
    """The attack: ``--level high --liveness passive`` on a still would be a verdict
    saying ``high`` that no challenge stood behind."""
    with pytest.raises(InputError, match="high level needs active liveness"):
        UnlockOptions(level=SecurityLevel.HIGH, liveness=mode)
    with pytest.raises(InputError, match="high level needs active liveness"):
        UnlockOptions(level="high", liveness=mode.value)  # type: ignore[arg-type]


def test_a_match_without_liveness_never_teaches_the_template(
    enrolled: Session, astronaut_bgr: np.ndarray
) -> None:
    before = enrolled.vault.read_template(USER)
    verdict = enrolled.unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert verdict.matched and verdict.liveness is OFF_MODE
    after = enrolled.vault.read_template(USER)
    assert after == before


def _count_sface_runs(session: Session, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one on each SFace run of ``session``'s pipeline."""
    embedder = session.pipeline.embedder
    runs: list[int] = []
    real = embedder.embed

    def counted(crop: np.ndarray) -> np.ndarray:
        runs.append(1)
        return real(crop)

    monkeypatch.setattr(embedder, "embed", counted)
    return runs


def test_frames_past_the_scored_ones_feed_liveness_without_an_embedding(
    enrolled: Session, astronaut_bgr: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a challenge waits for its answer the frames are still located and fed to
    liveness; SFace runs on the max_frames frames the decision scores and then once per
    0.1 s of the frame clock, only to check that the face answering is the one that
    matched (here every frame, 0.1 s apart)."""
    runs = _count_sface_runs(enrolled, monkeypatch)
    probe = astronaut_probe(astronaut_bgr)
    video = [Frame(probe, "video", index=i, t=i / 10, kind=SourceKind.VIDEO) for i in range(10)]
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, require_attention=False)
    verdict = enrolled.unlocker.verify(USER, video, options)
    assert not verdict.matched and verdict.reason is Reason.LIVENESS  # a photo cannot answer
    assert verdict.frames_seen == 10 and verdict.frames_used == options.max_frames
    assert len(runs) == options.max_frames + (10 - options.max_frames)


def test_a_photo_under_the_default_policy_is_refused_for_liveness(
    enrolled: Session, astronaut_bgr: np.ndarray
) -> None:
    before = enrolled.vault.read_template(USER)
    verdict = enrolled.unlocker.verify(USER, genuine(astronaut_bgr))
    assert verdict.liveness is LivenessMode.PASSIVE
    assert not verdict.matched and verdict.reason is Reason.LIVENESS
    assert verdict.failures == 1
    assert enrolled.vault.read_template(USER) == before


@pytest.mark.dataset
def test_different_person_is_not_matched(enrolled: Session, other_person_path: Path) -> None:
    verdict = enrolled.unlocker.verify(USER, [read_image(other_person_path)], OFF)
    assert not verdict.matched
    assert verdict.reason is Reason.NOT_MATCHED
    assert verdict.failures == 1
    assert enrolled.vault.user(USER).failures == 1


@pytest.mark.dataset
def test_consecutive_non_matches_lock_the_user(
    enrolled: Session, astronaut_bgr: np.ndarray, other_person_path: Path
) -> None:
    unlocker, impostor = enrolled.unlocker, read_image(other_person_path)
    verdicts = [unlocker.verify(USER, [impostor], OFF) for _ in range(DEFAULT_MAX_FAILURES)]
    assert [v.failures for v in verdicts] == list(range(1, DEFAULT_MAX_FAILURES + 1))
    assert [v.locked for v in verdicts] == [False] * (DEFAULT_MAX_FAILURES - 1) + [True]
    assert enrolled.vault.user(USER).locked

    locked = unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert not locked.matched
    assert locked.reason is Reason.LOCKED_OUT
    assert locked.locked and locked.frames_seen == 0

    enrolled.vault.reset_lockout(USER)
    verdict = unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert verdict.matched and verdict.reason is Reason.MATCH
    assert verdict.failures == 0 and not verdict.locked


@pytest.mark.dataset
def test_a_match_without_liveness_neither_resets_nor_adds_failures(
    enrolled: Session, astronaut_bgr: np.ndarray, other_person_path: Path
) -> None:
    """The attack: a printed photo that fails the liveness check four times, then is
    matched with liveness off, would wipe those failures and buy unlimited tries."""
    unlocker, impostor = enrolled.unlocker, read_image(other_person_path)
    for _ in range(DEFAULT_MAX_FAILURES - 1):
        unlocker.verify(USER, [impostor], OFF)
    verdict = unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert verdict.matched and verdict.failures == DEFAULT_MAX_FAILURES - 1
    assert enrolled.vault.user(USER).failures == DEFAULT_MAX_FAILURES - 1
    assert unlocker.verify(USER, [impostor], OFF).locked


def test_no_face_is_stated_and_does_not_count(enrolled: Session) -> None:
    for _ in range(DEFAULT_MAX_FAILURES + 1):
        verdict = enrolled.unlocker.verify(USER, cat(), OFF)
        assert not verdict.matched
        assert verdict.reason is Reason.NO_FACE
        assert verdict.frames_used == 0
        assert verdict.failures == 0
    record = enrolled.vault.user(USER)
    assert record.failures == 0 and not record.locked


@pytest.mark.dataset
def test_unjudgeable_frames_do_not_add_to_existing_failures(
    enrolled: Session, other_person_path: Path
) -> None:
    enrolled.unlocker.verify(USER, [read_image(other_person_path)], OFF)
    verdict = enrolled.unlocker.verify(USER, cat(), OFF)
    assert verdict.reason is Reason.NO_FACE
    assert verdict.failures == 1


def test_refusal_reason_is_the_dominant_one(enrolled: Session) -> None:
    cameraman = Frame(to_bgr(data.camera()), "cameraman")
    verdict = enrolled.unlocker.verify(USER, [*cat(), cameraman, cameraman], OFF)
    assert verdict.reason is Reason.TOO_SMALL
    assert verdict.frames_seen == 3 and verdict.frames_used == 0


def test_usable_frame_after_refusals_still_matches(
    enrolled: Session, astronaut_bgr: np.ndarray
) -> None:
    verdict = enrolled.unlocker.verify(USER, [*cat(), *genuine(astronaut_bgr)], OFF)
    assert verdict.matched
    assert verdict.frames_seen == 2 and verdict.frames_used == 1


def test_unknown_user_is_not_enrolled(enrolled: Session, astronaut_bgr: np.ndarray) -> None:
    with pytest.raises(NotEnrolled, match="nobody"):
        enrolled.unlocker.verify("nobody", genuine(astronaut_bgr), OFF)


def test_enrolling_twice_is_refused(enrolled: Session, astronaut_bgr: np.ndarray) -> None:
    before = enrolled.vault.get_template(USER)
    with pytest.raises(AlreadyEnrolled):
        enrolled.unlocker.enroll(USER, _captures(astronaut_bgr, "again"))
    assert enrolled.vault.get_template(USER) == before


def test_replace_rewrites_the_template(enrolled: Session, astronaut_bgr: np.ndarray) -> None:
    before = Template.from_bytes(enrolled.vault.get_template(USER))
    frames = [Frame(astronaut_probe(astronaut_bgr), "one")]
    report = enrolled.unlocker.enroll(USER, frames, replace=True)
    after = Template.from_bytes(enrolled.vault.get_template(USER))
    assert report.kept == len(after) == 1
    assert len(before) == 5


def test_replace_enrols_a_user_not_yet_enrolled(
    session: Session, astronaut_bgr: np.ndarray
) -> None:
    report = session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"), replace=True)
    assert report.kept >= 3 and [r.name for r in session.vault.users()] == [USER]


def test_enrolling_from_a_cat_stores_nothing(session: Session) -> None:
    with pytest.raises(EnrolmentError, match="no_face"):
        session.unlocker.enroll("kitty", cat())
    assert session.vault.users() == []
    with pytest.raises(NotEnrolled):
        session.vault.user("kitty")


@pytest.mark.dataset
def test_enrolment_drops_a_stray_face(
    session: Session, astronaut_bgr: np.ndarray, other_person_path: Path
) -> None:
    frames = [*_captures(astronaut_bgr, "astronaut"), read_image(other_person_path)]
    report = session.unlocker.enroll(USER, frames)
    assert report.seen == 6 and report.kept == 5
    assert report.rejected == {Reason.NOT_MATCHED: 1}


@pytest.mark.dataset
def test_enrolment_of_mostly_different_people_is_refused(
    session: Session,
    astronaut_bgr: np.ndarray,
    other_person_path: Path,
    third_person_path: Path,
) -> None:
    frames = [
        Frame(astronaut_bgr, "a"),
        read_image(other_person_path),
        read_image(third_person_path),
    ]
    with pytest.raises(EnrolmentError, match="same person"):
        session.unlocker.enroll(USER, frames)
    assert session.vault.users() == []


def test_deleted_user_is_no_longer_enrolled(enrolled: Session, astronaut_bgr: np.ndarray) -> None:
    enrolled.vault.delete_user(USER)
    with pytest.raises(NotEnrolled):
        enrolled.unlocker.verify(USER, genuine(astronaut_bgr), OFF)
    assert enrolled.vault.users() == []


def test_enrolment_survives_reopening_the_vault(home: Path, astronaut_bgr: np.ndarray) -> None:
    with Session.open(home) as first:
        first.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
    with Session.open(home) as second:
        assert second.unlocker.verify(USER, genuine(astronaut_bgr), OFF).matched


@pytest.mark.dataset
def test_add_widens_the_template_with_matching_captures_only(
    enrolled: Session, astronaut_bgr: np.ndarray, other_person_path: Path
) -> None:
    before = enrolled.vault.read_template(USER)
    probe = Frame(astronaut_probe(astronaut_bgr), "new-glasses.jpg")
    stranger = read_image(other_person_path)
    report = enrolled.unlocker.add(USER, [probe, stranger])
    assert report.kept == 1
    assert [(r.source, r.reason) for r in report.refusals] == [
        (str(other_person_path), Reason.NOT_MATCHED)
    ]
    after = enrolled.vault.read_template(USER)
    assert after.version == before.version + 1
    with pytest.raises(EnrolmentError, match="none of the 1 capture"):
        enrolled.unlocker.add(USER, [stranger])
    assert enrolled.vault.read_template(USER) == after


def test_enrolment_names_each_refused_capture(session: Session, astronaut_bgr: np.ndarray) -> None:
    frames = [*_captures(astronaut_bgr, "astronaut"), *cat()]
    report = session.unlocker.enroll(USER, frames)
    assert [(r.source, r.reason) for r in report.refusals] == [("chelsea", Reason.NO_FACE)]


@pytest.mark.dataset
def test_a_face_liveness_reads_before_the_match_must_be_the_matched_face(
    enrolled: Session, astronaut_bgr: np.ndarray, other_person_bgr: np.ndarray
) -> None:
    """Outside attack F2 at `high` ran the other way round: the attacker's own face,
    kept below the quality gates, answered the prompts first, then the owner's photo
    won the match. Every face a challenge reads, scored or not, must be the matched one."""
    import cv2

    blurred = cv2.GaussianBlur(other_person_bgr, (0, 0), 4)
    probe = astronaut_probe(astronaut_bgr)
    stream = [cv2.resize(blurred, probe.shape[1::-1])] * 3 + [probe] * 3
    frames = [
        Frame(image, "video", index=i, t=i / 10, kind=SourceKind.VIDEO)
        for i, image in enumerate(stream)
    ]
    first = enrolled.pipeline.observe(frames[0])
    assert first.crop is not None and first.embedding is None, "a located but unscored face"
    # ACTIVE (what `high` runs): the challenge reads frames from the first one on.
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, require_attention=False)
    verdict = enrolled.unlocker.verify(USER, frames, options)
    assert verdict.reason is Reason.NOT_MATCHED and verdict.failures == 1
    owner_only = enrolled.unlocker.verify(USER, frames[3:], options)
    assert owner_only.reason is Reason.LIVENESS, "the owner's photo alone: liveness, as before"


def test_a_file_claiming_a_high_frame_rate_is_still_checked_every_third_frame(
    enrolled: Session, astronaut_bgr: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-attack: a file declared as 300 fps stretched the 0.1 s between same-face
    checks to 30 frames, 90 % of them another person's. Checks now come every 0.1 s of
    the frame clock or every third frame, whichever is first."""
    runs = _count_sface_runs(enrolled, monkeypatch)
    probe = astronaut_probe(astronaut_bgr)
    video = [Frame(probe, "video", index=i, t=i / 300, kind=SourceKind.VIDEO) for i in range(12)]
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, require_attention=False)
    verdict = enrolled.unlocker.verify(USER, video, options)
    assert verdict.frames_seen == 12
    assert len(runs) == options.max_frames + 3  # the scored frames, then frames 3, 6, 9
