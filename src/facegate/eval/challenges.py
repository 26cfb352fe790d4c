"""Trials for the active challenge: genuine responses and simulated attacks.

Genuine trials are built from labelled recordings, never synthesised faces:

- blink: every labelled blink (a run of eyes-closed frames in ``*_ideal.csv``) of the
  webcam blink videos, cut from 1.2 s before to 0.8 s after it, times from the
  capture timestamps; a video whose frame count disagrees with its labels is skipped.
  The judge's blink detector sees only the clip (its lead-in is the detector's whole
  history), as a judge started at the prompt would.
- smile / open mouth: Yale ``normal`` then ``happy`` (or ``surprised``) stills of
  one person, at 10 frames per second. These test the expression rules only: a cut
  between two stills is exactly what the continuity rule refuses (it is the
  slideshow attack below), so they are judged without it. No labelled video of
  smiles or open mouths is at hand.

Attack trials (each must fail), with a random 2-3 step sequence each:

- static photo: one bona fide still repeated with sensor noise;
- moved photo: the still warped as a flat print turned (up to 40 degrees about the
  vertical and horizontal axes), rolled, shifted and scaled along a smooth path;
- moved photo against a turn: as above, the sequence starting with a turn, which
  the default pool leaves out (reported apart: it is a known weakness);
- wrong-order replay: genuine clips of the asked-for actions played in another order,
  the last frame then held until the deadline has passed (judged without the
  continuity rule, as its smile and open-mouth clips are stills: the order rule alone);
- slideshow: each Yale subject's normal, sleepy, happy and surprised photos shown as
  the outside tester did (blink, smile, open mouth, 15 fps), cut and crossfaded with
  noise, each judged against every 2- and 3-step draw of the default pool.

Every frame goes through the real :class:`facegate.vision.mesh.FaceMesher`, and the
judge is given each face's :class:`facegate.liveness.eyelids.FaceCrop` as a camera
attempt gives it (only these small crops are kept, never whole video frames).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import permutations
from pathlib import Path

import cv2
import numpy as np

from facegate.errors import ChallengeIncomplete, InputError
from facegate.eval.slideshow import Slideshow, slideshow_frames
from facegate.liveness.attention import judge_attention
from facegate.liveness.challenge import (
    DEFAULT_POOL,
    ChallengeJudge,
    ChallengeKind,
    ChallengeOptions,
    ChallengeResult,
)
from facegate.liveness.eyelids import FaceCrop
from facegate.vision.mesh import (
    FaceMesh,
    FaceMesher,
    MeshOptions,
    RunningMode,
    next_timestamp_ms,
)
from facegate.vision.sources import iter_video, read_image

FPS = 10.0
BLINK_BEFORE, BLINK_AFTER = 1.2, 0.8

Seen = tuple[float, FaceMesh | None, FaceCrop | None]
"""One frame as the judge is fed it: t seconds, mesh and crop (both None without a face)."""
Track = list[Seen]


def seen(t: float, image: np.ndarray, mesh: FaceMesh | None) -> Seen:
    """The judge's view of one frame: its time, its mesh and, with a face, its crop."""
    return t, mesh, None if mesh is None else FaceCrop.of(image, mesh)


@dataclass(frozen=True)
class Trial:
    """One judged sequence: the attack kind (None for genuine), asked kinds, outcome."""

    group: str
    attack: bool
    kinds: tuple[ChallengeKind, ...]
    result: ChallengeResult | None
    incomplete: bool = False

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.passed


@dataclass(frozen=True)
class AttentionCheck:
    """Attention on labelled blink-video frames: open-eye frames judged attentive and
    closed-eye frames judged inattentive, with counts."""

    open_attentive: int
    n_open: int
    closed_inattentive: int
    n_closed: int


def judge(
    kinds: Sequence[ChallengeKind],
    frames: Iterator[Seen],
    options: ChallengeOptions,
) -> tuple[ChallengeResult | None, bool]:
    """Feed frames until decided; (result, incomplete) — incomplete when they ran out."""
    judge_ = ChallengeJudge(kinds, options)
    for t, mesh, crop in frames:
        judge_.update(t, mesh, crop)
        if judge_.done:
            break
    try:
        return judge_.finish(), False
    except ChallengeIncomplete:
        return None, True


