"""The command line through Typer's CliRunner: exit codes 0 / 1 / 2 are a contract, and
every FaceGate error is one 'error:' line without a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import Invoke

USER = "astronaut"


@pytest.fixture
def enrolled(cli: Invoke, image_files: dict) -> Invoke:
    result = cli("enroll", USER, *image_files["enrol"])
    assert result.exit_code == 0, result.output
    return cli


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got {lines}"
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_listing_users_of_a_fresh_home_creates_nothing(cli: Invoke, home: Path) -> None:
    result = cli("users", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert not any(home.glob("vault*")), "a listing must not create the vault or its key"


def test_enroll_reports_what_it_kept(cli: Invoke, image_files: dict) -> None:
    result = cli("enroll", USER, *image_files["enrol"])
    assert result.exit_code == 0, result.output
    assert f"enrolled {USER}: kept 5 of 5 capture(s)" in result.output


def test_genuine_verify_exits_0_with_match(enrolled: Invoke, image_files: dict) -> None:
    result = enrolled("verify", USER, image_files["probe"], "--liveness", "off")
    assert result.exit_code == 0, result.output
    assert "MATCH" in result.output and "NO MATCH" not in result.output
    assert "reason=match" in result.output


@pytest.mark.dataset
def test_impostor_verify_exits_1(enrolled: Invoke, other_person_path: Path) -> None:
    result = enrolled("verify", USER, other_person_path, "--liveness", "off")
    assert result.exit_code == 1, result.output
    assert "NO MATCH" in result.output
    assert "reason=not_matched" in result.output


def test_unusable_probe_exits_1_with_its_reason(enrolled: Invoke, tmp_path: Path) -> None:
    from skimage import data
    from skimage.io import imsave

    path = tmp_path / "cat.png"
    imsave(path, data.chelsea())
    result = enrolled("verify", USER, path)
    assert result.exit_code == 1, result.output
    assert "reason=no_face" in result.output


def test_verify_json_has_the_verdict(enrolled: Invoke, image_files: dict) -> None:
    result = enrolled("verify", USER, image_files["probe"], "--json", "--liveness", "off")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["matched"] is True
    assert record["reason"] == "match"
    assert record["liveness"] == "off"
    assert record["user"] == USER and record["locked"] is False


def test_corrupt_image_is_one_error_line_exit_2(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "a-rather-long-file-name-for-a-corrupt-capture-from-the-camera.jpg"
    path.write_bytes(bytes(range(256)) * 8)
    result = cli("enroll", USER, path)
    assert_one_error_line(result, "UnreadableSource", str(path))


def test_error_naming_a_markup_like_path_is_printed_verbatim(
    cli: Invoke,
    tmp_path: Path,
) -> None:
    # Rich would read "[/x]" as a closing tag (and crash) and "[bold]" as a style.
    for name in ("[/x].jpg", "[bold]face.jpg"):
        path = tmp_path / name
        result = cli("enroll", USER, path)
        assert_one_error_line(result, "UnreadableSource", str(path))


def test_unknown_user_exits_2(enrolled: Invoke, image_files: dict) -> None:
    result = enrolled("verify", "nobody", image_files["probe"])
    assert_one_error_line(result, "NotEnrolled", "nobody")


def test_invalid_user_name_exits_2(cli: Invoke, image_files: dict) -> None:
    result = cli("enroll", "bad/name", *image_files["enrol"])
    assert_one_error_line(result, "InputError", "bad/name")


def test_enrolling_twice_exits_2(enrolled: Invoke, image_files: dict) -> None:
    result = enrolled("enroll", USER, *image_files["enrol"])
    assert_one_error_line(result, "AlreadyEnrolled", USER)


def test_users_lists_then_delete_removes(enrolled: Invoke) -> None:
    listed = enrolled("users")
    assert listed.exit_code == 0, listed.output
    assert USER in listed.output and "no users enrolled" not in listed.output

    deleted = enrolled("delete", USER, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert f"deleted {USER}" in deleted.output

    after = enrolled("users")
    assert after.exit_code == 0
    assert "no users enrolled" in after.output
    assert USER not in after.output


def test_delete_unknown_user_exits_2(cli: Invoke) -> None:
    result = cli("delete", "ghost", "--yes")
    assert_one_error_line(result, "NotEnrolled", "ghost")


@pytest.mark.dataset
def test_lockout_and_reset_through_the_cli(
    enrolled: Invoke,
    image_files: dict,
    other_person_path: Path,
) -> None:
    for _ in range(5):
        assert enrolled("verify", USER, other_person_path, "--liveness", "off").exit_code == 1
    locked = enrolled("verify", USER, image_files["probe"], "--json", "--liveness", "off")
    assert locked.exit_code == 1
    assert json.loads(locked.stdout)["reason"] == "locked_out"
    assert "yes" in enrolled("users").output

    reset = enrolled("reset", USER)
    assert reset.exit_code == 0 and "lockout cleared" in reset.output
    assert enrolled("verify", USER, image_files["probe"], "--liveness", "off").exit_code == 0


def test_doctor_exits_0_and_names_opencv_4(cli: Invoke) -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert re.search(r"cv2 4\.\d+\.\d+", result.output)
    assert "FAIL" not in result.output
    for model in ("yunet", "sface"):
        assert f"model {model}" in result.output
    assert "keyfile" in result.output


@pytest.mark.parametrize("model", ["SFACE", "DLIB_RESNET"])  # a core and an optional one
def test_doctor_exits_2_on_a_missing_model_override(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: str
) -> None:
    monkeypatch.setenv(f"FACEGATE_MODEL_{model}", str(tmp_path / "missing"))
    result = cli("doctor")
    assert result.exit_code == 2
    assert "FAIL" in result.output


def test_doctor_passes_without_the_optional_baseline_models(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core install (no [baseline] extra) has no dlib files; that is not a failure.
    The package's absence is faked: it cannot be uninstalled from the test's venv."""
    from facegate import models

    real = models._wheel_path
    monkeypatch.setattr(
        models,
        "_wheel_path",
        lambda spec: None if spec.package == "face_recognition_models" else real(spec),
    )
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = {row["check"]: row for row in json.loads(result.stdout)}
    assert all(row["ok"] for row in checks.values()), result.output
    assert "optional: the 'baseline' extra" in checks["model dlib_resnet"]["detail"]


