"""Blocking look-ups on the local disk for downloads: run on worker threads.

What is already at each local path, whether an existing file is up to date,
whether a downloaded file matches the catalogue, and removing what a
third-party transfer made when verification fails. Paths are plain ``str``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from typing import NamedTuple

from .._errors import FileNotAccessibleError, IntegrityError, UnsafePathError
from .._paths import RemotePath
from ..transfer._plan import normpath
from ._checksum import checksum_of_file
from ._uptodate import Found, LocalState

__all__ = [
    "Expected",
    "check_file",
    "check_target",
    "inspect_paths",
    "make_target",
    "is_up_to_date",
    "lexical_target",
    "missing_folders",
    "remove_entries",
    "remove_empty_folders",
]

#: Up to this many wanted names in one folder, ``lstat`` each; above, list it.
_STAT_EACH_LIMIT = 16


def _inside(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root + "/")


def lexical_target(target: str) -> str:
    """``target`` with its ``.`` and ``..`` segments (and doubled slashes)
    resolved on paper, the way the transfers resolve every local path.

    The checks of the local side and the transfer must look at the same
    entries: ``t/sub/..`` is the folder ``t`` for both, even where ``t/sub``
    is a symlink (through which the kernel would reach another folder's
    parent). No I/O; a relative target stays relative.
    """
    return normpath(target)


def check_target(target: str, local: Sequence[str]) -> None:
    """Refuse a target folder, or an existing folder in it, that is a symlink
    leading out of the target: a planted link must not redirect a download.

    Raises:
        UnsafePathError: naming the folder and where it leads.
        NotADirectoryError: ``target`` exists and is not a folder.
    """
    absolute = os.path.abspath(target)
    if os.path.islink(absolute):
        raise UnsafePathError(
            f"the target folder {target!r} is a symlink to"
            f" {os.path.realpath(absolute)!r}; pass follow_target_symlinks=True"
            " to download through it"
        )
    if os.path.lexists(absolute) and not os.path.isdir(absolute):
        raise NotADirectoryError(
            f"the target {target!r} exists and is not a folder; nothing was downloaded"
        )
    root = os.path.realpath(absolute)
    seen: set[str] = {absolute}
    for parent in {path.rpartition("/")[0] for path in local}:
        folder = os.path.abspath(parent)
        while folder not in seen and _inside(folder, absolute):
            seen.add(folder)
            if os.path.islink(folder) and not _inside(os.path.realpath(folder), root):
                raise UnsafePathError(
                    f"{folder!r} inside the target folder is a symlink to"
                    f" {os.path.realpath(folder)!r}, outside the target; pass"
                    " follow_target_symlinks=True to download through it"
                )
            folder = os.path.dirname(folder)


def make_target(target: str) -> None:
    """Create the (empty) target folder of a download that selected nothing."""
    try:
        os.makedirs(target, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            f"the target {target!r} exists and is not a folder"
        ) from None


def _found(i: int, path: str, mode: int, size: int) -> Found:
    if stat.S_ISLNK(mode):
        try:
            link = os.readlink(path)
        except OSError:  # replaced meanwhile: the transfer will see it
            link = ""
        return Found(i, LocalState.SYMLINK, link=link)
    if stat.S_ISREG(mode):
        return Found(i, LocalState.FILE, size=size)
    if stat.S_ISDIR(mode):
        return Found(i, LocalState.FOLDER)
    return Found(i, LocalState.OTHER)


def inspect_paths(paths: Sequence[str], start: int, stop: int) -> list[Found]:
    """What is at each of ``paths[start:stop]`` that is not missing.

    Paths are grouped by folder; a folder with many wanted names is listed
    once instead of ``lstat``-ing each (one round trip on network storage
    instead of thousands), and a missing folder answers for all its files.
    Only entries that exist cost a call more (their size or link text).
    """
    groups: dict[str, list[int]] = {}
    for i in range(start, stop):
        folder = paths[i].rpartition("/")[0]
        bucket = groups.get(folder)
        if bucket is None:
            groups[folder] = [i]
        else:
            bucket.append(i)
    found: list[Found] = []
    for folder, indices in groups.items():
        if len(indices) <= _STAT_EACH_LIMIT:
            for i in indices:
                try:
                    st = os.lstat(paths[i])
                except (FileNotFoundError, NotADirectoryError):
                    continue
                found.append(_found(i, paths[i], st.st_mode, st.st_size))
            continue
        try:
            with os.scandir(folder or ".") as listing:
                entries = {entry.name: entry for entry in listing}
        except (FileNotFoundError, NotADirectoryError):
            continue
        for i in indices:
            entry = entries.get(paths[i].rpartition("/")[2])
            if entry is None:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone since the listing
                continue
            found.append(_found(i, paths[i], st.st_mode, st.st_size))
    return found


def missing_folders(folders: Sequence[str]) -> list[str]:
    """Folders among ``folders`` and their ancestors that do not exist, parents
    first (so a third-party transfer's leftovers can be removed afterwards)."""
    missing: dict[str, None] = {}
    for folder in folders:
        chain: list[str] = []
        probe = folder
        while probe not in missing and not os.path.lexists(probe):
            chain.append(probe)
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        for path in reversed(chain):
            missing[path] = None
    return list(missing)


class Expected(NamedTuple):
    """What the catalogue says about a file, and how much of it to check.

    Attributes:
        remote: The remote path, for messages.
        size: Size in bytes.
        checksum: Expected hex digest, or ``None`` to check the size only.
        algorithm: :mod:`hashlib` name for ``checksum``.
    """

    remote: str
    size: int
    checksum: str | None = None
    algorithm: str | None = None


def is_up_to_date(path: str, expected: Expected) -> bool:
    """Whether the existing file at ``path`` has the expected size and checksum.

    Unreadable, dangling or non-regular entries are not up to date. Without
    a known checksum nothing is up to date (the size alone proves little).
    """
    if expected.checksum is None or expected.algorithm is None:
        return False
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != expected.size:
            return False
        actual = checksum_of_file(path, expected.algorithm)
    except OSError:
        return False
    return actual == expected.checksum.lower()


def check_file(path: str, expected: Expected) -> str | None:
    """Compare a downloaded file with the catalogue; a description of the
    mismatch, or ``None`` when it matches.

    Raises:
        FileNotAccessibleError: ``path`` is a link to a remote file that is
            gone (removed after it was checked): not a file that differs.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and os.path.islink(path):
            raise FileNotAccessibleError(
                f"remote file {expected.remote!r} is gone (it was removed after"
                f" it was checked, and the link to it at {path!r} leads nowhere)",
                remote_path=RemotePath(expected.remote),
            ) from None
        return f"{expected.remote!r} at {path!r} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{expected.remote!r} at {path!r} is not a regular file"
    if info.st_size != expected.size:
        return (
            f"{expected.remote!r} at {path!r} has {info.st_size} bytes, the"
            f" catalogue says {expected.size}"
        )
    if expected.checksum is None or expected.algorithm is None:
        return None
    try:
        actual = checksum_of_file(path, expected.algorithm)
    except OSError as exc:
        return f"{expected.remote!r} at {path!r} cannot be read: {exc.strerror}"
    if actual != expected.checksum.lower():
        return (
            f"{expected.remote!r} at {path!r} has {expected.algorithm} checksum"
            f" {actual}, the catalogue says {expected.checksum}"
        )
    return None


def verify_file(path: str, expected: Expected) -> None:
    """Raise :class:`~alink.IntegrityError` if the file does not match."""
    problem = check_file(path, expected)
    if problem is not None:
        raise IntegrityError(f"downloaded file does not match the catalogue: {problem}")


def remove_entries(paths: Sequence[str]) -> None:
    """Remove files or symlinks (never folders) at ``paths``; ignore missing ones."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            if not os.path.isdir(path) or os.path.islink(path):
                os.unlink(path)


def remove_empty_folders(folders: Sequence[str]) -> None:
    """Remove ``folders`` (given parents first) that are empty, deepest first."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
