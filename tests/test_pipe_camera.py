"""A named pipe as the login camera: a YUV4MPEG2 stream read as a live camera, refused
when anyone but root could write it, and never allowed to hold an attempt past its
deadline (no writer, a stalled writer, a hostile header)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.errors import ImageSizeError, UnreadableSource
from facegate.system.camera import camera_frames, camera_kind, camera_problem
from facegate.system.pipe_camera import _header, pipe_frames
from facegate.system.responder import y4m_header
from facegate.vision.sources import SourceKind

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="only a root-owned pipe is accepted")


def _frame_420(value: int) -> bytes:
    image = np.full((48, 64, 3), value, np.uint8)
    return b"FRAME\n" + cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes()


class Writer:
    """Opens the pipe for writing (waiting for the reader) and writes ``chunks``, then
    holds the pipe open for ``hold`` seconds before closing it."""

    def __init__(self, path: Path, chunks: list[bytes], hold: float = 0.0) -> None:
        self.path, self.chunks, self.hold = path, chunks, hold
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for chunk in self.chunks:
                os.write(fd, chunk)
            time.sleep(self.hold)
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "camera.y4m"
    os.mkfifo(path, 0o600)
    yield path
    with contextlib.suppress(OSError):  # release a writer still waiting for a reader
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """A directory like /tmp: anyone may add entries, only an entry's owner remove it."""
    folder = tmp_path / "sticky"
    folder.mkdir()
    folder.chmod(0o1777)
    return folder


@needs_root
def test_a_pipe_is_read_as_a_live_camera(pipe: Path) -> None:
    Writer(pipe, [y4m_header(64, 48, 30.0), *(_frame_420(v) for v in (40, 120, 200))])
    frames = list(camera_frames(str(pipe), deadline=time.monotonic() + 10))
    assert camera_kind(str(pipe)) is SourceKind.CAMERA
    assert [f.kind for f in frames] == [SourceKind.CAMERA] * 3
    assert [f.image.shape for f in frames] == [(48, 64, 3)] * 3
    assert [int(np.median(f.image)) for f in frames] == pytest.approx([40, 120, 200], abs=2)
    assert [f.t for f in frames] == sorted(f.t for f in frames)


@needs_root
def test_a_grey_stream_from_an_infrared_pipeline_is_read(pipe: Path) -> None:
    header = b"YUV4MPEG2 W64 H48 F30:1 Ip A1:1 Cmono\n"
    Writer(pipe, [header, b"FRAME\n" + bytes([77]) * (64 * 48)])
    (frame,) = camera_frames(str(pipe), deadline=time.monotonic() + 10)
    assert frame.image.shape == (48, 64, 3) and int(frame.image.max()) == 77


@needs_root
def test_a_link_to_the_pipe_is_followed(pipe: Path, tmp_path: Path) -> None:
    link = tmp_path / "camera"
    link.symlink_to(pipe)
    Writer(pipe, [y4m_header(64, 48, 30.0), _frame_420(90)])
    assert len(list(camera_frames(str(link), deadline=time.monotonic() + 10))) == 1


@needs_root
def test_with_no_writer_the_attempt_ends_at_its_deadline_as_no_camera(pipe: Path) -> None:
    started = time.monotonic()
    with pytest.raises(UnreadableSource, match="no stream arrived"):
        list(camera_frames(str(pipe), deadline=started + 0.3))
    assert time.monotonic() - started < 5, "it must not wait for a writer forever"


