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
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import anyio
import anyio.to_thread

from .._errors import IntegrityError
from .._model import Dataset, File
from .._paths import RemotePath
from ..transfer._engine import ProgressCallback
from . import _local
from ._checksum import normalize_algorithm
from ._layout import Placement, plan_layout
from ._select import FileSelector, select_files

__all__ = ["DownloadTransfer", "VerifyLevel", "download_files"]

_log = logging.getLogger("alink.client")

VerifyLevel = Literal["checksum", "size", "none"]
_LEVELS: tuple[str, ...] = ("checksum", "size", "none")

#: Above this many files, planning and result building run on a worker thread.
_OFFLOAD_FILES = 2000
#: Paths looked at per thread hand-off when checking what exists locally.
_INSPECT_CHUNK = 8192
#: A checksum batch ends after this many bytes or this many files.
_HASH_BATCH_BYTES = 64 << 20
_HASH_BATCH_FILES = 512
#: Threads used at once for checksums (hashlib releases the GIL).
_HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))

_T = TypeVar("_T")


class DownloadTransfer(Protocol):
    """What ``download_files`` needs of a file transfer (Scitacean's shape)."""

    def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AbstractAsyncContextManager[Any]:
        """Connect to the dataset's source folder; yields a connection with
        ``async download_files(*, remote, local, ...)``."""


