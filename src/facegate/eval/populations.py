"""The populations a calibration is measured on, read from the shared dataset folder.

Each population is a different kind of face and capture: ORL's small grey crops,
Yale's expressions and lamps, NUAA's webcam frames, Yale B's single-light-source
studio shots and RMFRD's web photos of East-Asian public figures with and without
masks. Identities are prefixed with the population's name (``yale_b/yaleB01``), so
people from different folders never count as one person; relative paths are
relative to the dataset folder, so a record names its data without a machine path.
Within an identity, samples keep a fixed order (RMFRD: unmasked photos first), so
"enrol the first K" means the same images on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from facegate.errors import InputError
from facegate.eval.dataset import IMAGE_SUFFIXES, Sample, natural_key


class Population(StrEnum):
    """The datasets under ``../shared/data`` used for calibration and its checks."""

    ORL = "orl"
    YALE = "yale"
    NUAA = "nuaa"
    YALE_B = "yale_b"
    RMFRD = "rmfrd"


@dataclass(frozen=True)
class PopulationSet:
    """The samples of one population; ``masked`` (N,) bool flags masked photos."""

    population: Population
    folder: str
    samples: list[Sample]
    masked: np.ndarray = field(repr=False)

    @property
    def identities(self) -> np.ndarray:
        return np.array([s.identity for s in self.samples])


def _images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=natural_key,
    )


def _per_folder(pop: Population, root: Path, people: list[Path], data: Path) -> PopulationSet:
    samples = [
        Sample(f"{pop.value}/{person.name}", img, str(img.relative_to(data)))
        for person in people
        for img in _images(person)
    ]
    return PopulationSet(pop, str(root.relative_to(data)), samples, np.zeros(len(samples), bool))


def _orl(data: Path) -> PopulationSet:
    root = data / "orl_att_faces"
    return _per_folder(Population.ORL, root, sorted(root.glob("s*")), data)


def _nuaa(data: Path) -> PopulationSet:
    root = data / "nuaa_photo_imposter_subset" / "ClientRaw"
    return _per_folder(Population.NUAA, root, sorted(p for p in root.iterdir() if p.is_dir()), data)


def _yale_b(data: Path) -> PopulationSet:
    root = data / "yale_b_lighting"
    return _per_folder(Population.YALE_B, root, sorted(root.glob("yaleB*")), data)


def _yale(data: Path) -> PopulationSet:
    root = data / "yale_faces"
    samples = [
        Sample(f"yale/{img.name.partition('.')[0]}", img, str(img.relative_to(data)))
        for img in sorted(root.glob("subject*.*"))
        if img.name.partition(".")[2] != "txt"
    ]
    return PopulationSet(Population.YALE, "yale_faces", samples, np.zeros(len(samples), bool))


def _rmfrd(data: Path) -> PopulationSet:
    root = data / "rmfrd_masked_identities"
    samples, masked = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for kind, is_masked in (("unmasked", False), ("masked", True)):
            if (person / kind).is_dir():
                for img in _images(person / kind):
                    samples.append(Sample(f"rmfrd/{person.name}", img, str(img.relative_to(data))))
                    masked.append(is_masked)
    return PopulationSet(Population.RMFRD, root.name, samples, np.array(masked, bool))


LOADERS: dict[Population, Callable[[Path], PopulationSet]] = {
    Population.ORL: _orl,
    Population.YALE: _yale,
    Population.NUAA: _nuaa,
    Population.YALE_B: _yale_b,
    Population.RMFRD: _rmfrd,
}


def load_population(pop: Population, data: Path) -> PopulationSet:
    """The samples of ``pop`` under the dataset folder ``data`` (``../shared/data``)."""
    try:
        found = LOADERS[pop](data)
    except FileNotFoundError as err:
        raise InputError(f"{data}: {pop.value} is missing ({err.filename})") from err
    if not found.samples:
        raise InputError(f"{data}: no images of {pop.value} under {found.folder}")
    return found
