"""The login service's settings, camera names and attempt log, without a daemon."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.biometrics.match import SecurityLevel
from facegate.cli import app
from facegate.errors import ConfigError, UnreadableSource
from facegate.system import attempts
from facegate.system.camera import camera_frames, camera_kind, device_index
from facegate.system.cameras import list_cameras
from facegate.system.client import Outcome
from facegate.system.config import SystemConfig, load_config
from facegate.system.paths import SystemPaths


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_missing_config_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml") == SystemConfig()
    assert SystemConfig().timeout == 10.0 and SystemConfig().level is SecurityLevel.STANDARD


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            'camera = "/dev/v4l/by-id/usb-cam-index0"\nir_camera = true\nlevel = "high"\n'
            'timeout = 2.5\ndisabled_services = ["login", "gdm-password"]\n',
        )
    )
    assert config == SystemConfig(
        "/dev/v4l/by-id/usb-cam-index0", True, SecurityLevel.HIGH, 2.5,
        frozenset({"login", "gdm-password"}),
    )  # fmt: skip
    assert load_config(write(tmp_path, "camera = 2\n")).camera == "2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timout = 3\n", "unknown key.*timout"),
        ("timeout = 0.1\n", "timeout must be"),
        ("timeout = true\n", "timeout must be"),
        ('level = "paranoid"\n', "level must be one of"),
        ('ir_camera = "yes"\n', "ir_camera must be"),
        ("camera = true\n", "camera must be"),
        ('disabled_services = "sudo"\n', "disabled_services must be"),
        ("camera = [\n", "not valid TOML"),
    ],
)
def test_a_bad_key_or_value_is_an_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_a_stable_by_id_camera_name_resolves_to_its_device_index(tmp_path: Path) -> None:
    link = tmp_path / "usb-Acme_Webcam-video-index0"
    link.symlink_to("/dev/video7")
    assert device_index("3") == 3
    assert device_index("/dev/video2") == 2
    with pytest.raises(UnreadableSource, match="not a /dev/videoN camera"):
        device_index("/dev/null")
    assert device_index(str(tmp_path / "clip.avi")) is None
    assert device_index(str(link)) == 7


def test_a_still_image_is_not_a_moving_camera_and_a_video_is(tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    clip.touch()
    link = tmp_path / "camera"
    link.symlink_to(clip)
    moving = [camera_kind(c).moving for c in ("0", str(link), str(tmp_path / "a.jpg"))]
    assert moving == [True, True, False]


def test_an_absent_camera_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSource):
        next(camera_frames(str(tmp_path / "none.avi"), deadline=float("inf")))


def test_a_video_camera_stops_at_the_deadline(tmp_path: Path, data_dir: Path) -> None:
    clip = data_dir / "blink_webcam_videos" / "mahie_test_1.avi"
    if not clip.is_file():
        pytest.skip(f"{clip} absent")
    assert list(camera_frames(str(clip), deadline=0.0)) == []


def entry(user: str, outcome: Outcome, uid: int | None = 0) -> attempts.Attempt:
    return attempts.Attempt(
        datetime.now(UTC), user, "sudo", "/dev/pts/1", outcome.value, "", 12, uid
    )


def test_the_attempt_log_is_private_and_keeps_only_the_newest_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts, "KEEP_ROWS", 3)
    log = tmp_path / "state" / "attempts.sqlite3"
    for i in range(5):
        attempts.record(log, entry(f"user{i}", Outcome.NO_MATCH))
    assert [a.user for a in attempts.recent(log)] == ["user2", "user3", "user4"]
    assert log.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_a_hostile_pam_item_is_stored_printable_and_short(tmp_path: Path) -> None:
    log = tmp_path / "attempts.sqlite3"
    attempts.record(log, entry("evil\x1b[2J" + "x" * 500, Outcome.DENIED))
    (row,) = attempts.recent(log)
    assert row.user.startswith("evil?[2J") and len(row.user) == 64


def test_facegate_system_log_shows_attempts_without_scores(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("facegate system log is root-only; CI runs as root")
    attempts.record(SystemPaths(root=tmp_path).attempt_log, entry("alice", Outcome.MATCH))
    result = CliRunner().invoke(app, ["system", "log", "--json", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.splitlines()[0])
    assert record["user"] == "alice" and record["outcome"] == "match"
    assert not {"score", "threshold", "template", "image"} & set(record)


def test_an_old_attempt_log_gains_the_uid_column_and_keeps_its_rows(tmp_path: Path) -> None:
    """F8: rows carried no caller uid, so a denied request from any user, with the user,
    service and tty it chose, looked like a PAM attempt. A log written before the column
    existed is migrated in place on first use: old rows stay, with no uid."""
    if os.geteuid() != 0:
        pytest.skip("facegate system log is root-only; CI runs as root")
    log = SystemPaths(root=tmp_path).attempt_log
    log.parent.mkdir(parents=True, mode=0o700)
    old = sqlite3.connect(log)
    old.execute(
        "CREATE TABLE attempts (at TEXT NOT NULL, user TEXT NOT NULL, service TEXT NOT NULL,"
        " tty TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,"
        " duration_ms INTEGER NOT NULL)"
    )
    old.execute(
        "INSERT INTO attempts VALUES ('2026-11-30T10:00:00+00:00', 'carol', 'login', 'tty1',"
        " 'match', '', 310)"
    )
    old.commit()
    old.close()
    os.chmod(log, 0o600)
    attempts.record(log, entry("bob", Outcome.DENIED, uid=1001))
    attempts.record(log, entry("bob", Outcome.NO_MATCH, uid=0))
    rows = attempts.recent(log)
    assert [(r.user, r.outcome, r.uid) for r in rows] == [
        ("carol", "match", None),
        ("bob", "denied", 1001),
        ("bob", "no_match", 0),
    ]
    shown = CliRunner().invoke(app, ["system", "log", "--json", "--root", str(tmp_path)])
    assert [json.loads(line)["uid"] for line in shown.output.splitlines()] == [None, 1001, 0]
    table = CliRunner().invoke(app, ["system", "log", "--root", str(tmp_path)])
    assert table.exit_code == 0 and "uid" in table.output and "1001" in table.output


def test_status_reports_a_service_that_is_down(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["system", "status", "--socket", str(tmp_path / "s.sock")])
    assert result.exit_code == 1
    assert json.loads(result.output)["outcome"] == Outcome.SERVICE_DOWN.value


def test_every_outcome_but_a_match_falls_through_to_the_password() -> None:
    codes = {o: o.exit_code for o in Outcome}
    assert codes[Outcome.MATCH] == codes[Outcome.OK] == 0
    failing = [c for o, c in codes.items() if o not in (Outcome.MATCH, Outcome.OK)]
    assert all(c != 0 for c in failing) and len(set(failing)) == len(failing)


def test_cameras_are_listed_with_their_stable_name_and_an_infrared_hint(tmp_path: Path) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    (dev / "v4l" / "by-id").mkdir(parents=True)
    for index, name in ((0, "Integrated Camera"), (2, "Integrated IR Camera")):
        (dev / f"video{index}").touch()  # a plain file: listed, but it cannot open
        (sysfs / f"video{index}").mkdir(parents=True)
        (sysfs / f"video{index}" / "name").write_text(name + "\n")
    (dev / "v4l" / "by-id" / "usb-Acme-video-index0").symlink_to(dev / "video2")
    found = list_cameras(dev, sysfs)
    assert [(c.index, c.name, c.opens, c.looks_infrared) for c in found] == [
        (0, "Integrated Camera", False, False),
        (2, "Integrated IR Camera", False, True),
    ]
    assert found[1].stable_path == str(dev / "v4l" / "by-id" / "usb-Acme-video-index0")
