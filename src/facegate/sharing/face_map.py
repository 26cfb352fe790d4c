"""The shareable face map: MediaPipe's canonical face, deformed by the expression only.

A face's geometry identifies its owner (raw landmarks re-identify people about as
well as the blend shapes do, and far better once pose is removed), so the map never
copies a landmark. It is computed from the 52 blend-shape coefficients alone::

    face_map = canonical[vertices] + basis[vertices] @ shrink(blendshapes - rest, deadband)

- ``canonical``: MediaPipe's canonical face (centimetres), read from the landmarker's
  own model file (:mod:`facegate.vision.canonical_face`): the same mean face for
  everyone.
- ``basis``: per-vertex displacement (cm) per unit of each blend shape, a linear
  blend-shape basis fitted by ridge least squares on frames of many people, within
  person (each person's mean geometry and mean coefficients removed, each person
  weighted equally), so it models how faces move, not what they look like.
- ``rest``: the population's median coefficients, so a neutral face maps to the
  canonical face itself.
- ``shrink`` (soft thresholding, ``sign(d) * max(|d| - deadband, 0)``): how a
  person's face sits at rest (brows a little low, eyelids a little closed) is part of
  their identity, and shows up as small, steady offsets of the coefficients. Each
  coefficient is therefore rendered only by how far it goes beyond the spread of
  resting faces across people (``deadband``, a multiple of that spread chosen by a
  re-identification attack on data kept apart from the reported evaluation). Real
  expressions go far beyond it; a smile still smiles, slightly less wide.

Because :meth:`FaceMapModel.face_map` takes nothing but the coefficients, the map can
carry no more identity than the blend shapes already do; two people making the same
expression get the same map. The basis ships as ``face_map_basis.npz`` beside this
module; it holds only fitted regression weights, no face or image, and was made by
``.venv/bin/python scripts/fit_face_map.py --out src/facegate/sharing/face_map_basis.npz``
(its metadata records the data, counts and fit).

Output: at most :data:`MAX_VERTICES` vertices, a fixed subset of the 468 mesh points
(contours of lips, eyes, brows and face oval, then evenly spread points), each
``[x, y, z]`` in centimetres of the canonical head frame (+x the subject's left, +y
up, +z out of the face), rounded to :data:`QUANTUM_CM`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.errors import ModelError
from facegate.models import ModelFiles
from facegate.vision.blendshapes import NAMES
from facegate.vision.canonical_face import CanonicalFace, load_canonical_face

BASIS_PATH = Path(__file__).with_name("face_map_basis.npz")
MAX_VERTICES = 300
DECIMALS = 2
QUANTUM_CM = 10.0**-DECIMALS
"""Face-map coordinates are rounded to 2 decimals of a centimetre (0.1 mm), far below
the map's accuracy."""


@dataclass(frozen=True, eq=False)
class FaceMapModel:
    """The fixed pieces of the face map; all arrays are read-only.

    vertices  (K,) int32 indices into the 468-point canonical mesh, K <= MAX_VERTICES
    canonical (K, 3) float32 canonical positions of those vertices, cm
    basis     (K, 52, 3) float32 displacement in cm per unit of each blend shape (in
              BlendShape order; tongueOut's column is zero)
    rest      (52,) float32 median coefficients of the fitting population
    deadband  (52,) float32 per-coefficient dead band around ``rest`` (>= 0)
    """

    vertices: np.ndarray = field(repr=False)
    canonical: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    rest: np.ndarray = field(repr=False)
    deadband: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        k = len(self.vertices)
        if not 0 < k <= MAX_VERTICES:
            raise ValueError(f"a face map has 1..{MAX_VERTICES} vertices, got {k}")
        shapes = (
            ("canonical", self.canonical, (k, 3)),
            ("basis", self.basis, (k, len(NAMES), 3)),
            ("rest", self.rest, (len(NAMES),)),
            ("deadband", self.deadband, (len(NAMES),)),
        )
        for name, array, shape in shapes:
            if array.shape != shape:
                raise ValueError(f"FaceMapModel.{name} must be {shape}, got {array.shape}")
        if np.any(self.deadband < 0):
            raise ValueError("FaceMapModel.deadband must be >= 0")
        for array in (self.vertices, self.canonical, self.basis, self.rest, self.deadband):
            array.setflags(write=False)

    @classmethod
    def load(cls, models: ModelFiles, basis_path: Path = BASIS_PATH) -> FaceMapModel:
        """The canonical face from the verified landmarker model plus the shipped basis.

        Raises ModelMissing / ModelTampered for the model file and ModelError when the
        basis file is missing or malformed.
        """
        canonical = load_canonical_face(models.resolve("face_landmarker").path)
        try:
            with np.load(basis_path) as data:
                vertices = data["vertices"].astype(np.int32)
                basis = data["basis"].astype(np.float32)
                rest = data["rest"].astype(np.float32)
                deadband = data["deadband"].astype(np.float32)
        except (OSError, KeyError, ValueError) as err:
            raise ModelError(
                f"face-map basis {basis_path} is missing or unreadable: {err}"
            ) from err
        return cls(
            vertices=vertices,
            canonical=np.ascontiguousarray(canonical.vertices[vertices]),
            basis=basis,
            rest=rest,
            deadband=deadband,
        )

    def coordinates(self, blendshapes: Mapping[str, float | None]) -> np.ndarray:
        """The map as a (K, 3) float64 array of quantised centimetres.

        A coefficient that is missing or None (tongueOut always is) counts as at rest.
        """
        weights = np.array(
            [
                rest if (value := blendshapes.get(name)) is None else float(value)
                for name, rest in zip(NAMES, self.rest.tolist(), strict=True)
            ]
        )
        offset = weights - self.rest
        shrunk = np.sign(offset) * np.maximum(np.abs(offset) - self.deadband, 0.0)
        xyz = self.canonical + np.einsum("kbc,b->kc", self.basis, shrunk)
        return np.round(xyz, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0

    def face_map(self, blendshapes: Mapping[str, float | None]) -> list[list[float]]:
        """The shareable map: ``[[x, y, z], ...]`` in cm, at most MAX_VERTICES points."""
        result: list[list[float]] = self.coordinates(blendshapes).tolist()
        return result


def align_to_canonical(
    landmarks: np.ndarray, image_size: tuple[int, int], canonical: CanonicalFace
) -> np.ndarray:
    """Raw landmarks with pose removed: a (468, 3) float64 array in canonical cm.

    Landmarks in normalised image coordinates are turned into pixels (x * width,
    y * height, z * width), flipped into the canonical frame (y and z point the other
    way in images), and mapped onto the canonical face by the similarity transform
    (scale, rotation, translation) that best fits MediaPipe's own weighted set of
    stable points. What remains is identity plus expression: this is used to fit and
    to audit the face map, and is never shared itself.
    """
    width, height = image_size
    points = np.asarray(landmarks, np.float64)[: len(canonical.vertices)]
    source = points * np.array([width, -height, -width], np.float64)
    target = canonical.vertices.astype(np.float64)
    weights = np.zeros(len(target))
    weights[canonical.procrustes_ids] = canonical.procrustes_weights
    weights /= weights.sum()
    mean_s = weights @ source
    mean_t = weights @ target
    src, dst = source - mean_s, target - mean_t
    cov = (dst * weights[:, None]).T @ src
    u, s, vt = np.linalg.svd(cov)
    d = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(s) @ d) / (weights @ (src**2).sum(axis=1)))
    return scale * src @ rotation.T + mean_t
