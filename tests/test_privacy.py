"""Privacy invariants: a face template exists in plaintext only in memory. It never
reaches the vault's files unsealed, the command line's output, the logs or a repr,
and deleting a user removes even the sealed copy from disk."""

from __future__ import annotations

import base64
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import astronaut_probe
from facegate.biometrics.policy import UnlockOptions
from facegate.biometrics.template import Template
from facegate.cli import app
from facegate.demo import _captures
from facegate.liveness.challenge import ChallengeKind
from facegate.liveness.check import LivenessMode
from facegate.session import Session
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame, iter_frames

USER = "astronaut"


def number_strings(embedding: np.ndarray, count: int = 8) -> list[str]:
    """How the first ``count`` embedding values would look if printed with 4+ decimals,
    in fixed or scientific notation (numpy switches to the latter for small values)."""
    found: list[str] = []
    for value in (float(v) for v in embedding[:count]):
        truncated = f"{value:.10f}"[: f"{value:.10f}".index(".") + 5]
        mantissa = f"{abs(value):.8e}"[:7]
        found += [f"{value:.4f}", f"{value:.6f}", truncated, repr(value)[:8], mantissa]
    return sorted(set(found))


def encodings(blob: bytes) -> list[str]:
    """Text forms a leaked template or embedding would take: base64 and hex prefixes."""
    return [
        base64.b64encode(blob)[:24].decode(),
        base64.b64encode(blob[30:])[:24].decode(),
        blob[:16].hex(),
        blob[40:56].hex(),
    ]


def leaks(text: str, embedding: np.ndarray, template: bytes) -> list[str]:
    needles = [*number_strings(embedding), *encodings(template), *encodings(embedding.tobytes())]
    return [n for n in needles if n in text]


def windows(blob: bytes, size: int = 16) -> Iterator[bytes]:
    return (blob[i : i + size] for i in range(0, len(blob) - size + 1))


def home_bytes(home: Path) -> dict[Path, bytes]:
    files = {p: p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}
    assert files, f"no files in {home}"
    return files


def sealed_blob(home: Path, user: str) -> bytes:
    with closing(sqlite3.connect(home / "vault.sqlite3")) as conn:
        (sealed,) = conn.execute("SELECT sealed FROM users WHERE name = ?", (user,)).fetchone()
    return bytes(sealed)


def test_leak_detector_finds_printed_and_encoded_embeddings(embedding: np.ndarray) -> None:
    # The invariants below are only as good as this search: it must catch each form.
    template = Template(embedding[None, :], np.zeros(1), np.zeros(1, bool)).to_bytes()
    assert not leaks("score=0.928 threshold=0.497", embedding, template)
    assert leaks(str(embedding), embedding, template)
    assert leaks(repr(embedding.tolist()), embedding, template)
    assert leaks(
        np.array2string(embedding, formatter={"float_kind": "{:.8e}".format}), embedding, template
    )
    assert leaks(f"{embedding[3]:.4f}", embedding, template)
    assert leaks(base64.b64encode(template).decode(), embedding, template)
    assert leaks(template.hex(), embedding, template)
    assert leaks(embedding.tobytes().hex(), embedding, template)


@pytest.fixture
def embedding(pipeline: FacePipeline, astronaut_bgr: np.ndarray) -> np.ndarray:
    """The astronaut's embedding, computed independently of the enrolment below."""
    obs = pipeline.observe(Frame(astronaut_bgr, "astronaut"))
    assert obs.embedding is not None
    return obs.embedding


@pytest.fixture
def enrolled_home(home: Path, astronaut_bgr: np.ndarray) -> tuple[Path, bytes]:
    """A home with the astronaut enrolled, and the template's plaintext bytes."""
    with Session.open(home) as session:
        session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
        plaintext = session.vault.get_template(USER)
    return home, plaintext


def test_vault_files_hold_no_plaintext_template(
    enrolled_home: tuple[Path, bytes], embedding: np.ndarray
) -> None:
    home, plaintext = enrolled_home
    raw = embedding.astype("<f4").tobytes()
    # The search is meaningful: the decrypted template does contain this embedding.
    assert raw in plaintext
    assert Template.from_bytes(plaintext).to_bytes() == plaintext
    files = home_bytes(home)
    assert home / "vault.sqlite3" in files
    for path, content in files.items():
        assert plaintext not in content, path
        assert plaintext[8:40] not in content, path  # the JSON header
        hits = [w for w in windows(raw) if w in content]
        assert not hits, f"{path} holds {len(hits)} 16-byte runs of the embedding"


