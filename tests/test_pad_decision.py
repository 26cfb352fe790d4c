"""The PAD's three-way decision, the band set on held-out groups, labelled sources, and
the unlock attempt that asks for a challenge when the PAD is uncertain."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import still_video
from facegate.cli import app
from facegate.config import load_settings
from facegate.errors import ChallengeIncomplete, InputError
from facegate.eval.pad import (
    PadBand,
    band_per_group,
    outcomes,
    threshold_at_apcer,
)
from facegate.eval.pad_data import read_labels
from facegate.eval.pad_train import GroupBy, group_folds, group_keys, repo_relative
from facegate.liveness.challenge import ChallengeFailure, ChallengeKind
from facegate.liveness.check import (
    LivenessEngine,
    LivenessMode,
    LivenessOptions,
    LivenessVerdict,
)
from facegate.liveness.features import colourless
from facegate.liveness.pad import PadDecision, PadModel
from facegate.models import ModelFiles, read_verified
from facegate.vision.detect import FaceDetector
from facegate.vision.sources import iter_video


def _with_band(threshold: float, refuse_below: float) -> PadModel:
    return replace(PadModel.load(), threshold=threshold, refuse_below=refuse_below)


# --- the decision ----------------------------------------------------------------------


def test_a_score_is_live_at_the_threshold_attack_below_the_floor_and_uncertain_between() -> None:
    model = _with_band(0.8, 0.2)
    assert model.decide(0.8) is PadDecision.LIVE
    assert model.decide(0.5) is PadDecision.UNCERTAIN
    assert model.decide(0.2) is PadDecision.UNCERTAIN
    assert model.decide(0.1999) is PadDecision.ATTACK


def test_a_floor_above_the_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="refuse_below"):
        _with_band(0.5, 0.6)


def test_the_shipped_weights_carry_a_band_and_repository_relative_provenance() -> None:
    model = PadModel.load()
    assert 0.0 <= model.refuse_below <= model.threshold < 1.0
    assert not Path(str(model.meta["dataset"])).is_absolute()
    assert "/work/" not in json.dumps(model.meta)
    assert model.meta["cv"] == "leave one source out"
    assert model.meta["cv_decisions_by_group"]


def test_save_then_load_keeps_the_band(tmp_path: Path) -> None:
    model = _with_band(0.9, 0.05)
    model.save(tmp_path / "band.npz")
    copy = PadModel.load(tmp_path / "band.npz")
    assert (copy.threshold, copy.refuse_below) == (0.9, 0.05)


# --- the band --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=40),
    st.floats(0.0, 0.5),
)
def test_threshold_at_apcer_accepts_at_most_the_target_share(scores: list, target: float) -> None:
    t = threshold_at_apcer(scores, target)
    assert np.mean(np.asarray(scores) >= t) <= target + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_band_keeps_every_group_within_its_targets(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_groups = data.draw(st.integers(2, 5))
    scores, live, groups = [], [], []
    for g in range(n_groups):
        for label in (True, False):
            n = int(rng.integers(5, 40))
            centre = rng.uniform(0.2, 0.8)
            scores += list(np.clip(rng.normal(centre, 0.2, n), 0.0, 0.999))
            live += [label] * n
            groups += [f"g{g}"] * n
    s, lv, gr = np.array(scores), np.array(live), np.array(groups)
    band = band_per_group(s, lv, gr, 0.05, 0.1)
    assert band.refuse_below <= band.accept_at
    for g in np.unique(gr):
        bona, attack = s[lv & (gr == g)], s[~lv & (gr == g)]
        if band.refuse_below < band.accept_at:  # the band did not close on APCER's side
            assert np.mean(bona < band.refuse_below) <= 0.05
        assert np.mean(attack >= band.accept_at) <= 0.1


def test_outcomes_count_each_decision() -> None:
    counts = outcomes([0.05, 0.3, 0.5, 0.95, 0.9], PadBand(0.1, 0.9))
    assert counts.as_dict() == {"live": 2, "uncertain": 2, "attack": 1} and counts.n == 5


# --- labelled sources ------------------------------------------------------------------


def test_labels_with_a_source_column_group_by_source(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "path,label,subject,source\na.jpg,live,p1,cam1\nb.jpg,spoof_replay,p1,cam1\n"
        "c.jpg,live,p2,cam2\n"
    )
    images = read_labels(csv)
    assert group_keys(images, GroupBy.SOURCE).tolist() == ["cam1", "cam1", "cam2"]
    assert group_folds(["cam1", "cam1", "cam2"], 0).tolist() == [0, 0, 1]


def test_a_missing_source_names_the_column(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label,subject\na.jpg,live,p1\n")
    with pytest.raises(InputError, match="'source' column"):
        group_keys(read_labels(csv), GroupBy.SOURCE)


def test_provenance_paths_are_relative() -> None:
    here = Path(__file__).resolve()
    assert repo_relative(here) == "tests/test_pad_decision.py"


def test_leave_one_out_needs_a_grouping(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["eval", "liveness", "--out", str(tmp_path), "--live", str(tmp_path),
         "--attack", str(tmp_path), "--leave-one-out"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--by" in result.output


# --- same face, crop or frame ----------------------------------------------------------


def test_a_tight_crop_and_the_whole_frame_get_the_same_decision(astronaut_bgr: np.ndarray) -> None:
    model = PadModel.load()
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        box = detector.detect(astronaut_bgr).boxes[0]
        x, y, w, h = (int(v) for v in box[:4])
        pad = int(0.15 * max(w, h))
        crop = astronaut_bgr[max(y - pad, 0) : y + h + pad, max(x - pad, 0) : x + w + pad]
        crop_box = detector.detect(np.ascontiguousarray(crop)).boxes[0]
    whole = model.score(astronaut_bgr, box)
    tight = model.score(np.ascontiguousarray(crop), crop_box)
    assert model.decide(whole) is model.decide(tight)
    assert abs(whole - tight) < 0.1


# --- the fallback challenge ------------------------------------------------------------


def _run(
    engine: LivenessEngine, options: LivenessOptions, video: Path
) -> tuple[list[ChallengeKind], LivenessVerdict]:
    """The unlock loop's use of an attempt: three usable frames, then until settled."""
    prompts: list[ChallengeKind] = []
    check = engine.attempt(options, lambda c: prompts.append(c.kind))
    with FaceDetector(engine.models.read("yunet")) as detector:
        used = 0
        for frame in iter_video(video):
            faces = detector.detect(frame.image)
            wanted = len(faces) > 0 and used < 3
            check.add(frame, faces, wanted)
            used += wanted
            if used >= 3 and check.settled:
                break
    return prompts, check.verdict()


