"""The privacy evaluation's session simulation never lets an image be its own baseline."""

from __future__ import annotations

import numpy as np

from facegate.eval.privacy import VARIANTS, Stills, _leave_one_out_medians, sent
from facegate.sharing.neutral import recentre


def test_an_images_baseline_is_the_median_of_the_persons_other_images() -> None:
    values = np.array([[0.0], [1.0], [5.0], [10.0], [3.0]])
    identities = ["a", "a", "a", "b", "b"]
    medians = _leave_one_out_medians(values, identities)
    assert medians[:, 0].tolist() == [3.0, 2.5, 0.5, 3.0, 10.0]


def test_the_raw_variant_is_what_is_sent_today_and_the_others_recentre() -> None:
    rng = np.random.default_rng(0)
    shapes = rng.uniform(0, 1, (6, 52))
    poses = rng.normal(0, 5, (6, 6))
    stills = Stills(["a", "a", "a", "b", "b", "b"], [f"{i}" for i in range(6)], shapes, poses, 6, 0)
    rest = np.full(52, 0.2)
    raw, recentred = VARIANTS[0], VARIANTS[1]
    assert sent(stills, raw, rest)[0] is shapes
    got, got_poses = sent(stills, recentred, rest)
    baseline = _leave_one_out_medians(shapes, stills.identities)
    assert np.allclose(got, recentre(shapes, baseline, rest))
    assert np.allclose(got_poses, poses - _leave_one_out_medians(poses, stills.identities))
