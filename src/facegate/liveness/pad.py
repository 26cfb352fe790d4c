"""The passive PAD model: one frame's face in, a bona fide score out.

The model is a regularised logistic regression over :mod:`facegate.liveness.features`:
``score = sigmoid(w . (x - mean) / scale + b)``, the estimated probability that the
face is *bona fide* (a live person in front of the camera). The score gives one of
three decisions (:class:`PadDecision`): LIVE when ``score >= threshold`` (a higher
threshold is stricter: fewer attacks, and fewer people, pass on the PAD alone),
ATTACK when ``score < refuse_below`` (a lower value refuses fewer people), and
UNCERTAIN in between. Held out by camera, the scores of live faces from unfamiliar
webcams spread over the whole range, so the band between the two is wide: there the
PAD's evidence is weak and a camera or video source should be asked for an active
challenge rather than refused (:mod:`facegate.liveness.check`). Both thresholds come
from leave-one-source-out scores by ``facegate train pad`` and are stored, with the
command and the counts behind them, in the weights file.

Weights are plain arrays in an ``.npz`` read with ``allow_pickle=False`` (never a
pickle, which could run code), plus a JSON metadata string and a sha256 digest of
everything; a truncated, altered or foreign file is refused with ModelTampered.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from facegate.errors import ModelMissing, ModelTampered
from facegate.liveness.features import FeatureSpec, pad_features

WEIGHTS_FILE = "pad_weights.npz"
FORMAT = "facegate-pad-logistic-v2"
_ARRAYS = ("mean", "scale", "weights")


class PadDecision(StrEnum):
    """What one PAD score says: LIVE and ATTACK are confident, UNCERTAIN is not."""

    LIVE = "live"
    ATTACK = "attack"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, eq=False)
class PadModel:
    """A trained PAD: feature spec, standardisation, linear weights and threshold.

    mean, scale, weights: (D,) float32 with D = spec.dim; bias: logit offset;
    threshold: bona fide score in (0, 1), LIVE when score >= threshold;
    refuse_below: ATTACK when score < refuse_below (<= threshold; equal means no
    UNCERTAIN band); meta: provenance (training command, data, counts, held-out rates).
    """

    spec: FeatureSpec
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    bias: float
    threshold: float
    refuse_below: float
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in _ARRAYS:
            arr = getattr(self, name)
            if arr.shape != (self.spec.dim,) or arr.dtype != np.float32:
                raise ValueError(
                    f"PadModel.{name} must be float32 ({self.spec.dim},), "
                    f"got {arr.dtype} {arr.shape}"
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"PadModel.{name} holds NaN or infinite values")
        if not (self.scale > 0).all():
            raise ValueError("PadModel.scale must be positive")
        if not (np.isfinite(self.bias) and 0.0 < self.threshold < 1.0):
            raise ValueError(f"PadModel bias/threshold out of range: {self.bias}, {self.threshold}")
        if not 0.0 <= self.refuse_below <= self.threshold:
            raise ValueError(
                f"PadModel.refuse_below must lie in [0, threshold], got {self.refuse_below}"
            )

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """Bona fide scores in [0, 1] for (N, D) or (D,) feature rows."""
        z = (np.asarray(features, np.float32) - self.mean) / self.scale
        logit = z @ self.weights + np.float32(self.bias)
        return 1.0 / (1.0 + np.exp(-np.clip(logit.astype(np.float64), -60.0, 60.0)))

    def score(self, image: np.ndarray, box: np.ndarray) -> float:
        """Bona fide score of the face in ``box`` (x, y, w, h pixels) of a BGR frame."""
        return float(self.score_features(pad_features(image, box, self.spec)))

    def decide(self, score: float, colourless: bool = False) -> PadDecision:
        """LIVE at or above ``threshold``, ATTACK below ``refuse_below``, else UNCERTAIN.

        A ``colourless`` face (:func:`~facegate.liveness.features.colourless`) is
        never LIVE on its score: it is UNCERTAIN instead.
        """
        if score >= self.threshold:
            return PadDecision.UNCERTAIN if colourless else PadDecision.LIVE
        if score < self.refuse_below:
            return PadDecision.ATTACK
        return PadDecision.UNCERTAIN

    def save(self, path: Path) -> None:
        """Write the plain-array ``.npz`` with its integrity digest."""
        meta = json.dumps(
            {"format": FORMAT, "spec": self.spec.as_dict(), **self.meta}, sort_keys=True
        )
        arrays = {
            "mean": self.mean,
            "scale": self.scale,
            "weights": self.weights,
            "bias": np.array(self.bias, np.float64),
            "threshold": np.array(self.threshold, np.float64),
            "refuse_below": np.array(self.refuse_below, np.float64),
            "meta": np.array(meta),
        }
        arrays["digest"] = np.array(_digest(arrays))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path | None = None) -> PadModel:
        """The model at ``path``, or the one shipped in the package.

        Raises ModelMissing when there is no file and ModelTampered when the file is
        not a readable npz, its digest does not match, or its contents are malformed.
        """
        if path is None:
            ref = resources.files("facegate.liveness").joinpath(WEIGHTS_FILE)
            path = Path(str(ref))
        if not path.is_file():
            raise ModelMissing(
                f"PAD weights {path} not found; reinstall facegate or run `facegate train pad`"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            stored = str(arrays.pop("digest"))
            if stored != _digest(arrays):
                raise ValueError("digest mismatch")
            meta = json.loads(str(arrays["meta"]))
            if meta.pop("format", None) != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            spec = FeatureSpec.from_dict(meta.pop("spec"))
            return cls(
                spec=spec,
                mean=arrays["mean"],
                scale=arrays["scale"],
                weights=arrays["weights"],
                bias=float(arrays["bias"]),
                threshold=float(arrays["threshold"]),
                refuse_below=float(arrays["refuse_below"]),
                meta=meta,
            )
        except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as err:
            raise ModelTampered(
                f"PAD weights {path} are corrupted or altered ({err}); refusing them. "
                "Reinstall facegate or retrain with `facegate train pad`"
            ) from err


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()
