"""Liveness: the PAD weights file, the challenge judge on real faces, attention, and
the unlock flow refusing attacks. Real models throughout (YuNet, SFace, MediaPipe)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import still_video
from facegate.biometrics.unlock import UnlockOptions
from facegate.cli import app
from facegate.errors import ModelMissing, ModelTampered, Reason
from facegate.eval.challenges import (
    _photo_frames,
    concat,
    hold,
    judge,
    seen,
    video_track,
    yale_tracks,
)
from facegate.eval.pad import pad_summary, threshold_at_bpcer
from facegate.liveness.attention import Inattention, judge_attention
from facegate.liveness.challenge import (
    ChallengeFailure,
    ChallengeKind,
    ChallengeOptions,
    random_sequence,
)
from facegate.liveness.check import LivenessEngine, LivenessMode
from facegate.liveness.eyelids import FaceCrop, eye_change
from facegate.liveness.pad import WEIGHTS_FILE, PadDecision, PadModel
from facegate.models import ModelFiles
from facegate.session import Session
from facegate.vault import DEFAULT_MAX_FAILURES
from facegate.vision.mesh import FaceMesher, MeshOptions, RunningMode
from facegate.vision.sources import iter_video, read_image

SHIPPED = Path(__file__).parents[1] / "src" / "facegate" / "liveness" / WEIGHTS_FILE
OPTIONS = ChallengeOptions()
# Yale pairs of stills cut together test the expression and order rules; the cut itself
# is what the continuity rule refuses (tests/test_challenge_slideshow.py).
STILLS = replace(OPTIONS, continuity=None)


# --- PAD weights --------------------------------------------------------------------


def test_shipped_weights_load_are_small_and_state_their_provenance() -> None:
    model = PadModel.load()
    assert SHIPPED.stat().st_size <= 2_000_000
    assert 0.0 < model.threshold < 1.0
    assert "research" in str(model.meta["licence"])
    assert model.meta["cv_at_threshold"]["n_live"] > 0


def test_corrupted_weights_are_refused(tmp_path: Path) -> None:
    raw = bytearray(SHIPPED.read_bytes())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(bytes(raw[: len(raw) // 2]))
    flipped = tmp_path / "flipped.npz"
    # A byte of the stored weights themselves: a flip in a zip header's copy of a
    # size, which the reader ignores, would leave the model unchanged.
    with zipfile.ZipFile(SHIPPED) as archive:
        member = archive.getinfo("weights.npy")
    names = int.from_bytes(raw[member.header_offset + 26 : member.header_offset + 28], "little")
    extra = int.from_bytes(raw[member.header_offset + 28 : member.header_offset + 30], "little")
    data_at = member.header_offset + 30 + names + extra
    raw[data_at + member.compress_size // 2] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    text = tmp_path / "text.npz"
    text.write_text("not weights")
    for path in (truncated, flipped, text):
        with pytest.raises(ModelTampered, match="corrupted or altered"):
            PadModel.load(path)


def test_altered_weights_with_a_stale_digest_are_refused(tmp_path: Path) -> None:
    with np.load(SHIPPED, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["weights"] = arrays["weights"] * 2  # a model made more lenient, digest kept
    path = tmp_path / "altered.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelTampered, match="digest"):
        PadModel.load(path)


def test_pickled_objects_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "pickle.npz"
    np.savez(path, meta=np.array([{"evil": 1}], dtype=object), digest=np.array("x"))
    with pytest.raises(ModelTampered):
        PadModel.load(path)


def test_missing_weights_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="facegate train pad"):
        PadModel.load(tmp_path / "absent.npz")


def test_save_then_load_gives_the_same_scores(tmp_path: Path) -> None:
    model = PadModel.load()
    model.save(tmp_path / "copy.npz")
    copy = PadModel.load(tmp_path / "copy.npz")
    rows = np.random.default_rng(0).random((4, model.spec.dim), dtype=np.float32)
    np.testing.assert_allclose(copy.score_features(rows), model.score_features(rows))


# --- PAD metrics ----------------------------------------------------------------------


def test_threshold_at_bpcer_refuses_at_most_the_target_share() -> None:
    rng = np.random.default_rng(1)
    live = rng.normal(0.8, 0.1, 500)
    for target in (0.0, 0.02, 0.05, 0.2):
        t = threshold_at_bpcer(live, target)
        assert np.mean(live < t) <= target
        assert np.mean(live < np.nextafter(t, np.inf)) > target or t == live.max()


def test_pad_summary_reports_apcer_per_attack_type_with_counts() -> None:
    summary = pad_summary([0.9, 0.8, 0.2], {"print": [0.1, 0.95], "screen": [0.3]}, 0.5)
    assert summary.bpcer == pytest.approx(1 / 3) and summary.bona_fide_refused == 1
    assert summary.apcer["print"].accepted == 1 and summary.apcer["print"].n == 2
    assert summary.apcer["screen"].apcer == 0.0
    assert summary.max_apcer == 0.5 and summary.n_attack == 3


# --- challenges on real faces -------------------------------------------------------


@pytest.fixture(scope="module")
def yale(data_dir: Path) -> dict[ChallengeKind, list]:
    folder = data_dir / "yale_faces"
    with FaceMesher.create_from_options(MeshOptions()) as mesher:
        return yale_tracks(folder, mesher)


@pytest.fixture(scope="module")
def blink_clip(data_dir: Path) -> list:
    """The first labelled blink of one webcam video, 1.2 s before to 0.8 s after."""
    video = data_dir / "blink_webcam_videos" / "mahie_test_1.avi"
    labels = np.array(video.with_name("mahie_test_1_ideal.csv").read_text("utf-8-sig").split(), int)
    start = int(np.argmax(labels))
    frames = list(iter_video(video, max_frames=start + 30))
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as m:
        track = [
            seen(f.t, f.image, m.detect_for_video(f.image, i + int(f.t * 1000)))
            for i, f in enumerate(frames)
        ]
    first = int(np.searchsorted([t for t, _, _ in track], track[start][0] - 1.2))
    return track[first:]


@pytest.fixture(scope="module")
def faint_blink_clip(data_dir: Path) -> list:
    """A faint blink of the 17 fps video (labelled closed in frames 123-125), cut as
    ``facegate eval challenges`` cuts it (frames 102-139: 1.2 s before, 0.8 s after).
    At its most closed frame the landmarks' eyelid gap is still ~0.9 of rest."""
    video = data_dir / "blink_webcam_videos" / "mahie_test_4_low_fps.avi"
    labels = video.with_name(video.stem + "_ideal.csv").read_text("utf-8-sig").split()
    assert labels[122:127] == ["0", "1", "1", "1", "0"]
    return video_track(video, len(labels), max_frames=140)[102:]