def _blink_events(labels: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], labels, [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _parse_times(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    stamps = json.loads(path.read_text())
    if len(stamps) != n:
        return None
    times = [datetime.fromisoformat(s).timestamp() for s in stamps]
    return np.array(times) - times[0]


def blink_tracks(folder: Path) -> tuple[list[Track], AttentionCheck, list[str]]:
    """Blink clips of every usable video, the attention check, and skipped videos."""
    clips: list[Track] = []
    skipped: list[str] = []
    counts = [0, 0, 0, 0]
    videos = sorted(folder.glob("*.avi"))
    if not videos:
        raise InputError(f"{folder}: no .avi videos")
    for video in videos:
        labels_path = video.with_name(video.stem + "_ideal.csv")
        labels = (
            np.array(labels_path.read_text(encoding="utf-8-sig").replace(",", " ").split(), int)
            if labels_path.is_file()
            else np.zeros(0, int)
        )
        track = video_track(video, len(labels))
        if len(labels) != len(track):
            skipped.append(f"{video.name}: {len(track)} frames, labels disagree")
            continue
        times = np.array([t for t, _, _ in track])
        meshes = [mesh for _, mesh, _ in track]
        for mesh, closed in zip(meshes, labels, strict=True):
            attentive = judge_attention(mesh).attentive
            if closed:
                counts[2] += not attentive
                counts[3] += 1
            else:
                counts[0] += attentive
                counts[1] += 1
        events = _blink_events(labels)
        for k, (start, end) in enumerate(events):
            first = np.searchsorted(times, times[start] - BLINK_BEFORE)
            if k > 0:  # begin after the previous blink has reopened
                first = max(first, events[k - 1][1] + 1)
            last = np.searchsorted(times, times[end - 1] + BLINK_AFTER, side="right")
            clips.append(track[first:last])
    return clips, AttentionCheck(*counts), skipped


def video_track(video: Path, n_labels: int, max_frames: int | None = None) -> Track:
    """The frames of a blink video (the first ``max_frames``) as the judge sees them,
    timed by the capture timestamps when the video has one per label (else by the
    file's own clock). Frames are read one by one: only the small crops are kept."""
    stamps = _parse_times(video.with_name(video.stem + "_timestamps.txt"), n_labels)
    track: Track = []
    latest = -1
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as mesher:
        for i, frame in enumerate(iter_video(video, max_frames=max_frames)):
            t = float(stamps[i]) if stamps is not None and i < len(stamps) else frame.t
            latest = max(latest, round(t * 1000))
            # MediaPipe needs strictly increasing timestamps: add the frame index.
            track.append(seen(t, frame.image, mesher.detect_for_video(frame.image, latest + i)))
    return track


def yale_tracks(folder: Path, mesher: FaceMesher) -> dict[ChallengeKind, list[Track]]:
    """normal -> happy (SMILE), normal -> surprised (OPEN_MOUTH, and RAISE_BROWS: surprise
    raises the brows too) per subject."""
    actions = (
        (ChallengeKind.SMILE, "happy"),
        (ChallengeKind.OPEN_MOUTH, "surprised"),
        (ChallengeKind.RAISE_BROWS, "surprised"),
    )
    out: dict[ChallengeKind, list[Track]] = {kind: [] for kind, _ in actions}
    for normal in sorted(folder.glob("subject*.normal.gif")):
        image = read_image(normal).image
        rest = seen(0.0, image, mesher.detect(image))
        for kind, name in actions:
            path = normal.with_name(normal.name.replace("normal", name))
            if not path.is_file():
                continue
            image = read_image(path).image
            act = seen(0.0, image, mesher.detect(image))
            stills = [rest] * 6 + [act] * 6 + [rest] * 4
            out[kind].append([(i / FPS, mesh, crop) for i, (_, mesh, crop) in enumerate(stills)])
    return out


def concat(tracks: Sequence[Track]) -> Track:
    """Tracks played one after another, times made continuous."""
    out: Track = []
    offset = 0.0
    for track in tracks:
        t0 = track[0][0]
        out += [(offset + t - t0, mesh, crop) for t, mesh, crop in track]
        offset = out[-1][0] + 1.0 / FPS
    return out


def hold(track: Track, seconds: float) -> Track:
    """``track`` with its last frame held for ``seconds`` more, as a paused replay."""
    end, mesh, crop = track[-1]
    return track + [(end + (i + 1) / FPS, mesh, crop) for i in range(int(seconds * FPS) + 1)]


def _photo_frames(
    image: np.ndarray, seconds: float, rng: np.random.Generator, moved: bool
) -> Iterator[tuple[float, np.ndarray]]:
    """A still as a camera would see it: noise, and for ``moved`` a flat print turned,
    rolled, shifted and scaled along a smooth random path."""
    h, w = image.shape[:2]
    focal = 1.2 * max(h, w)
    cam = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]])
    amp = rng.uniform([15, 10, 5, 0.05, 0.08], [40, 30, 15, 0.15, 0.25])
    freq = rng.uniform(0.2, 0.8, 5)
    phase = rng.uniform(0, 2 * math.pi, 5)
    for i in range(int(seconds * FPS) + 1):
        t = i / FPS
        frame: np.ndarray = image.astype(np.float32)
        if moved:
            yaw, pitch, roll, shift, zoom = amp * np.sin(2 * math.pi * freq * t + phase)
            rot, _ = cv2.Rodrigues(np.radians([pitch, yaw, roll]))
            homography = cam @ rot @ np.linalg.inv(cam)
            move = np.array([[1 + zoom, 0, shift * w], [0, 1 + zoom, shift * h / 2], [0, 0, 1]])
            centre = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1]])
            # K R K^-1 turns the print about the principal point (the image centre).
            matrix = centre @ move @ np.linalg.inv(centre) @ homography
            frame = cv2.warpPerspective(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noisy = frame + rng.normal(0, 2.0, frame.shape).astype(np.float32)
        yield t, np.clip(noisy, 0, 255).astype(np.uint8)


def photo_trial(
    image: np.ndarray,
    kinds: tuple[ChallengeKind, ...],
    rng: np.random.Generator,
    moved: bool,
    options: ChallengeOptions,
) -> Trial:
    """Present a still (static or moved) to the judge."""
    seconds = options.timeout * len(kinds) + 1.0
    with FaceMesher.create_from_options(MeshOptions(running_mode=RunningMode.VIDEO)) as mesher:
        frames = (
            seen(t, img, mesher.detect_for_video(img, int(t * 1000)))
            for t, img in _photo_frames(image, seconds, rng, moved)
        )
        result, incomplete = judge(kinds, frames, options)
    return Trial("moved_photo" if moved else "static_photo", True, kinds, result, incomplete)


_SLIDES = ("normal", "sleepy", "happy", "surprised")
SLIDESHOWS = {
    "slideshow_cut": Slideshow(),
    "slideshow_crossfade_noise": Slideshow(fade_frames=3, noise=6.0),
}
"""The slideshow variants tried: as the tester made them, and with the two cheap
disguises of the cuts together."""


def slideshow_trials(yale: Path, options: ChallengeOptions) -> list[Trial]:
    """Every Yale subject with all four photos, as each :data:`SLIDESHOWS` variant,
    against every ordered draw of 2 or 3 kinds of the default pool."""
    draws = [d for n in (2, 3) for d in permutations(DEFAULT_POOL, n)]
    trials = []
    for normal in sorted(yale.glob("subject*.normal.gif")):
        subject = normal.name.split(".")[0]
        if not all((yale / f"{subject}.{n}.gif").is_file() for n in _SLIDES):
            continue
        for group, show in SLIDESHOWS.items():
            frames, _ = slideshow_frames(yale, subject, "bsm", show)
            track: Track = []
            last: int | None = None
            with FaceMesher.create_from_options(
                MeshOptions(running_mode=RunningMode.VIDEO)
            ) as mesher:
                for t, image in frames:
                    last = next_timestamp_ms(t, last)
                    track.append(seen(t, image, mesher.detect_for_video(image, last)))
            for kinds in draws:
                trials.append(Trial(group, True, kinds, *judge(kinds, iter(track), options)))
    return trials


def draw_kinds(
    rng: np.random.Generator, first: ChallengeKind | None = None
) -> tuple[ChallengeKind, ...]:
    """A reproducible 2-3 step sequence from the product's default pool (seeded, unlike
    the product's secure draw), optionally starting with ``first``."""
    pool = [k for k in DEFAULT_POOL if k is not first]
    n = int(rng.integers(2, 4)) - (first is not None)
    picked = [pool[i] for i in rng.choice(len(pool), n, replace=False)]
    return tuple(([first] if first else []) + picked)


def replay_trials(
    clips: dict[ChallengeKind, list[Track]],
    rng: np.random.Generator,
    n: int,
    options: ChallengeOptions,
) -> list[Trial]:
    """Clips of the asked-for kinds (those of the default pool), replayed in an order
    other than the asked one."""
    kinds_available = [k for k, v in clips.items() if v and k in DEFAULT_POOL]
    trials = []
    for _ in range(n):
        size = int(rng.integers(2, min(3, len(kinds_available)) + 1))
        asked = tuple(
            kinds_available[i] for i in rng.choice(len(kinds_available), size, replace=False)
        )
        order = list(asked)
        while tuple(order) == asked:
            order = [order[i] for i in rng.permutation(size)]
        pieces = [clips[k][int(rng.integers(len(clips[k])))] for k in order]
        clip = hold(concat(pieces), options.timeout)
        result, incomplete = judge(asked, iter(clip), options)
        trials.append(Trial("wrong_order_replay", True, asked, result, incomplete))
    return trials


def attack_stills(data: Path) -> list[np.ndarray]:
    """The bona fide stills printed for the photo attacks: every Yale ``normal`` face and
    about 40 NUAA live frames spread over its subjects."""
    stills = [
        read_image(p).image for p in sorted((data / "yale_faces").glob("subject*.normal.gif"))
    ]
    nuaa = sorted((data / "nuaa_photo_imposter_subset" / "ClientRaw").glob("*/*.jpg"))
    return stills + [read_image(p).image for p in nuaa[:: max(1, len(nuaa) // 40)]]


def run_trials(
    data: Path,
    n_attacks: int,
    n_turn_trials: int,
    seed: int,
    options: ChallengeOptions,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Trial], AttentionCheck, list[str]]:
    """Genuine and attack trials over ``data`` (the shared dataset folder)."""
    rng = np.random.default_rng(seed)
    say = progress or (lambda _: None)
    say("blink videos")
    blinks, attention, skipped = blink_tracks(data / "blink_webcam_videos")
    trials = [
        Trial(
            "genuine_blink",
            False,
            (ChallengeKind.BLINK,),
            *judge((ChallengeKind.BLINK,), iter(c), options),
        )
        for c in blinks
    ]
    say("yale expressions")
    with FaceMesher.create_from_options(MeshOptions()) as still:
        yale = yale_tracks(data / "yale_faces", still)
    # Pairs of stills: the expression rules alone (see the module docstring).
    stills = replace(options, continuity=None)
    for kind, tracks in yale.items():
        trials += [
            Trial(f"genuine_{kind.value}", False, (kind,), *judge((kind,), iter(c), stills))
            for c in tracks
        ]
    say("photo attacks")
    photos = attack_stills(data)
    per_kind = n_attacks // 3
    for moved in (False, True):
        for i in range(per_kind):
            kinds = draw_kinds(rng)
            trials.append(photo_trial(photos[i % len(photos)], kinds, rng, moved, options))
    say("tilted photos against turn challenges (not in the default pool)")
    for i in range(n_turn_trials):
        turn = (ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT)[i % 2]
        kinds = (turn, draw_kinds(rng)[0])
        trial = photo_trial(photos[i % len(photos)], kinds, rng, True, options)
        trials.append(Trial("moved_photo_turn_first", True, kinds, trial.result, trial.incomplete))
    say("replays")
    clips = {ChallengeKind.BLINK: blinks, **yale}
    trials += replay_trials(clips, rng, n_attacks - 2 * per_kind, stills)
    say("slideshows")
    trials += slideshow_trials(data / "yale_faces", options)
    return trials, attention, skipped
