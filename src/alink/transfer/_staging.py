"""Build a download's new folders out of sight, then show each one at once.

A crash-safe copy normally costs a temporary name per file (see
``_copy_ops``): the data must not be seen under its final name before it is
complete. When a download creates a folder, the same guarantee costs far less
for the whole folder: build it under a hidden name next to where it belongs
(``.<name>.alink-<host>-<pid>-<n>.part``), write every file straight under
its own name in there, and rename the folder into place once all files are
complete. Until then nobody sees any of it under its final name; a crash
leaves only the hidden folder, which a later download staging next to it
removes (see :meth:`Staging.sweep`).

The rename never replaces anything (``renameat2(RENAME_NOREPLACE)``). If the
folder appeared meanwhile, for example made by a concurrent download into the
same new folder, the staged files are hard-linked into it one by one instead,
which never replaces anything either.

Everything here blocks; it runs on worker threads.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence

from . import _copy_ops, _fs, _plan

__all__ = ["Staging", "plan_staging", "rename_noreplace"]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
#: ``renameat2`` failures that mean "not supported here": check, then rename.
_NO_RENAMEAT2 = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})

_Renameat2 = Callable[[int, bytes, int, bytes, int], int]


@functools.cache
def _renameat2() -> _Renameat2 | None:
    """The C library's ``renameat2``, or ``None`` where it has none."""
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [
        ctypes.c_int,  # olddirfd
        ctypes.c_char_p,  # oldpath
        ctypes.c_int,  # newdirfd
        ctypes.c_char_p,  # newpath
        ctypes.c_uint,  # flags
    ]
    func.restype = ctypes.c_int
    renameat2: _Renameat2 = func
    return renameat2


def rename_noreplace(source: str, target: str) -> None:
    """Rename ``source`` to ``target``; ``FileExistsError`` if ``target`` exists.

    Where the kernel or filesystem cannot rename without replacing, this
    checks first and renames after, so an empty folder made in between those
    two steps would be replaced (by a folder of the same name).
    """
    func = _renameat2()
    if func is not None:
        if (
            func(
                _AT_FDCWD,
                os.fsencode(source),
                _AT_FDCWD,
                os.fsencode(target),
                _RENAME_NOREPLACE,
            )
            == 0
        ):
            return
        code = ctypes.get_errno()
        if code not in _NO_RENAMEAT2:
            raise OSError(code, os.strerror(code), source, None, target)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


def _missing_root(path: str, roots: dict[str, str | None]) -> str | None:
    """The highest missing folder on the way to ``path``; ``None`` if it exists.

    ``roots`` caches the answer for every path looked at, so folders that
    share parents cost one ``lstat`` per parent.
    """
    chain: list[str] = []
    probe = path
    while probe not in roots:
        if os.path.lexists(probe):
            roots[probe] = None
            break
        chain.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:  # pragma: no cover - "/" always exists
            break
        probe = parent
    root = roots.get(probe)
    for folder in reversed(chain):
        if root is None:
            root = folder  # its parent exists
        roots[folder] = root
    return roots[path]


def plan_staging(folders: Iterable[str]) -> Staging | None:
    """Where to stage the missing ones of a download's target ``folders``.

    Every missing folder whose nearest existing ancestor is a folder gets
    staged; ``None`` when no folder is missing (a re-run, say).
    """
    cache: dict[str, str | None] = {}
    placed: dict[str, str] = {}
    staged: dict[str, str] = {}
    usable: dict[str, bool] = {}
    count = 0
    for folder in folders:
        count += 1
        root = _missing_root(folder, cache)
        if root is None:
            continue
        if root not in usable:
            usable[root] = os.path.isdir(os.path.dirname(root))
            if usable[root]:
                parent, _, name = root.rpartition("/")
                placed[root] = _copy_ops.temp_path(parent or "/", name)
        if usable[root]:
            staged[folder] = placed[root] + folder[len(root) :]
    if not staged:
        return None
    return Staging(placed, staged, every=len(staged) == count)


