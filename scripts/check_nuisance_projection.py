"""Does a lighting fix learned on the re-lit proxies carry over to real light?

Nuisance attribute projection (NAP) removes from every embedding the few directions
along which re-lighting moves a face: the top singular vectors of (re-lit probe -
the same crop unlit) differences. It is learned on one half of the identities and
scored on the other (``eval unlock`` protocol, two folds). Then the same directions,
learned without any Yale identity, are checked against real side light: what share
of the embedding change from Yale's ``normal`` photo to its ``leftlight`` /
``rightlight`` photo of the same person lies in them, next to expression and glasses
changes and to chance (k / 128). A fix that only removes the renderer's signature
scores well on the proxies and holds no more of the real change than chance.

The unlit twins are the mesh proxy rebuilt with full ambient light (same crops, same
noise), so the script needs them beside the proxies:

    python scripts/make_relit_set.py --src out/devset --out out/relit-unlit --light mesh \
        --ambient 1 1
    python scripts/check_nuisance_projection.py --devset out/devset --twins out/relit-unlit \
        out/relit-mesh out/relit-dark
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegate.eval.dataset import EmbeddedSet, embed_samples, list_dataset
from facegate.eval.metrics import eer, fnmr_at_fmr
from facegate.eval.protocols import split_enrolment
from facegate.session import Session
from facegate.vision.quality import ENROL_QUALITY

ENROL = 3
YALE = "yale_"  # make_devset.py's prefix of the Yale identities


@dataclass(frozen=True)
class Embedded:
    """One dataset through FaceGate's pipeline: enrolment and probe halves."""

    enrol: EmbeddedSet
    probes: EmbeddedSet


def embed(root: Path, session: Session) -> Embedded:
    samples = list_dataset(root)
    first = split_enrolment(np.array([s.identity for s in samples]), ENROL)
    enrol = [s for s, e in zip(samples, first, strict=True) if e]
    probes = [s for s, e in zip(samples, first, strict=True) if not e]
    return Embedded(
        embed_samples(enrol, session.pipeline, ENROL_QUALITY),
        embed_samples(probes, session.pipeline),
    )


def project(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Rows of ``x`` with ``basis``'s directions removed, back to unit length."""
    y = x - (x @ basis) @ basis.T
    norm = np.linalg.norm(y, axis=-1, keepdims=True)
    return np.asarray(y / np.where(norm == 0, 1, norm))


def nuisance_basis(pairs: list[tuple[Embedded, Embedded]], ids: set[str], k: int) -> np.ndarray:
    """Top-k directions of (re-lit - unlit) probe differences of identities ``ids``."""
    diffs = []
    for lit, twin in pairs:
        p, t = lit.probes, twin.probes
        keep = p.usable & t.usable & np.isin(p.identities, list(ids))
        diffs.append(p.embeddings[keep] - t.embeddings[keep])
    _, _, vt = np.linalg.svd(np.concatenate(diffs), full_matrices=False)
    return np.asarray(vt[:k].T)


def unlock_figures(data: Embedded, ids: set[str], basis: np.ndarray) -> tuple[list, list]:
    """Genuine and impostor max-over-template scores of identities ``ids``."""
    e = data.enrol
    templates = {
        i: project(e.embeddings[(e.identities == i) & e.usable], basis)
        for i in ids
        if ((e.identities == i) & e.usable).any()
    }
    genuine, impostor = [], []
    for part, is_probe in ((data.enrol, False), (data.probes, True)):
        keep = part.usable & np.isin(part.identities, list(ids))
        vecs = project(part.embeddings[keep], basis)
        for vec, who in zip(vecs, part.identities[keep], strict=True):
            for ident, template in templates.items():
                score = float(np.max(template @ vec))
                if ident != who:
                    impostor.append(score)
                elif is_probe:
                    genuine.append(score)
    return genuine, impostor


def yale_shares(dev: Embedded, basis: np.ndarray) -> dict[str, tuple[float, int]]:
    """Share of each kind of real change (to ``normal``) lying in ``basis``."""
    vectors: dict[tuple[str, str], np.ndarray] = {}
    for part in (dev.enrol, dev.probes):
        for sample, vec, ok in zip(part.samples, part.embeddings, part.usable, strict=True):
            if ok and sample.identity.startswith(YALE):
                vectors[(sample.identity, sample.path.stem)] = vec
    subjects = sorted({s for s, _ in vectors})
    kinds = {
        "side light": ("leftlight", "rightlight"),
        "expression": ("happy", "sad", "surprised", "sleepy", "wink"),
        "glasses": ("glasses",),
    }
    shares = {}
    for kind, conditions in kinds.items():
        x = np.array(
            [
                vectors[(s, c)] - vectors[(s, "normal")]
                for s in subjects
                for c in conditions
                if (s, c) in vectors and (s, "normal") in vectors
            ]
        )
        shares[kind] = (float(((x @ basis) ** 2).sum() / (x**2).sum()), len(x))
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("proxies", type=Path, nargs="+", help="mesh-lit proxy sets")
    parser.add_argument("--devset", type=Path, default=Path("out/devset"))
    parser.add_argument("--twins", type=Path, required=True, help="the unlit mesh proxy")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 5])
    args = parser.parse_args()
    with Session.open(vault=False) as session:
        dev, twins = embed(args.devset, session), embed(args.twins, session)
        proxies = {p.name: embed(p, session) for p in args.proxies}
    pairs = [(lit, twins) for lit in proxies.values()]
    identities = sorted(set(dev.enrol.identities.tolist()))
    order = np.random.default_rng(0).permutation(identities)
    folds = [set(order[::2].tolist()), set(order[1::2].tolist())]
    for name, data in proxies.items():
        for k in [0, *args.k]:
            genuine: list[float] = []
            impostor: list[float] = []
            for test, train in ((folds[0], folds[1]), (folds[1], folds[0])):
                basis = nuisance_basis(pairs, train, k) if k else np.zeros((128, 0))
                g, i = unlock_figures(data, test, basis)
                genuine += g
                impostor += i
            fnmr = fnmr_at_fmr(genuine, impostor, [1e-4])["1e-4"]
            misses = "n/a" if fnmr is None else f"{fnmr:.2%} of {len(genuine)}"
            print(
                f"{name} k={k}: EER {eer(genuine, impostor)[0]:.2%}, FNMR at FMR 1e-4 "
                f"{misses} ({len(impostor)} impostor)"
            )
    not_yale = {i for i in identities if not i.startswith(YALE)}
    for k in args.k:
        shares = yale_shares(dev, nuisance_basis(pairs, not_yale, k))
        parts = ", ".join(f"{kind} {v:.1%} (n={n})" for kind, (v, n) in shares.items())
        print(f"Yale, real changes in the k={k} basis: {parts}; chance {k / 128:.1%}")


if __name__ == "__main__":
    main()
