"""Build the NUAA unlock-with-attacks set as symlinks: nothing is copied into the repo.

    python scripts/make_nuaa_liveness.py [--data ../shared/data] [--out out/nuaa-liveness]

Writes ``OUT/live/<identity>/<images>`` (the bona fide images, for
``facegate eval unlock``) and ``OUT/attacks/attacks.csv`` with ``path,identity,label``
rows whose paths point at symlinks in ``OUT/attacks/`` (the printed-photo attacks,
each naming the person it shows).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    parser.add_argument("--out", type=Path, default=Path("out/nuaa-liveness"))
    args = parser.parse_args()
    nuaa = args.data.resolve() / "nuaa_photo_imposter_subset"
    rows = []
    with (nuaa / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            src = nuaa / row["path"]
            name = Path(row["path"]).name
            if row["label"] == "live":
                link(src, args.out / "live" / row["subject"] / name)
            else:
                rel = Path(row["label"]) / row["subject"] / name
                link(src, args.out / "attacks" / rel)
                rows.append({"path": str(rel), "identity": row["subject"], "label": row["label"]})
    with (args.out / "attacks" / "attacks.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "identity", "label"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.out}/live and {len(rows)} attacks in {args.out}/attacks/attacks.csv")


if __name__ == "__main__":
    main()
