"""``Client.download_files``: select, place, skip what is up to date, transfer,
verify — all or nothing.

Order of work, so that bad input loses nothing:

1. validate every argument, select files, plan local paths (pure; raises
   before anything touches the disk — the target folder is not created);
2. look at what already exists locally (read only, worker threads);
3. connect the file transfer and hand it the pairs; existing stale entries
   are replaced atomically and every pair is verified by the transfer's
   engine, which rolls the whole call back on any failure;
4. return a new :class:`~alink.Dataset` with ``local_path`` set.

A third-party transfer whose ``download_files`` only takes ``remote`` and
``local`` still works: verification then runs here afterwards and, on a
mismatch, the files it made are removed again; it cannot replace existing
files, so stale or forced files are refused up front.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread

from .._errors import IntegrityError, LocalFileConflictError, NothingSelectedWarning
from .._gcpause import collector_paused
from .._groups import task_group
from .._model import Dataset, File, _with_local_path
from .._names import summarise
from .._paths import RemotePath
from ..transfer._engine import ProgressCallback, RunResult
from ..transfer._plan import absolute_remote, against_cwd, working_directory
from ..typing import Downloader
from . import _local
from ._checksum import normalize_algorithm
from ._layout import Layout, plan_layout
from ._select import FileSelector, select_files
from ._uptodate import Found, Triage, settle, triage

__all__ = [
    "DownloadReport",
    "VerifyLevel",
    "VerifyProgressCallback",
    "download_files",
    "unlisted_files",
]

_log = logging.getLogger("alink.client")

VerifyLevel = Literal["checksum", "size", "none"]
#: ``verify_progress(files_done, files_total, bytes_done, bytes_total)``.
VerifyProgressCallback = Callable[[int, int, int, int], object]
_LEVELS: tuple[str, ...] = ("checksum", "size", "none")

#: Above this many files, planning and result building run on a worker thread.
_OFFLOAD_FILES = 2000
#: Paths looked at per thread hand-off when checking what exists locally.
_INSPECT_CHUNK = 8192
#: A checksum batch ends after this many bytes or this many files.
_HASH_BATCH_BYTES = 64 << 20
_HASH_BATCH_FILES = 512
#: How many offending paths a message lists.
_SHOWN = 5
#: Threads used at once for checksums (hashlib releases the GIL).
_HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))

_T = TypeVar("_T")


def _accepts(method: Callable[..., Any], *names: str) -> bool:
    """Whether ``method`` takes every one of ``names`` as a keyword (named
    explicitly: a ``**kwargs`` wrapper might drop them silently)."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return all(n in parameters and parameters[n].kind in keyword for n in names)


def unlisted_files(dataset: Dataset) -> int:
    """Files SciCat counts for a dataset read without its file list, else 0."""
    if dataset.files_listed or dataset.files:
        return 0
    return dataset.number_of_files


def _describe_select(select: FileSelector) -> str:
    """``select`` for a message, short whatever its size."""
    if isinstance(select, re.Pattern):
        return f"re.compile({select.pattern!r})"
    if isinstance(select, list | tuple):
        shown = ", ".join(repr(str(s)) for s in select[:3])
        more = f", ... ({len(select)} paths)" if len(select) > 3 else ""
        return f"[{shown}{more}]"
    if isinstance(select, str | RemotePath):
        return repr(str(select))
    return getattr(select, "__name__", type(select).__name__)


def _check_level(verify: object) -> VerifyLevel:
    if verify not in _LEVELS or not isinstance(verify, str):
        raise ValueError(
            f"verify must be one of {', '.join(map(repr, _LEVELS))}, got {verify!r}"
        )
    return verify  # type: ignore[return-value]