def _accepts(method: Callable[..., Any], *names: str) -> bool:
    """Whether ``method`` takes every one of ``names`` as a keyword (named
    explicitly: a ``**kwargs`` wrapper might drop them silently)."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return all(n in parameters and parameters[n].kind in keyword for n in names)


def _check_level(verify: object) -> VerifyLevel:
    if verify not in _LEVELS or not isinstance(verify, str):
        raise ValueError(
            f"verify must be one of {', '.join(map(repr, _LEVELS))}, got {verify!r}"
        )
    return verify  # type: ignore[return-value]


class _Job:
    """One selected file on its way: placement, expectation, and the decision."""

    __slots__ = ("expected", "placement", "replace", "up_to_date")

    def __init__(self, placement: Placement, expected: _local.Expected) -> None:
        self.placement = placement
        self.expected = expected
        self.replace = False
        self.up_to_date = False


def _expectation(
    file: File,
    remote: RemotePath,
    level: VerifyLevel,
    override: str | None,
    unsupported: dict[str, None],
) -> _local.Expected:
    checksum = file.checksum if level == "checksum" else None
    algorithm: str | None = None
    if checksum is not None:
        if override is not None:
            algorithm = override
        elif file.checksum_algorithm:
            try:
                algorithm = normalize_algorithm(file.checksum_algorithm)
            except ValueError:
                unsupported[file.checksum_algorithm] = None
        if algorithm is None:
            checksum = None
    return _local.Expected(remote.posix, file.size, checksum, algorithm)


def _plan(
    files: Sequence[File],
    select: FileSelector,
    folder: RemotePath,
    target: Path,
    keep_tree: bool,
    level: VerifyLevel,
    override: str | None,
) -> list[_Job]:
    """Select and place files, and fix what each must match (pure, may raise)."""
    indices = select_files(files, select, folder)
    placements = plan_layout(
        files, indices, folder=folder, target=target, keep_tree=keep_tree
    )
    unsupported: dict[str, None] = {}
    jobs = [
        _Job(
            p,
            _expectation(files[p.index], p.remote, level, override, unsupported),
        )
        for p in placements
    ]
    if unsupported:
        raise ValueError(
            "the dataset's checksum algorithm(s)"
            f" {', '.join(map(repr, unsupported))} are not supported here; pass"
            " checksum_algorithm=... to override them or verify='size' to check"
            " sizes only"
        )
    without = sum(
        1
        for j in jobs
        if j.expected.checksum is None and files[j.placement.index].checksum
    )
    if without:
        _log.warning(
            "%d file(s) have a checksum but no checksum algorithm; only their"
            " size is checked (pass checksum_algorithm=... to check them)",
            without,
        )
    return jobs


async def _maybe_thread(func: Callable[[], _T], count: int) -> _T:
    """Run CPU work inline when small, on a worker thread when large."""
    if count > _OFFLOAD_FILES:
        return await anyio.to_thread.run_sync(func)
    return func()


async def _run_all(tasks: Sequence[Callable[[], _T]], workers: int) -> list[_T]:
    """Run blocking tasks on up to ``workers`` threads; the first error cancels
    the rest and is raised as itself (never an ``ExceptionGroup``)."""
    results: list[_T | None] = [None] * len(tasks)
    errors: list[Exception] = []
    limiter = anyio.CapacityLimiter(workers)

    async def run(k: int, scope: anyio.CancelScope) -> None:
        try:
            results[k] = await anyio.to_thread.run_sync(tasks[k], limiter=limiter)
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for k in range(len(tasks)):
            tg.start_soon(run, k, tg.cancel_scope)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def _hash_batches(jobs: Sequence[_Job]) -> list[list[_Job]]:
    """Group jobs so that each batch hashes a bounded amount of data."""
    batches: list[list[_Job]] = [[]]
    weight = 0
    for job in jobs:
        if batches[-1] and (
            weight >= _HASH_BATCH_BYTES or len(batches[-1]) >= _HASH_BATCH_FILES
        ):
            batches.append([])
            weight = 0
        batches[-1].append(job)
        weight += job.expected.size if job.expected.checksum else 0
    return batches if batches[0] else []


async def _inspect_existing(
    jobs: Sequence[_Job],
) -> list[tuple[int, _local.LocalState]]:
    paths = [os.fspath(j.placement.local) for j in jobs]
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(os.path.dirname(path), []).append(i)
    chunks: list[list[tuple[str, list[int]]]] = [[]]
    size = 0
    for group in groups.items():
        if size >= _INSPECT_CHUNK:
            chunks.append([])
            size = 0
        chunks[-1].append(group)
        size += len(group[1])
    found: list[tuple[int, _local.LocalState]] = []
    for chunk in chunks:
        found.extend(await anyio.to_thread.run_sync(_local.inspect_paths, paths, chunk))
    return found


async def _decide(jobs: Sequence[_Job], *, force: bool, level: VerifyLevel) -> None:
    """Mark each existing local entry as up to date (kept) or to be replaced."""
    existing = await _inspect_existing(jobs)
    folders = [
        os.fspath(jobs[i].placement.local)
        for i, state in existing
        if state is _local.LocalState.FOLDER
    ]
    if folders:
        shown = ", ".join(map(repr, folders[:5]))
        raise FileExistsError(
            f"{len(folders)} local path(s) are folders, where files should go:"
            f" {shown}; nothing was downloaded"
        )
    candidates: list[_Job] = []
    for i, _ in existing:
        job = jobs[i]
        if force or level != "checksum" or job.expected.checksum is None:
            job.replace = True
        else:
            candidates.append(job)

    def check(batch: list[_Job]) -> list[bool]:
        return [
            _local.is_up_to_date(os.fspath(j.placement.local), j.expected)
            for j in batch
        ]

    batches = _hash_batches(candidates)
    results = await _run_all(
        [functools.partial(check, b) for b in batches],
        _HASH_WORKERS,
    )
    for batch, verdicts in zip(batches, results, strict=True):
        for job, fresh in zip(batch, verdicts, strict=True):
            job.up_to_date = fresh
            job.replace = not fresh


async def download_files(
    transfer: DownloadTransfer | None,
    dataset: Dataset,
    *,
    target: str | os.PathLike[str],
    select: FileSelector,
    checksum_algorithm: str | None,
    force: bool,
    keep_tree: bool,
    verify: VerifyLevel,
    progress: ProgressCallback | None,
) -> Dataset:
    """See :meth:`alink.Client.download_files`."""
    if transfer is None:
        raise ValueError(
            "cannot download files: this client has no file transfer; pass"
            " file_transfer=... (e.g. LinkFileTransfer()) when creating the client"
        )
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a Dataset, got {type(dataset).__name__}")
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"target must be a path, got {type(target).__name__}")
    target_path = Path(os.fspath(target))
    if not os.fspath(target_path):
        raise ValueError("target must not be empty")
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
    folder = dataset.source_folder
    if folder is None:
        raise ValueError(
            f"dataset {dataset.pid or ''} has no source folder, so its files cannot"
            " be located; set one to download files".replace("  ", " ")
        )
    files = dataset.files
    jobs = await _maybe_thread(
        lambda: _plan(files, select, folder, target_path, keep_tree, level, override),
        len(files),
    )
    if not jobs:
        return dataset.replace_files()
    await _decide(jobs, force=force, level=level)
    pending = [j for j in jobs if not j.up_to_date]
    _log.debug(
        "downloading %d of %d selected file(s) (%d up to date, %d to replace)",
        len(pending),
        len(jobs),
        len(jobs) - len(pending),
        sum(1 for j in pending if j.replace),
    )
    if pending:
        await _transfer(transfer, dataset, folder, pending, level, progress)
    return await _maybe_thread(lambda: _result(dataset, jobs), len(jobs))


def _result(dataset: Dataset, jobs: Sequence[_Job]) -> Dataset:
    files = list(dataset.files)
    for job in jobs:
        index = job.placement.index
        files[index] = files[index].downloaded(local_path=job.placement.local)
    # Position-exact (a local-only file may share a remote path with a
    # downloaded one); same as ``replace_files`` otherwise.
    return dataset._evolve(tuple(files))


async def _transfer(
    transfer: DownloadTransfer,
    dataset: Dataset,
    folder: RemotePath,
    jobs: Sequence[_Job],
    level: VerifyLevel,
    progress: ProgressCallback | None,
) -> None:
    remote = [j.placement.remote for j in jobs]
    local = [j.placement.local for j in jobs]
    replace = [k for k, j in enumerate(jobs) if j.replace]
    checks = level != "none"
    representative = remote[0].relative_to(folder.resolve())
    async with transfer.connect_for_download(dataset, representative) as con:
        method = con.download_files
        if _accepts(method, "replace", "verify"):
            extra: dict[str, Any] = {"replace": replace}
            if checks:
                extra["verify"] = lambda k, path: _local.verify_file(
                    path, jobs[k].expected
                )
            if progress is not None:
                extra["progress"] = progress
            await method(remote=remote, local=local, **extra)
            return
        if replace:
            shown = ", ".join(repr(os.fspath(local[k])) for k in replace[:5])
            raise FileExistsError(
                f"{len(replace)} local file(s) already exist and would have to be"
                f" replaced ({shown}), but the file transfer"
                f" {type(transfer).__name__} cannot replace files atomically;"
                " remove them or download into another folder"
            )
        await _transfer_then_verify(method, jobs, remote, local, checks, progress)


async def _transfer_then_verify(
    method: Callable[..., Any],
    jobs: Sequence[_Job],
    remote: list[RemotePath],
    local: list[Path],
    checks: bool,
    progress: ProgressCallback | None,
) -> None:
    """For a transfer that only knows ``download_files(*, remote, local)``."""
    paths = [os.fspath(p) for p in local]
    new_folders = await anyio.to_thread.run_sync(
        _local.missing_folders, sorted({os.path.dirname(p) for p in paths})
    )
    with_progress = progress is not None and _accepts(method, "progress")
    if progress is not None and not with_progress:
        progress(0, len(jobs))
    if with_progress:
        await method(remote=remote, local=local, progress=progress)
    else:
        await method(remote=remote, local=local)
    try:
        if checks:
            await _verify_all(jobs, paths)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_local.remove_entries, paths)
            await anyio.to_thread.run_sync(_local.remove_empty_folders, new_folders)
        raise
    if progress is not None and not with_progress:
        progress(len(jobs), len(jobs))


async def _verify_all(jobs: Sequence[_Job], paths: Sequence[str]) -> None:
    index = {id(j): k for k, j in enumerate(jobs)}

    def check(batch: list[_Job]) -> list[str]:
        problems = []
        for job in batch:
            problem = _local.check_file(paths[index[id(job)]], job.expected)
            if problem is not None:
                problems.append(problem)
        return problems

    batches = _hash_batches(jobs)
    results = await _run_all(
        [functools.partial(check, b) for b in batches],
        _HASH_WORKERS,
    )
    problems = [p for batch in results for p in batch]
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise IntegrityError(
            f"{len(problems)} downloaded file(s) do not match the catalogue and"
            f" were removed again: {'; '.join(problems[:5])}{more}"
        )
