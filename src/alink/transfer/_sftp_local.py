"""The local side of SFTP downloads: synchronous, for worker threads only.

A downloaded file is written to a hidden temporary name next to its target,
created with ``O_EXCL | O_NOFOLLOW`` (never an existing entry, never through
a symlink) and named like the copy transfer's temporary files, so a later
transfer sweeps what a killed process left (see ``_copy_ops``). Its times
and permission bits (less the umask, as ``cp`` and ``sftp -p`` do) follow
the remote file. Only once every file of a call is complete are they renamed
into place (:class:`PlaceOperation`, run by the engine), so a final name
never shows a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from ._copy_ops import temp_path
from ._staging import rename_noreplace

__all__ = [
    "LocalFindings",
    "PlaceOperation",
    "RemoteAttrs",
    "TempFiles",
    "inspect_targets",
    "is_chosen",
    "process_umask",
    "remove_temps",
]

_O_NEW = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def process_umask() -> int:
    """This process's umask, read without changing it where the kernel says.

    Setting and resetting it (the only portable way) would briefly change it
    for every thread of the process.
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(slots=True)
class RemoteAttrs:
    """What the remote check found out about each file of a plan (by index)."""

    sizes: list[int]
    mtimes: list[int]
    atimes: list[int]
    modes: list[int]

    @classmethod
    def sized(cls, count: int) -> RemoteAttrs:
        return cls([0] * count, [0] * count, [0] * count, [0o644] * count)


