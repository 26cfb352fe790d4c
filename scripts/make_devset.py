"""Build the pooled dev set as a tree of symlinks: out/devset/<dataset>_<identity>/<images>.

ORL (40 people), Yale (15) and the live NUAA images (15) become 70 identities; people
from different folders count as different people. Nothing is copied: the data stays
in ../shared/data and must never be committed.

    python scripts/make_devset.py [--data ../shared/data] [--out out/devset]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    parser.add_argument("--out", type=Path, default=Path("out/devset"))
    args = parser.parse_args()
    data, out = args.data.resolve(), args.out
    for person in sorted((data / "orl_att_faces").glob("s*")):
        for img in person.glob("*.pgm"):
            link(img, out / f"orl_{person.name}" / img.name)
    for img in sorted((data / "yale_faces").glob("subject*.*")):
        subject, _, rest = img.name.partition(".")
        link(img, out / f"yale_{subject}" / rest)
    for person in sorted((data / "nuaa_photo_imposter_subset" / "ClientRaw").iterdir()):
        for img in person.glob("*.jpg"):
            link(img, out / f"nuaa_{person.name}" / img.name)
    print(f"pooled dev set at {out}: {sum(1 for _ in out.iterdir())} identities")


if __name__ == "__main__":
    main()
