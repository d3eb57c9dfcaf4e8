"""Synchronous filesystem work, meant to run on worker threads in batches.

Every function here may block on I/O; none may be called on the event loop.
They work on plain ``str`` paths and answer many questions per system call
where possible (one directory listing instead of thousands of ``stat``).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import itertools
import operator
import os
import stat
from collections.abc import (
    Callable,
    Collection,
    Container,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Operation",
    "SourceReport",
    "SymlinkOperation",
    "apply_batch",
    "check_sources",
    "changed_folders",
    "ensure_dirs",
    "is_inside",
    "undo_spans",
]

#: Up to this many wanted names in a folder, ``lstat`` each; above, list the
#: folder. On network storage a listing costs about as many round trips as
#: two ``lstat`` calls, whatever the folder's size.
_STAT_EACH_LIMIT = 2


def is_inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing whole segments."""
    if root == "/":
        return path.startswith("/")
    return path == root or path.startswith(root + "/")


@dataclass(slots=True)
class SourceReport:
    """What checking the remote files found, as indices into the plan."""

    missing: list[int] = field(default_factory=list)
    not_files: list[int] = field(default_factory=list)
    escaping: list[int] = field(default_factory=list)

    def extend(self, other: SourceReport) -> None:
        self.missing.extend(other.missing)
        self.not_files.extend(other.not_files)
        self.escaping.extend(other.escaping)


def _classify(
    path: str,
    mode: int | None,
    is_link: bool,
    roots: Sequence[str] | None,
) -> str | None:
    """``None`` for a usable file, else 'missing', 'not_files' or 'escaping'."""
    if is_link:
        real = os.path.realpath(path)
        if roots is not None and not any(is_inside(real, r) for r in roots):
            return "escaping"
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return "missing"  # dangling link
    if mode is None:
        return "missing"
    return None if stat.S_ISREG(mode) else "not_files"


#: Units of work (entries listed, files looked at) between two yields of a
#: checking generator: its driver may hand the event loop a turn there.
_STEP = 1024

#: Wanted files in one folder above which a listing is matched against the
#: plan's sorted paths by binary search rather than through a set: a set of
#: a million paths costs 32-64 MB, the search ~0.15 µs more an entry.
_SET_LIMIT = 1 << 18


def check_sources(
    sources: Sequence[str],
    folder: str,
    runs: Sequence[tuple[int, int]],
    roots: Sequence[str] | None,
    report: SourceReport,
    base: str | None = None,
) -> Iterator[None]:
    """Check that the ``sources`` in ``runs``, all directly inside ``folder``,
    are regular files; findings go into ``report``.

    A generator: it does the work in steps, yielding between them, so one
    huge folder does not hold a worker thread (and the GIL) in one piece.
    ``runs`` are ``(start, stop)`` ranges of indices into ``sources``.
    ``roots``, when given, are real (symlink-free) folders that every file
    and folder must resolve into; a symlink leading elsewhere is reported as
    escaping. ``base`` is the dataset's source folder, known to resolve into
    ``roots``: only the folders between it and ``folder`` need a look.
    """
    indices = (i for start, stop in runs for i in range(start, stop))
    if roots is not None:
        try:
            leads_out = _leads_out(folder, base, roots)
        except OSError:
            # The folder cannot be looked at: its files are not accessible.
            report.missing.extend(indices)
            return
        if leads_out:
            report.escaping.extend(indices)
            return
    if sum(stop - start for start, stop in runs) <= _STAT_EACH_LIMIT:
        _check_each(sources, indices, roots, report)
        yield
    else:
        yield from _check_listing(sources, folder, runs, roots, report)


