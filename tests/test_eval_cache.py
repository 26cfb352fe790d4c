"""The embedding cache of long evaluations: it must give what a fresh run gives, under
any quality gates, and embed nothing when it is current."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from facegate.eval.dataset import embed_cached, embed_samples, list_dataset
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import ENROL_QUALITY, QualityOptions

pytestmark = pytest.mark.dataset


@pytest.fixture(scope="module")
def small_set(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set")
    for person in ("s1", "s2"):
        (root / person).mkdir()
        for i in (1, 2, 3):
            shutil.copy(data_dir / "orl_att_faces" / person / f"{i}.pgm", root / person)
    cat = cv2.cvtColor(skimage_data.chelsea(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "s1" / "4_cat.png"), cat)
    return root


@pytest.mark.parametrize(
    "gates", [None, ENROL_QUALITY, QualityOptions(min_eye_distance=35.0)], ids=str
)
def test_cached_results_equal_a_fresh_run_under_any_gates(
    small_set: Path, pipeline: FacePipeline, tmp_path: Path, gates: QualityOptions | None
) -> None:
    samples = list_dataset(small_set)
    fresh = embed_samples(samples, pipeline, gates)
    cached = embed_cached(samples, pipeline, tmp_path / "c.npz", gates)
    assert cached.reasons == fresh.reasons
    assert cached.captures == fresh.captures
    assert np.array_equal(cached.usable, fresh.usable)
    assert np.allclose(cached.embeddings, fresh.embeddings, atol=1e-6)


def test_a_current_cache_embeds_nothing(
    small_set: Path, pipeline: FacePipeline, tmp_path: Path
) -> None:
    samples = list_dataset(small_set)
    first = embed_cached(samples, pipeline, tmp_path / "c.npz")
    calls = []
    again = embed_cached(samples, pipeline, tmp_path / "c.npz", progress=lambda: calls.append(1))
    assert calls == []
    assert np.array_equal(again.embeddings, first.embeddings)
    # A different file list is not served from the stale cache.
    embed_cached(samples[:-1], pipeline, tmp_path / "c.npz", progress=lambda: calls.append(1))
    assert len(calls) == len(samples) - 1
