"""Does a face's distance from its owner's own enrolment tell a replay from a live face
on a camera no model has seen?

    python scripts/explore_enrolment_pad.py [--labels out/pad-sources/labels.csv]
        [--cache out/enrolment-pad] [--data ../shared/data] [--out out/liveness/enrolment-pad.json]
        [--texture shipped|cues] [--attempt-frames 1]

Why: held out by source, no generic PAD feature separates an unfamiliar webcam's live
faces from screen replays (``scripts/explore_pad_cues.py``): the direction of the
live/replay difference changes from camera to camera. At unlock, though, the owner's
enrolment came from the same camera, and a replay adds a screen between the face and
that camera (gamut, contrast, moire, blockiness). So the cue measured here is the
*distance of a probe from its owner's enrolment* in the shipped PAD's own feature
space (its LBP histograms of the inner face, ``pad_features``) plus the colour moments
of ``explore_pad_cues.py`` (chroma, saturation, white point, glare), standardised,
divided per dimension by the enrolment's own spread (shrunk half-way to 1). Nothing
is trained; only a distance threshold is chosen.

Three measurements, each with the threshold chosen without what is measured:

- ``crops``: every subject of the labels CSV is enrolled from the first half of its
  live presentations (file order) and the rest, live and attack, are probes. Held
  out by source: the threshold for a source is the largest distance at which every
  *other* replay person keeps APCER <= 10 % and NUAA prints <= 2 %. With
  ``--attempt-frames 3`` each decision is on the mean of 3 consecutive probes, as an
  unlock averages its first 3 usable frames.
- ``sessions``: NUAA's people filmed on several sessions, enrolled from their first
  session and probed with the others, as they are and with a few frames of their
  second session added (pooled, or as a second reference), as a reference refreshed
  by unlocks would have them.
- ``clips``: the whole clips of ``replay_attacks_dev`` (p03, p04, p10): each person
  enrolled from every 3rd frame of the first half of their live clip (whole frames)
  and, separately, from their tight live crops (a crop enrolment against whole-frame
  probes: the same face must give the same answer either way); every second half
  scored frame by frame; the threshold is chosen as above on the crops of every
  source but those three people.

Faces are found by YuNet as at unlock; the features of the labelled images are cached
under ``--cache``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from explore_pad_cues import colour, lbp

from facegate.liveness.features import FeatureSpec, face_crop, pad_features
from facegate.liveness.pad import PadModel
from facegate.session import Session
from facegate.vision.sources import iter_video, read_image

REPLAY_APCER = 0.10
PRINT_APCER = 0.02
CLIP_PEOPLE = ("replay_dev/p03", "replay_dev/p04", "replay_dev/p10")
REFRESH_FRAMES = 5


def describe(image: np.ndarray, box: np.ndarray, spec: FeatureSpec | None) -> np.ndarray:
    """The colour moments of the face in ``box`` and its LBP histograms: the shipped
    PAD's (``spec``), or with ``spec`` None those of ``explore_pad_cues.py`` (the
    inner 0.62 of a 1.4x-context 128 px crop)."""
    crop = face_crop(image, box, 1.4, 128)
    texture = lbp(crop) if spec is None else pad_features(image, box, spec)
    return np.concatenate([texture, colour(crop)])


def labelled_features(
    rows: list[dict[str, str]], base: Path, cache: Path, spec: FeatureSpec | None
) -> tuple[np.ndarray, np.ndarray]:
    """(features, row index) of every labelled image whose face YuNet finds, cached."""
    path = cache / f"enrolment-features-{'cues' if spec is None else 'shipped'}.npz"
    if path.is_file():
        with np.load(path) as npz:
            return npz["x"], npz["keep"]
    rows_x, keep = [], []
    with Session.open() as session:
        for i, row in enumerate(rows):
            image = read_image(base / row["path"]).image
            faces = session.pipeline.detector.detect(image)
            if len(faces):
                rows_x.append(describe(image, faces.boxes[0], spec))
                keep.append(i)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=np.array(rows_x), keep=np.array(keep))
    return np.array(rows_x), np.array(keep)


def distances(z: np.ndarray, enrol: np.ndarray) -> np.ndarray:
    """Per-dimension spread-normalised RMS distance of each row of ``z`` from the mean
    of ``z[enrol]``; the enrolment's variance is shrunk half-way to 1 (standardised
    units), so a handful of frames cannot make the distance blow up."""
    ref = z[enrol].mean(axis=0)
    var = 0.5 * z[enrol].var(axis=0) + 0.5
    return np.sqrt(((z - ref) ** 2 / var).mean(axis=1))


def threshold(dist: np.ndarray, attack_source: np.ndarray, probe_attack: np.ndarray) -> float:
    """The largest distance accepted as live that keeps every attack source within its
    target (NUAA prints 2 %, each replay person 10 %): accept when ``dist <= it``."""
    limit = np.inf
    for source in np.unique(attack_source[probe_attack]):
        scores = np.sort(dist[probe_attack & (attack_source == source)])
        target = PRINT_APCER if source == "nuaa" else REPLAY_APCER
        k = int(np.floor(target * scores.size))
        limit = min(limit, float(np.nextafter(scores[k], -np.inf)))
    return limit


def enrolment_split(subject: np.ndarray, live: np.ndarray, path: np.ndarray) -> np.ndarray:
    """True for the first half (file order, at least one) of every subject's live rows."""
    enrol = np.zeros(subject.size, bool)
    for who in np.unique(subject):
        rows = sorted(np.flatnonzero((subject == who) & live), key=lambda i: path[i])
        enrol[rows[: max(1, len(rows) // 2)]] = True
    return enrol


def subject_distances(z: np.ndarray, subject: np.ndarray, enrol: np.ndarray) -> np.ndarray:
    """Every row's distance from its own subject's enrolment (NaN without one)."""
    out = np.full(subject.size, np.nan)
    for who in np.unique(subject):
        mine = subject == who
        if (mine & enrol).any():
            out[mine] = distances(z[mine], enrol[mine])
    return out


def standardise(x: np.ndarray, fit: np.ndarray) -> np.ndarray:
    return (x - x[fit].mean(axis=0)) / (x[fit].std(axis=0) + 1e-6)


def attempts(
    dist: np.ndarray, probe: np.ndarray, key: np.ndarray, path: np.ndarray, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mean distance, first row) of every run of ``frames`` consecutive probes (file
    order) of one subject and label, as an unlock averages its first frames; with
    ``frames`` 1, every probe alone."""
    means, first = [], []
    for group in np.unique(key[probe]):
        rows = sorted(np.flatnonzero(probe & (key == group)), key=lambda i: path[i])
        for k in range(0, len(rows) - frames + 1, frames):
            means.append(dist[rows[k : k + frames]].mean())
            first.append(rows[k])
    return np.array(means), np.array(first, np.intp)


def crops_report(x: np.ndarray, rows: list[dict[str, str]], keep: np.ndarray, frames: int) -> dict:
    source = np.array([rows[i]["source"] for i in keep])
    subject = np.array([rows[i]["subject"] for i in keep])
    path = np.array([rows[i]["path"] for i in keep])
    label = np.array([rows[i]["label"] for i in keep])
    live = label == "live"
    key = np.char.add(np.char.add(subject, "|"), label)
    enrol = enrolment_split(subject, live, path)
    report = {}
    for held in np.unique(source):
        train = source != held
        dist = subject_distances(standardise(x, train), subject, enrol)
        probe = ~enrol & np.isfinite(dist)
        score, first = attempts(dist, probe, key, path, frames)
        src, bona = source[first], live[first]
        th = threshold(score, src, ~bona & (src != held))
        mine = src == held
        entry: dict[str, object] = {"threshold": th}
        for name, chosen in (("live", mine & bona), ("attack", mine & ~bona)):
            if chosen.any():
                wrong = score[chosen] > th if name == "live" else score[chosen] <= th
                entry[name] = {"n": int(chosen.sum()), "errors": int(wrong.sum())}
        report[str(held)] = entry
    return report


def sessions_report(x: np.ndarray, rows: list[dict[str, str]], keep: np.ndarray) -> dict:
    """NUAA people filmed in several sessions: enrolled from their first session, their
    later sessions' live faces probed as they are, after a *refresh* (the first
    ``REFRESH_FRAMES`` frames of their second session pooled into the enrolment, as
    unlocks that passed a challenge could add them), and with those frames kept as a
    *second reference* (the nearer of the two counts). Their prints are probed too.
    The threshold is the crops' one with NUAA held out."""
    source = np.array([rows[i]["source"] for i in keep])
    subject = np.array([rows[i]["subject"] for i in keep])
    path = np.array([rows[i]["path"] for i in keep])
    live = np.array([rows[i]["label"] == "live" for i in keep])
    train = source != "nuaa"
    z = standardise(x, train)
    halves = enrolment_split(subject, live, path)
    dist = subject_distances(z, subject, halves)
    probe = ~halves & np.isfinite(dist)
    th = threshold(dist, source, probe & ~live & train)
    # NUAA names: subject_glasses_position_session_picture
    parts = [Path(p).stem.split("_") for p in path]
    session = np.array([int(q[3]) if len(q) == 5 else -1 for q in parts])
    picture = np.array([int(q[4]) if len(q) == 5 else -1 for q in parts])
    totals = {
        name: {"live": 0, "live_too_far": 0, "prints": 0, "prints_accepted": 0}
        for name in ("first session only", "refreshed", "second reference")
    }
    people = []
    for who in np.unique(subject[source == "nuaa"]):
        own = (subject == who) & live
        sessions = sorted(set(session[own].tolist()))
        if len(sessions) < 2:
            continue
        people.append(str(who))
        first = own & (session == sessions[0])
        second = sorted(np.flatnonzero(own & (session == sessions[1])), key=lambda i: picture[i])
        added = np.zeros(subject.size, bool)
        added[second[:REFRESH_FRAMES]] = True
        later = own & (session != sessions[0])
        prints = (subject == who) & ~live
        for name, d, probes in (
            ("first session only", distances(z, first), later),
            ("refreshed", distances(z, first | added), later & ~added),
            (
                "second reference",
                np.minimum(distances(z, first), distances(z, added)),
                later & ~added,
            ),
        ):
            entry = totals[name]
            entry["live"] += int(probes.sum())
            entry["live_too_far"] += int((d[probes] > th).sum())
            entry["prints"] += int(prints.sum())
            entry["prints_accepted"] += int((d[prints] <= th).sum())
    return {"threshold": th, "people": people, "refresh_frames": REFRESH_FRAMES, **totals}


def clips_report(
    x: np.ndarray,
    rows: list[dict[str, str]],
    keep: np.ndarray,
    data: Path,
    spec: FeatureSpec | None,
) -> list[dict]:
    source = np.array([rows[i]["source"] for i in keep])
    subject = np.array([rows[i]["subject"] for i in keep])
    path = np.array([rows[i]["path"] for i in keep])
    live = np.array([rows[i]["label"] == "live" for i in keep])
    train = ~np.isin(source, CLIP_PEOPLE)
    enrol = enrolment_split(subject, live, path)
    dist = subject_distances(standardise(x, train), subject, enrol)
    probe = ~enrol & np.isfinite(dist) & train
    th = threshold(dist, source, probe & ~live)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    root = data / "replay_attacks_dev"
    clips = list(csv.DictReader((root / "videos.csv").open(newline="")))
    results = []
    with Session.open() as session:
        detector = session.pipeline.detector

        def features(images: list[np.ndarray]) -> np.ndarray:
            found = []
            for image in images:
                faces = detector.detect(image)
                if len(faces):
                    found.append(describe(image, faces.boxes[0], spec))
            return (np.array(found) - mean) / std

        for person in sorted({c["subject"] for c in clips}):
            crops = sorted((root / person / "live").glob("*.jpg"))
            enrolments = {"live crops": features([read_image(p).image for p in crops])}
            own = [c for c in clips if c["subject"] == person and c["label"] == "live"]
            if own:
                frames = [f.image for f in iter_video(root / own[0]["path"])]
                enrolments["live clip, first half"] = features(frames[: len(frames) // 2][::3])
            for clip in (c for c in clips if c["subject"] == person):
                frames = [f.image for f in iter_video(root / clip["path"])]
                probe = features(frames[len(frames) // 2 :])
                for enrolled_from, enrolment in enrolments.items():
                    both = np.vstack([enrolment, probe])
                    mask = np.arange(len(both)) < len(enrolment)
                    d = distances(both, mask)[~mask]
                    results.append(
                        {
                            "clip": clip["path"],
                            "label": clip["label"],
                            "enrolled_from": enrolled_from,
                            "enrolled_frames": len(enrolment),
                            "probe_frames": len(d),
                            "threshold": th,
                            "mean_distance_first_3": float(d[:3].mean()),
                            "frames_accepted": int((d <= th).sum()),
                        }
                    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=Path, default=Path("out/pad-sources/labels.csv"))
    parser.add_argument("--cache", type=Path, default=Path("out/enrolment-pad"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("out/liveness/enrolment-pad.json"))
    parser.add_argument(
        "--texture",
        choices=("shipped", "cues"),
        default="shipped",
        help="LBP of the shipped PAD, or of explore_pad_cues.py",
    )
    parser.add_argument(
        "--attempt-frames",
        type=int,
        default=1,
        help="decide the crops on the mean of this many consecutive probes",
    )
    args = parser.parse_args()
    rows = list(csv.DictReader(args.labels.open()))
    spec = PadModel.load().spec if args.texture == "shipped" else None
    x, keep = labelled_features(rows, args.labels.parent, args.cache, spec)
    report = {
        "crops": crops_report(x, rows, keep, args.attempt_frames),
        "sessions": sessions_report(x, rows, keep),
        "clips": clips_report(x, rows, keep, args.data, spec),
    }
    for source, entry in report["crops"].items():
        print(source, json.dumps(entry))
    print("sessions", json.dumps(report["sessions"]))
    for clip in report["clips"]:
        print(json.dumps(clip))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
