"""What a new user met following the README (a helper briefed only with it), each kept
as a test: an output file naming its own input, an existing output's looser mode, a
home that is a file, a mistyped model variable, ``delete`` in a script, a lockout hint,
``-v`` into a file, the video enrolment's count, and Pillow's noise above a size error."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import Result

from conftest import Invoke, still_video

USER = "astronaut"


def _error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize("command", ["track", "occlusion"])
def test_an_output_that_names_an_input_is_refused_and_the_input_kept(
    cli: Invoke, image_files: dict, tmp_path: Path, command: str
) -> None:
    photo = tmp_path / "me.jpg"
    shutil.copyfile(image_files["probe"], photo)
    before = photo.read_bytes()
    line = _error_line(cli(command, photo, "--jsonl", photo))
    assert "also an input" in line
    assert photo.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["me.jpg"], "no temporary file left"


def test_track_replaces_an_existing_output_with_a_private_file(
    cli: Invoke, image_files: dict, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    target.chmod(0o644)
    result = cli("track", image_files["probe"], "--jsonl", target)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert result.stderr.startswith("tracking (1 to do) ..."), "a piped run says it started"
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 1 and records[0]["face_found"]


def test_a_track_that_fails_part_way_leaves_the_earlier_output_whole(
    cli: Invoke, image_files: dict, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("earlier run\n")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(Path(image_files["probe"]).read_bytes()[:200])
    result = cli("track", image_files["probe"], broken, "--jsonl", target)
    assert result.exit_code == 2, result.output
    assert target.read_text() == "earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg", "out.jsonl"]


def test_a_home_that_is_a_file_is_one_clear_error(
    cli: Invoke, image_files: dict, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "home.txt"
    not_a_folder.write_text("x")
    for args in (["users"], ["enroll", USER, *image_files["enrol"]]):
        line = _error_line(cli(*args, env_extra={"FACEGATE_HOME": str(not_a_folder)}))
        assert "is a file, not a folder" in line
    assert not_a_folder.read_text() == "x"


def test_a_mistyped_model_variable_is_named_not_ignored(cli: Invoke, tmp_path: Path) -> None:
    line = _error_line(cli("users", env_extra={"FACEGATE_MODEL_SFAC": str(tmp_path / "x")}))
    assert "sfac" in line and "sface" in line


def test_delete_in_a_script_without_yes_keeps_the_user_and_says_how(
    cli: Invoke, image_files: dict
) -> None:
    assert cli("enroll", USER, *image_files["enrol"]).exit_code == 0
    line = _error_line(cli("delete", USER))  # no answer on stdin: a script
    assert "--yes" in line and USER in line
    answered_no = cli("delete", USER, stdin="n\n")
    assert answered_no.exit_code == 1 and f"kept {USER}" in answered_no.stdout
    assert [row["user"] for row in json.loads(cli("users", "--json").stdout)] == [USER]


@pytest.mark.dataset
def test_the_lockout_hint_names_the_user(
    cli: Invoke, image_files: dict, other_person_path: Path
) -> None:
    assert cli("enroll", USER, *image_files["enrol"]).exit_code == 0
    for _ in range(4):
        cli("verify", USER, other_person_path, "--liveness", "off")
    fifth = cli("verify", USER, other_person_path, "--liveness", "off")
    assert "LOCKED" in fifth.stdout and f"facegate reset {USER}`" in fifth.stdout


def test_verbose_into_a_file_gives_plain_lines_with_the_verdict_and_no_score(
    cli: Invoke, image_files: dict
) -> None:
    assert cli("enroll", USER, *image_files["enrol"]).exit_code == 0
    result = cli("-v", "verify", USER, image_files["probe"], "--liveness", "off")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    verdict = [line for line in lines if f"verify {USER}: match" in line]
    assert verdict and "reason=match" in verdict[0]
    assert all(len(line) == len(line.rstrip()) for line in lines), "lines padded with spaces"
    assert "score" not in result.stderr.lower()


def test_a_video_enrolment_says_why_it_kept_few_of_many_frames(
    cli: Invoke, astronaut_bgr: np.ndarray, tmp_path: Path
) -> None:
    video = still_video(tmp_path / "me.avi", astronaut_bgr, seconds=2.0)
    result = cli("enroll", USER, video)
    assert result.exit_code == 0, result.output
    assert "kept 5 of 20 capture(s) (the most varied of 20 usable); rejected: none" in (
        result.stdout
    )


def test_a_huge_image_is_refused_in_facegates_words_without_pillows_warning(
    cli: Invoke, tmp_path: Path
) -> None:
    from PIL import Image

    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(huge)  # 100 MP: above Pillow's warning size
    line = _error_line(cli("verify", USER, huge))
    assert "megapixel limit" in line
    assert "DecompressionBombWarning" not in cli("verify", USER, huge).output


def test_doctor_says_which_key_source_auto_chose(cli: Invoke, image_files: dict) -> None:
    auto = {"FACEGATE_KEY_SOURCE": "auto"}
    rows = json.loads(cli("doctor", "--json", env_extra=auto).stdout)
    (source,) = [row for row in rows if row["check"] == "vault key source"]
    assert "not chosen yet" in source["detail"]
    assert cli("enroll", USER, *image_files["enrol"]).exit_code == 0  # keyfile: a key file
    rows = json.loads(cli("doctor", "--json", env_extra=auto).stdout)
    (source,) = [row for row in rows if row["check"] == "vault key source"]
    assert "auto: the key file" in source["detail"]


def test_a_fifo_as_the_config_file_is_refused_not_waited_on(cli: Invoke, home: Path) -> None:
    """Outside attack F8: a FIFO planted as config.toml hung every command."""
    home.mkdir(parents=True, exist_ok=True)
    os.mkfifo(home / "config.toml")
    line = _error_line(cli("users"))
    assert "not a regular file" in line