@pytest.fixture
def uncertain_engine(tmp_path: Path) -> LivenessEngine:
    """The shipped model with a band that leaves every score uncertain."""
    path = tmp_path / "uncertain.npz"
    _with_band(0.999999, 0.0).save(path)
    return LivenessEngine(ModelFiles.of(load_settings()), path)


def test_an_uncertain_pad_on_a_video_asks_for_a_challenge_a_still_face_fails(
    uncertain_engine: LivenessEngine, astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    video = still_video(tmp_path / "still.avi", astronaut_bgr, 7.0)
    # No challenge_when_uncertain: a video can answer, so the attempt asks by itself.
    options = LivenessOptions(
        LivenessMode.PASSIVE,
        require_attention=False,
        challenges=(ChallengeKind.SMILE, ChallengeKind.BLINK),
    )
    prompts, verdict = _run(uncertain_engine, options, video)
    uncertain_engine.close()
    assert prompts == [ChallengeKind.SMILE]
    assert verdict.pad_decision is PadDecision.UNCERTAIN and verdict.fallback
    assert not verdict.live
    assert verdict.challenge is not None
    assert verdict.challenge.failure is ChallengeFailure.DEADLINE


def test_without_the_fallback_an_uncertain_pad_fails_without_a_prompt(
    uncertain_engine: LivenessEngine, astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    video = still_video(tmp_path / "still.avi", astronaut_bgr, 1.0)
    options = LivenessOptions(
        LivenessMode.PASSIVE, require_attention=False, challenge_when_uncertain=False
    )
    prompts, verdict = _run(uncertain_engine, options, video)
    uncertain_engine.close()
    assert prompts == [] and not verdict.live
    assert verdict.pad_decision is PadDecision.UNCERTAIN and not verdict.fallback


def test_a_video_that_ends_during_the_fallback_challenge_is_incomplete(
    uncertain_engine: LivenessEngine, astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    video = still_video(tmp_path / "short.avi", astronaut_bgr, 1.0)
    options = LivenessOptions(
        LivenessMode.PASSIVE, require_attention=False, challenge_when_uncertain=True
    )
    with pytest.raises(ChallengeIncomplete):
        _run(uncertain_engine, options, video)
    uncertain_engine.close()


def test_a_live_pad_on_a_video_is_trusted_alone_only_when_allowed(
    astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "lenient.npz"
    _with_band(1e-6, 0.0).save(path)
    engine = LivenessEngine(ModelFiles.of(load_settings()), path)
    video = still_video(tmp_path / "still.avi", astronaut_bgr, 7.0)
    trusting = LivenessOptions(
        LivenessMode.PASSIVE, require_attention=False, accept_on_pad_alone=True
    )
    prompts, verdict = _run(engine, trusting, video)
    assert prompts == [] and verdict.live and verdict.pad_decision is PadDecision.LIVE
    default = LivenessOptions(
        LivenessMode.PASSIVE, require_attention=False, challenges=(ChallengeKind.BLINK,)
    )
    prompts, verdict = _run(engine, default, video)
    engine.close()
    assert prompts == [ChallengeKind.BLINK] and verdict.fallback and not verdict.live


def test_a_grey_face_is_never_live_on_its_score(astronaut_bgr: np.ndarray) -> None:
    grey = cv2.cvtColor(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    model = _with_band(1e-6, 0.0)
    with FaceDetector(read_verified("yunet", load_settings())) as detector:
        box = detector.detect(grey).boxes[0]
    assert colourless(grey, box, model.spec) and not colourless(astronaut_bgr, box, model.spec)
    assert model.decide(model.score(grey, box), colourless=True) is PadDecision.UNCERTAIN
    assert model.decide(model.score(astronaut_bgr, box)) is PadDecision.LIVE


@pytest.mark.dataset
def test_eval_liveness_by_source_leave_one_out_counts_every_decision(
    data_dir: Path, tmp_path: Path
) -> None:
    nuaa = data_dir / "nuaa_photo_imposter_subset"
    rows = []
    for person in ("0001", "0002"):
        for folder, label in (("ClientRaw", "live"), ("ImposterRaw", "spoof_print")):
            for path in sorted((nuaa / folder / person).glob("*.jpg"))[:3]:
                rows.append(f"{path},{label},{person},cam{person}")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label,subject,source\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"
    args = ["eval", "liveness", "--labels", str(labels), "--root", "/", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--by", "source", "--leave-one-out"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"].startswith("leave one source out")
    groups = report["decisions_by_group"]
    assert set(groups) == {"cam0001", "cam0002"}
    for counts in groups.values():
        assert {sum(c.values()) for c in counts.values()} == {3}
    assert (out / "det.png").read_bytes()[:4] == b"\x89PNG"


def test_a_live_pad_alone_never_admits_a_still_unless_allowed(
    astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    """A still cannot answer a prompt, and the PAD's LIVE can be reached by a sharpened
    print (outside attack, F3), so by default a still is refused whatever the PAD says."""
    path = tmp_path / "lenient.npz"
    _with_band(1e-6, 0.0).save(path)
    engine = LivenessEngine(ModelFiles.of(load_settings()), path)
    with FaceDetector(engine.models.read("yunet")) as detector:
        faces = detector.detect(astronaut_bgr)
    from facegate.vision.sources import Frame

    still = Frame(image=astronaut_bgr, source="still")
    verdicts = {}
    for trusting in (False, True):
        options = LivenessOptions(
            LivenessMode.PASSIVE, require_attention=False, accept_on_pad_alone=trusting
        )
        check = engine.attempt(options, None)
        check.add(still, faces, True)
        assert check.settled
        verdicts[trusting] = check.verdict()
    engine.close()
    assert verdicts[False].pad_decision is PadDecision.LIVE and not verdicts[False].live
    assert verdicts[True].live


@pytest.mark.dataset
def test_a_sharpened_print_of_the_owner_is_refused_as_a_still(
    home: Path, data_dir: Path, tmp_path: Path
) -> None:
    """The outside attack F3 as it was run: the owner (NUAA 0009) enrolled from five
    webcam photos, then the dataset's printed-photo attack of them, unsharp-masked
    (amount 12, sigma 3), which the PAD scored LIVE and which unlocked at `standard`."""
    from facegate.errors import Reason
    from facegate.session import Session
    from facegate.vision.sources import read_image

    nuaa = data_dir / "nuaa_photo_imposter_subset"
    clients = sorted((nuaa / "ClientRaw" / "0009").glob("*.jpg"))
    attack = nuaa / "ImposterRaw" / "0009" / "0009_01_00_01_422.jpg"
    if len(clients) < 41 or not attack.is_file():
        pytest.skip(f"{nuaa} lacks NUAA person 0009")
    image = cv2.imread(str(attack))
    sharp = cv2.addWeighted(image, 13, cv2.GaussianBlur(image, (0, 0), 3), -12, 0)
    probe = tmp_path / "sharp.png"
    cv2.imwrite(str(probe), sharp)
    with Session.open(home) as session:
        session.unlocker.enroll("o0009", [read_image(clients[i]) for i in (0, 10, 20, 30, 40)])
        verdict = session.verify("o0009", [str(probe)])
    assert not verdict.matched and verdict.reason is Reason.LIVENESS