def _leads_out(folder: str, base: str | None, roots: Sequence[str]) -> bool:
    """Whether ``folder`` resolves outside every root.

    Below ``base`` only the folders that are symlinks are resolved: one
    ``lstat`` per level instead of a full ``realpath`` (a round trip per
    level of the whole path on network storage).
    """
    if base is None or not is_inside(folder, base) or folder == base:
        real = os.path.realpath(folder)
        return not any(is_inside(real, r) for r in roots)
    probe = base
    for part in folder[len(base) + 1 :].split("/"):
        probe = f"{probe}/{part}"
        try:
            is_link = stat.S_ISLNK(os.lstat(probe).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False  # missing: the listing reports it
        if is_link:
            real = os.path.realpath(probe)
            return not any(is_inside(real, r) for r in roots) or _leads_out(
                folder, None, roots
            )
    return False


def _check_each(
    sources: Sequence[str],
    indices: Iterable[int],
    roots: Sequence[str] | None,
    report: SourceReport,
) -> None:
    """Few files in a folder: one ``lstat`` each is cheaper than a listing."""
    for i in indices:
        try:
            st = os.lstat(sources[i])
        except OSError:
            report.missing.append(i)
            continue
        verdict = _classify(sources[i], st.st_mode, stat.S_ISLNK(st.st_mode), roots)
        if verdict is not None:
            getattr(report, verdict).append(i)


def _check_listing(
    sources: Sequence[str],
    folder: str,
    runs: Sequence[tuple[int, int]],
    roots: Sequence[str] | None,
    report: SourceReport,
) -> Iterator[None]:
    """Many files in a folder: one listing answers them all (and their types).

    The wanted paths are the plan's own strings, so the lookup set costs one
    reference per file; each regular file in the listing strikes its path
    off, and only what remains needs a closer look. A huge sorted run is
    matched without a set (:func:`_check_sorted_listing`).
    """
    if len(runs) == 1 and runs[0][1] - runs[0][0] > _SET_LIMIT:
        start, stop = runs[0]
        if (yield from _is_sorted(sources, start, stop)):
            yield from _check_sorted_listing(
                sources, folder, start, stop, roots, report
            )
            return
    wanted: set[str] = set()
    for start, stop in runs:
        for a in range(start, stop, _STEP * 4):
            wanted.update(sources[a : min(stop, a + _STEP * 4)])
            yield
    others: dict[str, os.DirEntry[str]] = {}
    discard = wanted.discard
    try:
        for entries in _listed(folder):
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    discard(entry.path)
                elif entry.path in wanted:
                    others[entry.path] = entry
            yield
    except (FileNotFoundError, NotADirectoryError):
        report.missing.extend(i for start, stop in runs for i in range(start, stop))
        return
    if not wanted:
        return
    for i in (i for start, stop in runs for i in range(start, stop)):
        path = sources[i]
        if path in wanted:
            _report_unlisted(i, path, others.get(path), roots, report)


def _listed(folder: str) -> Iterator[list[os.DirEntry[str]]]:
    """The entries of ``folder``, ``_STEP`` at a time (one listing)."""
    with os.scandir(folder) as listing:
        yield from iter(lambda: list(itertools.islice(listing, _STEP)), [])


def _report_unlisted(
    index: int,
    path: str,
    entry: os.DirEntry[str] | None,
    roots: Sequence[str] | None,
    report: SourceReport,
) -> None:
    """Report a wanted file that is not a regular file in its folder's listing.

    ``entry`` is its listing entry, ``None`` if it was not listed at all.
    """
    if entry is None:
        report.missing.append(index)
    elif entry.is_symlink():
        verdict = _classify(path, None, True, roots)
        if verdict is not None:
            getattr(report, verdict).append(index)
    else:
        report.not_files.append(index)


def _is_sorted(
    sources: Sequence[str], start: int, stop: int
) -> Generator[None, None, bool]:
    """Whether ``sources[start:stop]`` strictly increase, checked in steps."""
    step = _STEP * 16
    for a in range(start, stop - 1, step):
        b = min(stop, a + step + 1)  # overlap by one: compare across steps
        if not all(map(operator.lt, sources[a : b - 1], sources[a + 1 : b])):
            return False
        yield
    return True


def _check_sorted_listing(
    sources: Sequence[str],
    folder: str,
    start: int,
    stop: int,
    roots: Sequence[str] | None,
    report: SourceReport,
) -> Iterator[None]:
    """Like :func:`_check_listing`, for a huge sorted run of files in one folder.

    Each listed entry is looked up by binary search in ``sources``, and what
    was found is one byte per file: memory stays at a megabyte per million
    files instead of a set of them all.
    """
    found = bytearray(stop - start)
    others: dict[int, os.DirEntry[str]] = {}
    search = bisect.bisect_left
    try:
        for entries in _listed(folder):
            for entry in entries:
                path = entry.path
                i = search(sources, path, start, stop)
                if i < stop and sources[i] == path:
                    if entry.is_file(follow_symlinks=False):
                        found[i - start] = 1
                    else:
                        others[i] = entry
            yield
    except (FileNotFoundError, NotADirectoryError):
        report.missing.extend(range(start, stop))
        return
    offset = found.find(0)
    while offset >= 0:
        i = start + offset
        _report_unlisted(i, sources[i], others.get(i), roots, report)
        offset = found.find(0, offset + 1)


def _remember_times(
    path: str, st: os.stat_result, times: dict[str, tuple[int, int]]
) -> None:
    if path not in times:
        times[path] = (st.st_atime_ns, st.st_mtime_ns)


#: What tells a folder from another that later takes its name: (device, inode).
Identity = tuple[int, int]


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino)


