"""``Client.download_datasets``: many datasets on one client, each all or nothing.

Each dataset is fetched (when given by PID) and downloaded with
:meth:`~alink.Client.download_files` into its own folder below the target.
At most ``max_concurrent`` datasets are in flight at once; they share the
client's connection pool and file transfer.

Failures stay per dataset: a dataset that fails is rolled back by its own
download (nothing of it is left), the others go on, and the summary says
which failed and why. Only bad arguments (checked before anything starts)
and cancellation end the whole call; on cancellation, datasets already
finished stay, the ones in flight are rolled back.

The folder of each dataset is claimed before its download starts: two
datasets never write into the same folder, nor one into the other's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import anyio
import anyio.to_thread

from .._errors import DownloadsFailedError, UnsafePathError
from .._groups import task_group
from .._model import PID, Dataset
from ._download import VerifyLevel, unlisted_files
from ._select import FileSelector

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "DatasetDownload",
    "DownloadSummary",
    "DownloadsProgress",
    "FolderNamer",
    "default_folder",
    "download_datasets",
]

_log = logging.getLogger("alink.client")

#: Default number of datasets downloaded at once.
DEFAULT_MAX_CONCURRENT = 4

#: ``folder(dataset)``: the folder below the target for one dataset.
FolderNamer = Callable[[Dataset], "str | os.PathLike[str]"]


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetDownload:
    """What happened to one dataset of :meth:`~alink.Client.download_datasets`.

    Attributes:
        pid: The dataset's PID as given (or as the dataset holds it).
        target: Its folder (``None`` if it failed before one was chosen).
        dataset: The downloaded dataset (``local_path`` set on its files);
            ``None`` if it failed.
        error: Why it failed (the exception its download raised), or ``None``.
        files: Files now in place: ``transferred + replaced + kept``.
        transferred: Of those, the files this call newly linked or copied.
        replaced: Existing entries it replaced (see
            :class:`~alink.DownloadReport`).
        kept: Files already in place, left untouched.
        transfer: How files were made (``"link"``, ``"copy"``, ...), ``None``
            when nothing had to be transferred.
        size: Bytes of the files in place.
        seconds: Time spent on it (fetching included).
    """

    pid: str
    target: Path | None
    dataset: Dataset | None = None
    error: Exception | None = None
    files: int = 0
    transferred: int = 0
    replaced: int = 0
    kept: int = 0
    transfer: str | None = None
    size: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the dataset was downloaded."""
        return self.error is None

    def describe(self) -> str:
        """One line for people."""
        if self.error is not None:
            text = " ".join(str(self.error).split()) or type(self.error).__name__
            return f"{self.pid}: failed: {text}"
        parts = [f"{self.transferred} transferred"]
        if self.replaced:
            parts.append(f"{self.replaced} replaced")
        if self.kept:
            parts.append(f"{self.kept} already in place")
        return (
            f"{self.pid}: {self.files} files ({self.size} bytes) in {self.target}"
            f" ({', '.join(parts)})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadSummary:
    """Every dataset's outcome, in the order they were given.

    Attributes:
        results: One :class:`DatasetDownload` per dataset (repeats removed).
        seconds: Time of the whole call.
    """

    results: tuple[DatasetDownload, ...]
    seconds: float = 0.0

    @property
    def succeeded(self) -> tuple[DatasetDownload, ...]:
        """The datasets that were downloaded."""
        return tuple(r for r in self.results if r.ok)

    @property
    def failed(self) -> tuple[DatasetDownload, ...]:
        """The datasets that failed (each rolled back)."""
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        """Whether every dataset was downloaded."""
        return all(r.ok for r in self.results)

    def __len__(self) -> int:
        return len(self.results)

    def describe(self) -> str:
        """A line per dataset, then the totals."""
        lines = [r.describe() for r in self.results]
        lines.append(
            f"{len(self.succeeded)} of {len(self.results)} datasets downloaded,"
            f" {len(self.failed)} failed"
        )
        return "\n".join(lines)

    def raise_on_failure(self) -> DownloadSummary:
        """``self`` if every dataset was downloaded, else raise.

        Raises:
            DownloadsFailedError: with the failed datasets (and this summary).
        """
        failed = self.failed
        if failed:
            shown = "; ".join(r.describe() for r in failed[:5])
            more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
            raise DownloadsFailedError(
                f"{len(failed)} of {len(self.results)} datasets failed: {shown}{more}",
                summary=self,
            )
        return self


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadsProgress:
    """Progress of all datasets at once (passed to ``progress``).

    Attributes:
        datasets: How many datasets the call has.
        finished: Datasets done, downloaded or failed.
        failed: Of those, the failed ones.
        files_done: Files transferred so far, over all datasets.
        files_total: Files to transfer in the datasets started so far (grows
            as datasets are fetched).
    """

    datasets: int
    finished: int
    failed: int
    files_done: int
    files_total: int


def default_folder(pid: str | PID) -> str:
    """The folder name for a dataset: its PID without the prefix, escaped.

    ``"20.500.12269/abc-1"`` gives ``"abc-1"``; characters that cannot be in
    one folder name (``/``, ``%``, ...) are percent-escaped.

    Raises:
        UnsafePathError: the name would be ``.`` or ``..``.
    """
    part = PID.parse(pid).pid
    name = quote(part, safe="")
    if name in (".", ".."):
        raise UnsafePathError(f"cannot make a folder name from the PID {str(pid)!r}")
    return name


@dataclasses.dataclass(slots=True)
class _Item:
    index: int
    pid: str
    dataset: Dataset | None  # given as a Dataset
    folder: str | None  # default folder name, if no namer


def _items(datasets: Iterable[str | PID | Dataset], *, named: bool) -> list[_Item]:
    items: list[_Item] = []
    seen: set[str] = set()
    if isinstance(datasets, str | PID | Dataset):
        raise TypeError("datasets must be a list of PIDs or datasets, not a single one")
    for index, entry in enumerate(datasets):
        given: Dataset | None = None
        if isinstance(entry, Dataset):
            given = entry
            raw = entry.fields.get("pid")
            if not isinstance(raw, str) or not raw:
                if not named:
                    raise ValueError(
                        f"datasets[{index}] has no pid: give folder= to name its folder"
                    )
                raw = f"<dataset {index}>"
            pid = raw
        elif isinstance(entry, PID):
            pid = str(entry)
        elif isinstance(entry, str):
            pid = entry.strip()
            if not pid:
                raise ValueError(f"datasets[{index}] is an empty PID")
        else:
            raise TypeError(
                f"datasets[{index}] must be a PID (str or alink.PID) or an"
                f" alink.Dataset, got {type(entry).__name__}"
            )
        if pid in seen:
            continue  # the same dataset twice: download it once
        seen.add(pid)
        items.append(
            _Item(len(items), pid, given, None if named else default_folder(pid))
        )
    if not named:
        owners: dict[str, str] = {}
        for item in items:
            assert item.folder is not None
            other = owners.setdefault(item.folder, item.pid)
            if other != item.pid:
                raise ValueError(
                    f"datasets {other!r} and {item.pid!r} would share the folder"
                    f" {item.folder!r}; give folder= to name folders yourself"
                )
    return items


class _Claims:
    """Folders taken by datasets of one call; none inside another."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, ...], str] = {}

    def claim(self, folder: Path, pid: str) -> None:
        parts = Path(os.path.normpath(folder)).parts
        for taken, owner in self._taken.items():
            shorter = min(len(taken), len(parts))
            if taken[:shorter] == parts[:shorter]:
                raise ValueError(
                    f"the folder {folder} overlaps {Path(*taken)}, the folder of"
                    f" dataset {owner!r}; each dataset needs a folder of its own"
                )
        self._taken[parts] = pid


def _relative_folder(name: str | os.PathLike[str], pid: str) -> Path:
    if not isinstance(name, str | os.PathLike):
        raise TypeError(
            f"folder() must return a relative path, got {type(name).__name__}"
            f" for {pid!r}"
        )
    path = Path(name)
    if path.is_absolute() or path.anchor:
        raise UnsafePathError(
            f"folder() gave {str(path)!r} for {pid!r}: it must be relative to the"
            " target"
        )
    if ".." in path.parts:
        raise UnsafePathError(
            f"folder() gave {str(path)!r} for {pid!r}: '..' would leave the target"
        )
    return path


async def download_datasets(
    client: Client,
    datasets: Iterable[str | PID | Dataset],
    *,
    target: str | os.PathLike[str],
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    folder: FolderNamer | None = None,
    progress: Callable[[DownloadsProgress], object] | None = None,
    select: FileSelector = True,
    select_for: Callable[[Dataset], FileSelector] | None = None,
    checksum_algorithm: str | None = None,
    force: bool = False,
    keep_tree: bool = False,
    verify: VerifyLevel = "checksum",
    follow_target_symlinks: bool = False,
) -> DownloadSummary:
    """See :meth:`alink.Client.download_datasets`."""
    began = time.perf_counter()
    if client.file_transfer is None:
        raise ValueError(
            "this Client has no file transfer: create it with file_transfer=..."
            " (e.g. LinkFileTransfer()) or a profile that names one"
        )
    if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
        raise TypeError("max_concurrent must be an integer")
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
    if folder is not None and not callable(folder):
        raise TypeError("folder must be a callable folder(dataset) -> relative path")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable progress(DownloadsProgress)")
    if select_for is not None and not callable(select_for):
        raise TypeError("select_for must be a callable select_for(dataset) -> select")
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"target must be a path, got {type(target).__name__}")
    root = Path(target)
    if await anyio.to_thread.run_sync(lambda: root.exists() and not root.is_dir()):
        raise NotADirectoryError(f"the target {root} exists and is not a folder")
    if not follow_target_symlinks:
        # The same rule as for one dataset's target folder (each dataset's
        # own folder inside it is checked by its download).
        leads_to = await anyio.to_thread.run_sync(_symlink_target, root)
        if leads_to is not None:
            raise UnsafePathError(
                f"the target folder {str(root)!r} is a symlink to {leads_to!r};"
                " pass follow_target_symlinks=True to download through it"
            )
    items = _items(datasets, named=folder is not None)

    results: list[DatasetDownload | None] = [None] * len(items)
    claims = _Claims()
    done_by: list[int] = [0] * len(items)
    total_by: list[int] = [0] * len(items)
    counts = {"finished": 0, "failed": 0}
    # The caller's progress callback failing stops the whole call (in-flight
    # datasets roll back) and its error is raised, plain.
    broken: list[Exception] = []
    scope = anyio.CancelScope()

    def report() -> None:
        if progress is None or broken:
            return
        snapshot = DownloadsProgress(
            datasets=len(items),
            finished=counts["finished"],
            failed=counts["failed"],
            files_done=sum(done_by),
            files_total=sum(total_by),
        )
        try:
            progress(snapshot)
        except Exception as exc:
            broken.append(exc)
            scope.cancel()

    async def one(item: _Item) -> DatasetDownload:
        started = time.perf_counter()
        place: Path | None = None

        def file_progress(done: int, total: int) -> None:
            done_by[item.index], total_by[item.index] = done, total
            report()

        try:
            dataset = item.dataset
            if dataset is None:
                dataset = await client.get_dataset(item.pid)
            missing = unlisted_files(dataset)
            if missing:
                raise ValueError(
                    f"dataset {item.pid!r} came without its file list (SciCat"
                    f" counts {missing} files): query with files=True, or pass"
                    " its PID"
                )
            name = folder(dataset) if folder is not None else item.folder
            assert name is not None
            place = root / _relative_folder(name, item.pid)
            chosen = select_for(dataset) if select_for is not None else select
            claims.claim(place, item.pid)
            outcome = await client.download_files_with_report(
                dataset,
                target=place,
                select=chosen,
                checksum_algorithm=checksum_algorithm,
                force=force,
                keep_tree=keep_tree,
                verify=verify,
                progress=file_progress,
                follow_target_symlinks=follow_target_symlinks,
            )
        except Exception as exc:
            _log.info("dataset %r failed: %s", item.pid, exc)
            done_by[item.index] = total_by[item.index] = 0
            return DatasetDownload(
                pid=item.pid,
                target=place,
                error=exc,
                seconds=time.perf_counter() - started,
            )
        result = outcome.dataset
        in_place = [f for f in result.files if f.local_path is not None]
        return DatasetDownload(
            pid=item.pid,
            target=place,
            dataset=result,
            files=len(in_place),
            transferred=outcome.transferred,
            replaced=outcome.replaced,
            kept=outcome.kept,
            transfer=outcome.transfer,
            size=sum(f.size for f in in_place),
            seconds=time.perf_counter() - started,
        )

    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # shared: each item goes to one worker
            outcome = await one(item)
            results[item.index] = outcome
            counts["finished"] += 1
            counts["failed"] += 0 if outcome.ok else 1
            report()

    with scope:
        report()
        async with task_group() as tg:
            for _ in range(min(max_concurrent, len(items))):
                tg.start_soon(worker)
    if broken:
        raise broken[0]
    finished = tuple(r for r in results if r is not None)
    return DownloadSummary(finished, seconds=time.perf_counter() - began)


def _symlink_target(path: Path) -> str | None:
    """Where ``path`` leads if it is a symlink, else ``None`` (blocking)."""
    return os.path.realpath(path) if path.is_symlink() else None