@pytest.mark.dataset
def test_vault_files_hold_no_plaintext_after_an_adaptive_update(
    home: Path, pipeline: FacePipeline, data_dir: Path
) -> None:
    # Only a live, confident match teaches the template, so this needs a webcam clip
    # that answers a blink challenge, not a photo.
    clips = data_dir / "blink_webcam_videos"
    if not (clips / "mahie_test_1.avi").is_file():
        pytest.skip(f"{clips} absent")
    blink = UnlockOptions(liveness=LivenessMode.ACTIVE, challenges=(ChallengeKind.BLINK,))
    with Session.open(home) as session:
        session.unlocker.enroll(
            USER, iter_frames(clips / "mahie_test_2.avi", max_frames=200, step=10)
        )
        verdict = session.unlocker.verify(USER, iter_frames(clips / "mahie_test_1.avi"), blink)
        plaintext = session.vault.get_template(USER)
    assert verdict.matched
    template = Template.from_bytes(plaintext)
    assert template.adaptive.any(), "no adaptive update happened"
    learnt = template.embeddings[template.adaptive][0].astype("<f4").tobytes()
    for path, content in home_bytes(home).items():
        assert plaintext not in content, path
        assert not any(w in content for w in windows(learnt)), path


def test_cli_output_holds_no_embedding(
    home: Path, image_files: dict, embedding: np.ndarray
) -> None:
    runner = CliRunner()
    env = {"FACEGATE_HOME": str(home), "FACEGATE_KEY_SOURCE": "keyfile"}
    outputs = []
    for args in (
        ["enroll", USER, *map(str, image_files["enrol"])],
        ["verify", USER, str(image_files["probe"]), "--json", "--liveness", "off"],
        ["verify", USER, str(image_files["probe"]), "--liveness", "off"],
        ["verify", USER, str(image_files["probe"])],
        ["users"],
        ["doctor"],
        # -v puts FaceGate's debug log on stderr: it must hold no template either.
        ["-v", "verify", USER, str(image_files["probe"]), "--liveness", "off"],
        ["-v", "users"],
    ):
        result = runner.invoke(app, args, env=env)
        # The photo probe without --liveness off is refused for liveness (exit 1).
        assert result.exit_code in (0, 1), (args, result.output)
        outputs += [result.output, result.stderr]
    with Session.open(home) as session:
        template = session.vault.get_template(USER)
    assert embedding.astype("<f4").tobytes() in template  # the same face was enrolled
    found = leaks("\n".join(outputs), embedding, template)
    assert not found, f"CLI output contains {found}"


def test_logs_hold_no_embedding(
    home: Path,
    astronaut_bgr: np.ndarray,
    embedding: np.ndarray,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with Session.open(home) as session:
        session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
        off = UnlockOptions(liveness=LivenessMode.OFF)  # a photo: liveness would refuse it
        assert session.unlocker.verify(USER, [Frame(astronaut_bgr, "probe")], off).matched
        session.unlocker.verify(USER, [Frame(astronaut_probe(astronaut_bgr), "probe2")])
        template = session.vault.get_template(USER)
    assert any("enrolled user" in r.getMessage() for r in caplog.records), "nothing was logged"
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    found = leaks(text, embedding, template)
    assert not found, f"log records contain {found}"
    assert caplog.text and not leaks(caplog.text, embedding, template)


def test_reprs_hold_no_embedding(
    home: Path, pipeline: FacePipeline, astronaut_bgr: np.ndarray, embedding: np.ndarray
) -> None:
    with Session.open(home) as session:
        report = session.unlocker.enroll(USER, _captures(astronaut_bgr, "astronaut"))
        verdict = session.unlocker.verify(USER, [Frame(astronaut_bgr, "probe")])
        plaintext = session.vault.get_template(USER)
        record = session.vault.user(USER)
        vault_repr = repr(session.vault)
    template = Template.from_bytes(plaintext)
    observation = pipeline.observe(Frame(astronaut_bgr, "astronaut"))
    assert observation.embedding is not None
    with np.printoptions(threshold=100_000):  # a leaked array would print in full
        for obj in (observation, template, verdict, report, record):
            text = repr(obj)
            assert type(obj).__name__ in text
            for source in (embedding, observation.embedding, *template.embeddings):
                found = leaks(text, source, plaintext)
                assert not found, f"repr({type(obj).__name__}) contains {found}"
    assert "array(" not in repr(template)
    assert observation.crop is not None and "crop=" not in repr(observation)  # a face image
    assert str(home) in vault_repr and "sealed" not in vault_repr


def test_delete_removes_the_ciphertext_from_disk(home: Path, image_files: dict) -> None:
    runner = CliRunner()
    env = {"FACEGATE_HOME": str(home), "FACEGATE_KEY_SOURCE": "keyfile"}
    enrol = runner.invoke(app, ["enroll", USER, *map(str, image_files["enrol"])], env=env)
    assert enrol.exit_code == 0, enrol.output
    sealed = sealed_blob(home, USER)
    assert len(sealed) > 1000
    vault_file = home / "vault.sqlite3"
    assert sealed in vault_file.read_bytes()  # the search can find it before deletion

    result = runner.invoke(app, ["delete", USER, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert f"deleted {USER}" in result.output
    for path, content in home_bytes(home).items():
        assert sealed not in content, path
        hits = [w for w in windows(sealed[:512], 32) if w in content]
        assert not hits, f"{path} keeps {len(hits)} 32-byte runs of the deleted ciphertext"
    assert not (home / "vault.sqlite3-journal").exists()
    assert not (home / "vault.sqlite3-wal").exists()
