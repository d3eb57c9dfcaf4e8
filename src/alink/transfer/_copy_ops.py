"""Copy and hard-link operations for the batch engine (worker-thread code).

A copy is first written where no one can see it under its final name, then
given that name with ``link()``, which never replaces an existing entry:

- where the kernel and filesystem support it, into an unnamed ``O_TMPFILE``
  inode in the target folder, linked in through ``/proc/self/fd`` (a crash or
  ``kill -9`` leaves nothing at all behind);
- otherwise into a hidden temporary file ``.<name>.alink-<host>-<pid>-<n>.part``
  created with ``O_EXCL`` (so it never follows a symlink), linked to the final
  name and unlinked. Temporary files left by a killed process on this host are
  removed the next time a named temporary file is written into that folder,
  or a download finds one of its files already there (a re-run: the killed
  process may have named its copy and died before removing the temporary).

Either way a half-written file never appears under its final name, and a
copy never writes through an existing symlink into another file. In a
download's new folders, built under a hidden name (see ``_staging``), files
are written straight under their names (``O_EXCL``, never through a symlink):
the folder is what is renamed into place. The data
is moved by the kernel (``copy_file_range``, falling back to ``sendfile`` and
then to plain reads and writes); times and permission bits (less the umask,
as ``cp`` does) follow the source.

This protects against a killed or crashed process, not against a power cut:
nothing is ``fsync``-ed (neither does ``cp``).

Everything here blocks; the engine calls it on worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import os
import re
import shutil
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Mapping

import anyio.from_thread

from .._errors import UnsafePathError
from ._fs import is_inside

__all__ = [
    "CopyOperation",
    "HardLinkOperation",
    "SourceChangedError",
    "TEMP_NAME",
    "remove_stale_temps",
    "same_content",
    "temp_path",
]

#: Bytes per ``copy_file_range`` call; cancellation is checked between calls.
_CHUNK = 64 << 20
#: Files at least this large check for cancellation before and while copying.
_CANCEL_CHECK_SIZE = 1 << 20
#: Bytes per read when comparing contents.
_COMPARE_CHUNK = 1 << 20
#: Longest file-name stem (in bytes) kept in a temporary name (NAME_MAX is 255).
_STEM_BYTES = 200

#: ``copy_file_range``/``sendfile`` failures that mean "not supported here".
_NO_FAST_COPY = frozenset(
    {
        errno.EXDEV,
        errno.ENOSYS,
        errno.EINVAL,
        errno.EOPNOTSUPP,
        errno.ENOTSUP,
        errno.ETXTBSY,
        errno.EPERM,
        errno.ENOTSOCK,
        errno.EBADF,
    }
)
#: ``open(O_TMPFILE)`` failures that mean "not supported here".
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL})
#: ``link()`` failures for which a hard-linking transfer copies instead.
_NO_HARDLINK = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.EOPNOTSUPP}
)

_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
#: Reading a source: ``O_NONBLOCK`` so that a source swapped for a FIFO after
#: the checks cannot hang a worker (it has no effect on regular files).
_O_READ = os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_O_UNNAMED = _O_TMPFILE | os.O_WRONLY | _O_CLOEXEC
_O_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC
#: A new temporary file: never an existing one, never through a symlink.
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
#: Folders receiving at least this many files are listed once up front.
_SCAN_FROM = 32

_HOST = hashlib.blake2b(
    socket.gethostname().encode("utf-8", "surrogateescape"), digest_size=4
).hexdigest()
_counter = itertools.count()

#: The temporary names this module creates (see the module docstring).
TEMP_NAME = re.compile(
    r"\A\..*\.alink-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[0-9]+\.part\Z",
    re.DOTALL,
)


@functools.cache
def _unnamed_temp_supported() -> bool:
    """Whether ``O_TMPFILE`` files can be linked in via ``/proc/self/fd``."""
    return bool(_O_TMPFILE) and os.path.isdir("/proc/self/fd")


@functools.cache
def _root_fd() -> int:
    """A descriptor of ``/``, kept open: see :func:`_link_following`."""
    return os.open("/", _O_DIRECTORY)


class SourceChangedError(OSError):
    """A source file changed after it was checked: it is no regular file any
    more, it leads elsewhere, or it changed while it was copied.

    ``filename`` is the source's path; what changed is the message.
    """


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _check_confined(
    src: int, st: os.stat_result, source: str, roots: tuple[str, ...]
) -> None:
    """Raise ``UnsafePathError`` unless the open ``src`` lies inside ``roots``.

    The checks before the copy resolved each source into the dataset; this
    catches a file (or a folder on the way) swapped for a symlink leading
    out of it since. The path of what is open is the kernel's
    (``/proc/self/fd``); without it, the path resolved now, if it still
    names the open file.
    """
    if _proc_fds():
        real = os.readlink(f"/proc/self/fd/{src}")
    else:
        real = os.path.realpath(source)
        try:
            now = os.stat(real)
        except OSError:
            now = None
        if now is None or not _same_file(now, st):
            raise SourceChangedError(
                errno.ESTALE, "replaced while it was opened", source
            ) from None
    if not any(is_inside(real, root) for root in roots):
        raise UnsafePathError(
            f"remote file {source!r} now resolves to {real!r}, outside the"
            " dataset's source folder (it was replaced by a symlink after it was"
            " checked); nothing was kept"
        )


def _open_source(
    source: str, roots: tuple[str, ...] | None
) -> tuple[int, os.stat_result]:
    """``source`` opened for reading, and what it is: still a regular file
    and, with ``roots`` (the check's confinement), still inside them.

    A regular file is opened without following a symlink in its place: what
    the check saw as a file and is one still needs no more looking at. A
    symlink (the check let those through that lead inside the dataset, or
    one was put in a file's place since) is followed, and where it led is
    checked (:func:`_check_confined`, a few microseconds a file).

    Raises:
        SourceChangedError: it is no regular file any more.
        UnsafePathError: it leads out of ``roots`` now.
    """
    linked = False
    if roots is None:
        src = os.open(source, _O_READ)
    else:
        try:
            src = os.open(source, _O_READ | _O_NOFOLLOW)
        except OSError as exc:
            if exc.errno not in _SYMLINK_REFUSED:
                raise
            src = os.open(source, _O_READ)
            linked = True
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise SourceChangedError(errno.EISDIR, "no regular file any more", source)
        if linked:
            assert roots is not None
            _check_confined(src, st, source, roots)
    except BaseException:
        _close_after_error(src)
        raise
    return src, st


#: What ``open(O_NOFOLLOW)`` of a symlink fails with (Linux and macOS; BSD).
_SYMLINK_REFUSED = frozenset({errno.ELOOP, errno.EMLINK})


@functools.cache
def _proc_fds() -> bool:
    """Whether ``/proc/self/fd`` names what a descriptor is open on (Linux)."""
    return os.path.isdir("/proc/self/fd")


def _check_unchanged(src: int, st: os.stat_result, copied: int, source: str) -> None:
    """Raise :class:`SourceChangedError` if the source changed while copied.

    Its size, modification and change times must be what they were when it
    was opened, and every byte must have been copied: otherwise the copy
    mixes old and new content (or misses some), under the old time.
    """
    now = os.fstat(src)
    if copied != st.st_size or (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != (
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    ):
        raise SourceChangedError(
            errno.ESTALE,
            f"while it was copied: {st.st_size} bytes when opened,"
            f" {now.st_size} now, {copied} copied",
            source,
        )


def _link_following(source: str, target: str) -> None:
    """``linkat(source, target, AT_SYMLINK_FOLLOW)`` for absolute paths.

    Plain ``link()`` (what ``os.link`` calls without a directory descriptor)
    links a symlink itself on Linux; passing a descriptor makes Python call
    ``linkat`` with ``AT_SYMLINK_FOLLOW``. Both paths are absolute, so the
    descriptor is otherwise ignored.
    """
    os.link(source, target, src_dir_fd=_root_fd(), follow_symlinks=True)


_fd_dir_lock = threading.Lock()
#: This process's ``/proc/self/fd``, opened on first use (see :func:`_link_unnamed`).
_fd_dir: int | None = None


def _forget_fd_dir() -> None:
    """After a fork the inherited descriptor names the parent's table: drop it."""
    global _fd_dir
    if _fd_dir is not None:
        with contextlib.suppress(OSError):
            os.close(_fd_dir)
    _fd_dir = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_fd_dir)


def _link_unnamed(fd: int, target: str) -> None:
    """Give the ``O_TMPFILE`` file behind ``fd`` the name ``target``.

    ``linkat`` with ``AT_SYMLINK_FOLLOW`` through ``/proc/self/fd/<fd>``; the
    folder is kept open, which saves looking up ``/proc/self/fd`` per file.
    Like every ``link``, it never replaces an existing ``target``.
    """
    global _fd_dir
    folder = _fd_dir
    if folder is None:
        with _fd_dir_lock:
            if _fd_dir is None:
                _fd_dir = os.open("/proc/self/fd", _O_DIRECTORY)
            folder = _fd_dir
    os.link(str(fd), target, src_dir_fd=folder, follow_symlinks=True)


def _exists_error(path: str) -> FileExistsError:
    return FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)