class _Plan:
    """The selected files, where they go, and what each must match.

    Everything per file is kept in the parallel lists of :class:`Layout`
    (``k`` = position there); expectations are made on demand, on the worker
    threads that need them.
    """

    __slots__ = ("_algorithms", "files", "layout", "level", "override")

    def __init__(
        self,
        files: Sequence[File],
        layout: Layout,
        level: VerifyLevel,
        override: str | None,
    ) -> None:
        self.files = files
        self.layout = layout
        self.level = level
        self.override = override
        #: The dataset's algorithm names -> hashlib names (None: unsupported).
        self._algorithms: dict[str, str | None] = {}

    def check_algorithms(self) -> None:
        """Fail early (``ValueError``) on checksum algorithms hashlib lacks."""
        if self.level != "checksum" or self.override is not None:
            return
        names = {
            f.checksum_algorithm
            for f in map(self.files.__getitem__, self.layout.indices)
            if f.checksum and f.checksum_algorithm
        }
        unsupported = []
        for name in sorted(names):
            try:
                self._algorithms[name] = normalize_algorithm(name)
            except ValueError:
                unsupported.append(name)
        if unsupported:
            names_text = ", ".join(map(repr, unsupported))
            raise ValueError(
                f"the dataset's checksum algorithm(s) {names_text}"
                " are not supported here; pass checksum_algorithm=... to override"
                " them or verify='size' to check sizes only"
            )
        without = sum(
            1
            for f in map(self.files.__getitem__, self.layout.indices)
            if f.checksum and not f.checksum_algorithm
        )
        if without:
            _log.warning(
                "%d file(s) have a checksum but no checksum algorithm; only their"
                " size is checked (pass checksum_algorithm=... to check them)",
                without,
            )

    def expected(self, k: int) -> _local.Expected:
        """What file ``k`` must match at the chosen verification level."""
        file = self.files[self.layout.indices[k]]
        checksum = file.checksum if self.level == "checksum" else None
        algorithm = None
        if checksum:
            if self.override is not None:
                algorithm = self.override
            elif file.checksum_algorithm:
                algorithm = self._algorithms.get(file.checksum_algorithm)
        if algorithm is None:
            checksum = None
        return _local.Expected(
            self.layout.remote[k].posix, file.size, checksum, algorithm
        )


def _make_plan(
    files: Sequence[File],
    select: FileSelector,
    folder: RemotePath,
    target: str | os.PathLike[str],
    keep_tree: bool,
    level: VerifyLevel,
    override: str | None,
) -> _Plan:
    """Select and place files (pure; raises on any bad input)."""
    indices = select_files(files, select, folder)
    layout = plan_layout(
        files, indices, folder=folder, target=target, keep_tree=keep_tree
    )
    plan = _Plan(files, layout, level, override)
    plan.check_algorithms()
    return plan


async def _maybe_thread(func: Callable[[], _T], count: int) -> _T:
    """Run CPU work inline when small, on a worker thread when large.

    Large work here makes an object or more per file that lives on (paths,
    the plan, the result's files): it runs with automatic garbage collection
    paused, as building a dataset does, so that those objects do not trigger
    full collections of the whole process later, in the middle of the
    transfer (see :mod:`alink._gcpause`; three of 12-13 ms each stalled the
    loop while 20,000 files were verified).
    """
    if count > _OFFLOAD_FILES:
        return await anyio.to_thread.run_sync(_collector_paused_call, func)
    return func()


def _collector_paused_call(func: Callable[[], _T]) -> _T:
    with collector_paused():
        return func()


