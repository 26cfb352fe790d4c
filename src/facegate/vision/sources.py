"""Images, video files and cameras, all turned into ``Frame`` values.

Everything downstream sees one shape: an (H, W, 3) uint8 BGR array, whatever the
file held (grey PGM, palette GIF, 16-bit TIFF, RGBA PNG). Input is checked here, at
the edge, so later stages can trust it.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from facegate.errors import ImageSizeError, UnreadableSource

MIN_SIDE = 32  # pixels: below this no face can be detected
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
# Only the formats a face photo comes in are decoded: every other Pillow plugin (DDS,
# PSD, ...) is attack surface that no user needs, and some raise odd exceptions.
IMAGE_FORMATS = ("JPEG", "PNG", "PPM", "GIF", "TIFF", "BMP", "WEBP")


class SourceKind(StrEnum):
    """How a source delivers frames: a still cannot answer a liveness challenge."""

    STILL = "still"
    VIDEO = "video"
    CAMERA = "camera"

    @property
    def moving(self) -> bool:
        return self is not SourceKind.STILL


@dataclass(frozen=True)
class Frame:
    """One picture: ``image`` is (H, W, 3) uint8 BGR; ``t`` is seconds from the source start;
    ``kind`` is how the source delivered it."""

    image: np.ndarray = field(repr=False)
    source: str
    index: int = 0
    t: float = 0.0
    kind: SourceKind = SourceKind.STILL

    def __post_init__(self) -> None:
        img = self.image
        if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3):
            got = getattr(img, "shape", type(img).__name__)
            raise ValueError(f"Frame.image must be (H, W, 3), got {got}")
        if img.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {img.dtype}")
        check_size(img.shape[1], img.shape[0], self.source)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]


def check_size(width: int, height: int, source: str) -> None:
    """Refuse frames too small to hold a face or too large to decode safely."""
    if min(width, height) < MIN_SIDE:
        raise ImageSizeError(
            f"{source}: {width}x{height} px is too small; at least {MIN_SIDE}x{MIN_SIDE} is needed"
        )
    if width * height > MAX_PIXELS:
        raise ImageSizeError(
            f"{source}: {width}x{height} px exceeds the {MAX_PIXELS // 1_000_000} megapixel limit"
        )


def to_bgr(array: np.ndarray) -> np.ndarray:
    """Normalise any decoded image array (grey, RGBA, 16-bit, float) to uint8 BGR."""
    img = np.asarray(array)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    raise UnreadableSource(f"unsupported image layout {img.shape}")


def _check_file(path: Path) -> None:
    """Refuse what is not a regular file with a message that says what it is instead."""
    name = str(path)
    if name in ("", "."):
        raise UnreadableSource("an empty source name: name an image, a video or a camera index")
    if not path.exists():
        raise UnreadableSource(f"{name}: no such file")
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file (a device or a pipe?)"
        raise UnreadableSource(f"{name}: {what}; name an image or a video file")


def read_image(path: str | Path) -> Frame:
    """Decode one image file (JPEG, PNG, PGM, GIF, TIFF, BMP; grey or colour).

    The header is read first, so an absurd size is refused before any pixels are
    decoded. The first frame of an animated GIF is used.
    """
    path = Path(path)
    name = str(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images on open; check_size refuses them next,
            # in FaceGate's words, so its warning would only add noise above the error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pil = Image.open(path, formats=IMAGE_FORMATS)
        with pil:
            check_size(pil.width, pil.height, name)
            pil.seek(0)
            pil.load()
            if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(pil, dtype=np.uint32)
                rgb = (arr >> 8).clip(0, 255).astype(np.uint8)
            elif pil.mode in ("L", "RGB", "RGBA"):
                rgb = np.asarray(pil)
            else:
                rgb = np.asarray(pil.convert("RGB"))
    except ImageSizeError:
        raise
    except Image.DecompressionBombError as err:
        limit = MAX_PIXELS // 1_000_000
        raise ImageSizeError(f"{name}: exceeds the {limit} megapixel limit ({err})") from err
    except UnidentifiedImageError as err:
        formats = ", ".join(IMAGE_FORMATS)
        raise UnreadableSource(f"{name}: not an image in a supported format ({formats})") from err
    except MemoryError as err:
        raise ImageSizeError(f"{name}: too large to decode") from err
    except Exception as err:  # a hostile file can make any decoder raise anything
        raise UnreadableSource(
            f"{name}: not a readable image ({type(err).__name__}: {err})"
        ) from err
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGR)
    else:
        bgr = to_bgr(rgb)
    return Frame(image=bgr, source=name)


def camera_exists(index: int) -> bool:
    """False when this Linux machine has no ``/dev/video<index>``.

    Asked for a camera that is not there, OpenCV tries every capture backend in turn
    and prints each one's failure to stderr; looking for the device node first gives
    one clear message instead. Elsewhere the answer is left to OpenCV (True).
    """
    if index < 0:
        return False
    if sys.platform.startswith("linux"):
        return Path(f"/dev/video{index}").exists()
    return True


def iter_video(
    src: str | Path | int, *, max_frames: int | None = None, step: int = 1
) -> Iterator[Frame]:
    """Frames of a video file or a camera (an int index), every ``step``-th one.

    A file that opens but yields no frame is refused as unreadable (a truncated or
    empty video); one that breaks off midway simply ends early.
    """
    is_camera = isinstance(src, int)
    name = f"camera:{src}" if is_camera else str(src)
    if isinstance(src, int) and src < 0:
        # OpenCV 4.14 segfaults on a negative index when no camera is present.
        raise UnreadableSource(f"{name}: a camera index must be 0 or more")
    if isinstance(src, int) and not camera_exists(src):
        raise UnreadableSource(f"{name}: no camera device /dev/video{src} on this machine")
    if not is_camera:
        _check_file(Path(name))
    cap = cv2.VideoCapture(src) if isinstance(src, int) else cv2.VideoCapture(name)
    try:
        if not cap.isOpened():
            raise UnreadableSource(f"{name}: cannot be opened as a video or camera")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        start = time.monotonic()
        index = emitted = 0
        while max_frames is None or emitted < max_frames:
            ok, img = cap.read()
            if not ok or img is None:
                break
            if index % step == 0:
                if is_camera:
                    t = time.monotonic() - start
                else:
                    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
                    t = msec / 1000.0 if msec > 0 else (index / fps if fps > 0 else float(index))
                kind = SourceKind.CAMERA if is_camera else SourceKind.VIDEO
                yield Frame(image=to_bgr(img), source=name, index=index, t=t, kind=kind)
                emitted += 1
            index += 1
        if index == 0:
            raise UnreadableSource(f"{name}: no frame could be decoded (empty or truncated video)")
    finally:
        cap.release()


def is_video(src: str | Path) -> bool:
    return Path(src).suffix.lower() in VIDEO_SUFFIXES


def camera_index(source: str | Path) -> int | None:
    """The camera a command-line source names (``0`` or ``camera:0``), else None."""
    text = str(source).removeprefix("camera:")
    return int(text) if text.isdigit() else None


def source_kind(source: str | Path) -> SourceKind:
    """How a command-line source is read: ``0`` / ``camera:0``, a video suffix, or a still.

    The one place that decides it: unlock's liveness policy, tracking and the sharing
    service's feed all ask here.
    """
    if camera_index(source) is not None:
        return SourceKind.CAMERA
    return SourceKind.VIDEO if is_video(source) else SourceKind.STILL


def frame_count(source: str | Path) -> int | None:
    """How many frames a source will give, for a progress bar: 1 for a still, the
    container's count for a video, None for a camera (endless) or a video that does
    not say. The count is the container's claim; decoding may give fewer."""
    kind = source_kind(source)
    if kind is SourceKind.STILL:
        return 1
    if kind is SourceKind.CAMERA:
        return None
    cap = cv2.VideoCapture(str(source))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return count if count > 0 else None