class _Root:
    """One staged folder and what committing it did."""

    __slots__ = (
        "final",
        "identity",
        "linked",
        "made",
        "renamed",
        "staged",
        "taken_back",
    )

    def __init__(self, final: str, staged: str) -> None:
        self.final = final
        self.staged = staged
        #: The staged folder's (device, inode), taken when it is renamed.
        self.identity: _fs.Identity | None = None
        self.renamed = False
        #: Renamed, then renamed back by :meth:`Staging.undo`.
        self.taken_back = False
        #: Files hard-linked into an existing folder: (final path, inode).
        self.linked: list[tuple[str, _fs.Identity]] = []
        #: Folders made while linking, parents first.
        self.made: list[str] = []


class Staging:
    """The new folders of one download and their hidden stand-ins.

    Get one from :func:`plan_staging`. The engine creates the stand-ins,
    writes the files into them (see :meth:`targets`), then calls
    :meth:`commit`; on failure it calls :meth:`undo` before its own rollback
    and :meth:`restore` after it.
    """

    def __init__(
        self, roots: Mapping[str, str], folders: Mapping[str, str], *, every: bool
    ) -> None:
        """``roots`` maps each new top folder to its stand-in, ``folders`` each
        new folder to where its files are written; ``every`` says whether all
        of the download's folders are new."""
        self._roots = [_Root(final, staged) for final, staged in roots.items()]
        self._folders = dict(folders)
        only = self._roots[0] if len(self._roots) == 1 else None
        #: When every target lies in one new folder tree: (its length, stand-in).
        self._prefix: tuple[int, str] | None = (
            (len(only.final), only.staged) if only is not None and every else None
        )

    @property
    def stand_ins(self) -> frozenset[str]:
        """The hidden folders standing in for the new top folders.

        The engine must create them itself: one that exists already was put
        there by someone else.
        """
        return frozenset(root.staged for root in self._roots)

    @property
    def staged_folders(self) -> frozenset[str]:
        """Every stand-in folder (they are new and private to this download)."""
        return frozenset(self._folders.values())

    def folder(self, folder: str) -> str:
        """Where files for ``folder`` are written: its stand-in, or itself."""
        return self._folders.get(folder, folder)

    def targets(self, targets: Sequence[str]) -> Sequence[str]:
        """``targets`` as written: those in new folders, in their stand-ins."""
        return _StagedTexts(targets, self._map)

    def _map(self, texts: list[str]) -> list[str]:
        prefix = self._prefix
        if prefix is not None:  # the common download into one new folder
            n, staged = prefix
            return [staged + t[n:] for t in texts]
        folders = self._folders
        out: list[str] = []
        for text in texts:
            parent, _, name = text.rpartition("/")
            moved = folders.get(parent)
            out.append(text if moved is None else f"{moved}/{name}")
        return out

    def final_path(self, path: str) -> str:
        """The path that ``path``, if inside a stand-in, will have."""
        for root in self._roots:
            staged = root.staged
            if path.startswith(staged) and path[len(staged) : len(staged) + 1] == "/":
                return root.final + path[len(staged) :]
        return path

    def explain(self, error: OSError) -> None:
        """Name final paths in ``error``, not paths inside stand-ins.

        An error about a stand-in alone (it could not be made: the folder it
        goes into is read-only, say) names the folder it stands in for.
        Two keep its hidden name: that it exists already (someone put
        something there: that entry is the problem), and one about a
        stand-in and another path (renaming it into place), so that the
        two can be told apart.
        """
        if isinstance(error.filename, str):
            error.filename = self.final_path(error.filename)
            if error.filename2 is None and not isinstance(error, FileExistsError):
                for root in self._roots:
                    if error.filename == root.staged:
                        error.filename = root.final
        if isinstance(error.filename2, str):
            error.filename2 = self.final_path(error.filename2)

    def sweep(self, swept: set[str]) -> None:
        """Remove what killed downloads left next to the new folders.

        Parents in ``swept`` are skipped, and the others added: leftovers
        come from processes that died, so one sweep of a folder finds all
        there are to find for a while, and a folder holding many downloads
        is not listed again for each.
        """
        for parent in dict.fromkeys(
            r.staged.rpartition("/")[0] or "/" for r in self._roots
        ):
            if parent not in swept:
                swept.add(parent)
                _copy_ops.remove_stale_temps(parent)

    def commit(self) -> None:
        """Show every new folder under its name; see the module docstring.

        On failure, :meth:`undo` takes back what this did.
        """
        merged: list[_Root] = []
        for root in self._roots:
            st = os.lstat(root.staged)
            root.identity = (st.st_dev, st.st_ino)
            try:
                rename_noreplace(root.staged, root.final)
            except FileExistsError:
                self._link_into(root)
                merged.append(root)
            else:
                root.renamed = True
        for root in merged:
            # Past the point of no return: the files are in place under their
            # names; what is left of the stand-in is only our extra names.
            shutil.rmtree(root.staged, ignore_errors=True)

    def _link_into(self, root: _Root) -> None:
        """Hard-link each staged file to its final name in the existing folder."""
        if not stat.S_ISDIR(os.lstat(root.final).st_mode):
            # Not a symlink either: one made meanwhile could lead anywhere.
            raise NotADirectoryError(
                errno.ENOTDIR,
                "appeared during the download and is not a folder",
                root.final,
            )
        times: dict[str, tuple[int, int]] = {}
        for folder, _names, files in os.walk(root.staged):
            final_folder = root.final + folder[len(root.staged) :]
            _fs.ensure_dirs([final_folder], root.made, times)
            for name in files:
                staged = f"{folder}/{name}"
                final = f"{final_folder}/{name}"
                try:
                    os.link(staged, final, follow_symlinks=False)
                except FileExistsError:
                    if _copy_ops.same_content(staged, final):
                        continue
                    raise FileExistsError(
                        errno.EEXIST,
                        "something else appeared at this local path during the"
                        " download; it was left untouched and the download was"
                        " undone",
                        final,
                    ) from None
                st = os.lstat(final)
                root.linked.append((final, (st.st_dev, st.st_ino)))

    def undo(self) -> list[BaseException]:
        """Take back what :meth:`commit` did, so the engine can roll back.

        A renamed folder goes back to its hidden name (the engine then
        removes our files there); files linked into an existing folder are
        removed while they are still ours.
        """
        problems: list[BaseException] = []
        for root in self._roots:
            for final, identity in reversed(root.linked):
                try:
                    st = os.lstat(final)
                    if (st.st_dev, st.st_ino) == identity:
                        os.unlink(final)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    problems.append(exc)
            root.linked.clear()
            problems.extend(_fs.restore_dirs(root.made, {}))
            root.made.clear()
            if root.renamed:
                try:
                    st = os.lstat(root.final)
                    if (st.st_dev, st.st_ino) != root.identity:
                        raise OSError(
                            errno.ESTALE,
                            "replaced during the download; left it alone",
                            root.final,
                        )
                    rename_noreplace(root.final, root.staged)
                except OSError as exc:
                    problems.append(exc)
                else:
                    root.renamed = False
                    root.taken_back = True
        return problems

    def restore(self, undone: bool) -> list[BaseException]:
        """After the engine's rollback: give back a folder that :meth:`undo`
        took back but someone else wrote into meanwhile.

        ``undone`` says whether the rollback undid everything; only then is
        what is left in a stand-in someone else's. Otherwise the stand-in
        keeps our files that could not be removed, out of sight.
        """
        if not undone:
            return []
        problems: list[BaseException] = []
        for root in self._roots:
            if not root.taken_back:
                continue
            try:
                st = os.lstat(root.staged)
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.append(exc)
                continue
            if (st.st_dev, st.st_ino) != root.identity:
                continue
            try:
                rename_noreplace(root.staged, root.final)
            except OSError as exc:
                problems.append(exc)
        return problems


class _StagedTexts(_plan.SliceConverted):
    """A view of target paths that maps a slice at a time."""

    __slots__ = ("_map", "_targets")

    def __init__(
        self, targets: Sequence[str], mapper: Callable[[list[str]], list[str]]
    ) -> None:
        self._targets = targets
        self._map = mapper

    def _held(self) -> Sequence[str]:
        return self._targets

    def _convert(self, items: list[object]) -> list[str]:
        return self._map(items)  # type: ignore[arg-type]
