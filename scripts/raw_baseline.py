"""The raw-model baseline for ``facegate eval unlock``: plain YuNet + SFace calls.

Same protocol as ``facegate eval unlock ROOT --enroll K`` (first K images of each
identity enrolled, the rest probed; impostors are every image of other people), but
with none of FaceGate's handling: OpenCV's own ``alignCrop``, one SFace pass, no
quality gates, no relocation of badly lit faces. A grey border is added only when the
plain pass finds nothing, so tight crops are not all lost. Prints one JSON line.

    python scripts/raw_baseline.py out/relit --enroll 3
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from facegate.config import load_settings
from facegate.eval.dataset import list_dataset
from facegate.eval.metrics import summarise
from facegate.models import resolve
from facegate.vision.sources import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--enroll", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    detector = cv2.FaceDetectorYN.create(str(resolve("yunet", settings).path), "", (320, 320))
    recogniser = cv2.FaceRecognizerSF.create(str(resolve("sface", settings).path), "")

    def embed(image: np.ndarray) -> np.ndarray | None:
        for pad in (0, 0.35):
            py, px = int(image.shape[0] * pad), int(image.shape[1] * pad)
            img = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127,) * 3)
            detector.setInputSize((img.shape[1], img.shape[0]))
            _, faces = detector.detect(img)
            if faces is not None and len(faces):
                face = faces[np.argmax(faces[:, 2] * faces[:, 3])]
                vec = recogniser.feature(recogniser.alignCrop(img, face)).reshape(-1)
                return vec / np.linalg.norm(vec)
        return None

    seen: dict[str, int] = {}
    templates: dict[str, list[np.ndarray]] = {}
    probes: list[tuple[str, np.ndarray | None, bool]] = []
    for sample in list_dataset(__import__("pathlib").Path(args.root)):
        n = seen.get(sample.identity, 0)
        seen[sample.identity] = n + 1
        vec = embed(read_image(sample.path).image)
        if n < args.enroll:
            if vec is not None:
                templates.setdefault(sample.identity, []).append(vec)
            probes.append((sample.identity, vec, False))
        else:
            probes.append((sample.identity, vec, True))
    genuine, impostor = [], []
    for identity, vec, is_probe in probes:
        if vec is None:
            continue
        for owner, entries in templates.items():
            score = float(max(vec @ e for e in entries))
            if owner == identity and is_probe:
                genuine.append(score)
            elif owner != identity:
                impostor.append(score)
    attempts = sum(1 for _, _, p in probes if p)
    failed = sum(1 for _, v, p in probes if p and v is None)
    summary = summarise(
        genuine, impostor, n_attempts=attempts, n_failed_acquisitions=failed, seconds_per_image=0.0
    )
    print(
        json.dumps(
            {
                "n_genuine": summary.n_genuine,
                "n_impostor": summary.n_impostor,
                "fta": summary.fta,
                "eer": summary.eer,
                "fnmr_at_fmr": summary.fnmr_at_fmr,
            }
        )
    )


if __name__ == "__main__":
    main()