@dataclass(frozen=True)
class SourceSet:
    """Sources checked before an attempt reads any frame, all of one kind.

    Checking up front means a bad source is an error even when an earlier one would
    have been enough (``verify alice ok.jpg missing.jpg`` must not quietly match), and
    mixing a still with a camera cannot make an attempt look like a still (weaker
    liveness) or a video. Stills are decoded here, so a corrupt one fails first.
    """

    names: tuple[str, ...]
    kind: SourceKind
    stills: tuple[Frame, ...] = field(default=(), repr=False)

    def frames(self, *, max_frames: int | None = None) -> Iterator[Frame]:
        """The frames in order; ``max_frames`` caps each video or camera."""
        if self.kind is SourceKind.STILL:
            yield from self.stills
            return
        for name in self.names:
            yield from iter_frames(name, max_frames=max_frames)


def open_sources(sources: Iterable[str | Path]) -> SourceSet:
    """Check every source (and decode the stills) before any frame is used."""
    names = tuple(str(s) for s in sources)
    if "" in names:
        raise UnreadableSource("an empty source name: name an image, a video or a camera index")
    if not names:
        raise UnreadableSource("no source given: name images, a video or a camera index")
    kinds = {source_kind(n) for n in names}
    if len(kinds) > 1:
        raise UnreadableSource(
            "one attempt takes one kind of source; got "
            + ", ".join(sorted(k.value for k in kinds))
            + ": pass only images, only a video, or only a camera"
        )
    kind = kinds.pop()
    if kind is SourceKind.STILL:
        return SourceSet(names, kind, tuple(read_image(n) for n in names))
    for name in names:
        index = camera_index(name)
        if index is not None:
            if not camera_exists(index):
                raise UnreadableSource(f"camera:{index}: no camera device /dev/video{index}")
        else:
            _check_file(Path(name))
    return SourceSet(names, kind)


def iter_sources(
    sources: Iterable[str | Path], *, max_frames: int | None = None
) -> Iterator[Frame]:
    """The frames of several command-line sources in turn (see ``iter_frames``)."""
    for src in sources:
        yield from iter_frames(src, max_frames=max_frames)


def iter_frames(
    src: str | Path, *, max_frames: int | None = None, step: int = 1
) -> Iterator[Frame]:
    """Frames from one source named on a command line.

    ``"0"`` or ``"camera:0"`` opens a camera; a video suffix opens a video; anything
    else is read as a single image.
    """
    text = str(src)
    index = camera_index(text)
    if index is not None:
        yield from iter_video(index, max_frames=max_frames, step=step)
    elif is_video(text):
        yield from iter_video(text, max_frames=max_frames, step=step)
    else:
        yield read_image(text)