async def _run_all(
    tasks: Sequence[Callable[[], _T]],
    workers: int,
    on_done: Callable[[int], object] | None = None,
) -> list[_T]:
    """Run blocking tasks on up to ``workers`` threads; the first error cancels
    the rest and is raised as itself (never an ``ExceptionGroup``).

    ``on_done(k)`` is called on the event loop as task ``k`` completes."""
    results: list[_T | None] = [None] * len(tasks)
    errors: list[Exception] = []
    limiter = anyio.CapacityLimiter(workers)

    async def run(k: int, scope: anyio.CancelScope) -> None:
        try:
            results[k] = await anyio.to_thread.run_sync(tasks[k], limiter=limiter)
            if on_done is not None:
                on_done(k)
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async with task_group() as tg:
        for k in range(len(tasks)):
            tg.start_soon(run, k, tg.cancel_scope)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def _hash_batches(plan: _Plan, ks: Sequence[int]) -> list[list[int]]:
    """Group files so that each batch reads a bounded amount of data."""
    batches: list[list[int]] = []
    batch: list[int] = []
    weight = 0
    for k in ks:
        if batch and (weight >= _HASH_BATCH_BYTES or len(batch) >= _HASH_BATCH_FILES):
            batches.append(batch)
            batch = []
            weight = 0
        batch.append(k)
        if plan.level == "checksum":
            weight += plan.files[plan.layout.indices[k]].size
    if batch:
        batches.append(batch)
    return batches


async def _inspect_existing(local: Sequence[str]) -> list[Found]:
    """What already exists at the local paths (read only, worker threads)."""
    found: list[Found] = []
    for start in range(0, len(local), _INSPECT_CHUNK):
        stop = min(len(local), start + _INSPECT_CHUNK)
        found.extend(
            await anyio.to_thread.run_sync(_local.inspect_paths, local, start, stop)
        )
    return found


def _triage(
    plan: _Plan, folder: RemotePath, existing: list[Found], force: bool
) -> Triage:
    cwd = working_directory()
    layout = plan.layout

    def local(k: int) -> str:
        path = layout.local[k]
        return path if path.startswith("/") else against_cwd(cwd, path)

    return triage(
        existing,
        force=force,
        local=local,
        remote=lambda k: absolute_remote(layout.remote[k], cwd),
        source=absolute_remote(folder, cwd),
        size=lambda k: plan.files[layout.indices[k]].size,
        checksum=lambda k: plan.expected(k).checksum is not None,
    )


async def _decide(
    plan: _Plan, folder: RemotePath, *, force: bool
) -> tuple[list[int], set[int]]:
    """Which existing local entries to replace, and which are in place.

    Raises, before anything changes, when folders are where files go or
    when entries that may be the user's own are in the way (see
    ``_uptodate``).
    """
    local = plan.layout.local
    existing = await _inspect_existing(local)
    sorted_out = await _maybe_thread(
        lambda: _triage(plan, folder, existing, force), len(existing)
    )
    if sorted_out.folders:
        raise FileExistsError(
            f"{len(sorted_out.folders)} local path(s) are folders, where files"
            f" should go: {summarise([local[k] for k in sorted_out.folders])};"
            " nothing was downloaded"
        )

    def check(batch: list[int]) -> list[bool]:
        return [_local.is_up_to_date(local[k], plan.expected(k)) for k in batch]

    batches = _hash_batches(plan, sorted_out.compare)
    results = await _run_all(
        [functools.partial(check, b) for b in batches], _HASH_WORKERS
    )
    verdicts = {
        k: fresh
        for batch, outcome in zip(batches, results, strict=True)
        for k, fresh in zip(batch, outcome, strict=True)
    }
    replace, kept, conflicts = settle(sorted_out, verdicts)
    if conflicts:
        raise _conflict_error(local, conflicts)
    return replace, kept