def _close_after_error(fd: int) -> None:
    """Close ``fd`` while an error propagates.

    A failing ``close`` still releases the descriptor; its error must not
    replace the one that is being raised.
    """
    with contextlib.suppress(OSError):
        os.close(fd)


def _unlink_after_error(path: str, error: BaseException) -> None:
    """Remove our entry ``path`` while ``error`` propagates.

    If that fails too, the entry stays: say so on ``error`` rather than
    replace it.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        error.add_note(f"alink could not remove {path!r}: {exc}")


def _cancel_point() -> None:
    """Raise the caller's cancellation, if any, when running on an anyio worker."""
    with contextlib.suppress(RuntimeError):  # not on an anyio worker thread
        anyio.from_thread.check_cancelled()


def temp_path(folder: str, name: str) -> str:
    """A new hidden name for ``name`` in ``folder`` that sweeps recognise as ours."""
    raw = os.fsencode(name)
    stem = os.fsdecode(raw[:_STEM_BYTES]) if len(raw) > _STEM_BYTES else name
    base = "" if folder == "/" else folder
    return f"{base}/.{stem}.alink-{_HOST}-{os.getpid()}-{next(_counter)}.part"


def _is_stale_temp(name: str) -> bool:
    """Whether ``name`` is our temporary file from a process on this host that died."""
    match = TEMP_NAME.match(name)
    if match is None or match["host"] != _HOST:
        return False
    pid = int(match["pid"])
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # alive (not ours to signal) or not a valid pid
    return False


