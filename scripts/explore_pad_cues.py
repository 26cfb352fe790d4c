"""Which hand-made cues tell a screen or print from a live face on a camera the model
never saw? Each cue group is scored leave-one-source-out, as ``facegate train pad``
scores the shipped model.

    python scripts/explore_pad_cues.py [--labels out/pad-sources/labels.csv] [--cache out/pad-cues]

Cue groups (on the inner face, 0.62 of a 1.4x-context 128 px crop unless said):
``lbp`` (the shipped LBP histograms), ``freq`` (radial log spectrum and the height of
its peaks above the radial mean: moire and pixel grids), ``colour`` (chroma moments,
white point, glare, colour diversity), ``sharp`` (Laplacian, gradient and blur
energy), ``native`` (``freq`` at the image's own resolution, before any resampling).
For each combination, prints per held-out source the share of live faces refused
(B) and of attacks accepted (A) at thresholds 0.3, 0.5 and 0.7. Crops and features
are cached under ``--cache`` (out/ is gitignored).
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from facegate.eval.pad_train import fit_logistic
from facegate.liveness.features import face_crop
from facegate.session import Session
from facegate.vision.sources import read_image


def inner(crop: np.ndarray, frac: float = 0.62) -> np.ndarray:
    n = crop.shape[0]
    k = round(n * frac)
    o = (n - k) // 2
    return crop[o : o + k, o : o + k]


def lbp(crop: np.ndarray, spaces: tuple[str, ...] = ("ycrcb", "hsv")) -> np.ndarray:
    """The shipped model's LBP histograms (Hellinger-mapped), on the inner face."""
    c = inner(crop)
    parts = []
    conv = {"ycrcb": cv2.COLOR_BGR2YCrCb, "hsv": cv2.COLOR_BGR2HSV}
    for s in spaces:
        x = cv2.cvtColor(c, conv[s])
        for ch in range(3):
            p = np.ascontiguousarray(x[:, :, ch])
            for P, R in ((8, 1), (8, 2)):
                codes = local_binary_pattern(p, P, R, "nri_uniform")
                h = np.bincount(codes.astype(np.intp).ravel(), minlength=59).astype(float)
                parts.append(np.sqrt(h / h.sum()))
    return np.concatenate(parts)


def freq(crop: np.ndarray) -> np.ndarray:
    """Radial log-power profile and how far the spectrum's peaks rise above it."""
    g = cv2.cvtColor(inner(crop), cv2.COLOR_BGR2GRAY).astype(np.float64)
    n = g.shape[0]
    w = np.outer(np.hanning(n), np.hanning(n))
    g = (g - g.mean()) * w
    P = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2 + 1e-9
    L = np.log(P)
    yy, xx = np.indices(P.shape)
    c = n // 2
    r = np.hypot(yy - c, xx - c) / (n / 2)
    bins = np.linspace(0.05, 1.0, 13)
    prof = np.array([L[(r >= a) & (r < b)].mean() for a, b in itertools.pairwise(bins)])
    prof = prof - prof[0]
    hi = L[(r > 0.3) & (r < 1.0)]
    med = np.median(hi)
    # peakiness relative to local radial mean
    rb = np.clip((r * 24).astype(int), 0, 30)
    radmean = np.bincount(rb.ravel(), L.ravel()) / np.maximum(np.bincount(rb.ravel()), 1)
    resid = L - radmean[rb]
    m = (r > 0.25) & (r < 1.0)
    rr = resid[m]
    return np.concatenate(
        [
            prof,
            [
                np.max(hi) - med,
                np.percentile(hi, 99) - med,
                np.percentile(rr, 99.5),
                rr.max(),
                np.std(rr),
            ],
        ]
    )


def colour(crop: np.ndarray) -> np.ndarray:
    """Chroma and saturation moments, white point, glare and colour diversity."""
    c = inner(crop)
    f = c.astype(np.float64)
    ycc = cv2.cvtColor(c, cv2.COLOR_BGR2YCrCb).astype(np.float64)
    hsv = cv2.cvtColor(c, cv2.COLOR_BGR2HSV).astype(np.float64)
    Y, Cr, Cb = ycc[..., 0], ycc[..., 1] - 128, ycc[..., 2] - 128
    S, V = hsv[..., 1], hsv[..., 2]
    b, g, r = f[..., 0].mean() + 1, f[..., 1].mean() + 1, f[..., 2].mean() + 1
    glare = np.mean((V > 235) & (S < 50))
    q = (c // 32).reshape(-1, 3)
    div = len(np.unique(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2])) / 512

    def mom(x: np.ndarray) -> list[float]:
        s = x.std() + 1e-6
        return [x.mean(), s, np.mean(((x - x.mean()) / s) ** 3)]

    return np.array(
        [
            *mom(Cr),
            *mom(Cb),
            *mom(S / 255),
            np.percentile(Y, 5) / 255,
            np.percentile(Y, 50) / 255,
            np.percentile(Y, 99) / 255,
            glare,
            div,
            np.log(r / g),
            np.log(b / g),
        ]
    )