def test_demo_without_camera_matches_and_refuses(cli: Invoke) -> None:
    result = cli("demo", "--camera", "-1")
    assert result.exit_code == 0, result.output
    assert "No camera" in result.output
    assert "the photo, default policy: refused (reason=liveness, liveness=passive)" in (
        result.output
    )
    assert re.search(r"unlock with a new capture: MATCH \(reason=match", result.output)
    assert "refused (reason=no_face" in result.output
    assert "refused (reason=too_small" in result.output
    assert "Demo vault deleted" in result.output
    assert result.stderr == ""


def test_verbose_shows_the_log_and_native_start_up_lines(cli: Invoke) -> None:
    result = cli("-v", "demo", "--camera", "-1")
    assert result.exit_code == 0, result.output
    assert "enrolled user astronaut" in result.stderr
    assert "native: " in result.stderr and "face_landmarker_graph" in result.stderr
    assert cli("demo", "--camera", "-1").stderr == ""  # quiet again without -v


def test_a_photo_is_refused_for_liveness_by_default(enrolled: Invoke, image_files: dict) -> None:
    """The probe is a photograph: at the standard level passive PAD is on by default,
    so it must be refused with the liveness reason (exit 1), not matched."""
    result = enrolled("verify", USER, image_files["probe"], "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["reason"] == "liveness"
    text = enrolled("verify", USER, image_files["probe"])
    assert "reason=liveness" in text.stdout
    assert "counts toward the lockout" in text.stderr and "camera or video" in text.stderr


def test_one_image_enrolment_warns_and_add_names_refusals(
    cli: Invoke, image_files: dict, tmp_path: Path
) -> None:
    result = cli("enroll", USER, image_files["enrol"][0])
    assert result.exit_code == 0, result.output
    assert "enrolled from one capture" in result.stderr and f"facegate add {USER}" in result.stderr
    from skimage import data
    from skimage.io import imsave

    cat = tmp_path / "cat.png"
    imsave(cat, data.chelsea())
    result = cli("add", USER, *image_files["enrol"][1:3], cat)
    assert result.exit_code == 0, result.output
    assert f"added to {USER}: kept 2 of 3 capture(s)" in result.output
    assert f"refused {cat}: no_face" in result.output


def test_verbose_may_follow_the_subcommand(home: Path, image_files: dict) -> None:
    from facegate.cli import global_flags_first

    assert global_flags_first(["users", "-v"]) == ["-v", "users"]
    assert global_flags_first(["verify", "a", "x.jpg", "--", "-v"]) == [
        "verify", "a", "x.jpg", "--", "-v",
    ]  # fmt: skip
    env = {**os.environ, "FACEGATE_HOME": str(home), "FACEGATE_KEY_SOURCE": "keyfile"}
    facegate = Path(sys.executable).with_name("facegate")
    enrol = [facegate, "enroll", USER, str(image_files["enrol"][0]), "-v"]
    done = subprocess.run(enrol, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert f"enrolled user {USER}".encode() in done.stderr  # the vault's log line is on
    quiet = subprocess.run([facegate, "users", "--json"], env=env, capture_output=True)
    assert json.loads(quiet.stdout)[0]["user"] == USER and quiet.stderr == b""


def test_help_and_version_flags(cli: Invoke) -> None:
    assert cli("-h").exit_code == 0 and "Usage" in cli("-h").output
    assert cli("verify", "-h").exit_code == 0
    assert cli("--version").output.startswith("facegate ")


def test_doctor_json_names_each_model_with_its_sha256(cli: Invoke) -> None:
    from facegate.models import MODELS

    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    for name, spec in MODELS.items():
        assert rows[f"model {name}"]["ok"] and spec.sha256 in rows[f"model {name}"]["detail"]


def test_the_verdict_is_one_line_however_long(cli: Invoke, image_files: dict) -> None:
    long_name = "a" * 64
    assert cli("enroll", long_name, *image_files["enrol"]).exit_code == 0
    result = cli("verify", long_name, image_files["probe"], "--liveness", "off")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.strip()]
    assert line.startswith(f"MATCH {long_name}:") and line.endswith("frames=1/1"), line