@pytest.mark.dataset
def test_genuine_smile_and_open_mouth_pass(yale: dict) -> None:
    for kind in (ChallengeKind.SMILE, ChallengeKind.OPEN_MOUTH):
        result, incomplete = judge((kind,), iter(yale[kind][0]), STILLS)
        assert not incomplete and result is not None and result.passed, kind
        assert result.answered[0].kind is kind and len(result.answered[0].nonce) == 16


@pytest.mark.dataset
def test_genuine_blink_passes(blink_clip: list) -> None:
    result, _ = judge((ChallengeKind.BLINK,), iter(blink_clip), OPTIONS)
    assert result is not None and result.passed


@pytest.mark.dataset
def test_blink_ending_with_the_video_is_found_when_the_video_ends(blink_clip: list) -> None:
    # 0.35 s after the lids first close: before the blink detector's peak window is
    # complete, so only finish() (the detector's flush) can report it.
    end = blink_clip[0][0] + 1.2 + 0.35
    short = [frame for frame in blink_clip if frame[0] <= end]
    result, incomplete = judge((ChallengeKind.BLINK,), iter(short), OPTIONS)
    assert not incomplete and result is not None and result.passed


@pytest.mark.dataset
@pytest.mark.parametrize(
    "strict",
    [
        {"eye_gap_ratio": 0.1, "faint_eye_gap_ratio": 0.1},  # lids must close this far
        {"max_distortion": 0.001},  # rigid points must keep their shape
        {"blink_max_seconds": 0.01},  # the detected blink must reopen this fast
        {"min_blink_eye_change": 1.01},  # the lids must change the eyes this much
    ],
    ids=["eye_gap", "rigid_points", "duration", "eye_appearance"],
)
def test_detected_blink_must_still_pass_the_anti_tilt_checks(
    blink_clip: list, strict: dict
) -> None:
    options = replace(OPTIONS, **strict)
    result, incomplete = judge((ChallengeKind.BLINK,), iter(hold(blink_clip, 6.0)), options)
    assert not incomplete and result is not None and not result.passed
    assert result.failure in (ChallengeFailure.PLANAR, ChallengeFailure.DEADLINE)


