"""Five alignment points from MediaPipe's face mesh, for badly lit faces.

YuNet's five points are regressed straight from pixels; on a face lit hard from one
side or mostly in shadow it puts an eye or a mouth corner where the shadow edge is,
and the crop comes out tilted or scaled. MediaPipe's landmarker fits a whole 3-D face
(478 points), so the parts it cannot see are held in place by the parts it can. Its
iris centres, nose tip and mouth corners give the same five points SFace's crop is
defined by. It costs one landmarker pass (~10 ms), so it runs only for frames the
pipeline already judged poorly lit; evenly lit frames keep YuNet's points.
"""

from __future__ import annotations

import numpy as np

from facegate.vision.detect import Faces
from facegate.vision.landmarks import FIVE_POINTS
from facegate.vision.mesh import FaceMesh


def mesh_five_points(mesh: FaceMesh) -> np.ndarray:
    """The five alignment points of ``mesh`` in pixels, (5, 2) float32."""
    return np.ascontiguousarray(mesh.pixels()[list(FIVE_POINTS), :2], dtype=np.float32)


def with_mesh_points(faces: Faces, mesh: FaceMesh | None, index: int = 0) -> Faces:
    """``faces`` with face ``index``'s five points taken from ``mesh``.

    The mesh is trusted only when it describes the same face: its five points must
    fall inside that face's YuNet box (widened by a quarter), otherwise ``faces`` is
    returned unchanged, as it is when there is no mesh.
    """
    if mesh is None or not 0 <= index < len(faces):
        return faces
    points = mesh_five_points(mesh)
    x, y, w, h = faces.boxes[index]
    lo = np.array([x - w / 4, y - h / 4], np.float32)
    hi = np.array([x + w * 1.25, y + h * 1.25], np.float32)
    if not bool(np.all((points >= lo) & (points <= hi))):
        return faces
    landmarks = faces.landmarks.copy()
    landmarks[index] = points
    return Faces(faces.boxes, landmarks, faces.scores)
