"""Identity templates: several embeddings per person, with bounded adaptive additions.

A template keeps up to ``MAX_ENROLLED`` varied captures from enrolment plus up to
``MAX_ADAPTIVE`` recent confident matches, which expire, as Face ID does, so a
template follows slow changes (a beard, new glasses) without drifting for good.
The serialised form is a small JSON header plus raw float32 bytes (never pickle),
and it only ever exists inside the sealed vault.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

from facegate.errors import EnrolmentError, VaultTampered
from facegate.vision.embed import EMBEDDING_DIM

EMBEDDING_MODEL = "sface-2021dec-int8bq/lighting-v3"
MAX_ENROLLED = 5
MAX_ADAPTIVE = 3
ADAPTIVE_TTL_SECONDS = 30 * 24 * 3600.0
# How far above its nearest enrolled entry a learnt entry may lift a face's score: enough
# to carry a borderline genuine match (new glasses), never enough to vouch alone for a
# face unlike the enrolment, which is what a poisoned learnt entry would do.
ADAPTIVE_LIFT = 0.10
_MAGIC = b"FGT1"


@dataclass(frozen=True)
class Template:
    """embeddings (K, D) unit float32; added_at (K,) epoch seconds; adaptive (K,) bool."""

    embeddings: np.ndarray = field(repr=False)
    added_at: np.ndarray = field(repr=False)
    adaptive: np.ndarray = field(repr=False)
    model: str = EMBEDDING_MODEL

    def __post_init__(self) -> None:
        k = self.embeddings.shape[0] if self.embeddings.ndim == 2 else -1
        if k < 1 or self.embeddings.dtype != np.float32:
            raise ValueError(
                f"Template.embeddings must be float32 (K>=1, D), got "
                f"{self.embeddings.dtype} {self.embeddings.shape}"
            )
        if self.added_at.shape != (k,) or self.adaptive.shape != (k,):
            raise ValueError(
                f"Template.added_at and .adaptive must be ({k},), got "
                f"{self.added_at.shape} and {self.adaptive.shape}"
            )

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def to_bytes(self) -> bytes:
        header = json.dumps(
            {"model": self.model, "shape": list(self.embeddings.shape)}, sort_keys=True
        ).encode()
        return b"".join(
            (
                _MAGIC,
                struct.pack("<I", len(header)),
                header,
                self.embeddings.astype("<f4").tobytes(),
                self.added_at.astype("<f8").tobytes(),
                self.adaptive.astype(np.uint8).tobytes(),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """Parse a payload from the vault; anything malformed is treated as tampering."""
        try:
            if data[:4] != _MAGIC:
                raise ValueError("bad magic")
            (hlen,) = struct.unpack("<I", data[4:8])
            header = json.loads(data[8 : 8 + hlen])
            k, d = (int(v) for v in header["shape"])
            if k < 1 or d != EMBEDDING_DIM:
                raise ValueError(f"shape ({k}, {d}) is not (K>=1, {EMBEDDING_DIM})")
            body = memoryview(data)[8 + hlen :]
            n_emb, n_time = k * d * 4, k * 8
            if len(body) != n_emb + n_time + k:
                raise ValueError("length mismatch")
            emb = np.frombuffer(body[:n_emb], "<f4").reshape(k, d).astype(np.float32)
            added = np.frombuffer(body[n_emb : n_emb + n_time], "<f8").astype(np.float64)
            adaptive = np.frombuffer(body[n_emb + n_time :], np.uint8).astype(bool)
            return cls(emb, added, adaptive, model=str(header["model"]))
        except (ValueError, KeyError, TypeError, RecursionError, struct.error) as err:
            # RecursionError: a deeply nested JSON header; JSONDecodeError is a ValueError.
            raise VaultTampered(f"stored template is malformed ({err})") from err


def select_varied(embeddings: np.ndarray, n: int) -> list[int]:
    """Indices of up to ``n`` mutually different captures (farthest-point sampling).

    Starts from the capture closest to the others (the most typical), then keeps
    adding the one least similar to those already chosen, so the template covers
    the spread of poses and expressions rather than n near-copies.
    """
    sims = embeddings @ embeddings.T
    chosen = [int(np.argmax(sims.sum(axis=1)))]
    while len(chosen) < min(n, len(embeddings)):
        closest = sims[:, chosen].max(axis=1)
        closest[chosen] = np.inf
        chosen.append(int(np.argmin(closest)))
    return chosen


def consistent_captures(embeddings: list[np.ndarray], threshold: float) -> list[int]:
    """Indices of the captures that match the most typical one at ``threshold``.

    Enrolment must never mix two faces, yet one odd capture (a grimace, a hand in
    front of the face) should not sink a whole enrolment: odd captures are dropped,
    and enrolment is refused unless the consistent captures are a strict majority
    (so two captures of two different people never enrol).
    """
    if not embeddings:
        raise EnrolmentError("no usable capture: every image was rejected (see reasons)")
    stack = np.stack(embeddings).astype(np.float32)
    sims = stack @ stack.T
    medoid = int(np.argmax(sims.sum(axis=1)))
    keep = [i for i in range(len(stack)) if i == medoid or sims[medoid, i] >= threshold]
    if len(stack) > 1 and 2 * len(keep) <= len(stack):
        raise EnrolmentError(
            f"only {len(keep)} of {len(stack)} captures look like the same person; "
            "enrol one person at a time"
        )
    return keep


def build_template(embeddings: list[np.ndarray], now: float) -> Template:
    """A template of up to MAX_ENROLLED varied captures (see ``consistent_captures``)."""
    if not embeddings:
        raise EnrolmentError("no usable capture: every image was rejected (see reasons)")
    stack = np.stack(embeddings).astype(np.float32)
    keep = select_varied(stack, MAX_ENROLLED)
    return Template(
        embeddings=stack[keep],
        added_at=np.full(len(keep), now, dtype=np.float64),
        adaptive=np.zeros(len(keep), dtype=bool),
    )


def extend(template: Template, embeddings: list[np.ndarray], now: float) -> Template:
    """The most varied ``MAX_ENROLLED`` of the enrolled and the new captures, plus the
    adaptive entries as they were: adding captures widens what enrolment covers."""
    enrolled = ~template.adaptive
    stack = np.vstack([template.embeddings[enrolled], *[e[None, :] for e in embeddings]])
    times = np.concatenate([template.added_at[enrolled], np.full(len(embeddings), now)])
    keep = select_varied(stack.astype(np.float32), MAX_ENROLLED)
    return Template(
        embeddings=np.vstack([stack[keep], template.embeddings[template.adaptive]]).astype(
            np.float32
        ),
        added_at=np.concatenate([times[keep], template.added_at[template.adaptive]]),
        adaptive=np.concatenate(
            [np.zeros(len(keep), dtype=bool), np.ones(int(template.adaptive.sum()), dtype=bool)]
        ),
        model=template.model,
    )


def adapt(template: Template, embedding: np.ndarray, now: float) -> Template:
    """Add a confidently matched embedding; drop expired and surplus adaptive entries.

    Enrolled entries are never replaced. The caller decides what counts as confident.
    """
    fresh = ~template.adaptive | (now - template.added_at < ADAPTIVE_TTL_SECONDS)
    emb, added, adaptive = (
        template.embeddings[fresh],
        template.added_at[fresh],
        template.adaptive[fresh],
    )
    adaptive_idx = np.flatnonzero(adaptive)
    if len(adaptive_idx) >= MAX_ADAPTIVE:
        oldest = adaptive_idx[np.argsort(added[adaptive_idx])][
            : len(adaptive_idx) - MAX_ADAPTIVE + 1
        ]
        keep = np.setdiff1d(np.arange(len(emb)), oldest)
        emb, added, adaptive = emb[keep], added[keep], adaptive[keep]
    return Template(
        embeddings=np.vstack([emb, embedding[None, :].astype(np.float32)]),
        added_at=np.append(added, now),
        adaptive=np.append(adaptive, True),
        model=template.model,
    )