@pytest.mark.dataset
def test_a_blink_counts_only_where_its_eyes_were_seen(blink_clip: list) -> None:
    """The same real blink without its eye crops (as when they reach beyond the frame,
    where MediaPipe still places eyes on a tilted print): its landmarks alone pass the
    eyelid-gap rule, yet it does not count."""
    unseen = [(t, mesh, None) for t, mesh, _ in blink_clip]
    result, incomplete = judge((ChallengeKind.BLINK,), iter(hold(unseen, 6.0)), OPTIONS)
    assert not incomplete and result is not None and not result.passed
    assert result.failure is ChallengeFailure.PLANAR  # seen as a blink, not as a face's
    result, _ = judge((ChallengeKind.BLINK,), iter(hold(blink_clip, 6.0)), OPTIONS)
    assert result is not None and result.passed


@pytest.mark.dataset
def test_genuine_two_step_sequence_passes_and_its_replay_in_wrong_order_fails(
    yale: dict,
) -> None:
    clip = hold(concat([yale[ChallengeKind.SMILE][1], yale[ChallengeKind.OPEN_MOUTH][1]]), 6.0)
    right, _ = judge((ChallengeKind.SMILE, ChallengeKind.OPEN_MOUTH), iter(clip), STILLS)
    assert right is not None and right.passed
    wrong, _ = judge((ChallengeKind.OPEN_MOUTH, ChallengeKind.SMILE), iter(clip), STILLS)
    assert wrong is not None and not wrong.passed
    assert wrong.failure in (ChallengeFailure.WRONG_ACTION, ChallengeFailure.DEADLINE)


@pytest.mark.dataset
def test_blink_replayed_before_a_smile_fails_when_smile_comes_first(
    yale: dict, blink_clip: list
) -> None:
    clip = hold(concat([blink_clip, yale[ChallengeKind.SMILE][2]]), 6.0)
    result, _ = judge((ChallengeKind.SMILE, ChallengeKind.BLINK), iter(clip), STILLS)
    assert result is not None and not result.passed


def _photo_track(image: np.ndarray, moved: bool, seconds: float, seed: int = 7) -> Iterator:
    rng = np.random.default_rng(seed)
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as m:
        for t, frame in _photo_frames(image, seconds, rng, moved):
            yield seen(t, frame, m.detect_for_video(frame, int(t * 1000)))


@pytest.mark.dataset
@pytest.mark.parametrize("moved", [False, True], ids=["static", "moved"])
def test_photo_attacks_fail(data_dir: Path, moved: bool) -> None:
    image = read_image(data_dir / "yale_faces" / "subject03.normal.gif").image
    kinds = (ChallengeKind.TURN_LEFT, ChallengeKind.BLINK)
    result, incomplete = judge(kinds, _photo_track(image, moved, 11.0), OPTIONS)
    assert not incomplete and result is not None and not result.passed
    assert result.failure in (ChallengeFailure.DEADLINE, ChallengeFailure.PLANAR)


@pytest.mark.dataset
def test_faint_blink_counts_by_how_the_lids_changed_the_eyes(faint_blink_clip: list) -> None:
    kinds = (ChallengeKind.BLINK,)
    result, incomplete = judge(kinds, iter(faint_blink_clip), OPTIONS)
    assert not incomplete and result is not None and result.passed
    # The landmarks alone do not show it: without the crops, or without the bar on the
    # eyes' change, the same blink is refused.
    mesh_only = [(t, mesh, None) for t, mesh, _ in faint_blink_clip]
    for clip, options in (
        (mesh_only, OPTIONS),
        (faint_blink_clip, replace(OPTIONS, min_eye_change=1.0)),
    ):
        result, incomplete = judge(kinds, iter(hold(clip, 6.0)), options)
        assert not incomplete and result is not None and not result.passed
        assert result.failure is ChallengeFailure.PLANAR


