"""List every PAD presentation of the shared data by source, for leave-one-source-out.

    python scripts/make_pad_sources.py [--data ../shared/data] [--out out/pad-sources]

Writes ``OUT/labels.csv`` with ``path,label,subject,source`` rows (paths relative to
the CSV). Nothing is copied: still images are referenced where they lie, and the
blink videos, which have no stills, give every ``--step``-th frame as a PNG under
``OUT/blink/`` (out/ is gitignored). Sources: each replay_attacks_dev person
(``replay_dev/pNN``: live and screen replay), ``nuaa`` (live and printed photo), and
the bona fide sets ``orl``, ``yale``, ``yale_b``, ``rmfrd`` (masked and unmasked) and
``blink`` (webcam videos).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import cv2

IMAGES = {".jpg", ".jpeg", ".png", ".pgm", ".gif", ".bmp"}


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    parser.add_argument("--out", type=Path, default=Path("out/pad-sources"))
    parser.add_argument("--step", type=int, default=15, help="keep every n-th video frame")
    args = parser.parse_args()
    data = args.data.resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []

    def add(path: Path, label: str, subject: str, source: str) -> None:
        rows.append(
            {
                "path": os.path.relpath(path, out),
                "label": label,
                "subject": subject,
                "source": source,
            }
        )

    replay = data / "replay_attacks_dev"
    with (replay / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            add(replay / row["path"], row["label"], row["subject"], f"replay_dev/{row['subject']}")
    nuaa = data / "nuaa_photo_imposter_subset"
    with (nuaa / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            add(nuaa / row["path"], row["label"], f"nuaa/{row['subject']}", "nuaa")
    for path in images_under(data / "orl_att_faces"):
        add(path, "live", f"orl/{path.parent.name}", "orl")
    for path in sorted((data / "yale_faces").glob("subject*")):
        add(path, "live", f"yale/{path.name.split('.')[0]}", "yale")
    for path in images_under(data / "yale_b_lighting"):
        add(path, "live", f"yale_b/{path.parent.name}", "yale_b")
    for path in images_under(data / "rmfrd_masked_identities"):
        add(path, "live", f"rmfrd/{path.parents[1].name}", "rmfrd")
    for video in sorted((data / "blink_webcam_videos").glob("*.avi")):
        person = video.stem.split("_")[0]
        folder = out / "blink" / video.stem
        folder.mkdir(parents=True, exist_ok=True)
        cap = cv2.VideoCapture(str(video))
        index = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            if index % args.step == 0:
                path = folder / f"{index:05d}.png"
                if not path.exists():
                    cv2.imwrite(str(path), image)
                add(path, "live", f"blink/{person}", "blink")
            index += 1
        cap.release()
    with (out / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "subject", "source"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out / 'labels.csv'}: {len(rows)} presentations")


if __name__ == "__main__":
    main()