def ensure_dirs(
    folders: Iterable[str],
    created: list[str],
    times: dict[str, tuple[int, int]],
    ids: dict[str, Identity] | None = None,
    fresh: Collection[str] = (),
) -> None:
    """Create missing folders and their parents; record each one in ``created``.

    ``created`` is filled as folders are made, so it is complete even when
    this function raises half-way. ``times`` receives the access and
    modification times of existing folders that are about to change, so a
    rollback can put them back. ``ids``, when given, receives the identity of
    every folder in ``folders``, every folder made and every folder whose
    times were recorded, so a rollback can tell whether a path still leads to
    the same folder (see :func:`changed_folders`).

    ``fresh`` lists folders that must be made here, by this call or an
    earlier one with the same ``created``: a folder at or below one of them
    that exists otherwise (say, a symlink planted at a hidden name) raises
    ``FileExistsError`` before anything is written there.
    """
    ours: set[str] = set()  # fresh folders found in ``created``
    for folder in folders:
        _ensure_dir(folder, created, times, ids)
        for root in fresh:
            if root in ours or not (folder == root or folder.startswith(root + "/")):
                continue
            if root not in created:
                raise FileExistsError(
                    errno.EEXIST,
                    "existed before alink could create this hidden folder;"
                    " nothing was written into it",
                    root,
                )
            ours.add(root)


def _ensure_dir(
    folder: str,
    created: list[str],
    times: dict[str, tuple[int, int]],
    ids: dict[str, Identity] | None,
) -> None:
    """:func:`ensure_dirs` for one folder."""
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        pass
    else:
        if stat.S_ISDIR(st.st_mode):
            _remember_times(folder, st, times)
            if ids is not None:
                ids.setdefault(folder, _identity(st))
            return
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", folder)
    missing: list[str] = []
    probe = folder
    while not os.path.lexists(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.path.isdir(probe):
        st = os.stat(probe)
        _remember_times(probe, st, times)
        if ids is not None:
            ids.setdefault(probe, _identity(st))
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            continue
        created.append(path)
        if ids is not None:
            ids[path] = _identity(os.stat(path))
    if not missing and not os.path.isdir(folder):
        # It appeared between our two looks, and it is not a folder.
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", folder)
    if ids is not None and folder not in ids:
        # Made concurrently by someone else: ours to use all the same.
        ids[folder] = _identity(os.stat(folder))


def changed_folders(ids: dict[str, Identity]) -> dict[str, str]:
    """Folders whose path no longer leads to the folder recorded in ``ids``.

    A folder replaced mid-run (for example by a symlink to somewhere else)
    must not be rolled back through: an entry there that looks like ours may
    be someone else's. Maps each such folder to why, or to ``""`` when it is
    simply gone (nothing below it to undo, nothing to report).
    """
    changed: dict[str, str] = {}
    for folder, identity in ids.items():
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            changed[folder] = ""
        except OSError as exc:
            changed[folder] = f"cannot check that it is still the same folder ({exc})"
        else:
            if _identity(st) != identity:
                changed[folder] = (
                    "replaced during the download (it leads elsewhere now)"
                )
    return changed


class Operation(Protocol):
    """What the engine does for one (source, target) pair, on a worker thread."""

    def apply(self, source: str, target: str) -> None:
        """Create ``target`` from ``source``; ``FileExistsError`` if it exists."""

    def matches(self, source: str, target: str) -> bool:
        """Whether an existing ``target`` already is what :meth:`apply` would make."""

    def undo(self, source: str, target: str) -> None:
        """Remove ``target`` if it is still what :meth:`apply` made."""


class SymlinkOperation:
    """``target`` becomes a symlink whose text is the absolute ``source``."""

    __slots__ = ("apply",)

    apply: Callable[[str, str], None]

    def __init__(self) -> None:
        # The builtin itself: no Python frame per file in the hot loop.
        self.apply = os.symlink

    def matches(self, source: str, target: str) -> bool:
        try:
            return os.readlink(target) == source
        except OSError:
            return False

    def undo(self, source: str, target: str) -> None:
        try:
            ours = os.readlink(target) == source
        except (FileNotFoundError, NotADirectoryError):
            return  # gone: nothing to undo
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return  # not a symlink: not ours
            raise  # cannot tell (I/O error): report, do not guess
        if ours:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)


