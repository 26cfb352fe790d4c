"""Refusing to make root run code that an ordinary user can change.

``facegate system install`` points every PAM login at ``python -I client.py`` and the
systemd unit at ``facegate daemon``; both run as root and PAM trusts the client's exit
code. If any file on that path, or any directory above one, belongs to (or is writable
by) someone other than root, that someone can edit the code and log in as anyone, or
run their own code as root at the next ``sudo``. So before anything is written,
every such path is walked the way the kernel walks it (each directory from ``/`` on,
each symbolic link followed to its target) and every object met must be owned by root
and writable by nobody else.

One exception: a root-owned directory with the sticky bit (``/tmp``) may be writable by
others, because in it only an entry's owner may rename or remove that entry, so the
root-owned entries below cannot be swapped. A *missing* entry in such a directory is
unsafe, though: anyone could create it (a ``sys.path`` entry that does not exist yet);
so is a symbolic link there that someone else owns, which they may replace at will.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import ConfigError

MAX_LINKS = 40  # as the kernel's ELOOP limit
SHOWN = 5  # unsafe paths named in the error; the rest are counted
UNREADABLE = "unreadable to this user, so unchecked (run as root)"


@dataclass(frozen=True)
class Unsafe:
    """One object on a root-run path that someone other than root can change."""

    path: Path
    problem: str  # "owned by uid 1001 (mallory)", "writable by group 1001", ...
    checking: Path  # the root-run path whose walk met it


@dataclass(frozen=True)
class RootRun:
    """What root runs after ``install``: single files (the interpreter, the PAM client,
    the ``facegate`` script) and whole trees it imports from (the standard library,
    site-packages, the facegate package, every other ``sys.path`` entry)."""

    files: tuple[Path, ...]
    trees: tuple[Path, ...]


class UnsafeInstall(ConfigError):
    """A root-run path can be changed by someone other than root."""


def _owner(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def _problem(info: os.stat_result, *, sticky_ok: bool = True) -> str | None:
    """Why an object is unsafe, or None. See the module docstring for the sticky bit."""
    if info.st_uid != 0:
        return f"owned by {_owner(info.st_uid)}"
    if sticky_ok and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return None
    if info.st_mode & stat.S_IWOTH:
        return "writable by everyone"
    if info.st_mode & stat.S_IWGRP:
        return f"writable by group {info.st_gid}"
    return None


class _Walk:
    """Every object the kernel meets resolving some paths, and what is wrong with it."""

    def __init__(self) -> None:
        self.found: dict[Path, Unsafe] = {}
        self._seen: set[Path] = set()

    def _judge(self, path: Path, info: os.stat_result, checking: Path) -> None:
        if path in self._seen:
            return
        self._seen.add(path)
        problem = _problem(info)
        if problem is not None:
            self.found.setdefault(path, Unsafe(path, problem, checking))

    def resolve(self, path: Path, checking: Path, links: int = 0) -> Path | None:
        """Walk ``path`` (absolute) from ``/``, judging every directory and the final
        object, following links; the real path, or None where a component is missing
        (judged by whether its directory lets anyone but root create it)."""
        current = Path("/")
        self._judge(current, os.lstat(current), checking)
        for part in path.parts[1:]:
            if part == "..":
                current = current.parent
                continue
            candidate = current / part
            try:
                info = os.lstat(candidate)
            except PermissionError:
                self.found.setdefault(candidate, Unsafe(candidate, UNREADABLE, checking))
                return None
            except FileNotFoundError:
                problem = _problem(os.stat(current), sticky_ok=False)
                if problem is not None:
                    missing = f"missing, and its directory is {problem}"
                    self.found.setdefault(candidate, Unsafe(candidate, missing, checking))
                return None
            if not stat.S_ISLNK(info.st_mode):
                self._judge(candidate, info, checking)
                current = candidate
                continue
            if info.st_uid != 0 and os.stat(current).st_mode & stat.S_ISVTX:
                # In a sticky directory (/tmp) the link's owner may remove it and make
                # another, pointing anywhere, between any check and root's next use.
                problem = f"a symbolic link owned by {_owner(info.st_uid)} in a sticky directory"
                self.found.setdefault(candidate, Unsafe(candidate, problem, checking))
            if links >= MAX_LINKS:
                raise UnsafeInstall(f"too many symbolic links resolving {checking}")
            resolved = self.resolve(current / os.readlink(candidate), checking, links + 1)
            if resolved is None:
                return None
            current = resolved
        return current

    def _unreadable(self, error: OSError) -> None:
        path = Path(error.filename)
        self.found.setdefault(path, Unsafe(path, UNREADABLE, path))

    def trees(self, tops: Iterable[Path]) -> None:
        """Judge each top, its parents and everything below it; a link inside a tree
        is followed, and a directory it leads to is walked too."""
        queue = [real for top in tops if (real := self.resolve(top, top)) is not None]
        walked: list[Path] = []
        while queue:
            top = queue.pop()
            if not top.is_dir() or any(top.is_relative_to(done) for done in walked):
                continue
            walked.append(top)
            for folder, dirs, files in os.walk(top, onerror=self._unreadable):
                for name in (*dirs, *files):
                    path = Path(folder) / name
                    try:
                        info = os.lstat(path)
                    except FileNotFoundError:  # gone meanwhile (a temporary .pyc, say)
                        continue
                    except PermissionError as error:
                        self._unreadable(error)
                        continue
                    if not stat.S_ISLNK(info.st_mode):
                        self._judge(path, info, top)
                    elif (real := self.resolve(path, path)) is not None:
                        queue.append(real)


def _script_interpreter(script: Path) -> Path | None:
    """The ``#!`` interpreter of a script (pip writes the venv's python there)."""
    try:
        with script.open("rb") as fh:
            first = fh.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!") or not first[2:].split():
        return None
    return Path(os.fsdecode(first[2:].split()[0]))


