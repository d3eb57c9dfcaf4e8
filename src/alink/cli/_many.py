"""``alink download PID PID ...`` (or ``--pids-from FILE``): many datasets at once.

Each dataset goes to its own folder below ``--target`` (the PID without its
prefix), through one client and :meth:`~alink.Client.download_datasets`:
each dataset all or nothing, a failed one does not stop or undo the others.
The command prints a line per dataset and exits non-zero if any failed —
with that failure's exit code when all failures share one, else
:attr:`~._exit.ExitCode.DATASETS_FAILED`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click

from .._model import Dataset, File
from ..client import DownloadsProgress, DownloadSummary
from . import _format
from ._auth import Login, connect
from ._download import (
    _VERBS,
    Mode,
    SftpServer,
    VerifyLevel,
    _selector,
    make_transfer,
    what_was_done,
)
from ._exit import ExitCode, classify
from ._progress import Reporter

__all__ = ["ManyRequest", "download_many", "exit_code", "read_pids", "summary_lines"]


@dataclass(frozen=True, slots=True)
class ManyRequest:
    """Everything a many-dataset ``alink download`` was asked to do, validated."""

    pids: tuple[str, ...]
    target: Path
    mode: Mode
    patterns: tuple[re.Pattern[str], ...]
    keep_tree: bool
    force: bool
    verify: VerifyLevel
    allowed_roots: tuple[str, ...] | None
    max_concurrent: int
    sftp: SftpServer | None = None


def read_pids(stream: IO[str], name: str) -> list[str]:
    """PIDs from a file: one a line; blank lines and ``#`` comments are skipped."""
    pids: list[str] = []
    for number, line in enumerate(stream):
        # A byte-order mark (editors on Windows write one) is not part of a PID.
        text = (line.removeprefix("\ufeff") if number == 0 else line).strip()
        if text and not text.startswith("#"):
            pids.append(text)
    if not pids:
        raise click.UsageError(f"--pids-from {name}: no PIDs in it")
    return pids


async def download_many(
    request: ManyRequest, login: Login, reporter: Reporter
) -> DownloadSummary:
    """Download every dataset of ``request`` into its own folder."""
    transfer = make_transfer(request.mode, request.allowed_roots, request.sftp)
    doing, _ = _VERBS[request.mode]
    count = len(request.pids)
    async with connect(login, transfer) as client:
        reporter.begin(f"{doing} {_format.plural(count, 'dataset')}", total=count)

        def progress(state: DownloadsProgress) -> None:
            reporter.update(state.finished, state.datasets)

        summary = await client.download_datasets(
            request.pids,
            target=request.target,
            max_concurrent=request.max_concurrent,
            progress=progress,
            select_for=lambda dataset: _select(dataset, request.patterns),
            force=request.force,
            keep_tree=request.keep_tree,
            verify=request.verify,
        )
        failed = len(summary.failed)
        reporter.end(
            f"{_format.plural(count - failed, 'dataset')} ready"
            + (f", {failed} failed" if failed else "")
            + f" in {_format.duration(summary.seconds)}"
        )
    return summary


def _select(
    dataset: Dataset, patterns: Sequence[re.Pattern[str]]
) -> bool | Callable[[File], bool]:
    """The ``--select`` files of one dataset; none matching fails that dataset."""
    select = _selector(dataset, patterns)
    if callable(select) and not any(select(f) for f in dataset.files if f.is_on_remote):
        shown = " ".join(f"--select {p.pattern!r}" for p in patterns)
        raise click.UsageError(f"no file of dataset {dataset.pid} matches {shown}")
    return select


def summary_lines(
    summary: DownloadSummary, request: ManyRequest
) -> tuple[list[str], list[str]]:
    """``(stdout lines, stderr lines)``: one line per dataset, then the totals."""
    out: list[str] = []
    err: list[str] = []
    for result in summary.results:
        if result.error is not None:
            _, message = classify(result.error)
            err.append(f"alink: error: {result.pid}: {message}")
            continue
        done = what_was_done(
            request.mode,
            result.transfer,
            result.transferred,
            result.replaced,
            result.kept,
        )
        out.append(
            f"{result.pid}: {_format.plural(result.files, 'file')}"
            f" ({_format.size(result.size)}) ready in {result.target}"
            f" ({done}; {_format.duration(result.seconds)})"
        )
    failed = len(summary.failed)
    total = len(summary.results)
    out.append(
        f"{total - failed} of {_format.plural(total, 'dataset')} ready in"
        f" {request.target}" + (f"; {failed} failed" if failed else "")
    )
    return out, err


def exit_code(errors: Iterable[BaseException]) -> ExitCode:
    """OK, the code every failure shares, or DATASETS_FAILED for a mix."""
    codes = {classify(e)[0] for e in errors}
    if not codes:
        return ExitCode.OK
    if len(codes) == 1:
        return codes.pop()
    return ExitCode.DATASETS_FAILED


def unique(pids: Sequence[str]) -> tuple[str, ...]:
    """The PIDs in order, each once."""
    return tuple(dict.fromkeys(pids))
