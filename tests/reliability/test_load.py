"""Many downloads at once in one process: all complete correctly, and the
event loop stays free for other tasks meanwhile. The downloads mix the
transfers: links, copies and hard links, each kind sharing one transfer.

Responsiveness is shown by a ticker task that yields to the loop and counts
how often it got to run: a progress report reads the count, and a download
that blocked the loop would see the same count in all its reports. No
wall-clock thresholds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from alink import Dataset, RemotePath

from ._helpers import KINDS, check_entry, make_transfer, make_tree

pytestmark = pytest.mark.anyio

Sources = tuple[Path, list[str]]


def _datasets(root: Path, count: int, per_dataset: int) -> Sources:
    folders = 4
    names = []
    for d in range(count):
        names = make_tree(root / f"ds{d}", folders, per_dataset // folders)
    return root, names


@pytest.fixture(scope="module")
def sources_20x1k(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return _datasets(tmp_path_factory.mktemp("load"), 20, 1000)


@pytest.fixture(scope="module")
def sources_20x10k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    root = tmp_path_factory.mktemp("load10k")
    yield _datasets(root, 20, 10_000)
    shutil.rmtree(root)  # 200k inodes: tmpfs has a limit


async def run_concurrently(sources: Sources, out: Path, count: int) -> None:
    root, names = sources
    # One transfer of each kind, shared by the downloads of that kind.
    transfers = {kind: make_transfer(kind) for kind in KINDS}
    kinds = [KINDS[d % len(KINDS)] for d in range(count)]
    ticks = 0
    running = True
    #: Per download, the tick count each of its progress reports saw.
    seen: list[list[int]] = [[] for _ in range(count)]

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await anyio.lowlevel.checkpoint()  # runs once per loop round
            ticks += 1

    async def download(d: int) -> None:
        source = root / f"ds{d}"
        dataset = Dataset(type="raw", source_folder=str(source))
        transfer = transfers[kinds[d]]
        async with transfer.connect_for_download(dataset, names[0]) as con:
            await con.download_files(
                remote=[RemotePath(f"{source}/{n}") for n in names],
                local=[out / f"ds{d}" / n for n in names],
                progress=lambda done, total: seen[d].append(ticks),
            )

    async with anyio.create_task_group() as outer:
        outer.start_soon(ticker)
        start_ticks = ticks
        async with anyio.create_task_group() as tg:
            for d in range(count):
                tg.start_soon(download, d)
        during = ticks - start_ticks
        running = False

    for d in range(count):
        for n in names:
            check_entry(kinds[d], f"{root}/ds{d}/{n}", out / f"ds{d}" / n)
    # The ticker ran all along: every download saw it tick between its
    # start and its last report (several thread hand-offs apart). A download
    # whose work blocked the loop would see one count in all its reports.
    assert during > 0
    for reports in seen:
        assert len(reports) >= 2, reports  # (0, total), then the work
        assert reports == sorted(reports)
        assert reports[-1] > reports[0], reports


async def test_20_concurrent_downloads(tmp_path: Path, sources_20x1k: Sources) -> None:
    await run_concurrently(sources_20x1k, tmp_path / "out", 20)


@pytest.mark.slow
async def test_20_concurrent_downloads_of_10k(
    tmp_path: Path, sources_20x10k: Sources
) -> None:
    try:
        await run_concurrently(sources_20x10k, tmp_path / "out", 20)
    finally:
        shutil.rmtree(tmp_path / "out")
