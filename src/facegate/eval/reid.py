"""A re-identification attack on what the tracker shares, against raw geometry.

The question is how well an attacker who receives a representation of a face could
tell whether two images show the same person. For each representation every image
becomes a vector, each dimension is standardised over the whole dataset (z-score;
constant dimensions are dropped), and every pair of images is compared by negative
Euclidean distance (a similarity: closer is more alike). Same-identity pairs are
genuine, the rest impostors; the EER comes from :func:`facegate.eval.metrics.eer`.
Nearest-neighbour identification (rank-1: is the closest other image the same
person?) is reported beside it. A *higher* EER means the representation identifies
people *less*: 0.5 is chance.

Representations:

- ``raw_landmarks``: the 478 x 3 landmarks in normalised image coordinates;
- ``aligned_landmarks``: the first 468 with pose removed (similarity Procrustes onto
  the canonical face), the strongest geometric attack here;
- ``blendshapes``: the 51 measured coefficients (tongueOut is never measured);
- ``face_map``: the shareable face map, as shared (quantised).

The face map passes when its EER is at least the blend shapes' EER minus
:data:`MARGIN` (it may not identify people noticeably better than the coefficients
apps receive anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facegate.errors import UnreadableSource
from facegate.eval.metrics import eer
from facegate.models import ModelFiles
from facegate.sharing.face_map import FaceMapModel, align_to_canonical
from facegate.vision.blendshapes import NAMES, NOT_MEASURED
from facegate.vision.canonical_face import load_canonical_face
from facegate.vision.mesh import FaceMesh, FaceMesher, MeshOptions
from facegate.vision.sources import read_image

MARGIN = 0.02


@dataclass(frozen=True)
class AttackResult:
    """One representation's attack figures; rates are fractions, with their counts."""

    representation: str
    dimensions: int
    n_images: int
    n_identities: int
    n_genuine: int
    n_impostor: int
    eer: float
    rank1: float


@dataclass(frozen=True)
class ReidReport:
    """Every representation's attack, and whether the face map passes its rule."""

    attacks: dict[str, AttackResult]
    n_images_offered: int
    n_no_face: int

    @property
    def face_map_eer_bound(self) -> float:
        return self.attacks["blendshapes"].eer - MARGIN

    @property
    def face_map_passes(self) -> bool:
        return self.attacks["face_map"].eer >= self.face_map_eer_bound

    def as_dict(self) -> dict[str, Any]:
        return {
            "attacks": {name: asdict(result) for name, result in self.attacks.items()},
            "n_images_offered": self.n_images_offered,
            "n_no_face": self.n_no_face,
            "face_map_passes": self.face_map_passes,
            "face_map_eer_bound": self.face_map_eer_bound,
            "rule": f"face_map EER >= blendshapes EER - {MARGIN}",
        }


@dataclass(frozen=True)
class MeshedImages:
    """ORL + Yale meshed once: the attack here and the stream study both read it."""

    identities: list[str]
    names: list[str]
    meshes: list[FaceMesh]
    n_offered: int
    n_no_face: int


def dataset_images(data: Path) -> Iterator[tuple[str, Path]]:
    """(identity, path) for ORL (``orl_sNN``) and Yale (``yale_subjectNN``) images."""
    for path in sorted((data / "orl_att_faces").glob("s*/*.pgm")):
        yield f"orl_{path.parent.name}", path
    for path in sorted((data / "yale_faces").glob("subject*.gif")):
        yield f"yale_{path.name.split('.')[0]}", path


def representations(meshes: list[FaceMesh], models: ModelFiles) -> dict[str, np.ndarray]:
    """Each representation as an (N, D) float64 matrix, rows in ``meshes`` order."""
    canonical = load_canonical_face(models.resolve("face_landmarker").path)
    model = FaceMapModel.load(models)
    measured = [i for i, name in enumerate(NAMES) if name not in set(NOT_MEASURED)]
    return {
        "raw_landmarks": np.array([m.landmarks.reshape(-1) for m in meshes], np.float64),
        "aligned_landmarks": np.array(
            [align_to_canonical(m.landmarks, m.image_size, canonical).reshape(-1) for m in meshes]
        ),
        "blendshapes": np.array(
            [[list(m.blendshapes.values())[i] for i in measured] for m in meshes], np.float64
        ),
        "face_map": np.array([model.coordinates(m.blendshapes).reshape(-1) for m in meshes]),
    }


def attack(name: str, vectors: np.ndarray, identities: list[str]) -> AttackResult:
    """Verification EER and rank-1 identification of standardised ``vectors``."""
    spread = vectors.std(axis=0)
    keep = spread > 0
    z = (vectors[:, keep] - vectors[:, keep].mean(axis=0)) / spread[keep]
    sq = (z**2).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0))
    ids = np.asarray(identities)
    same = ids[:, None] == ids[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    genuine = -dist[upper & same]
    impostor = -dist[upper & ~same]
    rate, _ = eer(genuine, impostor)
    np.fill_diagonal(dist, np.inf)
    rank1 = float(np.mean(ids[np.argmin(dist, axis=1)] == ids))
    return AttackResult(
        representation=name,
        dimensions=int(keep.sum()),
        n_images=len(ids),
        n_identities=len(set(identities)),
        n_genuine=int(genuine.size),
        n_impostor=int(impostor.size),
        eer=rate,
        rank1=rank1,
    )


def mesh_images(
    data: Path, models: ModelFiles, progress: Callable[[], None] | None = None
) -> MeshedImages:
    """Mesh every ORL and Yale image under ``data`` once; images without a face are counted."""
    images = list(dataset_images(data))
    if not images:
        raise UnreadableSource(f"{data}: no orl_att_faces/ or yale_faces/ images")
    identities: list[str] = []
    names: list[str] = []
    meshes: list[FaceMesh] = []
    with FaceMesher.create_from_options(MeshOptions(num_faces=2), models) as mesher:
        for identity, path in images:
            mesh = mesher.detect(read_image(path).image)
            if mesh is not None:
                identities.append(identity)
                names.append(path.name)
                meshes.append(mesh)
            if progress is not None:
                progress()
    return MeshedImages(identities, names, meshes, len(images), len(images) - len(meshes))


def evaluate_reid(meshed: MeshedImages, models: ModelFiles) -> ReidReport:
    """Run the attack on every representation of the meshed images."""
    attacks = {
        name: attack(name, vectors, meshed.identities)
        for name, vectors in representations(meshed.meshes, models).items()
    }
    return ReidReport(attacks, meshed.n_offered, meshed.n_no_face)
