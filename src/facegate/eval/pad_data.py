"""Labelled PAD image sets: a ``path,label[,subject[,source]]`` CSV, or two folders.

``label`` is ``live`` for a bona fide presentation; any other value names the attack
type (``spoof_print``, ``replay_screen`` ...), so APCER can be reported per type.
``subject`` names the person shown; training needs it to keep cross-validation folds
subject-disjoint, so a model is never tested on a person it was trained on.
``source`` names the capture (a camera, a dataset): leave-one-source-out holds out
every presentation of one source, so a model is never tested on a camera it saw.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import InputError
from facegate.eval.dataset import IMAGE_SUFFIXES

BONA_FIDE = "live"


@dataclass(frozen=True)
class LabelledImage:
    """One presentation: the image file, ``live`` or an attack type, who it shows and
    which capture source (camera, dataset) it comes from."""

    path: Path
    label: str
    subject: str | None = None
    source: str | None = None

    @property
    def bona_fide(self) -> bool:
        return self.label == BONA_FIDE


def read_labels(csv_path: Path, root: Path | None = None) -> list[LabelledImage]:
    """Rows of a ``path,label[,subject[,source]]`` CSV; paths are relative to ``root`` (default:
    the CSV's folder). Raises InputError for a missing column, file or empty set."""
    base = root if root is not None else csv_path.parent
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such labels file")
    images = []
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            path = base / row["path"]
            label = (row["label"] or "").strip()
            if not label:
                raise InputError(f"{csv_path}:{line}: empty label")
            if not path.is_file():
                raise InputError(f"{csv_path}:{line}: {path} does not exist")
            subject = (row.get("subject") or "").strip() or None
            source = (row.get("source") or "").strip() or None
            images.append(LabelledImage(path, label, subject, source))
    if not images:
        raise InputError(f"{csv_path}: no rows")
    return images


def from_folders(live: Path, attack: Path, attack_type: str = "attack") -> list[LabelledImage]:
    """Every image under ``live`` (bona fide) and under ``attack`` (one attack type)."""
    images = []
    for folder, label in ((live, BONA_FIDE), (attack, attack_type)):
        if not folder.is_dir():
            raise InputError(f"{folder}: not a directory")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise InputError(f"{folder}: no images")
        images += [LabelledImage(p, label) for p in found]
    return images
