"""Hostile and broken inputs: every one gets a verdict or a FaceGateError (exit 2 with one
clear line at the CLI), never another exception, and no stored data is lost."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

import facegate
from facegate.cli import app
from facegate.errors import (
    ConfigError,
    FaceGateError,
    ImageSizeError,
    InputError,
    UnreadableSource,
    VaultError,
    VaultKeyError,
)
from facegate.liveness.modes import LivenessMode
from facegate.session import Session
from facegate.vault import SqliteVault
from facegate.vision.sources import open_sources, read_image
from test_cli import assert_one_error_line

FORMATS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp", "PPM": "pgm", "GIF": "gif"}


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if fmt == "PPM":
        image = image.convert("L")  # a PGM, as the ORL faces are
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


BASES = {fmt: _encoded(fmt) for fmt in FORMATS}


@st.composite
def damaged_files(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[fmt])
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return FORMATS[fmt], bytes(data)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(damaged_files())
def test_truncated_and_bit_flipped_images_give_a_frame_or_a_facegate_error(
    tmp_path: Path, case: tuple[str, bytes]
) -> None:
    suffix, data = case
    path = tmp_path / f"fuzz.{suffix}"
    path.write_bytes(data)
    try:
        frame = read_image(path)
    except FaceGateError:
        return
    assert frame.image.dtype == np.uint8 and frame.image.ndim == 3


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and header claiming a huge size, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


HOSTILE = {
    "texture.dds": b"DDS " + struct.pack("<7I", 124, 0x1007, 64, 64, 0, 0, 0) + bytes(200),
    "layers.psd": b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 64, 64, 8, 3) + bytes(40),
    "empty.jpg": b"",
    "text.png": b"hello, I am not a picture\n" * 10,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_unsupported_or_garbage_files_are_unreadable_sources(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(HOSTILE[name])
    with pytest.raises(UnreadableSource, match=name):
        read_image(path)


def test_a_giant_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "giant.png"
    path.write_bytes(_png_header(100_000, 100_000))
    with pytest.raises(ImageSizeError, match="pixels"):
        read_image(path)


@pytest.fixture
def runner(home: Path) -> CliRunner:
    return CliRunner()


def test_a_dds_file_at_the_cli_is_one_error_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "texture.dds"
    path.write_bytes(HOSTILE["texture.dds"])
    assert_one_error_line(runner.invoke(app, ["enroll", "alice", str(path)]), "UnreadableSource")


def test_a_bad_source_after_a_usable_one_is_an_error(
    runner: CliRunner, image_files: dict, tmp_path: Path
) -> None:
    runner.invoke(app, ["enroll", "alice", *map(str, image_files["enrol"])])
    probe = str(image_files["probe"])
    missing = str(tmp_path / "does-not-exist.jpg")
    result = runner.invoke(app, ["verify", "alice", probe, missing, "--liveness", "off"])
    assert_one_error_line(result, "does-not-exist.jpg")
    result = runner.invoke(app, ["verify", "alice", probe, "--json", "true"])
    assert result.exit_code == 2, result.output  # --json takes no value: "true" is a source
    assert "true: no such file" in json.loads(result.stdout)["message"]
    with Session.open() as session:
        assert session.vault.user("alice").failures == 0  # input errors cost nothing


def test_mixed_stills_and_a_camera_are_refused(runner: CliRunner, image_files: dict) -> None:
    result = runner.invoke(app, ["verify", "alice", str(image_files["probe"]), "0"])
    assert_one_error_line(result, "one kind of source")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('models = "x"', "models must be a table"),
        ("vault = 5", "vault must be a table"),
        ("[vualt]\nkey_source = 'keyfile'", "unknown table [vualt]"),
        ("[vault]\nkey_sorce = 'keyfile'", "unknown key 'key_sorce'"),
        ("[models]\nsface = 3", "sface must be a string"),
    ],
)
def test_a_malformed_config_file_is_a_config_error(
    home: Path, runner: CliRunner, text: str, fragment: str
) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        Session.open()
    assert_one_error_line(runner.invoke(app, ["users"]), "ConfigError")


def test_a_key_file_that_is_a_directory_is_a_key_error(home: Path, runner: CliRunner) -> None:
    (home / "vault.key").mkdir(parents=True)
    assert_one_error_line(runner.invoke(app, ["users"]), "VaultKeyError", "not a regular file")


def test_an_empty_vault_file_is_refused_not_reinitialised(home: Path) -> None:
    home.mkdir(parents=True, mode=0o700)
    (home / "vault.sqlite3").write_bytes(b"")
    with Session.open() as session, pytest.raises(VaultError, match="is empty"):
        session.vault.users()
    assert (home / "vault.sqlite3").read_bytes() == b""


def test_a_vault_locked_by_another_process_says_so(home: Path, image_files: dict) -> None:
    with Session.open() as session:
        session.vault.users()
        path = session.vault.path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(VaultError, match="another FaceGate process") as caught:
            SqliteVault(path, (home / "vault.key").read_bytes(), busy_timeout=0.1)
        assert "move it aside" not in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_short_passphrase_cannot_seal_a_new_vault(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_KEY_SOURCE", "passphrase")
    monkeypatch.setenv("FACEGATE_PASSPHRASE", "x")
    with Session.open() as session, pytest.raises(VaultKeyError, match="at least 12"):
        session.vault.users()
    monkeypatch.setenv("FACEGATE_PASSPHRASE", "correct horse battery")
    with Session.open() as session:
        assert session.vault.users() == []


def test_enrolling_an_existing_user_names_replace(runner: CliRunner, image_files: dict) -> None:
    enrol = [*map(str, image_files["enrol"])]
    runner.invoke(app, ["enroll", "alice", *enrol])
    assert_one_error_line(runner.invoke(app, ["enroll", "alice", *enrol]), "--replace")


def test_sources_that_are_not_files_say_what_they_are(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableSource, match="a directory"):
        read_image(tmp_path)
    with pytest.raises(UnreadableSource, match="not a regular file"):
        read_image(fifo)
    with pytest.raises(UnreadableSource, match="empty source name"):
        open_sources([""])


def test_a_symlinked_vault_is_refused(home: Path, tmp_path: Path) -> None:
    with Session.open() as session:
        session.vault.users()
    real = tmp_path / "elsewhere.sqlite3"
    (home / "vault.sqlite3").rename(real)
    (home / "vault.sqlite3").symlink_to(real)
    with Session.open() as session, pytest.raises(VaultError, match="symbolic link"):
        session.vault.users()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"liveness": "bogus"}, "liveness must be one of off, passive, active"),
        ({"liveness": False}, "liveness must be one of"),
        ({"level": "HIGH"}, "level must be one of standard, high"),
        ({"frames": 0}, "frames must be between 1 and 30"),
    ],
)
def test_the_python_shortcut_refuses_unknown_options(
    home: Path, image_files: dict, options: dict, fragment: str
) -> None:
    facegate.enroll("alice", list(image_files["enrol"]))
    with pytest.raises(InputError, match=fragment):
        facegate.verify("alice", [image_files["probe"]], **options)


def test_the_high_level_refuses_stills_instead_of_weakening(home: Path, image_files: dict) -> None:
    facegate.enroll("alice", list(image_files["enrol"]))
    with pytest.raises(InputError, match="camera or a video"):
        facegate.verify("alice", [image_files["probe"]], level="high")
    off = facegate.verify("alice", [image_files["probe"]], liveness="off")
    assert off.matched and off.liveness is LivenessMode.OFF
