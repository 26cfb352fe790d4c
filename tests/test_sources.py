"""Reading images and videos: every format becomes an (H, W, 3) uint8 Frame; bad input
is refused with an InputError that names the file."""

from __future__ import annotations

import io
import itertools
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facegate.errors import FaceGateError, ImageSizeError, InputError, UnreadableSource
from facegate.vision.sources import MAX_PIXELS, Frame, iter_frames, iter_video, read_image

fixture_ok = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60
)


@pytest.fixture
def face_rgb(astronaut_bgr: np.ndarray) -> np.ndarray:
    """The astronaut's upper body as RGB, small enough to keep every format fast."""
    return np.ascontiguousarray(cv2.resize(astronaut_bgr, (160, 160))[:, :, ::-1])


def _assert_frame(frame: Frame, path: Path, shape: tuple[int, int]) -> None:
    assert isinstance(frame, Frame)
    assert frame.image.shape == (*shape, 3)
    assert frame.image.dtype == np.uint8
    assert frame.source == str(path)


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".jpg", "RGB"),
        (".png", "RGB"),
        (".pgm", "L"),
        (".gif", "P"),
        (".tif", "RGB"),
        (".bmp", "RGB"),
        (".png", "RGBA"),
        (".png", "LA"),
    ],
)
def test_every_format_becomes_bgr_uint8(
    tmp_path: Path, face_rgb: np.ndarray, suffix: str, mode: str
) -> None:
    pil = Image.fromarray(face_rgb)
    pil = pil.convert(mode) if mode != "P" else pil.quantize(64)
    path = tmp_path / f"face-{mode}{suffix}"
    pil.save(path)
    frame = read_image(path)
    _assert_frame(frame, path, (160, 160))
    # The picture survives (not a blank or channel-swapped array): compare with the source.
    expected = cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR).astype(np.int16)
    if mode in ("L", "LA"):
        expected = cv2.cvtColor(
            cv2.cvtColor(face_rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2BGR
        ).astype(np.int16)
    assert np.abs(frame.image.astype(np.int16) - expected).mean() < 12


def test_rgb_channels_are_swapped_to_bgr(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 40), (200, 10, 30)).save(path)
    assert read_image(path).image[0, 0].tolist() == [30, 10, 200]


def test_rgba_drops_alpha_keeping_colour(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 40), (200, 10, 30, 128)).save(path)
    frame = read_image(path)
    _assert_frame(frame, path, (40, 40))
    assert frame.image[5, 5].tolist() == [30, 10, 200]


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_16_bit_grey_is_scaled_to_8_bit(tmp_path: Path, suffix: str) -> None:
    grey = np.full((48, 64), 0x8000, np.uint16)
    grey[:24] = 0xFFFF
    path = tmp_path / f"grey16{suffix}"
    Image.fromarray(grey).save(path)
    frame = read_image(path)
    _assert_frame(frame, path, (48, 64))
    assert frame.image[0, 0].tolist() == [255, 255, 255]
    assert frame.image[-1, -1].tolist() == [128, 128, 128]


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    first = Image.new("L", (40, 40), 250)
    second = Image.new("L", (40, 40), 5)
    first.save(path, save_all=True, append_images=[second], duration=100)
    assert read_image(path).image.mean() > 200


def test_corrupt_jpeg_is_unreadable_and_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(UnreadableSource, match=str(path)):
        read_image(path)


def test_text_file_named_png_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 20)
    with pytest.raises(UnreadableSource, match=str(path)):
        read_image(path)


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png")])
def test_truncated_image_is_unreadable(
    tmp_path: Path, face_rgb: np.ndarray, fmt: str, suffix: str
) -> None:
    buf = io.BytesIO()
    Image.fromarray(face_rgb).save(buf, fmt)
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UnreadableSource, match=str(path)):
        read_image(path)


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "face.jpg"
    with pytest.raises(UnreadableSource, match=str(path)):
        read_image(path)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSource, match=str(tmp_path)):
        read_image(tmp_path)


@pytest.mark.parametrize("size", [(1, 1), (20, 20), (500, 20)])
def test_tiny_images_are_refused_by_size(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size, (90, 90, 90)).save(path)
    with pytest.raises(ImageSizeError, match=r"too small"):
        read_image(path)


def test_frame_refuses_tiny_arrays() -> None:
    with pytest.raises(ImageSizeError):
        Frame(np.zeros((20, 20, 3), np.uint8), "array")


def test_frame_refuses_wrong_layout() -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        Frame(np.zeros((64, 64), np.uint8), "grey array")
    with pytest.raises(ValueError, match="uint8"):
        Frame(np.zeros((64, 64, 3), np.float32), "float array")


def test_absurd_size_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 6000), 0).save(path)  # 48 MP of zeros compresses to ~50 kB
    assert MAX_PIXELS < 8000 * 6000
    assert path.stat().st_size < 1_000_000
    loads: list[str] = []
    original = Image.Image.load

    def counting_load(self: Image.Image) -> object:
        loads.append(self.format or "?")
        return original(self)

    monkeypatch.setattr(Image.Image, "load", counting_load)
    with pytest.raises(ImageSizeError, match="megapixel"):
        read_image(path)
    assert loads == [], "pixels were decoded before the size was checked"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but whose IDAT holds a few bytes only."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(8000, 6000), (60000, 60000)])
