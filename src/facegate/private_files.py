"""Private files and folders: the one way FaceGate writes a secret to disk.

The vault key and the platform's signing key are both written here, so they share
every guard: the folder is created 0700, the file is written whole under a fresh
temporary name (``O_EXCL | O_NOFOLLOW``, mode 0600, so a planted link or file is never
written through), synced, then hard-linked into place. The link fails when another
process got there first, so two processes never end up with different keys and a
reader never sees half a key. The folder is synced too, so the name survives a crash.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from facegate.errors import InputError


def make_private_dir(path: Path) -> None:
    """Create a missing directory 0700 so the vault and its keys are never group-visible.

    An existing directory is left alone: tightening, say, a shared parent is not ours to do.
    """
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new 0600 file at ``path``; False when ``path`` already exists.

    On False the existing file is left as it is: the caller reads the one that won.
    """
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


@contextmanager
def private_output(path: Path, inputs: Sequence[str] = ()) -> Iterator[TextIO]:
    """A text file at ``path`` that only its owner can read, in place only once the
    block ends without an error.

    Why: a command's output (raw tracking records can identify a person) goes to a
    fresh 0600 file under a temporary name, so an existing file at ``path`` does not
    lend it its looser mode and an interrupted run leaves the earlier file whole. An
    output that names one of ``inputs`` (the command's sources) is refused before
    anything is opened: writing it would destroy the input being read.
    """
    if path.exists():
        for source in inputs:
            if os.path.exists(source) and os.path.samefile(source, path):
                raise InputError(f"{path} is also an input ({source}); write to another file")
    if path.is_dir():
        raise InputError(f"{path} is a folder; name a file to write")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
