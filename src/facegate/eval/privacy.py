"""What a full grant reveals about who someone is, and what taking it out costs.

Three measurements on the same stream variants:

1. **Re-identification** (``reid.attack``): every image of ORL and Yale (55 people)
   becomes the vector a full grant sends for it per frame: the 51 measured blend
   shapes, gaze (2), head pose (6) and the face map (300 x 3), each dimension
   z-scored; nearest-neighbour verification EER over all pairs (0.5 = chance,
   higher is more private) and rank-1 identification.
2. **Smile** (``smile``): ROC AUC of ``mouthSmileLeft + mouthSmileRight`` as sent,
   Yale ``happy`` vs ``normal`` (15 people).
3. **Blinks**: event recall and false events per minute of the streaming detector
   run the way an app can run it, on the eyeBlink coefficients it receives
   (``BlinkOptions(blend_weight=1.0)``: apps get no landmarks), over the five FOCUS
   webcam videos (2 people, 49 labelled blinks).

Variants (``sharing.neutral``): ``as_sent`` (today's stream), ``recentred`` (each
session's resting face and usual head pose taken out), and ``recentred_q`` at a few
quantisation steps. A stream session is one person at the camera; for still images
a person's session is simulated by their *other* images in the dataset (leave one
out), so an image never contributes to its own baseline. For the videos the
baseline is causal: only frames already seen, over the last 60 s.

Nothing here is tuned on these figures: the variants are fixed by design (median
baseline, population rest from the face-map fit), and the step sizes are reported
side by side rather than chosen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from facegate.eval.blink import (
    BlinkCounts,
    EyeTrack,
    detect_blinks,
    labelled_videos,
    pool,
    read_labels,
    score_track,
    track_eyes,
)
from facegate.eval.reid import AttackResult, MeshedImages, attack
from facegate.eval.smile import NEGATIVE, POSITIVE, auc
from facegate.models import ModelFiles
from facegate.sharing.face_map import FaceMapModel
from facegate.sharing.neutral import POSE_KEYS, as_shapes, coefficients, recentre
from facegate.sharing.neutral import nanmedian_rows as _nanmedian
from facegate.vision.blendshapes import NAMES, NOT_MEASURED, BlendShape
from facegate.vision.blink import BlinkOptions, EyeState
from facegate.vision.mesh import Gaze

QUANTA = (0.05, 0.1, 0.2)
APP_BLINK_OPTIONS = BlinkOptions(blend_weight=1.0)
BLINK_WINDOW_SECONDS = 60.0
_MEASURED = [i for i, name in enumerate(NAMES) if name not in set(NOT_MEASURED)]
_BLINK = [
    NAMES.index(BlendShape.EYE_BLINK_LEFT.value),
    NAMES.index(BlendShape.EYE_BLINK_RIGHT.value),
]
_SMILE = [
    NAMES.index(BlendShape.MOUTH_SMILE_LEFT.value),
    NAMES.index(BlendShape.MOUTH_SMILE_RIGHT.value),
]


@dataclass(frozen=True)
class Variant:
    """How a stream is filtered: re-centred on the population's rest or not, and the step."""

    name: str
    recentred: bool
    quantum: float = 0.0


VARIANTS = (
    Variant("as_sent", recentred=False),
    Variant("recentred", recentred=True),
    *(Variant(f"recentred_q{q:g}", recentred=True, quantum=q) for q in QUANTA),
)


@dataclass(frozen=True)
class Stills:
    """Meshed still images: per image its identity, file name, coefficients and pose."""

    identities: list[str]
    names: list[str]
    shapes: np.ndarray  # (N, 52), NaN where not measured
    poses: np.ndarray  # (N, 6) in POSE_KEYS order
    n_offered: int
    n_no_face: int

    @classmethod
    def of(cls, meshed: MeshedImages) -> Stills:
        """What a full grant sends for each meshed image: coefficients and head pose."""
        return cls(
            list(meshed.identities),
            list(meshed.names),
            np.array([coefficients(m.blendshapes) for m in meshed.meshes]),
            np.array([[m.head_pose.as_dict()[k] for k in POSE_KEYS] for m in meshed.meshes]),
            meshed.n_offered,
            meshed.n_no_face,
        )


@dataclass(frozen=True)
class SmileSeparation:
    """Smile AUC (fraction) over every happy x normal pair of Yale stills, as sent."""

    auc: float
    n_happy: int
    n_normal: int


@dataclass(frozen=True)
class VariantResult:
    """What one stream variant reveals and what it still lets an app do.

    ``reid``: the attack on each part of a full grant's frame and on all of it;
    ``blink``: app-side blink detection on the webcam videos (None without them).
    """

    variant: Variant
    reid: dict[str, AttackResult]
    smile: SmileSeparation
    blink: BlinkCounts | None = None

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "variant": asdict(self.variant),
            "reid": {name: asdict(result) for name, result in self.reid.items()},
            "smile": asdict(self.smile),
        }
        if self.blink is not None:
            record["blink"] = self.blink.as_dict()
        return record