def current_root_run(client: Path, facegate_script: Path, package: Path) -> RootRun:
    """What root will run after installing from this interpreter: ``sys.executable``
    (the PAM line and the script's ``#!``), ``client``, the ``facegate`` script the unit
    starts, libpython, and as trees the standard library, site-packages, ``package``
    and every ``sys.path`` entry (``.pth`` files in site-packages add their own)."""
    files = [Path(sys.executable), client, facegate_script]
    interpreter = _script_interpreter(facegate_script)
    if interpreter is not None:
        files.append(interpreter)
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if libdir and library and (Path(libdir) / library).exists():
        files.append(Path(libdir) / library)
    schemes = sysconfig.get_paths()
    trees = [Path(schemes[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    trees += [Path(entry) for entry in sys.path if entry]
    trees.append(package)
    return RootRun(tuple(files), tuple(trees))


def unsafe_paths(run: RootRun) -> list[Unsafe]:
    """Everything in ``run`` someone other than root could change; empty when safe."""
    walk = _Walk()
    for path in run.files:
        if walk.resolve(path.absolute(), path) is None and path not in walk.found:
            walk.found[path] = Unsafe(path, "missing", path)
    # Outermost first, so a tree inside another is seen as walked already.
    walk.trees(sorted((p.absolute() for p in run.trees), key=lambda p: -len(p.parts)))
    return list(walk.found.values())


def path_problem(path: Path, *, ignore: Path | None = None) -> str | None:
    """What lets someone other than root change ``path`` (absolute), a link or directory
    on the way to it, or create it where it is missing; None when only root can. A
    plainly missing object, and ``ignore`` (a device node left to its own permissions),
    are not judged."""
    try:
        found = unsafe_paths(RootRun(files=(path,), trees=()))
    except UnsafeInstall as err:  # a link loop
        return str(err)
    found = [u for u in found if u.problem != "missing" and u.path != ignore]
    return "; ".join(f"{u.path} is {u.problem}" for u in found[:SHOWN]) or None


def refuse_unsafe(run: RootRun) -> None:
    """Raise ``UnsafeInstall`` naming what is unsafe and how to fix it."""
    found = unsafe_paths(run)
    if not found:
        return
    named = "; ".join(
        f"{u.path} is {u.problem}" + ("" if u.checking == u.path else f" (reaching {u.checking})")
        for u in found[:SHOWN]
    )
    more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise UnsafeInstall(
        f"refusing to install: PAM and the service would run code as root from paths "
        f"that are not safe: {named}{more}. Every file they run, and every directory "
        f"above it, must exist, be owned by root and not be writable by group or others, "
        f"or whoever can change it gets root and can log in as anyone. Install FaceGate "
        f"into a root-owned location (e.g. `sudo python3 -m venv /opt/facegate && sudo "
        f"/opt/facegate/bin/pip install /path/to/facegate`) and run `sudo "
        f"/opt/facegate/bin/facegate system install` from there, or fix the owner and "
        f"mode of the paths named"
    )