def remove_stale_temps(folder: str) -> list[str]:
    """Remove what killed copies on this host left in ``folder``.

    Only regular files and folders (staged downloads, see ``_staging``) named
    like ours, from a process that no longer runs, are removed. Returns the
    removed paths.
    """
    removed: list[str] = []
    try:
        listing = os.scandir(folder)
    except OSError:
        return removed
    with listing:
        for entry in listing:
            name = entry.name
            if ".alink-" not in name or not _is_stale_temp(name):
                continue
            if entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                if not os.path.lexists(entry.path):
                    removed.append(entry.path)
    return removed


def _copy_slow(src: int, dst: int, size: int, copied: int) -> int:
    """Copy with ``sendfile``, or reads and writes where that fails too.

    ``copied`` bytes were already moved; returns the total.
    """
    check = size >= _CANCEL_CHECK_SIZE
    while copied < size:
        try:
            sent = os.sendfile(dst, src, None, min(size - copied, _CHUNK))
        except OSError as exc:
            if copied or exc.errno not in _NO_FAST_COPY:
                raise
            break
        if sent == 0:
            return copied
        copied += sent
        if check:
            _cancel_point()
    else:
        return copied
    while copied < size:
        block = os.read(src, min(size - copied, _COMPARE_CHUNK))
        if not block:
            break
        view = memoryview(block)
        while view:
            view = view[os.write(dst, view) :]
        copied += len(block)
        if check:
            _cancel_point()
    return copied


_copy_file_range: Callable[[int, int, int], int] | None = getattr(
    os, "copy_file_range", None
)


def _copy_data(src: int, dst: int, size: int) -> int:
    """Copy up to ``size`` bytes from the current position of ``src`` to ``dst``.

    Returns the bytes copied: ``size``, or less if the source shrank meanwhile.
    """
    copy_range = _copy_file_range
    if copy_range is None or size == 0:
        return _copy_slow(src, dst, size, 0)
    try:
        copied = copy_range(src, dst, min(size, _CHUNK))
    except OSError as exc:
        if exc.errno not in _NO_FAST_COPY:
            raise
        return _copy_slow(src, dst, size, 0)
    if copied == size:  # every small file
        return copied
    if copied == 0:  # shrank to nothing, or a filesystem that copies nothing
        return _copy_slow(src, dst, size, 0)
    while 0 < copied < size:
        _cancel_point()
        moved = copy_range(src, dst, min(size - copied, _CHUNK))
        if moved == 0:
            break  # the source shrank while we copied
        copied += moved
    return copied