def _conflict_error(local: Sequence[str], conflicts: dict[int, str]) -> Exception:
    paths = [local[k] for k in conflicts]
    reasons = list(conflicts.values())
    shown = "; ".join(
        f"{p!r} ({why})" for p, why in zip(paths[:_SHOWN], reasons, strict=False)
    )
    more = f"; and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    summary = (
        f"{len(paths)} local file(s) are in the way and differ from the"
        f" catalogue (they may be your own or edited): {shown}{more}; nothing"
        " was downloaded"
    )
    return LocalFileConflictError(
        f"{summary} (pass force=True to replace them)",
        paths=paths,
        reasons=reasons,
        summary=summary,
    )


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """What :meth:`alink.Client.download_files_with_report` did.

    Every selected file is counted once: in ``transferred``, ``replaced`` or
    ``kept``.

    Attributes:
        dataset: The dataset with ``local_path`` set on the selected files,
            as :meth:`~alink.Client.download_files` returns it.
        transferred: Files newly made at their local path (linked, copied).
        replaced: Existing entries replaced: alink's own stale links, links
            replaced by copies, and whatever ``force=True`` replaced.
        kept: Files already in place and left untouched (a link to the same
            file; a copy that matches the catalogue).
        transfer: How the files were made: ``"link"``, ``"copy"``, ... (the
            connection's ``method`` after the download, or its class name for
            third-party transfers); ``None`` when nothing had to be
            transferred. ``CopyFileTransfer(hard_link=True)`` says
            ``"hard link"``, ``"copy"`` (the kernel refused every link, e.g.
            across filesystems) or ``"hard link and copy"`` (some).
    """

    dataset: Dataset
    transferred: int = 0
    replaced: int = 0
    kept: int = 0
    transfer: str | None = None

    @property
    def selected(self) -> int:
        """How many files the download covered."""
        return self.transferred + self.replaced + self.kept


