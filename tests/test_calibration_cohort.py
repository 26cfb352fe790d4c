"""Cohort z-normalisation: the shipped moments give exact statistics, a template's
threshold follows how strangers score against it, the cohort of a calibration never
holds the people it normalises, and a cohort that is not the calibrated one is refused."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from facegate.biometrics.cohort import Cohort
from facegate.biometrics.match import Calibration, SecurityLevel, load_calibration
from facegate.biometrics.template import adapt, build_template
from facegate.errors import ConfigError
from facegate.eval.calibrate import COHORT_FILE, Pooled, cohort_decisions, halves
from facegate.eval.levels import level_rates
from facegate.vision.capture import CaptureClass
from facegate.vision.embed import EMBEDDING_DIM

EVEN, SIDE, DARK = CaptureClass.EVEN, CaptureClass.SIDE_LIT, CaptureClass.DARK
STD = SecurityLevel.STANDARD


def _unit(rng: np.random.Generator, n: int, centre: np.ndarray | None = None) -> np.ndarray:
    x = rng.normal(size=(n, EMBEDDING_DIM))
    if centre is not None:
        x += centre
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _calibration(cohort: Cohort) -> Calibration:
    table = {EVEN: 0.5, SIDE: 0.6, DARK: 0.7}
    return Calibration(
        thresholds={STD: table, SecurityLevel.HIGH: table},
        consistency_threshold=0.4,
        embedding_model="m",
        n_impostor=1,
        command="c",
        z_thresholds={
            STD: {EVEN: 4.0, SIDE: 5.0, DARK: 6.0},
            SecurityLevel.HIGH: {EVEN: 5.0, SIDE: 6.0, DARK: 7.0},
        },
        cohort=cohort,
    )


def test_cohort_statistics_equal_the_scores_against_the_cohort_itself() -> None:
    """Mean and std of t . x over the cohort follow exactly from its two moments, so no
    embedding of any person needs to ship (one image per person: equal weights)."""
    rng = np.random.default_rng(0)
    x = _unit(rng, 400)
    cohort = Cohort.fit(x, np.arange(400).astype(str), ["p"])
    t = _unit(rng, 1)
    scores = x.astype(np.float64) @ t[0].astype(np.float64)
    stats = cohort.stats(t)
    assert stats.mean == pytest.approx(scores.mean(), abs=1e-9)
    assert stats.std == pytest.approx(scores.std(), rel=1e-6)


def test_each_person_weighs_the_same_in_the_cohort() -> None:
    rng = np.random.default_rng(1)
    a, b = _unit(rng, 1), _unit(rng, 1)
    many = np.repeat(a, 50, axis=0)
    cohort = Cohort.fit(np.vstack([many, b]), np.array(["a"] * 50 + ["b"]), ["p"])
    assert np.allclose(cohort.mean, (a[0] + b[0]) / 2)


def test_a_crowded_template_gets_a_stricter_threshold() -> None:
    """Strangers who resemble a template score higher against it; its threshold rises
    with them, while a template in an empty region keeps a lower one."""
    rng = np.random.default_rng(2)
    crowd = rng.normal(size=EMBEDDING_DIM) * 0.6
    cohort_x = np.vstack([_unit(rng, 300, crowd), _unit(rng, 300)])
    cohort = Cohort.fit(cohort_x, np.arange(600).astype(str), ["p"])
    cal = _calibration(cohort)
    crowded = build_template(list(_unit(rng, 3, crowd)), 0.0)
    lonely = build_template(list(_unit(rng, 3, -crowd)), 0.0)
    assert cal.decision_threshold(STD, [EVEN], crowded) > cal.decision_threshold(
        STD, [EVEN], lonely
    )
    stats = cohort.stats(crowded.embeddings)
    assert cal.decision_threshold(STD, [EVEN, DARK], crowded) == pytest.approx(
        stats.mean + 6.0 * stats.std
    )
    # No template named: the per-class cosine thresholds, strictest class when unknown.
    assert cal.decision_threshold(STD, [SIDE]) == 0.6
    assert cal.decision_threshold(STD, []) == 0.7


def test_eval_judges_each_decision_at_its_templates_threshold() -> None:
    cal = _calibration(Cohort(np.zeros(EMBEDDING_DIM), np.eye(EMBEDDING_DIM), 1, ("p",)))
    caps = np.array([EVEN.value, EVEN.value])
    ref = np.array([[0.1, 0.1], [0.2, 0.1]])  # thresholds 0.5 and 0.6 at z = 4
    scores = np.array([0.55, 0.55])
    rates = {
        (r.level, r.capture): r
        for r in level_rates(
            cal, scores, caps, scores, caps, genuine_cohort=ref, impostor_cohort=ref
        )
    }
    assert rates[STD, "even"].false_matches == 1
    assert rates[STD, "even"].false_non_matches == 1


def test_calibration_normalises_no_decision_against_its_own_people() -> None:
    """Each half's decisions are normalised by the other half's cohort: the halves are
    disjoint in people and every population is dealt into both."""
    rng = np.random.default_rng(3)
    ids = np.array([f"{p}/{i}" for p in ("a", "b") for i in range(6) for _ in range(3)])
    pops = np.array([i.split("/")[0] for i in ids])
    data = Pooled(
        _unit(rng, len(ids)), ids, pops, np.full(len(ids), EVEN.value), np.zeros(len(ids), bool)
    )
    first, second = halves(data)
    assert not set(ids[first]) & set(ids[second])
    for p in ("a", "b"):
        assert (first & (pops == p)).any() and (second & (pops == p)).any()
    decisions = cohort_decisions(data, template_size=2, subsets=1)
    people = {p: len(set(ids[m].tolist())) for p, m in (("1", first), ("2", second))}
    # every person scores every other person of its own half (all images), no one else
    per_half = sum(n * (n - 1) * 3 for n in people.values())
    assert len(decisions.scores) == per_half


def test_shipped_cohort_is_the_one_the_thresholds_were_measured_against(tmp_path: Path) -> None:
    cal = load_calibration()
    assert cal.cohort is not None and cal.cohort.n_identities >= 200
    for level in SecurityLevel:
        for cls in CaptureClass:
            assert cal.z_thresholds[SecurityLevel.HIGH][cls] >= cal.z_thresholds[STD][cls]
            assert 0.0 < cal.z_thresholds[level][cls] < 10.0
    shipped = Path(str(resources.files("facegate.biometrics").joinpath(COHORT_FILE)))
    raw = json.loads(
        Path(str(resources.files("facegate.biometrics").joinpath("calibration.json"))).read_text()
    )
    digest = raw["cohort_normalisation"]["sha256"]
    altered = Cohort(cal.cohort.mean + 1e-3, cal.cohort.covariance, 1, ("p",))
    altered.save(tmp_path / COHORT_FILE)
    with pytest.raises(ConfigError, match="not the cohort"):
        Cohort.load(tmp_path / COHORT_FILE, digest)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="unreadable"):
        Cohort.load(tmp_path / "junk.npz", digest)
    assert Cohort.load(shipped, digest).digest() == digest


def test_learnt_entries_never_move_a_threshold() -> None:
    """Only enrolled entries set the cohort statistics: frames learnt after unlocks
    (which an attacker's morphs might steer) cannot lower the template's threshold."""
    rng = np.random.default_rng(4)
    crowd = rng.normal(size=EMBEDDING_DIM) * 0.6
    cohort = Cohort.fit(_unit(rng, 300, crowd), np.arange(300).astype(str), ["p"])
    cal = _calibration(cohort)
    template = build_template(list(_unit(rng, 3, crowd)), 0.0)
    before = cal.decision_threshold(STD, [EVEN], template)
    for far in _unit(rng, 3, -crowd):
        template = adapt(template, far, 1.0)
    assert template.adaptive.sum() == 3
    assert cal.decision_threshold(STD, [EVEN], template) == pytest.approx(before)


def test_a_candidate_calibration_is_loaded_with_the_cohort_beside_it(tmp_path: Path) -> None:
    """``load_calibration(path)`` reads another calibration.json (as `eval calibrate
    --out` writes it) and checks the cohort next to it against its digest."""
    package = resources.files("facegate.biometrics")
    raw = json.loads(Path(str(package.joinpath("calibration.json"))).read_text())
    raw["cohort_normalisation"]["z_thresholds"]["standard"]["side_lit"] = 4.9
    candidate = tmp_path / "calibration.json"
    candidate.write_text(json.dumps(raw))
    shipped = load_calibration()
    assert shipped.cohort is not None
    shipped.cohort.save(tmp_path / COHORT_FILE)
    got = load_calibration(candidate)
    assert got.z_thresholds[STD][SIDE] == 4.9
    assert got.z_thresholds[STD][EVEN] == shipped.z_thresholds[STD][EVEN]
    assert got.cohort is not None and got.cohort.digest() == shipped.cohort.digest()
    Cohort(shipped.cohort.mean + 1e-3, shipped.cohort.covariance, 1, ("p",)).save(
        tmp_path / COHORT_FILE
    )
    with pytest.raises(ConfigError, match="not the cohort"):
        load_calibration(candidate)