def _read_full(fd: int, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``fd`` (short only at end of file); bytes read."""
    view = memoryview(buffer)
    total = 0
    while total < len(buffer):
        got = os.readv(fd, [view[total:]])
        if got == 0:
            break
        total += got
    return total


def same_content(source: str, target: str) -> bool:
    """Whether ``target`` is a regular file (not a symlink) equal to ``source``.

    Sizes are compared first; contents only when the sizes agree (and not at
    all when both names are the same inode).
    """
    try:
        tst = os.lstat(target)
        sst = os.stat(source)
    except OSError:
        return False
    if not stat.S_ISREG(tst.st_mode) or tst.st_size != sst.st_size:
        return False
    if (tst.st_dev, tst.st_ino) == (sst.st_dev, sst.st_ino):
        return True
    try:
        a = os.open(source, _O_READ)
    except OSError:
        return False
    try:
        try:
            b = os.open(target, _O_READ | _O_NOFOLLOW)
        except OSError:
            return False
        try:
            return _equal_streams(a, b, sst.st_size >= _CANCEL_CHECK_SIZE)
        finally:
            os.close(b)
    finally:
        os.close(a)


def _equal_streams(a: int, b: int, check_cancel: bool) -> bool:
    buf_a = bytearray(_COMPARE_CHUNK)
    buf_b = bytearray(_COMPARE_CHUNK)
    while True:
        got_a = _read_full(a, buf_a)
        got_b = _read_full(b, buf_b)
        if got_a != got_b:
            return False
        if got_a == 0:
            return True
        if got_a == _COMPARE_CHUNK:
            if buf_a != buf_b:
                return False
        elif memoryview(buf_a)[:got_a] != memoryview(buf_b)[:got_b]:
            return False
        if check_cancel:
            _cancel_point()


class CopyOperation:
    """``target`` becomes a copy of ``source``; see the module docstring.

    One instance serves one run (or one upload connection): it remembers
    every file it created (a copy by its size and modification time, which
    it copies from the source to the nanosecond; a hard link by its inode),
    so :meth:`undo` removes a file only while it is still the one this
    operation made.

    Args:
        accept_identical: Whether an existing regular file with the source's
            size and content counts as done (downloads: yes, so a re-run is a
            no-op; uploads: no, nothing that exists is ever claimed).
        unnamed_temp: Use ``O_TMPFILE`` where possible (``False`` forces
            named temporary files, as on filesystems without it).
    """

    __slots__ = (
        "_accept_identical",
        "_created",
        "_existing",
        "_no_tmpfile",
        "_roots",
        "_staged",
        "_swept",
        "_unnamed",
    )

    def __init__(
        self, *, accept_identical: bool = True, unnamed_temp: bool = True
    ) -> None:
        self._accept_identical = accept_identical
        self._unnamed = unnamed_temp and _unnamed_temp_supported()
        self._created: dict[str, int] = {}
        self._existing: dict[str, frozenset[str]] = {}
        self._no_tmpfile: set[str] = set()
        self._swept: set[str] = set()
        self._staged: frozenset[str] = frozenset()
        self._roots: tuple[str, ...] | None = None

    def confine(self, roots: tuple[str, ...] | None) -> None:
        """Refuse sources that no longer resolve inside ``roots`` (real
        folders) when they are copied; ``None``: no such check."""
        self._roots = roots

    @property
    def created(self) -> Mapping[str, int]:
        """Target paths this operation created (and has not undone)."""
        return self._created

    def stage(self, folders: frozenset[str]) -> None:
        """Write files in ``folders`` straight under their names.

        For a download's new folders while they are built under a hidden
        name (see ``_staging``): nobody sees their files before the folder is
        renamed into place, so a per-file temporary name buys nothing there.
        """
        self._staged = folders

    def scan_folders(self, folders: Mapping[str, int]) -> None:
        """List the target folders that receive many files, once, up front.

        ``folders`` maps each folder to how many files it receives.
        :meth:`apply` then knows which targets exist without a ``stat`` each;
        targets in other folders are checked one by one. Listing is only a
        shortcut: a target that appears later is still never overwritten.
        """
        for folder, count in folders.items():
            if count < _SCAN_FROM:
                continue
            try:
                with os.scandir(folder) as listing:
                    self._existing[folder] = frozenset(e.name for e in listing)
            except (FileNotFoundError, NotADirectoryError):
                self._existing[folder] = frozenset()

    def apply(self, source: str, target: str) -> None:
        """Copy ``source`` to the new file ``target``.

        Raises ``FileExistsError`` before copying anything if ``target``
        exists (even as a dangling symlink), or after copying if it appeared
        meanwhile; the temporary copy is gone in either case.
        """
        folder, _, name = target.rpartition("/")
        folder = folder or "/"
        staged = folder in self._staged
        listed = self._existing.get(folder)
        if (
            not staged
            and (listed is None or name in listed)
            and os.path.lexists(target)
        ):
            # Perhaps a re-run after a kill that left a temporary file next
            # to a finished copy: nothing else would remove it.
            self._sweep(folder)
            raise _exists_error(target)
        src, st = _open_source(source, self._roots)
        try:
            size = st.st_size
            if size >= _CANCEL_CHECK_SIZE:
                _cancel_point()
            copied = -1
            if staged:
                copied = _copy_new(src, st, source, target)
            elif self._unnamed and folder not in self._no_tmpfile:
                copied = self._copy_unnamed(src, st, source, folder, target)
            if copied < 0:
                copied = self._copy_named(src, st, source, folder, name, target)
        except BaseException:
            _close_after_error(src)
            raise
        key = _copy_key(copied, st.st_mtime_ns)
        try:
            os.close(src)
        except BaseException as exc:
            # The copy exists, but apply() fails: the engine will not undo
            # this pair, so remove it here (as for a failed close of the copy).
            _remove_after_error(target, key, exc)
            raise
        self._created[target] = key

    def _copy_unnamed(
        self, src: int, st: os.stat_result, source: str, folder: str, target: str
    ) -> int:
        """Copy via ``O_TMPFILE``; bytes copied, or -1 if the filesystem lacks it."""
        try:
            fd = os.open(folder, _O_UNNAMED, st.st_mode & 0o777)
        except OSError as exc:
            if exc.errno in _NO_TMPFILE:
                self._no_tmpfile.add(folder)
                return -1
            raise
        try:
            copied = _copy_data(src, fd, st.st_size)
            _check_unchanged(src, st, copied, source)
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            _link_unnamed(fd, target)
        except BaseException:
            _close_after_error(fd)
            raise
        try:
            os.close(fd)
        except BaseException as exc:
            _remove_after_error(target, _copy_key(copied, st.st_mtime_ns), exc)
            raise
        return copied

    def _copy_named(
        self,
        src: int,
        st: os.stat_result,
        source: str,
        folder: str,
        name: str,
        target: str,
    ) -> int:
        """Copy via a hidden temporary file in ``folder``; bytes copied."""
        self._sweep(folder)
        for _ in range(100):
            temp = temp_path(folder, name)
            try:
                fd = os.open(temp, _O_NEW, st.st_mode & 0o777)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - a hundred collisions with our own unique names
            raise OSError(errno.EAGAIN, "could not create a temporary file", folder)
        try:
            try:
                copied = _copy_data(src, fd, st.st_size)
                _check_unchanged(src, st, copied, source)
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            except BaseException:
                _close_after_error(fd)
                raise
            os.close(fd)
            os.link(temp, target, follow_symlinks=False)
        except BaseException as exc:
            _unlink_after_error(temp, exc)
            raise
        try:
            os.unlink(temp)
        except BaseException as exc:
            _remove_after_error(target, _copy_key(copied, st.st_mtime_ns), exc)
            _unlink_after_error(temp, exc)
            raise
        return copied

    def _sweep(self, folder: str) -> None:
        """Once per folder: remove temporary files that killed copies left there."""
        if folder not in self._swept:
            self._swept.add(folder)
            remove_stale_temps(folder)

    def matches(self, source: str, target: str) -> bool:
        """Whether ``target`` already is a regular file equal to ``source``."""
        return self._accept_identical and same_content(source, target)

    def made(self, source: str, target: str) -> bool:
        """Whether ``target`` is a regular file equal to ``source``, as what
        :meth:`apply` made (a copy or hard link) is, whatever
        ``accept_identical`` says: only then does a replaced entry's rollback
        put the old entry back (see ``_fs.ReplacingOperation``)."""
        return same_content(source, target)

    def undo(self, source: str, target: str) -> None:
        """Remove ``target`` if it is still the file this operation created."""
        key = self._created.get(target)
        if key is None:
            return
        _remove_if_ours(target, key)
        self._created.pop(target, None)

    def undo_all(self, targets: Iterable[str]) -> list[OSError]:
        """:meth:`undo` each target; collect errors instead of stopping."""
        errors: list[OSError] = []
        for target in targets:
            try:
                self.undo("", target)
            except OSError as exc:
                errors.append(exc)
        return errors


class HardLinkOperation(CopyOperation):
    """``target`` becomes a hard link to ``source``, or a copy where linking fails.

    Linking fails across filesystems (``EXDEV``), where the kernel forbids it
    (``EPERM``, e.g. ``fs.protected_hardlinks``) or where the filesystem has no
    hard links; those files are copied like :class:`CopyOperation` does.
    Beware: a hard link shares its bytes with the source, so changing one
    changes the other.

    It counts the files it linked and those it copied instead
    (:attr:`linked`, :attr:`copied`), so that a report can say what really
    happened. :meth:`apply` runs on several worker threads at once: the counts
    are kept under a lock.
    """

    __slots__ = ("_copied", "_count_lock", "_linked")

    def __init__(
        self, *, accept_identical: bool = True, unnamed_temp: bool = True
    ) -> None:
        super().__init__(accept_identical=accept_identical, unnamed_temp=unnamed_temp)
        self._count_lock = threading.Lock()
        self._linked = 0
        self._copied = 0

    @property
    def linked(self) -> int:
        """Files :meth:`apply` made as hard links (rolled-back ones included)."""
        return self._linked

    @property
    def copied(self) -> int:
        """Files :meth:`apply` copied because the kernel refused a link."""
        return self._copied

    def apply(self, source: str, target: str) -> None:
        """Hard-link ``target`` to ``source`` (following a symlinked source)."""
        confined = self._confined_stat(source) if self._roots is not None else None
        try:
            _link_following(source, target)
        except FileExistsError:
            self._sweep(target.rpartition("/")[0] or "/")  # as CopyOperation
            raise
        except OSError as exc:
            if exc.errno not in _NO_HARDLINK:
                raise
            super().apply(source, target)
            with self._count_lock:
                self._copied += 1
            return
        try:
            made = os.lstat(target)
            if confined is not None and not _same_file(made, confined):
                # Swapped between the look and the link: not what was checked.
                raise SourceChangedError(
                    errno.ESTALE, "replaced while it was linked", source
                )
            self._created[target] = _link_key(made)
        except BaseException as exc:
            _unlink_after_error(target, exc)
            raise
        with self._count_lock:
            self._linked += 1

    def _confined_stat(self, source: str) -> os.stat_result:
        """The file ``source`` names now, checked as :meth:`CopyOperation.apply`
        checks what it copies."""
        src, st = _open_source(source, self._roots)
        os.close(src)
        return st


def _copy_new(src: int, st: os.stat_result, source: str, target: str) -> int:
    """Copy into the new file ``target`` (in a staged folder); bytes copied.

    ``O_EXCL``: it never opens an existing entry, nor follows a symlink.
    """
    fd = os.open(target, _O_NEW, st.st_mode & 0o777)
    try:
        copied = _copy_data(src, fd, st.st_size)
        _check_unchanged(src, st, copied, source)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except BaseException as exc:
        _close_after_error(fd)
        _unlink_after_error(target, exc)
        raise
    try:
        os.close(fd)
    except BaseException as exc:
        _unlink_after_error(target, exc)
        raise
    return copied


def _copy_key(size: int, mtime_ns: int) -> int:
    """What a copy we made is recognised by: its size and mtime.

    Not its inode: a file removed and replaced by another may get the same
    number at once. The mtime was copied from the source to the nanosecond,
    which a replacement is very unlikely to have.
    """
    return hash((size, mtime_ns))


def _link_key(st: os.stat_result) -> int:
    """What a hard link we made is recognised by: the source's inode.

    That inode cannot be reused while the source exists, and its size and
    mtime may change with the source.
    """
    return hash(("link", st.st_dev, st.st_ino))


def _remove_after_error(target: str, key: int, error: BaseException) -> None:
    """:func:`_remove_if_ours` while ``error`` propagates; a failure is noted
    on ``error`` rather than replacing it."""
    try:
        _remove_if_ours(target, key)
    except OSError as exc:
        error.add_note(f"alink could not remove the copy it made at {target!r}: {exc}")


def _remove_if_ours(target: str, key: int) -> None:
    """Remove ``target`` if it is a regular file matching the recorded key."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and key in (
        _copy_key(st.st_size, st.st_mtime_ns),
        _link_key(st),
    ):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
