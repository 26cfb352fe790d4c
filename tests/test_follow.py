"""Detection in video mode (``vision.follow``): the face followed from frame to frame
is the face a whole-frame search finds, and what following could miss is searched for."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegate.errors import Reason
from facegate.vision.follow import FaceFollower, FollowOptions, overlap
from facegate.vision.pipeline import FacePipeline
from facegate.vision.sources import Frame, SourceKind

ROWS, COLS = 480, 640


def placed(face: np.ndarray, x: int, y: int, side: int = 300) -> np.ndarray:
    """``face`` resized to ``side`` pixels at (x, y) on a grey 640x480 frame."""
    canvas = np.full((ROWS, COLS, 3), 90, np.uint8)
    canvas[y : y + side, x : x + side] = cv2.resize(face, (side, side))
    return canvas


def video(image: np.ndarray, index: int) -> Frame:
    return Frame(image, "clip", index, index / 30, SourceKind.VIDEO)


def test_a_face_moving_a_little_is_followed_to_where_a_full_search_finds_it(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    follower = FaceFollower(pipeline.detector, FollowOptions(full_every=100))
    for index, x in enumerate(range(100, 160, 6)):
        image = placed(astronaut_bgr, x, 90)
        followed = follower.detect(video(image, index))
        searched = pipeline.detector.detect(image)
        assert len(followed) == 1 and len(searched) == 1
        assert overlap(followed.boxes[0], searched.boxes[0]) > 0.85
        eyes = np.abs(followed.landmarks[0, :2] - searched.landmarks[0, :2])
        assert eyes.max() < 0.05 * searched.boxes[0, 2], (
            "the eyes must land where a search puts them"
        )


def test_the_followed_face_embeds_like_the_searched_one(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    follower = pipeline.follower()
    for index, x in enumerate((120, 126, 132)):
        frame = video(placed(astronaut_bgr, x, 90), index)
        followed = pipeline.observe(frame, follower=follower)
        searched = pipeline.observe(frame)
        assert followed.embedding is not None and searched.embedding is not None
        assert float(followed.embedding @ searched.embedding) > 0.9


def test_a_face_that_jumps_out_of_the_window_is_found_by_a_full_search(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    follower = FaceFollower(pipeline.detector, FollowOptions(full_every=100))
    follower.detect(video(placed(astronaut_bgr, 0, 0, 200), 0))
    moved = placed(astronaut_bgr, 430, 270, 200)
    found = follower.detect(video(moved, 1))
    assert len(found) == 1
    assert overlap(found.boxes[0], pipeline.detector.detect(moved).boxes[0]) > 0.85


def test_a_second_face_walking_in_is_seen_within_full_every_frames(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    follower = FaceFollower(pipeline.detector, FollowOptions(full_every=3))
    alone = placed(astronaut_bgr, 20, 90)
    assert pipeline.observe(video(alone, 0), follower=follower).usable
    crowded = alone.copy()
    crowded[90:390, 330:630] = alone[90:390, 20:320]
    reasons = [
        pipeline.observe(video(crowded, index), follower=follower).reason for index in range(1, 4)
    ]
    assert Reason.SEVERAL_FACES in reasons


def test_stills_are_always_searched_whole(
    pipeline: FacePipeline, astronaut_bgr: np.ndarray
) -> None:
    follower = pipeline.follower()
    alone = placed(astronaut_bgr, 20, 90)
    assert pipeline.observe(Frame(alone, "a.png"), follower=follower).usable
    crowded = alone.copy()
    crowded[90:390, 330:630] = alone[90:390, 20:320]
    obs = pipeline.observe(Frame(crowded, "b.png"), follower=follower)
    assert obs.reason is Reason.SEVERAL_FACES


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
        ((0, 0, 10, 10), (20, 20, 10, 10), 0.0),
    ],
)
def test_overlap_is_intersection_over_union(
    a: tuple[int, ...], b: tuple[int, ...], expected: float
) -> None:
    assert overlap(np.array(a, np.float32), np.array(b, np.float32)) == pytest.approx(expected)
