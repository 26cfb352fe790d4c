"""MediaPipe's canonical face model, read from the landmarker's own model file.

``face_landmarker.task`` is a zip archive; its ``geometry_pipeline_metadata_landmarks
.binarypb`` member is the ``GeometryPipelineMetadata`` protocol buffer that MediaPipe's
face-geometry stage uses to estimate head pose. It holds the canonical face mesh (468
vertices, the same indices as the first 468 landmarks) and the weighted landmark
subset that MediaPipe's Procrustes solver aligns against. Reading it from the
sha256-verified model file means the mean face FaceGate uses is exactly MediaPipe's,
with no copy of anyone's geometry shipped in FaceGate itself.

Coordinate frame of ``vertices``: centimetres, head-centred, right-handed; +x is the
subject's left (the viewer's right when the face looks at the camera), +y is up and
+z points out of the face towards the viewer (the nose tip is at z = +7.5 cm).

The protobuf is decoded with a few lines of wire-format reading rather than a
generated module, because MediaPipe does not ship the Python bindings for this
message; the field numbers come from MediaPipe's ``geometry_pipeline_metadata.proto``
and ``mesh_3d.proto``.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.errors import ModelError

METADATA_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
N_VERTICES = 468
_VERTEX_STRIDE = 5  # Mesh3d VERTEX_PT: x, y, z, u, v

# GeometryPipelineMetadata: canonical_mesh = 1, procrustes_landmark_basis = 2.
# Mesh3d: vertex_buffer = 3 (float), index_buffer = 4 (uint32).
# WeightedLandmarkRef: landmark_id = 1 (uint32), weight = 2 (float).
_CANONICAL_MESH, _PROCRUSTES_BASIS = 1, 2
_VERTEX_BUFFER, _INDEX_BUFFER = 3, 4
_LANDMARK_ID, _WEIGHT = 1, 2


@dataclass(frozen=True, eq=False)
class CanonicalFace:
    """MediaPipe's canonical (mean, neutral) face.

    vertices           (468, 3) float32, centimetres, frame described in the module doc
    triangles          (T, 3) int32 vertex indices, counter-clockwise seen from the front
    procrustes_ids     (K,) int32 landmark indices MediaPipe aligns on for head pose
    procrustes_weights (K,) float32 their weights
    """

    vertices: np.ndarray = field(repr=False)
    triangles: np.ndarray = field(repr=False)
    procrustes_ids: np.ndarray = field(repr=False)
    procrustes_weights: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.vertices.shape != (N_VERTICES, 3) or self.vertices.dtype != np.float32:
            raise ValueError(
                f"CanonicalFace.vertices must be float32 ({N_VERTICES}, 3), got "
                f"{self.vertices.dtype} {self.vertices.shape}"
            )
        for array in (self.vertices, self.triangles, self.procrustes_ids, self.procrustes_weights):
            array.setflags(write=False)


def load_canonical_face(task_path: Path) -> CanonicalFace:
    """Read the canonical face from a ``face_landmarker.task`` file.

    Raises ModelError when the archive or its metadata member is missing or malformed
    (a model file that passed its sha256 check never is).
    """
    try:
        with zipfile.ZipFile(task_path) as archive:
            blob = archive.read(METADATA_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        raise ModelError(f"{task_path}: no readable {METADATA_MEMBER} ({err})") from err
    try:
        return _parse(blob)
    except (IndexError, ValueError, struct.error) as err:
        raise ModelError(f"{task_path}: malformed {METADATA_MEMBER} ({err})") from err


def _parse(blob: bytes) -> CanonicalFace:
    mesh: bytes | None = None
    ids: list[int] = []
    weights: list[float] = []
    for number, value in _fields(blob):
        if number == _CANONICAL_MESH and isinstance(value, bytes):
            mesh = value
        elif number == _PROCRUSTES_BASIS and isinstance(value, bytes):
            ref = dict(_fields(value))
            ids.append(int(ref.get(_LANDMARK_ID, 0)))
            weights.append(float(ref.get(_WEIGHT, 0.0)))
    if mesh is None:
        raise ValueError("no canonical_mesh")
    floats: list[float] = []
    indices: list[int] = []
    for number, value in _fields(mesh):
        if number == _VERTEX_BUFFER:
            floats.extend(_floats(value))
        elif number == _INDEX_BUFFER:
            indices.extend(_uints(value))
    if len(floats) != N_VERTICES * _VERTEX_STRIDE or len(indices) % 3:
        raise ValueError(f"{len(floats)} vertex floats and {len(indices)} indices")
    vertices = np.asarray(floats, np.float32).reshape(N_VERTICES, _VERTEX_STRIDE)[:, :3]
    return CanonicalFace(
        vertices=np.ascontiguousarray(vertices),
        triangles=np.asarray(indices, np.int32).reshape(-1, 3),
        procrustes_ids=np.asarray(ids, np.int32),
        procrustes_weights=np.asarray(weights, np.float32),
    )


def _varint(blob: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = blob[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _fields(blob: bytes) -> Iterator[tuple[int, int | float | bytes]]:
    """(field number, value) pairs of one message; fixed32 values decode as float."""
    pos = 0
    while pos < len(blob):
        key, pos = _varint(blob, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(blob, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(blob, pos)
            yield number, blob[pos : pos + size]
            pos += size
        elif wire == 5:
            yield number, struct.unpack_from("<f", blob, pos)[0]
            pos += 4
        elif wire == 1:
            yield number, struct.unpack_from("<d", blob, pos)[0]
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _floats(value: int | float | bytes) -> list[float]:
    """A repeated float field arrives packed (bytes) or one fixed32 at a time."""
    if isinstance(value, bytes):
        return list(np.frombuffer(value, "<f4").astype(float))
    return [float(value)]


def _uints(value: int | float | bytes) -> list[int]:
    if isinstance(value, bytes):
        out, pos = [], 0
        while pos < len(value):
            number, pos = _varint(value, pos)
            out.append(number)
        return out
    return [int(value)]
