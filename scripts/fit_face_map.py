"""Fit the face map's linear blend-shape basis (src/facegate/sharing/face_map_basis.npz).

For every usable frame of many people the face mesh gives the 52 coefficients ``w``
and the pose-removed geometry ``g`` (``facegate.sharing.face_map.align_to_canonical``,
468 x 3 cm). Within each person both are centred on that person's mean, which removes
their face shape; a ridge regression ``g - mean_g ~ B (w - mean_w)`` then learns how
vertices move per unit of each coefficient. Every person has the same total weight,
whatever their number of frames, so no one's face dominates; the ridge strength is
chosen by 5-fold leave-people-out cross-validation.

A person's resting coefficients are part of their identity (how their brows or
eyelids sit), so the map renders each coefficient only by how far it goes beyond the
spread of resting faces in the population: ``deadband = k * spread``, where
``spread`` is 1.4826 x the MAD, across people, of each person's median coefficient.
``k`` is the smallest value of a grid for which the re-identification attack of
``facegate.eval.reid`` finds the face map no more identifying than the blend shapes
(its EER at least theirs minus ``facegate.eval.reid.MARGIN``), measured on the live
NUAA images only (the ORL and Yale identities stay for the
reported evaluation, ``facegate eval privacy``).

Only the selected vertices' rows of B, the population's median coefficients, the
dead band and this metadata are written: no geometry, image or per-person value.

Data (../shared/data, research use; the images stay there): ORL (40 people), Yale
(15), the live NUAA frames (15) and every 3rd frame of the two people's blink videos.

    .venv/bin/python scripts/fit_face_map.py --out src/facegate/sharing/face_map_basis.npz
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facegate.config import load_settings
from facegate.eval.reid import MARGIN, attack
from facegate.models import ModelFiles, resolve
from facegate.sharing.face_map import MAX_VERTICES, FaceMapModel, align_to_canonical
from facegate.vision.blendshapes import NAMES, NOT_MEASURED
from facegate.vision.canonical_face import CanonicalFace, load_canonical_face
from facegate.vision.mesh import FaceMesh, FaceMesher, MeshOptions, RunningMode, next_timestamp_ms
from facegate.vision.sources import iter_video, read_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DEADBAND_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
FOLDS = 5
VIDEO_STEP = 3


def stills(data: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted((data / "orl_att_faces").glob("s*/*.pgm")):
        yield f"orl_{path.parent.name}", path
    for path in sorted((data / "yale_faces").glob("subject*.gif")):
        yield f"yale_{path.name.split('.')[0]}", path
    with (data / "nuaa_photo_imposter_subset" / "labels.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "live":
                yield f"nuaa_{row['subject']}", data / "nuaa_photo_imposter_subset" / row["path"]


def video_meshes(data: Path, settings: object) -> Iterator[tuple[str, FaceMesh]]:
    for video in sorted((data / "blink_webcam_videos").glob("*.avi")):
        person = f"blink_{video.stem.split('_')[0]}"
        options = MeshOptions(running_mode=RunningMode.VIDEO)
        with FaceMesher.create_from_options(options, ModelFiles.of(settings)) as mesher:  # type: ignore[arg-type]
            last = None
            for frame in iter_video(video, step=VIDEO_STEP):
                last = next_timestamp_ms(frame.t, last)
                mesh = mesher.detect_for_video(frame.image, last)
                if mesh is not None:
                    yield person, mesh


def sample(mesh: FaceMesh, canonical: CanonicalFace) -> tuple[np.ndarray, np.ndarray]:
    weights = np.array([0.0 if v is None else v for v in mesh.blendshapes.values()])
    geometry = align_to_canonical(mesh.landmarks, mesh.image_size, canonical)
    return weights, geometry.reshape(-1)


def select_vertices(canonical: CanonicalFace) -> np.ndarray:
    """Contours of lips, eyes, brows and face oval, then farthest-point sampling."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as C

    contour = sorted(
        {i for conn in C.FACE_LANDMARKS_CONTOURS for i in (conn.start, conn.end) if i < 468}
    )
    chosen = list(contour)
    points = canonical.vertices.astype(np.float64)
    distance = np.min(np.linalg.norm(points[:, None] - points[chosen][None], axis=2), axis=1)
    while len(chosen) < MAX_VERTICES:
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return np.array(sorted(chosen), np.int32)


def ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """argmin_B sum_i w_i |y_i - x_i B|^2 + lam * scale * |B|^2."""
    gram = (x * w[:, None]).T @ x
    scale = float(np.trace(gram)) / gram.shape[0]
    return np.linalg.solve(gram + lam * scale * np.eye(gram.shape[0]), (x * w[:, None]).T @ y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings()
    canonical = load_canonical_face(resolve("face_landmarker", settings).path)

    people: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    n_stills = n_missed = 0
    with FaceMesher.create_from_options(MeshOptions(), ModelFiles.of(settings)) as mesher:
        for person, path in stills(args.data):
            n_stills += 1
            mesh = mesher.detect(read_image(path).image)
            if mesh is None:
                n_missed += 1
                continue
            people.setdefault(person, []).append(sample(mesh, canonical))
    n_video = 0
    for person, mesh in video_meshes(args.data, settings):
        n_video += 1
        people.setdefault(person, []).append(sample(mesh, canonical))
    people = {p: s for p, s in people.items() if len(s) >= 2}
    print(
        f"{len(people)} people, {n_stills} stills ({n_missed} without a face), "
        f"{n_video} video frames",
        file=sys.stderr,
    )

    measured = [i for i, name in enumerate(NAMES) if name not in {s.value for s in NOT_MEASURED}]
    names = sorted(people)
    xs, ys, ws, groups = [], [], [], []
    rest_by_person = []
    for g, person in enumerate(names):
        w = np.array([s[0] for s in people[person]])[:, measured]
        y = np.array([s[1] for s in people[person]])
        rest_by_person.append(np.median(w, axis=0))
        xs.append(w - w.mean(axis=0))
        ys.append(y - y.mean(axis=0))
        ws.append(np.full(len(w), 1.0 / len(w)))
        groups.append(np.full(len(w), g))
    x, y, wt, group = (np.concatenate(a) for a in (xs, ys, ws, groups))

    rng = np.random.default_rng(0)
    fold_of = rng.permutation(len(names)) % FOLDS
    cv = {}
    for lam in RIDGE_GRID:
        err = total = 0.0
        for fold in range(FOLDS):
            test = fold_of[group] == fold
            b = ridge(x[~test], y[~test], wt[~test], lam)
            resid = y[test] - x[test] @ b
            err += float(wt[test] @ (resid**2).sum(axis=1))
            total += float(wt[test] @ (y[test] ** 2).sum(axis=1))
        cv[lam] = 1.0 - err / total
    best = max(cv, key=lambda k: cv[k])
    b = ridge(x, y, wt, best)  # (51, 468 * 3)

    vertices = select_vertices(canonical)
    full = np.zeros((len(NAMES), 468, 3))
    full[measured] = b.reshape(len(measured), 468, 3)
    basis = np.ascontiguousarray(full[:, vertices].transpose(1, 0, 2)).astype(np.float32)
    rest = np.zeros(len(NAMES))
    rest[measured] = np.median(rest_by_person, axis=0)
    spread = np.zeros(len(NAMES))
    mad = np.median(np.abs(np.array(rest_by_person) - rest[measured]), axis=0)
    spread[measured] = 1.4826 * mad

    nuaa = [p for p in names if p.startswith("nuaa_")]
    nuaa_w = np.array([s[0] for p in nuaa for s in people[p]])
    nuaa_ids = [p for p in nuaa for _ in people[p]]
    blend_eer = attack("blendshapes", nuaa_w[:, measured], nuaa_ids).eer
    deadband_eer = {}
    for k in DEADBAND_GRID:
        model = FaceMapModel(
            vertices=vertices,
            canonical=np.ascontiguousarray(canonical.vertices[vertices]),
            basis=basis,
            rest=rest.astype(np.float32),
            deadband=(k * spread).astype(np.float32),
        )
        maps = np.array(
            [model.coordinates(dict(zip(NAMES, w, strict=True))).reshape(-1) for w in nuaa_w]
        )
        deadband_eer[k] = attack("face_map", maps, nuaa_ids).eer
    passing = [k for k in DEADBAND_GRID if deadband_eer[k] >= blend_eer - MARGIN]
    k_chosen = passing[0] if passing else max(deadband_eer, key=lambda k: deadband_eer[k])
    metadata = {
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
        "method": "within-person ridge regression of pose-removed geometry on blend shapes",
        "people": len(names),
        "frames": len(x),
        "stills": n_stills,
        "stills_without_face": n_missed,
        "video_frames": n_video,
        "datasets": ["orl_att_faces", "yale_faces", "nuaa live", "blink_webcam_videos"],
        "ridge_grid_cv_r2": {str(k): v for k, v in cv.items()},
        "ridge": best,
        "vertices": len(vertices),
        "deadband_selection": {
            "data": f"NUAA live, {len(nuaa)} people, {len(nuaa_ids)} images",
            "blendshapes_eer": blend_eer,
            "face_map_eer_by_k": {str(k): v for k, v in deadband_eer.items()},
            "rule": f"smallest k with face_map EER >= blendshapes EER - {MARGIN}",
            "k": k_chosen,
            "rule_met": bool(passing),
        },
        "units": "cm per unit coefficient, canonical head frame",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vertices=vertices,
        basis=basis,
        rest=rest.astype(np.float32),
        deadband=(k_chosen * spread).astype(np.float32),
        metadata=np.array(json.dumps(metadata)),
    )
    print(json.dumps(metadata, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
