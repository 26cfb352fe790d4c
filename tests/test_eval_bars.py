"""The accuracy bars of the unlock job, measured on the real dev data by the real commands.

These run the same code as ``facegate eval`` and fail when a bar is missed, so a
change that costs accuracy cannot land quietly. They need ``../shared/data`` and
skip with a message when it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from skimage import data as skimage_data
from typer.testing import CliRunner

from facegate.biometrics.match import SecurityLevel, load_calibration
from facegate.cli import app
from facegate.eval.calibrate import calibrate
from facegate.eval.dataset import embed_samples, list_dataset
from facegate.eval.metrics import summarise
from facegate.eval.protocols import verify_scores
from facegate.vision.pipeline import FacePipeline

REPO = Path(__file__).resolve().parents[1]
REQUIRED_KEYS = {"n_genuine", "n_impostor", "fta", "eer", "fnmr_at_fmr", "ms_per_image"}

pytestmark = pytest.mark.dataset


def test_orl_unlock_meets_its_bar(data_dir: Path, tmp_path: Path) -> None:
    """ORL, enrol 3: FTA <= 1 % and FNMR = 0 at FMR 1e-4 over 280 genuine and 15,600
    impostor comparisons; 1e-5 is unsupported by that many impostors, so it is null."""
    out = tmp_path / "orl"
    result = CliRunner().invoke(
        app, ["eval", "unlock", str(data_dir / "orl_att_faces"), "--enroll", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= REQUIRED_KEYS
    assert (report["n_genuine"], report["n_impostor"]) == (280, 15_600)
    assert report["fta"] <= 0.01
    assert report["fnmr_at_fmr"]["1e-4"] == 0.0
    assert report["fnmr_at_fmr"]["1e-5"] is None and report["fnmr_at_fmr"]["1e-6"] is None
    assert (out / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "15,600" in (out / "summary.md").read_text() or "15600" in (out / "summary.md").read_text()
    )


def test_orl_pairs_csv_is_scored_as_listed(data_dir: Path, tmp_path: Path) -> None:
    root = data_dir / "orl_att_faces"
    rows = (root / "pairs.csv").read_text().strip().splitlines()[1:]
    same = sum(1 for r in rows if r.split(",")[2] == "1")
    result = CliRunner().invoke(
        app,
        ["eval", "verify", str(root), "--pairs", str(root / "pairs.csv"), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_genuine"] + report["n_impostor"] <= len(rows)
    assert report["n_genuine"] <= same
    assert report["fta"] <= 0.01


@pytest.fixture(scope="module")
def pooled(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, pipeline: FacePipeline):
    devset = tmp_path_factory.mktemp("devset")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "make_devset.py"),
            "--data",
            str(data_dir),
            "--out",
            str(devset),
        ],
        check=True,
        capture_output=True,
    )
    return devset, embed_samples(list_dataset(devset), pipeline)


def test_pooled_dev_set_meets_its_bar(pooled) -> None:
    """ORL + Yale + NUAA live, all pairs: FTA <= 1 % and FNMR <= 1 % at FMR 1e-5."""
    _, data = pooled
    scores = verify_scores(data)
    summary = summarise(
        scores.genuine,
        scores.impostor,
        n_attempts=scores.n_attempts,
        n_failed_acquisitions=scores.n_failed,
        seconds_per_image=scores.seconds_per_image,
    )
    assert summary.n_impostor > 800_000
    assert summary.fta <= 0.01
    fnmr = summary.fnmr_at_fmr["1e-5"]
    assert fnmr is not None and fnmr <= 0.01


def test_shipped_thresholds_are_reproduced_by_the_recorded_command(pooled) -> None:
    """calibration.json must be what its recorded command computes, not a hand edit."""
    devset, data = pooled
    shipped = load_calibration()
    record = calibrate(data, template_size=8, subsets=12, command="test", root=devset)
    assert record["n_impostor"] == shipped.n_impostor
    for level in SecurityLevel:
        assert record["thresholds"][level.value] == pytest.approx(
            shipped.threshold(level), abs=2e-3
        )
    assert record["consistency_threshold"] == pytest.approx(shipped.consistency_threshold, abs=2e-3)


def test_unlock_report_names_why_each_probe_was_refused(data_dir: Path, tmp_path: Path) -> None:
    """FTA comes with its reasons, and they add up to the failed acquisitions."""
    root = tmp_path / "set"
    for person in ("s1", "s2"):
        (root / person).mkdir(parents=True)
        for i in range(1, 5):
            name = f"{i}.pgm"
            shutil.copy(data_dir / "orl_att_faces" / person / name, root / person / name)
    cat = cv2.cvtColor(skimage_data.chelsea(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "s1" / "5_cat.png"), cat)
    (root / "s2" / "5_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "report"
    args = ["eval", "unlock", str(root), "--enroll", "3", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["fta_reasons"] == {"no_face": 1, "unreadable": 1}
    assert report["n_failed_acquisitions"] == 2
    assert "(2/4:no_face1,unreadable1)" in "".join(result.output.split())  # Rich wraps
