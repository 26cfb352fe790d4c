"""Model files: found inside their wheels, pinned by sha256, and an altered or missing
copy refused with a message that says how to fix it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from facegate.config import load_settings
from facegate.errors import ModelMissing, ModelTampered
from facegate.models import MODELS, file_sha256, resolve


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_resolves_from_its_wheel(home: Path, name: str) -> None:
    model = resolve(name, load_settings())
    assert model.origin == "wheel"
    assert model.spec is MODELS[name]
    assert model.path.is_file()
    assert model.path.name == MODELS[name].filename
    assert MODELS[name].package in model.path.parts
    assert file_sha256(model.path) == MODELS[name].sha256


@pytest.fixture(scope="module")
def sface_wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve("sface", load_settings(tmp_path_factory.mktemp("models-home"))).path


def test_exact_copy_at_an_override_resolves_from_config(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sface_wheel_path: Path
) -> None:
    copy = tmp_path / "my-sface.onnx"
    shutil.copyfile(sface_wheel_path, copy)
    monkeypatch.setenv("FACEGATE_MODEL_SFACE", str(copy))
    model = resolve("sface", load_settings())
    assert model.origin == "config"
    assert model.path == copy


def test_one_changed_byte_is_refused_as_tampered(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sface_wheel_path: Path
) -> None:
    blob = bytearray(sface_wheel_path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    copy = tmp_path / "tampered-sface.onnx"
    copy.write_bytes(bytes(blob))
    monkeypatch.setenv("FACEGATE_MODEL_SFACE", str(copy))
    with pytest.raises(ModelTampered) as info:
        resolve("sface", load_settings())
    message = str(info.value)
    assert str(copy) in message
    assert MODELS["sface"].wheel in message  # says how to get the genuine file back


def test_truncated_copy_is_refused_as_tampered(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sface_wheel_path: Path
) -> None:
    copy = tmp_path / "short-sface.onnx"
    copy.write_bytes(sface_wheel_path.read_bytes()[:-1])
    monkeypatch.setenv("FACEGATE_MODEL_SFACE", str(copy))
    with pytest.raises(ModelTampered):
        resolve("sface", load_settings())


def test_copy_edited_after_a_good_resolve_is_refused(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sface_wheel_path: Path
) -> None:
    # The digest is memoised per file; an edit in place must not reuse the old verdict.
    copy = tmp_path / "edited-sface.onnx"
    shutil.copyfile(sface_wheel_path, copy)
    monkeypatch.setenv("FACEGATE_MODEL_SFACE", str(copy))
    assert resolve("sface", load_settings()).origin == "config"
    blob = bytearray(copy.read_bytes())
    blob[100] ^= 0xFF
    copy.write_bytes(bytes(blob))
    with pytest.raises(ModelTampered):
        resolve("sface", load_settings())


def test_override_pointing_nowhere_is_missing_and_names_the_wheel(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "sface.onnx"
    monkeypatch.setenv("FACEGATE_MODEL_SFACE", str(missing))
    with pytest.raises(ModelMissing) as info:
        resolve("sface", load_settings())
    message = str(info.value)
    assert str(missing) in message
    assert MODELS["sface"].wheel in message


def test_override_in_config_toml_is_honoured(
    home: Path, tmp_path: Path, sface_wheel_path: Path
) -> None:
    blob = bytearray(sface_wheel_path.read_bytes())
    blob[-1] ^= 0x01
    copy = tmp_path / "cfg-sface.onnx"
    copy.write_bytes(bytes(blob))
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[models]\nsface = "{copy}"\n')
    with pytest.raises(ModelTampered):
        resolve("sface", load_settings())


def test_unknown_model_name_is_missing(home: Path) -> None:
    with pytest.raises(ModelMissing, match="unknown model"):
        resolve("no-such-model", load_settings())