@pytest.mark.dataset
def test_tilted_print_whose_eyes_squash_is_refused_by_their_appearance(data_dir: Path) -> None:
    image = read_image(data_dir / "yale_faces" / "subject07.normal.gif").image
    track = list(_photo_track(image, moved=True, seconds=6.0, seed=21))
    kinds = (ChallengeKind.BLINK,)
    refused, incomplete = judge(kinds, iter(track), OPTIONS)
    assert not incomplete and refused is not None and not refused.passed
    assert refused.failure is ChallengeFailure.PLANAR
    # The tilt squashed the eyes enough for the faint-blink geometry: only the eyes'
    # unchanged appearance stops it.
    fooled, _ = judge(kinds, iter(track), replace(OPTIONS, min_eye_change=0.0))
    assert fooled is not None and fooled.passed


def _turned_print(image: np.ndarray, centre: np.ndarray, pitch: float, yaw: float) -> np.ndarray:
    """``image`` as a flat print turned by ``pitch`` and ``yaw`` degrees about ``centre``
    (pixels), seen by a camera looking at that point."""
    h, w = image.shape[:2]
    focal = 2.0 * max(h, w)
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]])
    turn, _ = cv2.Rodrigues(np.radians([pitch, yaw, 0.0]))
    away = np.array([0.0, 0.0, focal])  # the print's centre, in front of the camera
    flat = np.column_stack([np.eye(3)[:, :2], away])
    turned = np.column_stack([turn[:, :2], away])
    homography = camera @ turned @ np.linalg.inv(flat) @ np.linalg.inv(camera)
    return cv2.warpPerspective(image, homography, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.dataset
@pytest.mark.parametrize("subject", ["subject03", "subject07", "subject10"])
def test_a_print_keeps_its_eyes_however_it_is_turned(data_dir: Path, subject: str) -> None:
    still = read_image(data_dir / "yale_faces" / f"{subject}.normal.gif").image
    # A print on a grey wall, so that a turned print stays in the frame.
    image = cv2.copyMakeBorder(still, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    with FaceMesher.create_from_options(MeshOptions()) as mesher:
        mesh = mesher.detect(image)
        assert mesh is not None
        flat = FaceCrop.of(image, mesh)
        centre = mesh.pixels()[1, :2]  # the nose tip
        for pitch, yaw in ((30, 0), (-35, 0), (0, 30), (25, -20), (40, 0)):
            turned = _turned_print(image, centre, pitch, yaw)
            turned_mesh = mesher.detect(turned)
            assert turned_mesh is not None, (pitch, yaw)
            change = eye_change(flat, FaceCrop.of(turned, turned_mesh))
            assert change is not None, (pitch, yaw)
            assert change.face <= OPTIONS.max_face_change, (pitch, yaw, change)
            assert change.eyes <= OPTIONS.min_eye_change / 3, (pitch, yaw, change)


@pytest.mark.dataset
def test_a_crop_reaching_beyond_the_frame_is_no_evidence(data_dir: Path) -> None:
    image = read_image(data_dir / "yale_faces" / "subject03.normal.gif").image
    with FaceMesher.create_from_options(MeshOptions()) as mesher:
        mesh = mesher.detect(image)
        assert mesh is not None
        eyes_y = int(mesh.pixels()[[33, 263], 1].mean())
        cut = np.ascontiguousarray(image[eyes_y - 20 :])  # the frame ends above the eyes
        cut_mesh = mesher.detect(cut)
    whole = FaceCrop.of(image, mesh)
    same = eye_change(whole, whole)
    assert whole.in_frame and same is not None
    assert same.eyes == pytest.approx(0.0, abs=1e-6) and same.face == pytest.approx(0.0, abs=1e-6)
    assert cut_mesh is not None  # MediaPipe still places the eyes...
    edge = FaceCrop.of(cut, cut_mesh)
    assert not edge.in_frame and eye_change(edge, edge) is None  # ...but they are not judged


def test_random_sequences_are_two_or_three_distinct_kinds_without_turns() -> None:
    turns = {ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT}
    for _ in range(50):
        kinds = random_sequence()
        assert len(kinds) in (2, 3) and len(set(kinds)) == len(kinds)
        assert not turns & set(kinds)  # a tilted print can fake a turn: not drawn


# --- attention -----------------------------------------------------------------------


@pytest.mark.dataset
def test_attention_refuses_closed_eyes(data_dir: Path) -> None:
    with FaceMesher.create_from_options(MeshOptions()) as mesher:
        awake = mesher.detect(read_image(data_dir / "yale_faces/subject09.normal.gif").image)
        asleep = mesher.detect(read_image(data_dir / "yale_faces/subject09.sleepy.gif").image)
    assert judge_attention(awake).attentive
    assert judge_attention(asleep).reason is Inattention.EYES_CLOSED
    assert judge_attention(None).reason is Inattention.NO_MESH


# --- the unlock flow --------------------------------------------------------------------


NUAA_SUBJECT = "0001"


@pytest.fixture
def nuaa(data_dir: Path) -> dict[str, list[Path]]:
    root = data_dir / "nuaa_photo_imposter_subset"
    live = sorted((root / "ClientRaw" / NUAA_SUBJECT).glob("*.jpg"))
    spoof = sorted((root / "ImposterRaw" / NUAA_SUBJECT).glob("*.jpg"))
    return {"enrol": live[:3], "live": live[10:11], "spoof": spoof[::17][:3]}


@pytest.fixture
def nuaa_session(home: Path, nuaa: dict) -> Iterator[Session]:
    with Session.open(home) as session:
        session.unlocker.enroll("n1", [read_image(p) for p in nuaa["enrol"]])
        yield session
        session.unlocker.liveness.close()


@pytest.mark.dataset
def test_printed_photo_of_the_user_is_refused_for_liveness_and_counts(
    nuaa_session: Session, nuaa: dict
) -> None:
    options = UnlockOptions(liveness=LivenessMode.PASSIVE, require_attention=False)
    verdicts = [
        nuaa_session.unlocker.verify("n1", [read_image(nuaa["spoof"][i % 3])], options)
        for i in range(DEFAULT_MAX_FAILURES)
    ]
    assert [v.reason for v in verdicts] == [Reason.LIVENESS] * DEFAULT_MAX_FAILURES
    assert verdicts[0].liveness is LivenessMode.PASSIVE
    assert [v.failures for v in verdicts] == list(range(1, DEFAULT_MAX_FAILURES + 1))
    assert verdicts[-1].locked and nuaa_session.vault.user("n1").locked


@pytest.mark.dataset
def test_a_confident_pad_alone_does_not_admit_a_live_users_still(
    nuaa_session: Session, nuaa: dict, tmp_path: Path
) -> None:
    """Sharpened prints reach the PAD's LIVE (outside attack F3), so a still is refused
    for liveness however sure the PAD is; the match itself was fine."""
    lenient = tmp_path / "lenient.npz"
    replace(PadModel.load(), threshold=1e-6, refuse_below=0.0).save(lenient)
    nuaa_session.unlocker.liveness = LivenessEngine(ModelFiles.of(nuaa_session.settings), lenient)
    options = UnlockOptions(liveness=LivenessMode.PASSIVE)
    verdict = nuaa_session.unlocker.verify("n1", [read_image(nuaa["live"][0])], options)
    assert not verdict.matched and verdict.reason is Reason.LIVENESS


@pytest.mark.dataset
def test_a_still_the_pad_is_unsure_of_is_refused_for_liveness(
    nuaa_session: Session, nuaa: dict
) -> None:
    # A still cannot answer the challenge that settles an uncertain PAD on a video.
    frame = read_image(nuaa["live"][0])
    model = PadModel.load()
    box = nuaa_session.pipeline.detector.detect(frame.image).boxes[0]
    assert model.decide(model.score(frame.image, box)) is PadDecision.UNCERTAIN
    options = UnlockOptions(liveness=LivenessMode.PASSIVE)
    verdict = nuaa_session.unlocker.verify("n1", [frame], options)
    assert verdict.reason is Reason.LIVENESS


@pytest.mark.dataset
def test_a_matching_video_too_short_for_the_challenge_is_a_counted_liveness_failure(
    nuaa_session: Session, nuaa: dict, tmp_path: Path
) -> None:
    """The attack: replay a recording of the owner cut off before the prompt can be
    answered. Were an unfinished challenge given back as bad input, the replay could be
    tried without limit; counted, it locks the face out after five tries."""
    image = read_image(nuaa["live"][0]).image
    video = still_video(tmp_path / "short.avi", image, 1.0)
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.BLINK,))
    reasons = [
        nuaa_session.unlocker.verify("n1", iter_video(video), options).reason
        for _ in range(DEFAULT_MAX_FAILURES + 1)
    ]
    assert reasons == [Reason.LIVENESS] * DEFAULT_MAX_FAILURES + [Reason.LOCKED_OUT]
    assert nuaa_session.vault.user("n1").locked


