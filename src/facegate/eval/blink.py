"""Blink-detection scores: event recall, tolerant frame-level F1, false events per minute.

Labels and predictions are per-frame 0/1 sequences, 1 = eyes closed. Definitions:

- **Event**: a maximal run of consecutive 1s, as ``(first, last)`` frame indices
  (both inclusive).
- **Event match**: a detected event ``(s, e)`` and a labelled event ``(ls, le)`` are
  compatible when they overlap once the detected one is widened by ``tolerance``
  frames on each side: ``s - tolerance <= le`` and ``ls <= e + tolerance``. Events
  are matched one-to-one (a detected event counts for at most one labelled event and
  vice versa) by a maximum matching; because both sets are ordered, disjoint runs,
  matching each detected event to the earliest still-unmatched compatible labelled
  event is maximal.
- **Event recall** = matched labelled events / labelled events.
- **False events** = detected events left unmatched (a blink split in two therefore
  counts one false event); per minute of video.
- **Tolerant frame precision** = share of detected 1-frames that lie within
  ``tolerance`` frames of a labelled 1-frame; **frame recall** = share of labelled
  1-frames within ``tolerance`` frames of a detected 1-frame; **F1** their harmonic
  mean. The tolerance absorbs labels that are a frame early or late.

Scores over several videos are pooled from the counts (micro-averaged), never
averaged per video, so a short video weighs what its events weigh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facegate.errors import UnreadableSource
from facegate.models import ModelFiles
from facegate.vision.blink import BlinkDetector, BlinkOptions, EyeState, blink_flags

Event = tuple[int, int]


@dataclass(frozen=True)
class BlinkCounts:
    """The counts behind every blink score; add them to pool videos."""

    n_frames: int
    minutes: float
    n_events: int
    n_detected: int
    matched: int
    label_frames: int
    label_frames_hit: int
    detected_frames: int
    detected_frames_true: int

    def __add__(self, other: BlinkCounts) -> BlinkCounts:
        return BlinkCounts(
            **{name: getattr(self, name) + getattr(other, name) for name in asdict(self)}
        )

    @property
    def false_events(self) -> int:
        return self.n_detected - self.matched

    @property
    def event_recall(self) -> float:
        return self.matched / self.n_events if self.n_events else 1.0

    @property
    def frame_precision(self) -> float:
        return self.detected_frames_true / self.detected_frames if self.detected_frames else 1.0

    @property
    def frame_recall(self) -> float:
        return self.label_frames_hit / self.label_frames if self.label_frames else 1.0

    @property
    def frame_f1(self) -> float:
        p, r = self.frame_precision, self.frame_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_events_per_min(self) -> float:
        return self.false_events / self.minutes if self.minutes > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The scores (fractions in [0, 1]; events per minute) with their counts."""
        return {
            "event_recall": self.event_recall,
            "frame_f1": self.frame_f1,
            "frame_precision": self.frame_precision,
            "frame_recall": self.frame_recall,
            "false_events_per_min": self.false_events_per_min,
            "n_events": self.n_events,
            "n_detected": self.n_detected,
            "matched": self.matched,
            "false_events": self.false_events,
            "n_frames": self.n_frames,
            "minutes": self.minutes,
            "label_frames": self.label_frames,
            "label_frames_hit": self.label_frames_hit,
            "detected_frames": self.detected_frames,
            "detected_frames_true": self.detected_frames_true,
        }