def apply_batch(
    operation: Operation,
    sources: Sequence[str],
    targets: Sequence[str],
    span: list[int],
    stop: int,
    already_done: list[int],
) -> BaseException | None:
    """Apply ``operation`` to pairs ``span[0]..stop``; stop at the first failure.

    Sets ``span[1]`` to the end of what was applied: pairs ``span[0]..span[1]``
    now exist (those appended to ``already_done`` were in the wanted state
    before). Returns the error that stopped the batch, if any, and never
    raises, so the journal is exact even if the awaiting task was cancelled.
    """
    apply = operation.apply
    first = span[0]
    # One slice each: plan targets may be held as path objects, converted
    # to text in bulk (see ``_plan.Texts``).
    batch_sources = sources[first:stop]
    batch_targets = targets[first:stop]
    i = 0
    count = stop - first
    while i < count:
        try:
            for i in range(i, count):
                apply(batch_sources[i], batch_targets[i])
        except FileExistsError as exc:
            try:
                done = operation.matches(batch_sources[i], batch_targets[i])
            except BaseException as error:  # e.g. reading a file to compare
                span[1] = first + i
                return error
            if done:
                already_done.append(first + i)
                i += 1
                continue
            span[1] = first + i
            return FileExistsError(
                exc.errno or errno.EEXIST,
                "something else already exists at this local path; it was left"
                " untouched and the download was undone",
                batch_targets[i],
            )
        except BaseException as exc:
            span[1] = first + i
            return exc
        break
    span[1] = stop
    return None


def undo_spans(
    operation: Operation,
    sources: Sequence[str],
    targets: Sequence[str],
    spans: Iterable[Sequence[int]],
    skip: Container[int],
    moved: Container[str] = (),
) -> list[BaseException]:
    """Undo ``operation`` for the pairs in ``spans`` (``[start, end]``) not in
    ``skip`` and not in a folder in ``moved`` (see :func:`changed_folders`);
    collect errors instead of stopping."""
    errors: list[BaseException] = []
    undo = operation.undo
    for start, end in spans:
        for i, source, target in zip(
            range(start, end), sources[start:end], targets[start:end], strict=True
        ):
            if i in skip:
                continue
            if moved and (target.rpartition("/")[0] or "/") in moved:
                continue
            try:
                undo(source, target)
            except Exception as exc:  # one failed step must not stop the others
                errors.append(exc)
    return errors


#: ``rmdir`` errors that mean "not ours to remove (any more)", not a failure.
_EXPECTED_RMDIR = frozenset(
    (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR)
)