def test_header_claiming_absurd_size_is_a_size_error_not_a_decode_error(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    # There are no pixels to decode: an ImageSizeError (rather than UnreadableSource)
    # shows the header alone decided.
    path = tmp_path / "header-only.png"
    path.write_bytes(_png_header_only(*size))
    with pytest.raises(ImageSizeError, match=str(path)):
        read_image(path)


def test_header_only_png_at_a_normal_size_is_unreadable(tmp_path: Path) -> None:
    # The control for the test above: the same file at 64x64 fails at decoding.
    path = tmp_path / "header-only-small.png"
    path.write_bytes(_png_header_only(64, 64))
    with pytest.raises(UnreadableSource, match=str(path)):
        read_image(path)


@given(payload=st.binary(max_size=2048))
@fixture_ok
def test_arbitrary_bytes_only_raise_facegate_errors(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "fuzz.png"
    path.write_bytes(payload)
    try:
        frame = read_image(path)
    except FaceGateError as err:
        assert isinstance(err, UnreadableSource | ImageSizeError)
    else:
        assert frame.image.ndim == 3 and frame.image.dtype == np.uint8


@pytest.fixture(scope="module")
def valid_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), (120, 60, 30)).save(buf, "PNG")
    return buf.getvalue()


@given(
    cut=st.integers(min_value=0, max_value=10_000),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
)
@fixture_ok
def test_damaged_png_only_raises_facegate_errors(
    tmp_path: Path, valid_png: bytes, cut: int, edits: list[tuple[int, int]]
) -> None:
    blob = bytearray(valid_png)
    for pos, value in edits:
        blob[pos % len(blob)] = value
    blob = blob[: max(cut % (len(blob) + 1), 1)]
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(blob))
    try:
        frame = read_image(path)
    except FaceGateError as err:
        assert isinstance(err, InputError)
        assert str(path) in str(err)
    else:
        assert frame.image.shape[2] == 3 and frame.image.dtype == np.uint8


# --- video -----------------------------------------------------------------------------

N_VIDEO_FRAMES = 6


@pytest.fixture(scope="module")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    face = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (256, 256))
    path = tmp_path_factory.mktemp("video") / "astronaut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 256))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI here"
    for i in range(N_VIDEO_FRAMES):
        writer.write(np.roll(face, 3 * i, axis=1))
    writer.release()
    return path


def test_video_yields_frames_with_increasing_time(video_path: Path) -> None:
    frames = list(iter_frames(video_path))
    assert len(frames) == N_VIDEO_FRAMES
    assert [f.index for f in frames] == list(range(N_VIDEO_FRAMES))
    times = [f.t for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx((N_VIDEO_FRAMES - 1) / 10.0, abs=0.02)
    for frame in frames:
        _assert_frame(frame, video_path, (256, 256))


def test_video_step_and_max_frames(video_path: Path) -> None:
    frames = list(iter_frames(video_path, step=2, max_frames=2))
    assert [f.index for f in frames] == [0, 2]
    assert frames[1].t == pytest.approx(0.2, abs=0.02)


def test_truncated_video_is_unreadable(tmp_path: Path, video_path: Path) -> None:
    path = tmp_path / "truncated.avi"
    path.write_bytes(video_path.read_bytes()[:200])
    with pytest.raises(UnreadableSource, match=str(path)):
        list(iter_frames(path))


def test_text_with_video_suffix_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    path.write_text("not a video at all\n" * 50)
    with pytest.raises(UnreadableSource, match=str(path)):
        list(iter_frames(path))


def test_missing_video_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "gone.mp4"
    with pytest.raises(UnreadableSource, match=str(path)):
        list(iter_frames(path))


@pytest.mark.parametrize("src", ["camera:-1", -1])
def test_negative_camera_index_is_refused_without_opening(src: str | int) -> None:
    # OpenCV 4.14 segfaults on VideoCapture(-1) when no camera exists; a crash here
    # would take the whole test session down rather than fail this test.
    with pytest.raises(UnreadableSource, match="camera"):
        if isinstance(src, int):
            list(iter_video(src))
        else:
            list(iter_frames(src))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cameras are /dev/video*")
def test_missing_camera_is_one_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    index = next(i for i in range(63, 0, -1) if not Path(f"/dev/video{i}").exists())
    with pytest.raises(UnreadableSource, match=f"camera:{index}: no camera device"):
        list(iter_video(index))
    assert capfd.readouterr().err == ""  # OpenCV was not asked, so printed nothing


def test_frame_count_knows_stills_videos_and_cameras(tmp_path: Path) -> None:
    from facegate.bench.track import write_sample_clip
    from facegate.vision.sources import frame_count

    clip = write_sample_clip(tmp_path / "clip.avi", n_frames=12)
    assert frame_count(clip) == 12
    assert frame_count(tmp_path / "face.png") == 1
    assert frame_count("camera:0") is None and frame_count("0") is None