class TempFiles:
    """The journal of a download's temporary files (used on worker threads).

    ``paths[i]`` is the temporary file of plan index ``i``, recorded the
    moment it is created; ``ids`` maps it to its (device, inode), which is
    how a placed file is recognised as ours. Open files are known by index
    only, and every operation on them holds one lock: a write that comes
    after its file was closed (its download failed meanwhile) is skipped,
    and can never reach another file that was given the same descriptor.
    """

    __slots__ = ("_fds", "ids", "lock", "paths")

    def __init__(self) -> None:
        self.paths: dict[int, str] = {}
        self.ids: dict[str, tuple[int, int]] = {}
        self._fds: dict[int, int] = {}
        self.lock = threading.Lock()

    def _new(self, index: int, target: str) -> int:
        folder, _, name = target.rpartition("/")
        for _ in range(100):
            temp = temp_path(folder or "/", name)
            try:
                fd = os.open(temp, _O_NEW, 0o600)
            except FileExistsError:
                continue
            self.paths[index] = temp
            return fd
        raise OSError(errno.EAGAIN, "could not create a temporary file", folder)

    def open(self, index: int, target: str) -> None:
        """Create the temporary file of ``index`` next to ``target``; keep it open."""
        with self.lock:
            self._fds[index] = self._new(index, target)

    def write(self, index: int, data: bytes, offset: int) -> None:
        """Write ``data`` at ``offset`` into the open file of ``index``."""
        with self.lock:
            fd = self._fds.get(index)
            if fd is None:
                raise OSError(errno.EBADF, "the temporary file was closed")
            write_all(fd, data, offset)

    def write_whole(
        self, index: int, target: str, data: bytes, times: tuple[int, int], mode: int
    ) -> str:
        """A complete temporary file with ``data``, times and mode; its path."""
        with self.lock:
            fd = self._new(index, target)
            try:
                write_all(fd, data, 0)
            except BaseException:
                os.close(fd)
                raise
            return self._finish(index, fd, times, mode)

    def finish(self, index: int, times: tuple[int, int], mode: int) -> str:
        """Give the open file of ``index`` its times and mode, close it; its path."""
        with self.lock:
            return self._finish(index, self._fds.pop(index), times, mode)

    def _finish(self, index: int, fd: int, times: tuple[int, int], mode: int) -> str:
        temp = self.paths[index]
        try:
            os.utime(fd, times)
            os.fchmod(fd, mode)
            st = os.fstat(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        os.close(fd)
        self.ids[temp] = (st.st_dev, st.st_ino)
        return temp

    def close(self, index: int) -> None:
        """Close the file of ``index`` if it is open (its download failed)."""
        with self.lock:
            fd = self._fds.pop(index, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def close_all(self, indices: Iterable[int] | None = None) -> None:
        """Close every file still open (the download is over), or those of
        ``indices`` (one private loop's part of it is over)."""
        with self.lock:
            if indices is None:
                fds, self._fds = self._fds, {}
            else:
                fds = {i: fd for i in indices if (fd := self._fds.pop(i, None))}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``pwrite`` may write less)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def remove_temps(paths: Iterable[str]) -> list[OSError]:
    """Remove temporary files (gone already is fine); the errors."""
    errors: list[OSError] = []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(exc)
    return errors


@dataclass(slots=True)
class LocalFindings:
    """What is already at a download's local paths (plan indices)."""

    #: Regular files with the remote file's size and modification time
    #: (whether or not their index is in ``replace``).
    done: list[int] = field(default_factory=list)
    #: Existing entries that differ and are replaced (their index was in
    #: ``replace``).
    replacing: list[int] = field(default_factory=list)
    #: Existing entries that differ and may not be replaced.
    conflicts: list[int] = field(default_factory=list)
    #: Folders where files should go (never replaced).
    folders: list[int] = field(default_factory=list)


def inspect_targets(
    targets: Sequence[str],
    start: int,
    stop: int,
    attrs: RemoteAttrs,
    replace: bool | Collection[int],
    into: LocalFindings,
) -> None:
    """Sort ``targets[start:stop]`` that exist into ``into``.

    An existing regular file counts as done when its size and modification
    time (whole seconds: SFTP's resolution) equal the remote file's — what
    an earlier download of the same file left — also when the caller asked
    to replace it: as with the local transfers, ``replace`` replaces what
    differs, and downloading such a file again would make the same file.
    (``download`` still verifies it, and replaces it after all where the
    caller's ``verify`` finds it differs.)
    """
    sizes, mtimes = attrs.sizes, attrs.mtimes
    chunk = targets[start:stop]
    for i, target in zip(range(start, stop), chunk, strict=True):
        try:
            st = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISDIR(st.st_mode):
            into.folders.append(i)
        elif (
            stat.S_ISREG(st.st_mode)
            and st.st_size == sizes[i]
            and int(st.st_mtime) == mtimes[i]
        ):
            into.done.append(i)
        elif is_chosen(replace, i):
            into.replacing.append(i)
        else:
            into.conflicts.append(i)


def is_chosen(replace: bool | Collection[int], index: int) -> bool:
    """Whether the caller asked to replace the existing entry of ``index``."""
    return replace is True or (replace is not False and index in replace)


class PlaceOperation:
    """Rename a complete temporary file to its target, never replacing anything.

    For the engine: ``source`` is the temporary file, ``target`` its final
    name. ``renameat2(RENAME_NOREPLACE)`` where the kernel has it (a check
    and a rename elsewhere); wrapped in the engine's replacing operation for
    targets the caller asked to replace (which renames to a second temporary
    name first). A target is ours while it is the inode the temporary file
    had: renaming keeps it.
    """

    __slots__ = ("_ids",)

    def __init__(self, ids: dict[str, tuple[int, int]]) -> None:
        self._ids = ids

    def apply(self, source: str, target: str) -> None:
        rename_noreplace(source, target)

    def matches(self, source: str, target: str) -> bool:
        wanted = self._ids.get(source)
        if wanted is None:
            return False
        try:
            st = os.lstat(target)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == wanted

    def made(self, source: str, target: str) -> bool:
        """The same test as :meth:`matches`: only what was renamed from
        ``source`` has its inode."""
        return self.matches(source, target)

    def undo(self, source: str, target: str) -> None:
        if self.matches(source, target):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