@pytest.mark.dataset
def test_a_broken_source_after_the_owners_replay_does_not_make_the_attempt_free(
    nuaa_session: Session, nuaa: dict, tmp_path: Path
) -> None:
    """The attack: a replay of the owner too short to answer the prompt, followed by an
    unreadable file, so that the attempt ends in an error rather than a failure. The
    error would give the slot back, and every wrong guess at the challenge be free."""
    image = read_image(nuaa["live"][0]).image
    video = still_video(tmp_path / "short.avi", image, 1.0)
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.BLINK,))
    reasons = [
        nuaa_session.verify("n1", [video, broken], options).reason
        for _ in range(DEFAULT_MAX_FAILURES + 1)
    ]
    assert reasons == [Reason.LIVENESS] * DEFAULT_MAX_FAILURES + [Reason.LOCKED_OUT]


@pytest.mark.dataset
def test_video_with_no_face_is_refused_as_no_face(nuaa_session: Session, tmp_path: Path) -> None:
    blank = np.full((240, 320, 3), 120, np.uint8)
    video = still_video(tmp_path / "blank.avi", blank, 6.0)
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.SMILE,))
    verdict = nuaa_session.unlocker.verify("n1", iter_video(video), options)
    assert verdict.reason is Reason.NO_FACE and verdict.failures == 0