def sharp(crop: np.ndarray) -> np.ndarray:
    """Log Laplacian, blur-residual, gradient and contrast energy, intensity-normalised."""
    g = cv2.cvtColor(inner(crop), cv2.COLOR_BGR2GRAY).astype(np.float64)
    m = g.mean() + 1
    lap = cv2.Laplacian(g, cv2.CV_64F)
    b = cv2.GaussianBlur(g, (0, 0), 1.5)
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1)
    return np.array(
        [
            np.log(lap.var() / m**2 + 1e-9),
            np.log(np.mean(np.abs(g - b)) / m + 1e-9),
            np.log(np.hypot(gx, gy).mean() / m + 1e-9),
            np.log(g.std() / m + 1e-9),
        ]
    )


GROUPS = {"lbp": lbp, "freq": freq, "colour": colour, "sharp": sharp}


def native(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``freq`` at the image's own resolution (no resampling that would blur moire)."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    k = int(0.6 * max(w, h))
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    x0, y0 = int(max(cx - k / 2, 0)), int(max(cy - k / 2, 0))
    g = g[y0 : y0 + k, x0 : x0 + k].astype(np.float64)
    n = min(g.shape)
    g = g[:n, :n]
    if n < 16:
        return np.zeros(22)
    w2 = np.outer(np.hanning(n), np.hanning(n))
    g = (g - g.mean()) * w2
    L = np.log(np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2 + 1e-9)
    yy, xx = np.indices(L.shape)
    c = n // 2
    r = np.hypot(yy - c, xx - c) / (n / 2)
    rb = np.clip((r * 32).astype(int), 0, 45)
    cnt = np.maximum(np.bincount(rb.ravel(), minlength=46), 1)
    radmean = np.bincount(rb.ravel(), L.ravel(), minlength=46) / cnt
    resid = L - radmean[rb]
    prof = np.array(
        [L[(r >= a) & (r < b)].mean() for a, b in itertools.pairwise(np.linspace(0.05, 1, 17))]
    )
    prof = prof - prof[0]
    m = (r > 0.2) & (r < 1.0)
    rr = resid[m]
    m2 = (r > 0.5) & (r < 1.0)
    r2 = resid[m2]
    return np.concatenate(
        [
            prof,
            [
                np.percentile(rr, 99.5),
                rr.max(),
                rr.std(),
                np.percentile(r2, 99.5),
                r2.max(),
                np.log(n),
            ],
        ]
    )


def crops_and_native(rows: list[dict[str, str]], base: Path, cache: Path) -> dict:
    path = cache / "crops.npz"
    if path.is_file():
        return dict(np.load(path))
    crops, keep, nat = [], [], []
    with Session.open() as session:
        for i, row in enumerate(rows):
            image = read_image(base / row["path"]).image
            faces = session.pipeline.detector.detect(image)
            if not len(faces):
                continue
            box = faces.boxes[0][:4]
            crops.append(face_crop(image, box, 1.4, 128))
            nat.append(native(image, box))
            keep.append(i)
    out = {"crops": np.array(crops), "keep": np.array(keep), "native": np.array(nat)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=Path, default=Path("out/pad-sources/labels.csv"))
    parser.add_argument("--cache", type=Path, default=Path("out/pad-cues"))
    args = parser.parse_args()
    rows = list(csv.DictReader(args.labels.open()))
    data = crops_and_native(rows, args.labels.parent, args.cache)
    feats = {name: np.array([fn(c) for c in data["crops"]]) for name, fn in GROUPS.items()}
    feats["native"] = data["native"]
    src = np.array([rows[i]["source"] for i in data["keep"]])
    live = np.array([rows[i]["label"] == "live" for i in data["keep"]])
    combos = (["lbp"], ["freq"], ["colour"], ["sharp"], ["native"],
              ["freq", "colour", "sharp"], ["native", "colour", "sharp"],
              ["lbp", "freq", "colour", "sharp"], ["native", "lbp"])  # fmt: skip
    for combo in combos:
        x = np.hstack([feats[g] for g in combo]).astype(np.float32)
        held = np.zeros(len(x))
        for s in np.unique(src):
            test = src == s
            mean, scale, w, b = fit_logistic(x[~test], live[~test], 0.01)
            z = ((x[test] - mean) / scale) @ w + b
            held[test] = 1 / (1 + np.exp(-np.clip(z, -60, 60)))
        print("+".join(combo))
        for t in (0.3, 0.5, 0.7):
            cells = []
            for s in np.unique(src):
                mine = src == s
                if (mine & live).any():
                    cells.append(f"{s}:B{np.mean(held[mine & live] < t):.0%}")
                if (mine & ~live).any():
                    cells.append(f"A{np.mean(held[mine & ~live] >= t):.0%}")
            print(f"  at {t}: " + " ".join(cells))


if __name__ == "__main__":
    main()