@dataclass(frozen=True)
class PrivacyReport:
    """Each stream variant's re-identification, smile and blink figures, with the bars."""

    n_images_offered: int
    n_no_face: int
    variants: dict[str, VariantResult]

    BARS = MappingProxyType({"reid_eer": 0.40, "smile_auc": 0.95, "blink_recall": 0.90})

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_images_offered": self.n_images_offered,
            "n_no_face": self.n_no_face,
            "variants": {name: v.as_dict() for name, v in self.variants.items()},
            "bars": dict(self.BARS),
        }


def _leave_one_out_medians(values: np.ndarray, identities: list[str]) -> np.ndarray:
    """Row i: the median of the *other* rows of the same identity (its own row if alone)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, identity in enumerate(identities):
        groups[identity].append(i)
    out = np.empty_like(values)
    for rows in groups.values():
        for i in rows:
            others = [j for j in rows if j != i] or [i]
            out[i] = _nanmedian(values[others])
    return out


def sent(stills: Stills, variant: Variant, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients and poses a grant sends for each still under ``variant``."""
    if not variant.recentred:
        return stills.shapes, stills.poses
    baseline = _leave_one_out_medians(stills.shapes, stills.identities)
    pose_baseline = _leave_one_out_medians(stills.poses, stills.identities)
    return recentre(stills.shapes, baseline, rest, variant.quantum), stills.poses - pose_baseline


def full_grant(shapes: np.ndarray, poses: np.ndarray, model: FaceMapModel) -> dict[str, np.ndarray]:
    """Each part of a full grant's frame, per image, and all of them together."""
    gaze = np.array(
        [list(Gaze.from_blendshapes(as_shapes(row)).as_dict().values()) for row in shapes]
    )
    face_map = np.array([model.coordinates(as_shapes(row)).reshape(-1) for row in shapes])
    parts = {
        "blendshapes": shapes[:, _MEASURED],
        "gaze": gaze,
        "head_pose": poses,
        "face_map": face_map,
    }
    return {**parts, "full_grant": np.hstack(list(parts.values()))}


def smile_auc(stills: Stills, shapes: np.ndarray) -> SmileSeparation:
    happy, normal = [], []
    for name, row in zip(stills.names, shapes, strict=True):
        score = float(np.nansum(row[_SMILE]))
        if f".{POSITIVE}." in name:
            happy.append(score)
        elif f".{NEGATIVE}." in name:
            normal.append(score)
    return SmileSeparation(auc(happy, normal), len(happy), len(normal))


def _causal_recentre(track: EyeTrack, rest: np.ndarray, quantum: float) -> EyeTrack:
    """The eyeBlink values an app receives from a re-centred stream, frame by frame."""
    seen: list[tuple[float, np.ndarray]] = []
    states: list[EyeState | None] = []
    for t, state in zip(track.times, track.states, strict=True):
        if state is None:
            states.append(None)
            continue
        current = np.array([state.blink_left, state.blink_right])
        seen.append((t, current))
        window = np.array([v for s, v in seen if s >= t - BLINK_WINDOW_SECONDS])
        left, right = recentre(current, np.median(window, axis=0), rest[_BLINK], quantum)
        states.append(replace(state, blink_left=float(left), blink_right=float(right)))
    return EyeTrack(source=track.source, times=track.times, states=tuple(states))


def blink_scores(
    videos: Sequence[tuple[Path, Path]],
    rest: np.ndarray,
    models: ModelFiles,
    progress: Callable[[], None] | None,
) -> dict[str, BlinkCounts]:
    """App-side blink counts per variant, pooled over the videos."""
    tracks = [(track_eyes(v, models, progress), read_labels(lab)) for v, lab in videos]
    out: dict[str, BlinkCounts] = {}
    for variant in VARIANTS:
        counts = []
        for track, labels in tracks:
            shown = _causal_recentre(track, rest, variant.quantum) if variant.recentred else track
            counts.append(score_track(shown, labels, detect_blinks(shown, APP_BLINK_OPTIONS))[0])
        out[variant.name] = pool(counts)
    return out


def evaluate_privacy(
    data: Path,
    meshed: MeshedImages,
    models: ModelFiles,
    progress: Callable[[], None] | None = None,
) -> PrivacyReport:
    """All three measurements for every variant; see the module docstring.

    ``meshed``: ORL + Yale as :func:`facegate.eval.reid.mesh_images` meshed them;
    the blink videos are read from ``data/blink_webcam_videos``.
    """
    model = FaceMapModel.load(models)
    rest = model.rest.astype(np.float64)
    stills = Stills.of(meshed)
    yale = [i for i, identity in enumerate(stills.identities) if identity.startswith("yale_")]
    yale_stills = Stills(
        [stills.identities[i] for i in yale],
        [stills.names[i] for i in yale],
        stills.shapes[yale],
        stills.poses[yale],
        0,
        0,
    )
    videos = labelled_videos(data / "blink_webcam_videos")
    blinks = blink_scores(videos, rest, models, progress) if videos else {}
    variants: dict[str, VariantResult] = {}
    for variant in VARIANTS:
        shapes, poses = sent(stills, variant, rest)
        attacks = {
            name: attack(name, vectors, stills.identities)
            for name, vectors in full_grant(shapes, poses, model).items()
        }
        smile = smile_auc(yale_stills, sent(yale_stills, variant, rest)[0])
        variants[variant.name] = VariantResult(variant, attacks, smile, blinks.get(variant.name))
    return PrivacyReport(stills.n_offered, stills.n_no_face, variants)