@pytest.mark.dataset
def test_a_still_video_fails_the_active_challenge(
    nuaa_session: Session, nuaa: dict, tmp_path: Path
) -> None:
    image = read_image(nuaa["live"][0]).image
    video = still_video(tmp_path / "still.avi", image, 6.0)
    options = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.SMILE,))
    prompts: list[ChallengeKind] = []
    verdict = nuaa_session.unlocker.verify(
        "n1", iter_video(video), options, on_challenge=lambda c: prompts.append(c.kind)
    )
    assert prompts == [ChallengeKind.SMILE]
    assert verdict.reason is Reason.LIVENESS and verdict.failures == 1
    assert verdict.liveness is LivenessMode.ACTIVE


# --- command line and privacy ---------------------------------------------------------


@pytest.mark.dataset
def test_eval_liveness_writes_apcer_per_type_and_no_template(
    data_dir: Path, tmp_path: Path, nuaa: dict
) -> None:
    labels = tmp_path / "labels.csv"
    rows = [f"{p},live" for p in nuaa["enrol"]] + [f"{p},spoof_print" for p in nuaa["spoof"]]
    labels.write_text("path,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["eval", "liveness", "--labels", str(labels), "--root", "/", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["apcer"]) == {"spoof_print"}
    assert report["n_live"] == 3 and report["n_attack"] == 3
    assert {"bpcer", "threshold"} <= set(report)
    assert (out / "det.png").read_bytes()[:4] == b"\x89PNG"
    assert "embedding" not in json.dumps(report) and "template" not in json.dumps(report)


def test_eval_liveness_needs_one_kind_of_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "liveness", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--labels" in result.output


@pytest.mark.dataset
def test_verify_json_with_liveness_shows_no_template(
    home: Path, nuaa: dict, nuaa_session: Session
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["verify", "n1", str(nuaa["spoof"][0]), "--liveness", "passive", "--json"]
    )
    assert result.exit_code == 1, result.output
    record = json.loads(result.output)
    assert record["reason"] == "liveness"
    assert set(record) == {
        "user", "matched", "reason", "level", "liveness", "frames_used",
        "frames_seen", "failures", "locked", "mask",
    }  # fmt: skip
    template = nuaa_session.vault.get_template("n1")
    assert template[:16].hex() not in result.output


def test_a_landmarker_prepared_ahead_sees_what_one_built_at_the_challenge_sees(
    astronaut_bgr: np.ndarray,
) -> None:
    """The login service builds the next challenge's VIDEO landmarker between attempts;
    handed out once, never fed before, it finds the same points as a new one."""
    engine = LivenessEngine(ModelFiles())
    engine.prepare_video_mesher()
    prepared = engine.take_video_mesher()
    built_now = engine.take_video_mesher()
    try:
        assert prepared is not built_now
        assert prepared.options.running_mode is RunningMode.VIDEO
        for ms in (0, 33, 66):
            a = prepared.detect_for_video(astronaut_bgr, ms)
            b = built_now.detect_for_video(astronaut_bgr, ms)
            assert a is not None and b is not None
            np.testing.assert_array_equal(a.pixels(), b.pixels())
    finally:
        prepared.close()
        built_now.close()
        engine.close()