@needs_root
def test_a_writer_stalling_mid_frame_ends_the_attempt_at_its_deadline(pipe: Path) -> None:
    half = _frame_420(50)[: len(_frame_420(50)) // 2]
    Writer(pipe, [y4m_header(64, 48, 30.0), _frame_420(30), half], hold=30)
    started = time.monotonic()
    frames = list(camera_frames(str(pipe), deadline=started + 0.5))
    assert len(frames) == 1, "the whole frame is used, the half one is not"
    assert time.monotonic() - started < 5


@needs_root
@pytest.mark.parametrize(
    "after_header",
    [b"", b"GARBAGE\n", b"FRAME\n" + b"\x00" * 100],
    ids=["nothing", "not a frame line", "half a frame"],
)
def test_a_stream_that_ends_before_its_first_frame_is_no_camera(
    pipe: Path, after_header: bytes
) -> None:
    """Outside attack: a garbage frame line made the attempt an error; it is a camera
    that delivered nothing."""
    Writer(pipe, [y4m_header(64, 48, 30.0), after_header])
    with pytest.raises(UnreadableSource, match="ended before its first frame"):
        list(camera_frames(str(pipe), deadline=time.monotonic() + 10))


@needs_root
@pytest.mark.parametrize(
    ("header", "error", "says"),
    [
        (b"P6 64 48 255\n", UnreadableSource, "not a YUV4MPEG2 stream"),
        (b"YUV4MPEG2 F30:1\n", UnreadableSource, "no width and height"),
        (b"YUV4MPEG2 W100000 H100000 C420jpeg\n", ImageSizeError, "megapixel"),
        (b"YUV4MPEG2 W16 H16 C420jpeg\n", ImageSizeError, "too small"),
        (b"YUV4MPEG2 W64 H48 C444\n", UnreadableSource, "C444 is not supported"),
        (b"YUV4MPEG2 W65 H48 C420jpeg\n", UnreadableSource, "even width"),
        (b"YUV4MPEG2" + b"x" * 5000, UnreadableSource, "longer than"),
    ],
)
def test_a_hostile_header_is_a_clear_error(
    pipe: Path, header: bytes, error: type[Exception], says: str
) -> None:
    Writer(pipe, [header])
    with pytest.raises(error, match=says):
        list(camera_frames(str(pipe), deadline=time.monotonic() + 10))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_header_line_is_parsed_or_refused_with_a_source_error(line: bytes) -> None:
    try:
        width, height, colour = _header(line.replace(b"\n", b" "), "pipe")
    except (UnreadableSource, ImageSizeError):
        return
    assert (
        width >= 32
        and height >= 32
        and colour in {"420", "420jpeg", "420paldv", "420mpeg2", "mono"}
    )


def test_a_pipe_others_can_write_is_refused(pipe: Path) -> None:
    os.chmod(pipe, 0o666)
    with pytest.raises(UnreadableSource, match="refusing this pipe"):
        list(pipe_frames(pipe, deadline=time.monotonic() + 10))


def test_a_pipe_in_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    path = shared / "camera.y4m"
    os.mkfifo(path, 0o600)
    with pytest.raises(UnreadableSource, match="writable by everyone"):
        list(pipe_frames(path, deadline=time.monotonic() + 10))


def test_a_regular_file_is_not_taken_for_a_pipe(tmp_path: Path) -> None:
    path = tmp_path / "camera.y4m"
    path.write_bytes(y4m_header(64, 48, 30.0))
    with pytest.raises(UnreadableSource, match="not a named pipe"):
        list(pipe_frames(path, deadline=time.monotonic() + 10))


def test_doctor_flags_a_pipe_camera_others_could_read_or_write(pipe: Path) -> None:
    assert (camera_problem(str(pipe)) is None) is AS_ROOT
    os.chmod(pipe, 0o622)
    assert "mode is 0622" in (camera_problem(str(pipe)) or "")


def test_a_pipe_others_can_read_is_refused(pipe: Path) -> None:
    """Outside attack on the pipe camera: a root-owned 0644 pipe let an ordinary user
    read frames of every login's face out of it (and corrupt the service's stream)."""
    os.chmod(pipe, 0o644)
    with pytest.raises(UnreadableSource, match="sees every login's face"):
        list(pipe_frames(pipe, deadline=time.monotonic() + 10))


@needs_root
def test_a_link_someone_else_owns_in_a_sticky_directory_is_refused(
    pipe: Path, sticky: Path
) -> None:
    """Outside attack: the camera named a link in /tmp that an ordinary user owned; they
    re-pointed it between the check and the open (2 face logins in 8 tries)."""
    link = sticky / "camera.y4m"
    link.symlink_to(pipe)
    os.lchown(link, 65534, 65534)
    with pytest.raises(UnreadableSource, match="symbolic link owned by uid 65534"):
        list(camera_frames(str(link), deadline=time.monotonic() + 10))
    os.lchown(link, 0, 0)
    Writer(pipe, [y4m_header(64, 48, 30.0), _frame_420(90)])
    assert len(list(camera_frames(str(link), deadline=time.monotonic() + 10))) == 1


@needs_root
def test_a_pipe_swapped_after_the_check_is_refused_when_opened(
    pipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The opened pipe is checked again: here a swap is simulated by a check that
    passes while the pipe is someone else's."""
    import facegate.system.pipe_camera as pipe_camera

    monkeypatch.setattr(pipe_camera, "refuse_unsafe_pipe", lambda path: None)
    os.chown(pipe, 65534, 65534)
    with pytest.raises(UnreadableSource, match="must belong to root"):
        list(pipe_frames(pipe, deadline=time.monotonic() + 10))


@needs_root
def test_a_missing_camera_name_in_a_sticky_directory_is_refused(
    sticky: Path, data_dir: Path
) -> None:
    """Outside attack: the configured name in /tmp was absent, so an ordinary user made
    it a link to a looping recording of the owner: read as a file camera, unchecked, it
    logged in 5 of 14 times. A name anyone can create, and a link someone else owns
    there, are refused; doctor says so."""
    name = sticky / "camera.y4m"
    assert "missing, and its directory" in (camera_problem(str(name)) or "")
    clip = data_dir / "blink_webcam_videos" / "mahie_test_1.avi"
    name.symlink_to(clip)
    os.lchown(name, 65534, 65534)
    with pytest.raises(UnreadableSource, match="refusing this camera"):
        next(camera_frames(str(name), deadline=time.monotonic() + 10))
    assert "symbolic link owned by uid 65534" in (camera_problem(str(name)) or "")


@needs_root
def test_a_file_camera_others_could_change_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    photo = shared / "face.png"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(UnreadableSource, match="writable by everyone"):
        next(camera_frames(str(photo), deadline=time.monotonic() + 10))
    shared.chmod(0o755)
    assert next(camera_frames(str(photo), deadline=time.monotonic() + 10)).image.shape[0] == 64
    assert (
        camera_problem(str(tmp_path / "absent.avi"))
        == f"{tmp_path / 'absent.avi'}: no such file or pipe"
    )


def test_the_refusal_says_to_recreate_the_pipe_not_to_chmod_it(pipe: Path) -> None:
    """Re-attack N1: a writer that opened a 0666 pipe stayed connected after `chmod
    0600` and logged in as the owner 4 of 4 times; the refusal used to say to fix the
    mode."""
    os.chmod(pipe, 0o666)
    with pytest.raises(UnreadableSource, match=r"Remove it and create it again as root"):
        list(pipe_frames(pipe, deadline=time.monotonic() + 10))


def test_a_link_loop_is_no_camera_not_a_crash(tmp_path: Path) -> None:
    """Re-attack N2: a link pointing at itself crashed the attempt and doctor."""
    loop = tmp_path / "camera.avi"
    loop.symlink_to(loop)
    assert camera_kind(str(loop)) is SourceKind.STILL
    with pytest.raises(UnreadableSource):
        next(camera_frames(str(loop), deadline=time.monotonic() + 10))
    assert camera_problem(str(loop)) is not None


@needs_root
def test_a_device_reached_through_someone_elses_link_in_a_sticky_directory_is_refused(
    sticky: Path,
) -> None:
    """Re-attack N3: names resolving to /dev/videoN were never checked, so an ordinary
    user's link in /tmp could pick the login camera (a loopback device they feed)."""
    link = sticky / "camera"
    link.symlink_to("/dev/video0")
    os.lchown(link, 65534, 65534)
    with pytest.raises(UnreadableSource, match="symbolic link owned by uid 65534"):
        next(camera_frames(str(link), deadline=time.monotonic() + 10))


def test_doctor_flags_what_the_service_would_refuse_under_dev_or_as_a_file(
    tmp_path: Path,
) -> None:
    """Re-attack N4 and N6: doctor accepted a pipe under /dev that the service always
    refuses, and said nothing when the configured pipe had become a regular file that a
    pipeline (ffmpeg) was writing the camera into."""
    assert "not a /dev/videoN camera" in (camera_problem("/dev/shm/camera.y4m") or "")
    regular = tmp_path / "camera.y4m"
    regular.write_bytes(y4m_header(64, 48, 30.0))
    if AS_ROOT:
        assert "a regular file, not a named pipe" in (camera_problem(str(regular)) or "")