async def download_files(
    transfer: Downloader | None,
    dataset: Dataset,
    *,
    target: str | os.PathLike[str],
    select: FileSelector,
    checksum_algorithm: str | None,
    force: bool,
    keep_tree: bool,
    verify: VerifyLevel,
    progress: ProgressCallback | None,
    follow_target_symlinks: bool = False,
    verify_progress: VerifyProgressCallback | None = None,
) -> DownloadReport:
    """See :meth:`alink.Client.download_files_with_report`."""
    if transfer is None:
        raise ValueError(
            "cannot download files: this client has no file transfer; pass"
            " file_transfer=... (e.g. LinkFileTransfer()) when creating the client"
        )
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a Dataset, got {type(dataset).__name__}")
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"target must be a path, got {type(target).__name__}")
    target_text = os.fspath(target)
    if not isinstance(target_text, str):
        raise TypeError("target must be a text path, not bytes")
    if not target_text:
        raise ValueError("target must not be empty")
    # Checked and downloaded into under one spelling (see lexical_target).
    target_text = _local.lexical_target(target_text)
    for name, flag in (("force", force), ("keep_tree", keep_tree)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False")
    level = _check_level(verify)
    override = (
        normalize_algorithm(checksum_algorithm)
        if checksum_algorithm is not None
        else None
    )
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable progress(done, total)")
    if verify_progress is not None and not callable(verify_progress):
        raise TypeError(
            "verify_progress must be a callable"
            " verify_progress(files_done, files_total, bytes_done, bytes_total)"
        )
    folder = dataset.source_folder
    if folder is None:
        raise ValueError(
            f"dataset {dataset.pid or ''} has no source folder, so its files cannot"
            " be located; set one to download files".replace("  ", " ")
        )
    # A dataset outside the transfer's allowed_roots is refused even when
    # every file is in place already (no connection is made then).
    refuse = getattr(transfer, "_refuse_outside_roots", None)
    if refuse is not None:
        refuse(dataset)
    unlisted = unlisted_files(dataset)
    if unlisted and select is not False:
        # Nothing would be downloaded, and it would look like success.
        raise ValueError(
            f"dataset {dataset.pid or ''} came without its file list (SciCat"
            f" counts {unlisted} files): get it with client.get_dataset(pid),"
            " or query with files=True".replace("  ", " ")
        )
    files = dataset.files
    plan = await _maybe_thread(
        lambda: _make_plan(
            files, select, folder, target_text, keep_tree, level, override
        ),
        len(files),
    )
    count = len(plan.layout)
    if not count:
        on_remote = sum(f.is_on_remote for f in files)
        if select is not False and on_remote:
            warnings.warn(
                f"select={_describe_select(select)} matched none of the"
                f" {on_remote} file(s) on the remote of dataset {dataset.pid or ''};"
                " nothing"
                " was downloaded (File.remote_path is relative to the source"
                " folder, e.g. 'sub/file.dat')".replace("  ", " "),
                NothingSelectedWarning,
                # This function, the Client method that awaits it, its caller.
                stacklevel=3,
            )
        # As Scitacean: the target folder exists afterwards, even if empty.
        await anyio.to_thread.run_sync(_local.make_target, target_text)
        return DownloadReport(dataset.replace_files())
    if not follow_target_symlinks:
        await anyio.to_thread.run_sync(
            _local.check_target, target_text, plan.layout.local
        )
    replace, fresh = await _decide(plan, folder, force=force)
    pending = [k for k in range(count) if k not in fresh] if fresh else range(count)
    _log.debug(
        "downloading %d of %d selected file(s) (%d up to date, %d to replace)",
        len(pending),
        count,
        len(fresh),
        len(replace),
    )
    done = RunResult(created=0, already_done=0)
    how = None
    if pending:
        done, how = await _transfer(
            transfer, dataset, plan, pending, replace, progress, verify_progress
        )
    result = await _maybe_thread(lambda: _result(dataset, plan.layout), count)
    return DownloadReport(
        result,
        transferred=done.created - done.replaced,
        replaced=done.replaced,
        kept=len(fresh) + done.already_done,
        transfer=how,
    )


def _result(dataset: Dataset, layout: Layout) -> Dataset:
    files = list(dataset.files)
    for i, local in zip(layout.indices, layout.local, strict=True):
        files[i] = _with_local_path(files[i], Path(local))
    # Position-exact (a local-only file may share a remote path with a
    # downloaded one); the same as ``replace_files`` otherwise.
    return dataset._evolve(tuple(files))


def _method(connection: object) -> str:
    """How a connection makes files, for reports (``"link"``, ``"copy"``...)."""
    method = getattr(connection, "method", None)
    return method if isinstance(method, str) else type(connection).__name__


async def _transfer(
    transfer: Downloader,
    dataset: Dataset,
    plan: _Plan,
    pending: Sequence[int],
    replace: Sequence[int],
    progress: ProgressCallback | None,
    verify_progress: VerifyProgressCallback | None,
) -> tuple[RunResult, str]:
    layout = plan.layout
    everything = len(pending) == len(layout)
    remote = layout.remote if everything else [layout.remote[k] for k in pending]
    local = layout.local if everything else [layout.local[k] for k in pending]
    if not everything:
        position = {k: j for j, k in enumerate(pending)}
        replace = [position[k] for k in replace]
    checks = plan.level != "none"
    # As Scitacean passes it: the first file's path below the source folder.
    representative = plan.files[layout.indices[pending[0]]].remote_path
    async with transfer.connect_for_download(dataset, representative) as con:
        # alink's own connections take plain str paths and the extras below;
        # a transfer that only has Scitacean's shape gets Path objects.
        method: Callable[..., Any] = con.download_files
        if _accepts(method, "replace", "verify"):
            extra: dict[str, Any] = {"replace": replace}
            if checks:
                tally = _Tally(plan, pending)
                extra["verify"] = tally.verify
                if verify_progress is not None and _accepts(method, "verify_progress"):
                    extra["verify_progress"] = tally.reporter(verify_progress)
            if progress is not None:
                extra["progress"] = progress
            done = await method(remote=remote, local=local, **extra)
            if not isinstance(done, RunResult):  # a third party's
                done = RunResult(created=len(pending), already_done=0)
            return done, _method(con)
        if replace:
            shown = ", ".join(repr(local[j]) for j in replace[:5])
            raise FileExistsError(
                f"{len(replace)} local file(s) already exist and would have to be"
                f" replaced ({shown}), but the file transfer"
                f" {type(transfer).__name__} cannot replace files atomically;"
                " remove them or download into another folder"
            )
        await _transfer_then_verify(
            method, plan, pending, remote, local, checks, progress, verify_progress
        )
        return RunResult(created=len(pending), already_done=0), _method(con)


class _Tally:
    """Bytes verified so far, counted from worker threads, for progress.

    ``j`` is a position in ``pending``; its size is what the catalogue says.
    """

    __slots__ = ("_lock", "_pending", "_plan", "_sizes", "bytes", "total")

    def __init__(self, plan: _Plan, pending: Sequence[int]) -> None:
        self._plan = plan
        files, indices = plan.files, plan.layout.indices
        self._sizes = [files[indices[k]].size for k in pending]
        self._pending = pending
        self._lock = threading.Lock()
        self.bytes = 0
        self.total = sum(self._sizes)

    def add(self, j: int) -> None:
        with self._lock:
            self.bytes += self._sizes[j]

    def verify(self, j: int, path: str) -> None:
        """The engine's ``verify``: check the file, then count its bytes."""
        _local.verify_file(path, self._plan.expected(self._pending[j]))
        self.add(j)

    def reporter(
        self, verify_progress: VerifyProgressCallback
    ) -> Callable[[int, int], object]:
        """A ``(done, total)`` callback that adds the bytes and forwards."""
        return lambda done, total: verify_progress(done, total, self.bytes, self.total)


def _as_paths(local: Sequence[str]) -> list[Path]:
    return [Path(p) for p in local]


async def _transfer_then_verify(
    method: Callable[..., Any],
    plan: _Plan,
    pending: Sequence[int],
    remote: Sequence[RemotePath],
    local: Sequence[str],
    checks: bool,
    progress: ProgressCallback | None,
    verify_progress: VerifyProgressCallback | None,
) -> None:
    """For a transfer that only knows ``download_files(*, remote, local)``."""
    new_folders = await anyio.to_thread.run_sync(
        _local.missing_folders, sorted({os.path.dirname(p) for p in local})
    )
    total = len(pending)
    with_progress = progress is not None and _accepts(method, "progress")
    if progress is not None and not with_progress:
        progress(0, total)
    paths = await _maybe_thread(lambda: _as_paths(local), len(local))
    if with_progress:
        await method(remote=remote, local=paths, progress=progress)
    else:
        await method(remote=remote, local=paths)
    try:
        if checks:
            await _verify_all(plan, pending, local, verify_progress)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_local.remove_entries, local)
            await anyio.to_thread.run_sync(_local.remove_empty_folders, new_folders)
        raise
    if progress is not None and not with_progress:
        progress(total, total)


async def _verify_all(
    plan: _Plan,
    pending: Sequence[int],
    local: Sequence[str],
    verify_progress: VerifyProgressCallback | None,
) -> None:
    tally = _Tally(plan, pending)
    report = tally.reporter(verify_progress) if verify_progress else None
    checked = 0

    def check(batch: list[int]) -> list[str]:
        problems = []
        for j in batch:
            problem = _local.check_file(local[j], plan.expected(pending[j]))
            if problem is not None:
                problems.append(problem)
            tally.add(j)
        return problems

    # Batches of positions j in ``pending``, weighed by the files' sizes.
    weights = _hash_batches(plan, pending)
    position = {k: j for j, k in enumerate(pending)}
    batches = [[position[k] for k in batch] for batch in weights]

    def done(k: int) -> None:
        nonlocal checked
        checked += len(batches[k])
        if report is not None:
            report(checked, len(pending))

    if report is not None:
        report(0, len(pending))
    results = await _run_all(
        [functools.partial(check, b) for b in batches], _HASH_WORKERS, done
    )
    problems = [p for batch in results for p in batch]
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise IntegrityError(
            f"{len(problems)} downloaded file(s) do not match the catalogue and"
            f" were removed again: {'; '.join(problems[:5])}{more}"
        )
