"""Synchronous filesystem work, meant to run on worker threads in batches.

Every function here may block on I/O; none may be called on the event loop.
They work on plain ``str`` paths and answer many questions per system call
where possible (one directory listing instead of thousands of ``stat``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Sequence,
)
from typing import Protocol

from .._errors import FolderTimesError

__all__ = [
    "Operation",
    "SymlinkOperation",
    "apply_batch",
    "changed_folders",
    "ensure_dirs",
    "folder_times_note",
    "is_inside",
    "left_behind",
    "undo_spans",
]


def is_inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing whole segments."""
    if root == "/":
        return path.startswith("/")
    return path == root or path.startswith(root + "/")


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
        """Whether an existing ``target`` already gives what :meth:`apply` would
        (it is then "already in place", left untouched)."""

    def made(self, source: str, target: str) -> bool:
        """Whether ``target`` is exactly the entry :meth:`apply` makes.

        What a rollback may take back as its own: stricter than
        :meth:`matches` where an entry made some other way is in place too
        (a relative symlink to the same file, say).
        """

    def undo(self, source: str, target: str) -> None:
        """Remove ``target`` if it is still what :meth:`apply` made."""


class SymlinkOperation:
    """``target`` becomes a symlink whose text is the absolute ``source``.

    An existing symlink is in place (:meth:`matches`) when its text is
    ``source``, or when its text, taken against the link's own folder and
    normalised, is ``source`` and it does lead to that very file (a
    relative link made by ``ln -sr``, say). Only a link whose text is
    exactly ``source`` is ever taken for one of ours (:meth:`made`,
    :meth:`undo`).
    """

    __slots__ = ("apply",)

    apply: Callable[[str, str], None]

    def __init__(self) -> None:
        # The builtin itself: no Python frame per file in the hot loop.
        self.apply = os.symlink

    def matches(self, source: str, target: str) -> bool:
        try:
            text = os.readlink(target)
        except OSError:
            return False
        return text == source or _names_source(text, source, target)

    def made(self, source: str, target: str) -> bool:
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


def _names_source(text: str, source: str, target: str) -> bool:
    """Whether the link ``target``, whose text is ``text`` (not ``source``),
    leads to the file ``source`` all the same.

    Its text, joined to the link's folder and normalised, must be
    ``source`` (``../../remote/d1/f.dat``), and the link must resolve to the
    very file ``source`` is. The first test alone could be fooled: a
    ``..`` after a folder that is a symlink (in the text, or the link's own
    folder) leads the kernel to another folder than the normalised text
    says. The second alone would take a link to another name of the file
    (a hard link, another mount of it) for one to ``source``. Only links
    whose text differs from ``source`` get here: the usual case costs no
    more than before.
    """
    folder = target.rpartition("/")[0] or "/"
    if posixpath.normpath(posixpath.join(folder, text)) != source:
        return False
    try:
        # Errors (a dangling or looping link, a vanished source) mean: no.
        return _identity(os.stat(target)) == _identity(os.stat(source))
    except OSError:
        return False


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

    Only a folder whose modification time differs from the one recorded
    gets its times back: setting explicit times needs ownership, so trying
    on a folder one may write to but does not own (a shared mode-1777
    folder) fails even when nothing in it changed. Failing to put a time
    back is a :class:`~alink._errors.FolderTimesError` naming the folder,
    not an entry left behind.

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
            if os.stat(folder).st_mtime_ns == ns[1]:
                continue  # unchanged (an access time alone is no change of ours)
            os.utime(folder, ns=ns)
        except FileNotFoundError:
            pass
        except OSError as exc:
            errors.append(
                FolderTimesError(
                    exc.errno,
                    "could not put back this folder's modification time"
                    f" ({exc.strerror})",
                    folder,
                )
            )
    return errors


def left_behind(problems: Sequence[BaseException]) -> list[BaseException]:
    """The rollback problems that may have left an entry behind (a folder's
    modification time not put back, see :func:`restore_dirs`, leaves none)."""
    return [p for p in problems if not isinstance(p, FolderTimesError)]


def folder_times_note(problems: Sequence[BaseException]) -> str | None:
    """The note for the folders whose modification time a rollback could not
    put back (see :func:`restore_dirs`), or ``None`` if there are none.

    Worded apart from entries left behind: nothing alink made remains there.
    """
    folders = [p.filename for p in problems if isinstance(p, FolderTimesError)]
    if not folders:
        return None
    first = next(p for p in problems if isinstance(p, FolderTimesError))
    why = os.strerror(first.errno) if first.errno else "refused"
    shown = ", ".join(repr(f) for f in folders[:5])
    more = f" and {len(folders) - 5} more" if len(folders) > 5 else ""
    return (
        f"the download was undone, but alink could not put back the"
        f" modification time of {len(folders)} folder(s) it had changed"
        f" ({why}): {shown}{more}"
    )


#: Marks alink's temporary and backup names so leftovers can be recognised.
TEMP_MARK = ".alink-"
_NAME_MAX = 255


def temp_name(target: str, kind: str) -> str:
    """A unique hidden name next to ``target``: ``.<name>.alink-<random>.<kind>``."""
    folder, _, name = target.rpartition("/")
    token = os.urandom(6).hex()
    suffix = f"{TEMP_MARK}{token}.{kind}"
    # File names are limited in bytes, not characters: cut the encoded name
    # (a character cut in half decodes to escapes of its bytes, still a
    # valid name of the same bytes).
    name = os.fsdecode(os.fsencode(name)[: _NAME_MAX - len(suffix) - 1])
    return f"{folder}/.{name}{suffix}"


def _is_source(source: str, st: os.stat_result) -> bool:
    """Whether the entry ``st`` (from ``lstat``) is the file ``source`` itself.

    A local path can name the remote file: the same path, a target folder
    that is a symlink into the source folder, a hard link. Replacing it
    would put a link to itself, or a copy of itself, in its place and
    throw its content away with the backup.
    """
    if stat.S_ISLNK(st.st_mode):
        return False
    # Errors propagate: not knowing is no licence to replace.
    own = os.stat(source)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _another_name(source: str, target: str) -> bool:
    """Whether ``target`` is an entry of its own (a hard link of the file),
    not ``source``'s own entry reached by another path: the same name in the
    same folder (found by identity, so a folder symlink leads there too).

    Errors propagate, as in :func:`_is_source`.
    """
    source_folder, _, source_name = source.rpartition("/")
    target_folder, _, target_name = target.rpartition("/")
    if source_name != target_name:
        return True
    return not os.path.samestat(
        os.stat(source_folder or "/"), os.stat(target_folder or "/")
    )


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
        if self._inner.matches(source, target) or _is_source(source, st):
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
        """Whether ``target`` is in place: as the inner operation makes it,
        or, chosen for replacement, a hard link of the file ``source``.

        A hard link is the very remote file under a name of its own: the
        download's result already, which :meth:`apply` never replaces ("already
        in place"), so it counts as kept, as an identical copy does for a
        copying operation. Not so the remote file's own entry reached by the
        local path (the same path, or through a folder that is a symlink):
        a download onto its own source stays a conflict.
        """
        if self._inner.matches(source, target):
            return True
        if target not in self._targets:
            return False
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return False
        return _is_source(source, st) and _another_name(source, target)

    def made(self, source: str, target: str) -> bool:
        return self._inner.made(source, target)

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
            # Exactly what we put there: an entry someone made since that is
            # merely in place too (say a relative link to the same file) is
            # theirs, not to be replaced by the old entry.
            ours = self._inner.made(source, target)
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