def events(sequence: Sequence[int] | np.ndarray) -> list[Event]:
    """Maximal runs of 1s as (first, last) inclusive frame indices."""
    flags = np.asarray(sequence, dtype=bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], flags, [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def match_events(detected: Sequence[Event], labelled: Sequence[Event], tolerance: int = 1) -> int:
    """Size of the maximum one-to-one matching of compatible events (see module doc)."""
    matched = 0
    j = 0
    for start, end in detected:
        # Labelled events ending before this detected one's widened start can never
        # match this or any later detected event.
        while j < len(labelled) and labelled[j][1] < start - tolerance:
            j += 1
        if j < len(labelled) and labelled[j][0] <= end + tolerance:
            matched += 1
            j += 1
    return matched


def _near(flags: np.ndarray, tolerance: int) -> np.ndarray:
    """Frames within ``tolerance`` of a 1 in ``flags`` (a binary dilation)."""
    out = flags.copy()
    for shift in range(1, tolerance + 1):
        out[shift:] |= flags[:-shift]
        out[:-shift] |= flags[shift:]
    return out


def score(
    predicted: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    minutes: float,
    tolerance: int = 1,
) -> BlinkCounts:
    """Counts for one video; ``predicted`` and ``labels`` must have equal length."""
    pred = np.asarray(predicted, dtype=bool)
    true = np.asarray(labels, dtype=bool)
    if pred.shape != true.shape or pred.ndim != 1:
        raise ValueError(
            f"predicted and labels must be 1-D of equal length, got {pred.shape} and {true.shape}"
        )
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 frames, got {tolerance}")
    detected, labelled = events(pred), events(true)
    return BlinkCounts(
        n_frames=int(pred.size),
        minutes=float(minutes),
        n_events=len(labelled),
        n_detected=len(detected),
        matched=match_events(detected, labelled, tolerance),
        label_frames=int(true.sum()),
        label_frames_hit=int((true & _near(pred, tolerance)).sum()),
        detected_frames=int(pred.sum()),
        detected_frames_true=int((pred & _near(true, tolerance)).sum()),
    )


def pool(counts: Iterable[BlinkCounts]) -> BlinkCounts:
    """Sum the counts of several videos (micro-averaging)."""
    total = BlinkCounts(0, 0.0, 0, 0, 0, 0, 0, 0, 0)
    for item in counts:
        total = total + item
    return total


def labelled_videos(folder: Path) -> list[tuple[Path, Path]]:
    """Each ``NAME.avi`` in ``folder`` with its per-frame labels ``NAME_ideal.csv`` beside it."""
    return [
        (v, v.with_name(f"{v.stem}_ideal.csv"))
        for v in sorted(folder.glob("*.avi"))
        if v.with_name(f"{v.stem}_ideal.csv").is_file()
    ]


def read_labels(path: Path) -> np.ndarray:
    """A per-frame 0/1 label file: one value per line (a UTF-8 BOM is tolerated).

    Raises UnreadableSource for a missing file or a value other than 0 or 1.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise UnreadableSource(f"{path}: cannot read labels ({err})") from err
    values = [v.strip().split(",")[-1] for v in text.split()]
    if not values or any(v not in ("0", "1") for v in values):
        raise UnreadableSource(f"{path}: expected one 0 or 1 per line")
    return np.array([int(v) for v in values], dtype=np.int8)


@dataclass(frozen=True)
class EyeTrack:
    """The eye measurements of every decoded frame of one video.

    ``times`` are seconds from the video start; ``states`` holds None where no face
    was found. Computing this once lets several detector settings be scored cheaply.
    """

    source: str
    times: tuple[float, ...]
    states: tuple[EyeState | None, ...]

    @property
    def minutes(self) -> float:
        """Duration covered by the frames, one frame interval included."""
        if len(self.times) < 2:
            return 0.0
        step = float(np.median(np.diff(self.times)))
        return (self.times[-1] - self.times[0] + step) / 60.0


def track_eyes(
    video: Path,
    models: ModelFiles | None = None,
    progress: Callable[[], None] | None = None,
    max_frames: int | None = None,
) -> EyeTrack:
    """Run the face mesh over the frames of ``video`` (VIDEO mode, one face)."""
    from facegate.vision.mesh import FaceMesher, MeshOptions, RunningMode, next_timestamp_ms
    from facegate.vision.sources import iter_video

    times: list[float] = []
    states: list[EyeState | None] = []
    last_ms: int | None = None
    options = MeshOptions(running_mode=RunningMode.VIDEO)
    with FaceMesher.create_from_options(options, models) as mesher:
        for frame in iter_video(video, max_frames=max_frames):
            last_ms = next_timestamp_ms(frame.t, last_ms)
            mesh = mesher.detect_for_video(frame.image, last_ms)
            times.append(frame.t)
            states.append(None if mesh is None else EyeState.from_mesh(mesh))
            if progress is not None:
                progress()
    return EyeTrack(source=str(video), times=tuple(times), states=tuple(states))


def detect_blinks(track: EyeTrack, options: BlinkOptions | None = None) -> np.ndarray:
    """Per-frame 0/1 blink flags from the streaming detector."""
    detector = BlinkDetector(options)
    blinks = []
    for t, state in zip(track.times, track.states, strict=True):
        blinks.extend(detector.update(t, state))
    blinks.extend(detector.flush())
    return blink_flags(blinks, len(track.times))


def threshold_flags(track: EyeTrack, threshold: float = 0.5) -> np.ndarray:
    """The naive baseline: 1 where max(eyeBlinkLeft, eyeBlinkRight) >= ``threshold``."""
    return np.array(
        [
            0 if s is None else int(max(s.blink_left, s.blink_right) >= threshold)
            for s in track.states
        ],
        np.int8,
    )


@dataclass(frozen=True)
class AlignedLabels:
    """Labels cut to the frames both sides have; the counts say what was left out."""

    labels: np.ndarray
    labels_dropped: int
    frames_unlabelled: int


def align_labels(labels: np.ndarray, n_frames: int) -> AlignedLabels:
    """Match a label sequence to the decoded frames.

    Some label files hold more rows than the video has decodable frames (the camera
    dropped frames the labeller still counted); the surplus rows at the end are
    dropped. When there are fewer labels than frames, only labelled frames are scored.
    Both counts are reported so nothing is hidden.
    """
    n = min(len(labels), n_frames)
    return AlignedLabels(
        labels=np.asarray(labels[:n]),
        labels_dropped=len(labels) - n,
        frames_unlabelled=n_frames - n,
    )


def score_track(
    track: EyeTrack, labels: np.ndarray, flags: np.ndarray, tolerance: int = 1
) -> tuple[BlinkCounts, AlignedLabels]:
    """Score per-frame ``flags`` of ``track`` against ``labels``."""
    aligned = align_labels(labels, len(track.times))
    n = len(aligned.labels)
    minutes = track.minutes * n / max(len(track.times), 1)
    return score(flags[:n], aligned.labels, minutes=minutes, tolerance=tolerance), aligned


BASELINE_RULE = "max(eyeBlinkLeft, eyeBlinkRight) >= 0.5"


@dataclass(frozen=True)
class BlinkReport:
    """The detector's counts pooled over the videos, the same for :data:`BASELINE_RULE`
    on the same frames, and each video's breakdown."""

    pooled: BlinkCounts
    baseline: BlinkCounts
    tolerance: int
    options: BlinkOptions
    per_video: dict[str, dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.pooled.as_dict(),
            "tolerance_frames": self.tolerance,
            "options": asdict(self.options),
            "baseline": {"rule": BASELINE_RULE, **self.baseline.as_dict()},
            "per_video": self.per_video,
        }


def evaluate_videos(
    pairs: Sequence[tuple[Path, Path]],
    options: BlinkOptions | None = None,
    models: ModelFiles | None = None,
    progress: Callable[[], None] | None = None,
    tolerance: int = 1,
) -> BlinkReport:
    """Score the blink detector on (video, labels) pairs, pooled over the videos."""
    options = options or BlinkOptions()
    per_video: dict[str, dict[str, Any]] = {}
    detected: list[BlinkCounts] = []
    naive: list[BlinkCounts] = []
    for video, labels_path in pairs:
        labels = read_labels(labels_path)
        track = track_eyes(video, models, progress)
        counts, aligned = score_track(track, labels, detect_blinks(track, options), tolerance)
        baseline, _ = score_track(track, labels, threshold_flags(track), tolerance)
        detected.append(counts)
        naive.append(baseline)
        per_video[str(video)] = {
            **counts.as_dict(),
            "labels": str(labels_path),
            "frames_decoded": len(track.times),
            "frames_without_face": sum(s is None for s in track.states),
            "labels_dropped": aligned.labels_dropped,
            "frames_unlabelled": aligned.frames_unlabelled,
        }
    return BlinkReport(pool(detected), pool(naive), tolerance, options, per_video)