def restore_dirs(
    created: Sequence[str],
    times: dict[str, tuple[int, int]],
    moved: Container[str] = (),
) -> list[OSError]:
    """Remove folders we created (deepest first) if empty again; restore times.

    Folders in ``moved`` (see :func:`changed_folders`) are left alone.
    Returns the unexpected errors (a folder still holding someone else's
    entries, or gone already, is expected and not reported).
    """
    errors: list[OSError] = []
    for folder in reversed(created):
        if folder in moved:
            continue
        try:
            os.rmdir(folder)
        except OSError as exc:
            if exc.errno not in _EXPECTED_RMDIR:
                errors.append(exc)
    for folder, ns in times.items():
        if folder in moved:
            continue
        try:
            os.utime(folder, ns=ns)
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(exc)
    return errors


#: Marks alink's temporary and backup names so leftovers can be recognised.
TEMP_MARK = ".alink-"
_NAME_MAX = 255


def temp_name(target: str, kind: str) -> str:
    """A unique hidden name next to ``target``: ``.<name>.alink-<random>.<kind>``."""
    folder, _, name = target.rpartition("/")
    token = os.urandom(6).hex()
    suffix = f"{TEMP_MARK}{token}.{kind}"
    name = name[: _NAME_MAX - len(suffix) - 1]
    return f"{folder}/.{name}{suffix}"


def _discard(path: str, error: BaseException) -> None:
    """Remove a temporary entry of ours; if that fails, say so on ``error``."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        error.add_note(f"alink could not remove its temporary entry {path!r}: {exc}")


class ReplacingOperation:
    """Wraps an operation so that chosen targets are replaced atomically.

    The new entry is made under a temporary name and renamed over the old
    one, so the path never goes missing; the old entry is kept as a hard link
    (a backup) until :meth:`commit`, and :meth:`undo` puts it back.
    """

    __slots__ = ("_backups", "_inner", "_targets")

    def __init__(self, inner: Operation, targets: set[str]) -> None:
        self._inner = inner
        self._targets = targets
        #: target -> backup of the entry it replaced (filled from worker threads).
        self._backups: dict[str, str] = {}

    def apply(self, source: str, target: str) -> None:
        if target not in self._targets:
            self._inner.apply(source, target)
            return
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            self._inner.apply(source, target)
            return
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(
                errno.EISDIR, "refusing to replace a folder", target
            )
        if self._inner.matches(source, target):
            raise FileExistsError(errno.EEXIST, "already in place", target)
        temp = temp_name(target, "tmp")
        self._inner.apply(source, temp)
        backup = temp_name(target, "bak")
        try:
            os.link(target, backup, follow_symlinks=False)
            os.replace(temp, target)
        except BaseException as exc:
            _discard(temp, exc)
            if os.path.lexists(backup) and os.path.lexists(target):
                _discard(backup, exc)
            raise
        self._backups[target] = backup

    def matches(self, source: str, target: str) -> bool:
        return self._inner.matches(source, target)

    @property
    def replaced(self) -> int:
        """How many entries have been replaced (until :meth:`commit`)."""
        return len(self._backups)

    def undo(self, source: str, target: str) -> None:
        backup = self._backups.pop(target, None)
        if backup is None:
            self._inner.undo(source, target)
            return
        try:
            ours = self._inner.matches(source, target)
        except OSError:  # e.g. reading a copy to compare: cannot tell
            ours = False
        if ours:
            os.replace(backup, target)
        else:
            # Someone changed the path since (or it cannot be read): keep
            # their entry, and keep the replaced one too, under its backup
            # name: deleting it could lose the user's only copy.
            raise FileExistsError(
                errno.EEXIST,
                "changed by someone else during the download (or unreadable);"
                f" left as it is, the entry alink replaced is kept at {backup!r}",
                target,
            )

    def commit(self) -> None:
        """Delete the backups: the replacements are final.

        Best effort: every entry is in place by now, so a backup that cannot
        be deleted stays behind under its hidden ``.alink-`` name instead of
        turning a completed download into an error (which would claim that
        nothing changed).
        """
        for backup in self._backups.values():
            with contextlib.suppress(OSError):
                os.unlink(backup)
        self._backups.clear()
