"""Check that a plan's remote files exist and are regular files, in any order.

Synchronous work for worker threads, cut into generators of steps (see
:meth:`~alink.transfer._engine.Engine.run_steps`). The cost does not depend
on the order of the files: the plan's paths come grouped by folder
(:class:`~alink.transfer._plan.Layout`), each remote folder is listed once
(or, holding at most :data:`~alink.transfer._plan.FEW` wanted files, has each
one looked at) and its listing matched against a set of its own wanted paths
(small: it stays in the CPU's caches), or for a huge sorted folder, by binary
search. What was not found is reported in input order.

A check runs in stages, each a batch of jobs that may run on several
threads at once (network storage: their waits overlap):

1. ``prepare``: the jobs of the next stages (no I/O);
2. ``types``: whether the folders between the dataset's source folder and
   each remote folder are real folders or symlinks, from the listing of
   their parent where several share one (one listing instead of an
   ``lstat`` per folder), else an ``lstat`` each;
3. ``folders``: each remote folder's containment verdict, then its listing;
4. ``report``: what was not found, in input order.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import operator
import os
import stat
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from . import _fs
from ._plan import FEW

__all__ = ["Job", "SourceCheck", "SourceReport", "check_sources", "classify"]


@dataclass(slots=True)
class SourceReport:
    """What checking the remote files found, as plan indices in input order.

    ``loops``: paths that exist but cannot be resolved, a symlink loop
    (``a -> b -> a``, ``a -> a``) or too long a chain of symlinks
    (``ELOOP``); not missing, and not known to be files. ``denied``: paths
    that cannot be looked at because a folder on the way may not be
    entered (``EACCES``: facility storage is often readable by a proposal's
    group only); whether they exist is unknown.
    """

    missing: list[int] = field(default_factory=list)
    not_files: list[int] = field(default_factory=list)
    escaping: list[int] = field(default_factory=list)
    loops: list[int] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)


def classify(
    path: str,
    mode: int | None,
    is_link: bool,
    roots: Sequence[str] | None,
) -> str | None:
    """``None`` for a usable file, else 'missing', 'not_files', 'escaping',
    'loops' or 'denied' (see :class:`SourceReport`).

    ``mode`` is what ``lstat`` found (``None``: nothing); a symlink is
    followed, and must resolve into ``roots`` when they are given. A loop
    resolves nowhere, so it is a loop even where it passes outside the
    roots: nothing can be read through it.
    """
    if is_link:
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EACCES):
                return _lookup_failed(exc)
            mode = None  # dangling: missing, unless it leads out
        if roots is not None:
            real = os.path.realpath(path)
            if not any(_fs.is_inside(real, r) for r in roots):
                return "escaping"
    if mode is None:
        return "missing"
    return None if stat.S_ISREG(mode) else "not_files"


def _lookup_failed(exc: OSError) -> str:
    """The verdict on a wanted path whose ``lstat`` failed with ``exc``:
    'loops' when a folder on the way is a symlink loop (``ELOOP``: the path
    exists, as far as anyone can tell, but leads nowhere), 'denied' when a
    folder on the way may not be entered (``EACCES``), else 'missing'."""
    if exc.errno == errno.ELOOP:
        return "loops"
    return "denied" if exc.errno == errno.EACCES else "missing"


#: ``(kind, folder)``: one unit of work of a :class:`SourceCheck` stage.
Job = tuple[str, str]

#: Units of work (entries listed, paths added, files looked at) between two
#: yields: the driver may hand the event loop a turn there.
_STEP = 1024

#: Folders with more wanted files than this, given in sorted order, are
#: matched by binary search rather than through a set: a set of a million
#: paths costs 32-64 MB, the search ~0.15 µs more an entry.
_SET_LIMIT = 1 << 18

#: A folder between the source folder and a remote folder: what it is
#: (``_LOOP``: it cannot be looked at, a folder on the way is a symlink loop;
#: ``_DENIED``: it cannot be looked at, a folder on the way may not be entered).
_DIR, _LINK, _GONE, _LOOP, _DENIED = "dir", "link", "gone", "loop", "denied"


def check_sources(check: SourceCheck, job: Job) -> Iterator[None]:
    """The steps of one job of ``check``.

    The one entry point of every check step (tests observe the check here).
    """
    return check.steps(job)


class SourceCheck:
    """Checks that a plan's remote files are regular files.

    ``sources`` are the plan's absolute remote paths; ``remote`` maps each
    remote folder to its wanted paths (see :class:`~alink.transfer._plan.Layout`).
    ``roots``, when given, are real (symlink-free) folders that every file
    and folder must resolve into; a symlink leading elsewhere is reported as
    escaping. ``base`` is the dataset's source folder: the folders between it
    and a remote folder need a look (symlinks), the ones above it were
    checked on connect.

    Drive :meth:`stages` and run each stage's jobs through
    :func:`check_sources`; then :attr:`report` holds the findings.
    """

    def __init__(
        self,
        sources: Sequence[str],
        remote: Mapping[str, Sequence[str]],
        roots: Sequence[str] | None,
        base: str | None,
    ) -> None:
        self._sources = sources
        self._remote = remote
        self._roots = roots
        self._base = base
        self.report = SourceReport()
        #: Wanted paths that are not usable files: 'missing', 'not_files',
        #: 'escaping' or 'loops' (written by several threads: one item at a
        #: time; each is the name of a :class:`SourceReport` list).
        self._bad: dict[str, str] = {}
        #: Folders between ``base`` and remote folders: what each one is.
        self._kinds: dict[str, str] = {}
        #: The folders between ``base`` and each remote folder, outermost first.
        self._chains: dict[str, list[str]] = {}
        #: The sub-folders of each folder whose type the ``types`` stage finds.
        self._children: dict[str, list[str]] = {}
        self._type_jobs: list[Job] = []
        self._folder_jobs: list[Job] = []
        #: Slow storage (see :meth:`open_base`): the source folder, open.
        self._base_fd: int | None = None
        self._lock = threading.Lock()

    def stages(self) -> Iterator[list[Job]]:
        """The jobs of each stage, in order; a stage's jobs may run at once.

        The lists are filled by the ``prepare`` stage, on a worker thread, so
        the event loop never walks the folders.
        """
        yield [("prepare", "")]
        if self._type_jobs:
            yield self._type_jobs
        yield self._folder_jobs
        yield [("report", "")]

    def steps(self, job: Job) -> Iterator[None]:
        """The steps of ``job`` (see :func:`check_sources`)."""
        kind, folder = job
        if kind == "prepare":
            return self._prepare()
        if kind == "list types":
            return self._list_types(folder)
        if kind == "stat types":
            return self._stat_types(folder)
        if kind == "folder":
            return self._check_folder(folder)
        if kind == "report":
            return self._report()
        raise ValueError(f"unknown job {kind!r}")

    # ---------------------------------------------------------------- prepare

    def _prepare(self) -> Iterator[None]:
        listed_early = self._plan_types()
        yield
        self._folder_jobs = [
            ("folder", folder) for folder in self._remote if folder != listed_early
        ]

    def _plan_types(self) -> str | None:
        """Fill the ``types`` stage's jobs; return a folder it lists in full.

        A folder with more than :data:`FEW` sub-folders to look at is listed
        for their types (one listing instead of an ``lstat`` each). The source
        folder itself is the one folder whose own files that listing may match
        too: its containment does not depend on another listing.
        """
        base = self._base
        if self._roots is None or base is None:
            return None
        children = self._children
        stem = base.rstrip("/")
        for folder in self._remote:
            if folder == base or not _fs.is_inside(folder, base):
                continue
            chain = []
            probe = base
            for part in folder[len(stem) + 1 :].split("/"):
                child = f"{probe.rstrip('/')}/{part}"
                chain.append(child)
                if child not in self._kinds:
                    self._kinds[child] = _GONE  # until a job finds it
                    children.setdefault(probe, []).append(child)
                probe = child
            self._chains[folder] = chain
        listed_early = None
        for parent, kids in children.items():
            if len(kids) > FEW:
                self._type_jobs.append(("list types", parent))
                if parent == base and len(self._remote.get(base, ())) > FEW:
                    listed_early = base
            else:
                self._type_jobs.append(("stat types", parent))
        return listed_early

    # ------------------------------------------------------------------ types

    def _list_types(self, parent: str) -> Iterator[None]:
        """List ``parent`` for its sub-folders' types (and, for the source
        folder, match its own files: see :meth:`_plan_types`)."""
        needed = set(self._children[parent])
        kinds = self._kinds
        paths = self._remote.get(parent, ())
        match = parent == self._base and len(paths) > FEW
        if match:
            verdict = self._containment(parent)
            if verdict is not None:
                self._judge_all(paths, verdict)
                match = False

        def other(entry: os.DirEntry[str]) -> bool:
            if entry.path in needed:
                kinds[entry.path] = _entry_kind(entry)
            return False

        try:
            if match:
                yield from self._check_listing(parent, paths, other)
                return
            for entries in _listed(parent):
                for entry in entries:
                    if entry.path in needed:
                        kinds[entry.path] = _entry_kind(entry)
                yield
        except (FileNotFoundError, NotADirectoryError):
            # Gone: its sub-folders stay 'gone' (their files are missing).
            if match:
                self._judge_all(paths, "missing")
        except PermissionError:
            # It can be entered but not listed (mode 0711, common on shared
            # storage): look at each sub-folder and file by name instead.
            yield from self._stat_types(parent)
            if match:
                yield from self._check_each_in_steps(paths)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                # A symlink loop on the way: nothing below can be reached.
                for child in needed:
                    kinds[child] = _LOOP
                if match:
                    self._judge_all(paths, "loops")
                return
            # A folder on the way that cannot be looked at: as if gone. But
            # its own files get what any listing's error gets (see
            # _check_folder): it propagates.
            if match:
                raise

    def _stat_types(self, parent: str) -> Iterator[None]:
        """``lstat`` the few sub-folders of ``parent`` that need a type."""
        for child in self._children[parent]:
            try:
                mode = os.lstat(child).st_mode
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symlink loop on the way
                    self._kinds[child] = _LOOP
                elif exc.errno == errno.EACCES:  # its folder may not be entered
                    self._kinds[child] = _DENIED
                # Else it cannot be looked at: stays 'gone' (files missing).
                continue
            if stat.S_ISLNK(mode):
                self._kinds[child] = _LINK
            elif stat.S_ISDIR(mode):
                self._kinds[child] = _DIR
            yield

    # ---------------------------------------------------------------- folders

    def _containment(self, folder: str) -> str | None:
        """``None`` when ``folder``'s files may be looked at, else why not.

        'escaping': it resolves outside every root; 'missing': it, or a folder
        on the way to it, is gone or not a folder; 'loops': a folder on the
        way is a symlink loop; 'denied': a folder on the way may not be
        entered (the first folder on the way that cannot be looked at says
        why).
        """
        roots = self._roots
        if roots is None:
            return None
        chain = self._chains.get(folder)
        if chain is not None:
            kinds = [self._kinds[c] for c in chain]
            for kind in kinds:
                if kind in _UNREACHABLE:
                    return _UNREACHABLE[kind]
            if _LINK not in kinds:
                return None
        # Not below the source folder (or the source folder itself), or a
        # symlink on the way: resolve it.
        try:
            real = os.path.realpath(folder)
        except OSError:
            return "missing"  # the folder cannot be looked at
        if not any(_fs.is_inside(real, r) for r in roots):
            return "escaping"
        return None

    def _judge_all(self, paths: Iterable[str], verdict: str) -> None:
        bad = self._bad
        for path in paths:
            bad[path] = verdict

    def _check_folder(self, folder: str) -> Iterator[None]:
        paths = self._remote[folder]
        verdict = self._containment(folder)
        if verdict is not None:
            self._judge_all(paths, verdict)
            return
        if len(paths) <= FEW:
            self._check_each(paths)
            yield
            return
        try:
            if self._relative_ok(folder, paths):
                yield from self._check_listing_at(folder, paths)
            else:
                yield from self._check_listing(folder, paths, _nothing)
        except (FileNotFoundError, NotADirectoryError):
            self._judge_all(paths, "missing")
        except PermissionError:
            # Entered but not listed (mode 0711): by name, file by file.
            yield from self._check_each_in_steps(paths)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            # A symlink loop on the way to the folder: none of its files
            # can be reached (as _check_each finds for few files).
            self._judge_all(paths, "loops")

    # ------------------------------------------- slow storage: fewer lookups

    def open_base(self) -> None:
        """From now on, open folders below the source folder relative to it.

        For slow storage (every path lookup a round trip): opening
        ``base/a/b`` by its full path looks up every folder from the root of
        the mount again, relative to an open source folder only ``a`` and
        ``b``. It costs a set of names per folder (a slice per wanted path),
        so fast storage keeps full paths. Call :meth:`close` when done.
        """
        self._relative = True

    _relative = False

    def close(self) -> None:
        """Close what :meth:`open_base` opened (on a worker thread)."""
        with self._lock:
            fd, self._base_fd = self._base_fd, None
        if fd is not None:
            os.close(fd)

    def _relative_ok(self, folder: str, paths: Sequence[str]) -> bool:
        base = self._base
        return (
            self._relative
            and base is not None
            and folder != base
            and _fs.is_inside(folder, base)
            and len(paths) <= _SET_LIMIT
        )

    def _base_dir(self) -> int:
        with self._lock:
            if self._base_fd is None:
                assert self._base is not None
                self._base_fd = os.open(
                    self._base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                )
            return self._base_fd

    def _check_listing_at(self, folder: str, paths: Sequence[str]) -> Iterator[None]:
        """:meth:`_check_listing`, the folder opened relative to the source
        folder and its entries matched by name."""
        assert self._base is not None
        stem = folder + "/"
        cut = len(stem)
        wanted = {path[cut:] for path in paths}
        fd = os.open(
            folder[len(self._base.rstrip("/")) + 1 :],
            os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
            dir_fd=self._base_dir(),
        )
        try:
            yield
            with os.scandir(fd) as listing:
                while entries := list(itertools.islice(listing, _STEP)):
                    for entry in entries:
                        name = entry.name
                        if name not in wanted:
                            continue
                        wanted.discard(name)
                        if not entry.is_file(follow_symlinks=False):
                            self._judge_named(stem + name, entry)
                    yield
        finally:
            os.close(fd)
        self._judge_all((stem + name for name in wanted), "missing")

    def _judge_named(self, path: str, entry: os.DirEntry[str]) -> None:
        """:meth:`_judge_entry` for an entry listed by name only."""
        if entry.is_symlink():
            verdict = classify(path, None, True, self._roots)
        else:
            verdict = "not_files"
        if verdict is not None:
            self._bad[path] = verdict

    def _check_each(self, paths: Sequence[str]) -> None:
        """Few files in a folder: one ``lstat`` each is cheaper than a listing."""
        for path in paths:
            try:
                st = os.lstat(path)
            except OSError as exc:
                self._bad[path] = _lookup_failed(exc)
                continue
            verdict = classify(path, st.st_mode, stat.S_ISLNK(st.st_mode), self._roots)
            if verdict is not None:
                self._bad[path] = verdict

    def _check_each_in_steps(self, paths: Sequence[str]) -> Iterator[None]:
        """:meth:`_check_each` for a folder that cannot be listed, in steps."""
        for a in range(0, len(paths), _STEP):
            self._check_each(paths[a : a + _STEP])
            yield

    def _check_listing(
        self,
        folder: str,
        paths: Sequence[str],
        other: Callable[[os.DirEntry[str]], bool],
    ) -> Iterator[None]:
        """Many files in a folder: one listing answers them all (and their types).

        The wanted paths are the plan's own strings, so the lookup set costs
        one reference per file; each regular file listed strikes its path
        off, and what remains is missing. ``other`` sees each listed entry
        that is not a regular file first (``True``: it took care of it). A
        huge sorted folder is matched without a set (:meth:`_check_sorted`).
        The listing's errors propagate.
        """
        if len(paths) > _SET_LIMIT and (yield from _is_sorted(paths)):
            yield from self._check_sorted(folder, paths, other)
            return
        wanted: set[str] = set()
        for a in range(0, len(paths), _STEP * 4):
            wanted.update(paths[a : a + _STEP * 4])
            yield
        discard = wanted.discard
        # The hot loop: one C-level type test and one set removal an entry.
        for entries in _listed(folder):
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    discard(entry.path)
                elif not other(entry) and entry.path in wanted:
                    discard(entry.path)
                    self._judge_entry(entry)
            yield
        self._judge_all(wanted, "missing")

    def _check_sorted(
        self,
        folder: str,
        paths: Sequence[str],
        other: Callable[[os.DirEntry[str]], bool],
    ) -> Iterator[None]:
        """:meth:`_check_listing` for a huge folder whose paths are sorted.

        Each listed entry is looked up by binary search in ``paths``, and
        what was found is one byte per file: memory stays at a megabyte per
        million files instead of a set of them all.
        """
        found = bytearray(len(paths))
        search = bisect.bisect_left
        stop = len(paths)
        for entries in _listed(folder):
            for entry in entries:
                path = entry.path
                is_file = entry.is_file(follow_symlinks=False)
                if not is_file and other(entry):
                    continue
                i = search(paths, path)
                if i < stop and paths[i] == path:
                    found[i] = 1
                    if not is_file:
                        self._judge_entry(entry)
            yield
        at = found.find(0)
        while at >= 0:
            self._bad[paths[at]] = "missing"
            at = found.find(0, at + 1)

    def _judge_entry(self, entry: os.DirEntry[str]) -> None:
        """A wanted entry that is not a regular file: is it usable after all?"""
        if entry.is_symlink():
            verdict = classify(entry.path, None, True, self._roots)
        else:
            verdict = "not_files"
        if verdict is not None:
            self._bad[entry.path] = verdict

    # ----------------------------------------------------------------- report

    def _report(self) -> Iterator[None]:
        """Sort the paths that are not usable files into the report, by plan
        index in input order."""
        bad = self._bad
        if not bad:
            return
        sources = self._sources
        report = self.report
        for a in range(0, len(sources), _STEP * 4):
            chunk = sources[a : a + _STEP * 4]
            for i in itertools.compress(
                range(a, a + len(chunk)), map(bad.__contains__, chunk)
            ):
                getattr(report, bad[sources[i]]).append(i)
            yield


#: Why the files below a folder on the way cannot be looked at, by its kind.
_UNREACHABLE = {_GONE: "missing", _LOOP: "loops", _DENIED: "denied"}


def _nothing(entry: os.DirEntry[str]) -> bool:
    return False


def _entry_kind(entry: os.DirEntry[str]) -> str:
    """What a listed sub-folder on the way to a remote folder is."""
    if entry.is_symlink():
        return _LINK
    return _DIR if entry.is_dir(follow_symlinks=False) else _GONE


def _listed(folder: str) -> Iterator[list[os.DirEntry[str]]]:
    """The entries of ``folder``, ``_STEP`` at a time (one listing).

    An empty first batch once the folder is open: on slow storage opening is
    a wait of its own, and its driver may start another worker after it.
    """
    with os.scandir(folder) as listing:
        yield []
        yield from iter(lambda: list(itertools.islice(listing, _STEP)), [])


def _is_sorted(paths: Sequence[str]) -> Generator[None, None, bool]:
    """Whether ``paths`` strictly increase, checked in steps."""
    step = _STEP * 16
    stop = len(paths)
    for a in range(0, stop - 1, step):
        b = min(stop, a + step + 1)  # overlap by one: compare across steps
        if not all(map(operator.lt, paths[a : b - 1], paths[a + 1 : b])):
            return False
        yield
    return True
