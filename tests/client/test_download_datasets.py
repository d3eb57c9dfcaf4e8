"""Client.download_datasets: many datasets on one client, each all or nothing."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from alink import (
    Client,
    Dataset,
    DownloadsFailedError,
    FileNotAccessibleError,
    IntegrityError,
    RemotePath,
    ScicatCommError,
    UnsafePathError,
)
from alink.client import DownloadsProgress, DownloadSummary, default_folder
from alink.testing import ScicatServer, dataset_from_directory, make_dataset
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.typing import DownloadConnection, Downloader

pytestmark = pytest.mark.anyio

PREFIX = "20.500.12269"
GOOD = [f"{PREFIX}/run-{n}" for n in range(6)]
MISSING = f"{PREFIX}/storage-gone"
BAD_CHECKSUM = f"{PREFIX}/bad-checksum"
UNSAFE = f"{PREFIX}/unsafe"
UNKNOWN = f"{PREFIX}/nobody-knows"


@dataclass
class Site:
    server: ScicatServer
    storage: Path
    target: Path

    def files_of(self, n: int) -> dict[str, bytes]:
        return {f"scan/frame{k}.h5": f"run {n} frame {k}".encode() for k in range(3)}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    storage = tmp_path / "facility"
    generated = []
    site = Site(None, storage, tmp_path / "downloads")  # type: ignore[arg-type]
    for n, pid in enumerate(GOOD):
        root = storage / f"run-{n}"
        for rel, data in site.files_of(n).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        generated.append(dataset_from_directory(root, pid=pid))
    (storage / "secret.txt").write_bytes(b"not part of a dataset")
    generated += [
        make_dataset(pid=MISSING, source_folder=storage / "gone", files=[("x", 1)]),
        make_dataset(
            pid=BAD_CHECKSUM,
            source_folder=storage / "run-0",
            files=[
                ("scan/frame0.h5", len(site.files_of(0)["scan/frame0.h5"]), "0" * 32)
            ],
        ),
        make_dataset(
            pid=UNSAFE, source_folder=storage / "run-1", files=[("../secret.txt", 21)]
        ),
    ]
    server = ScicatServer(
        datasets=[g.dataset for g in generated],
        orig_datablocks=[b for g in generated for b in g.orig_datablocks],
        users={"user1": "pw1"},
    )
    with server:
        site.server = server
        yield site


def _client(site: Site, transfer: Downloader | None = None) -> Client:
    return Client.from_token(
        url=site.server.url,
        token=site.server.token("user1"),
        file_transfer=transfer if transfer is not None else LinkFileTransfer(),
    )


def _entries(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_every_dataset_in_its_own_folder(site: Site) -> None:
    seen: list[DownloadsProgress] = []
    async with _client(site) as client:
        summary = await client.download_datasets(
            GOOD, target=site.target, max_concurrent=3, progress=seen.append
        )
    assert isinstance(summary, DownloadSummary)
    assert summary.ok
    assert len(summary) == 6
    assert [r.pid for r in summary.results] == GOOD  # the order given
    for n, result in enumerate(summary.results):
        assert result.target == site.target / f"run-{n}"
        assert result.files == result.transferred == 3
        assert (result.replaced, result.kept, result.transfer) == (0, 0, "link")
        assert result.size == sum(len(d) for d in site.files_of(n).values())
        assert result.dataset is not None
        for file in result.dataset.files:
            assert file.local_path is not None
            assert file.local_path.parent == result.target
        for rel, data in site.files_of(n).items():
            link = result.target / Path(rel).name
            assert link.is_symlink()
            assert link.read_bytes() == data
    # One progress for all: it ends with every dataset and every file done.
    assert seen[0] == DownloadsProgress(6, 0, 0, 0, 0)
    assert seen[-1] == DownloadsProgress(6, 6, 0, 18, 18)
    assert all(a.finished <= b.finished for a, b in itertools.pairwise(seen))
    assert "6 of 6 datasets downloaded, 0 failed" in summary.describe()


async def test_failures_are_reported_and_roll_back_only_themselves(
    site: Site, snapshot: Callable[[Path], Any]
) -> None:
    wanted = [GOOD[0], MISSING, GOOD[1], UNKNOWN, BAD_CHECKSUM, UNSAFE, GOOD[2]]
    before = snapshot(site.storage)
    async with _client(site, CopyFileTransfer()) as client:
        summary = await client.download_datasets(
            wanted, target=site.target, max_concurrent=2
        )
    assert not summary.ok
    assert [r.pid for r in summary.succeeded] == GOOD[:3]
    errors = {r.pid: r.error for r in summary.failed}
    assert list(errors) == [MISSING, UNKNOWN, BAD_CHECKSUM, UNSAFE]
    assert isinstance(errors[MISSING], FileNotAccessibleError)
    assert isinstance(errors[UNKNOWN], ScicatCommError)
    assert errors[UNKNOWN].status_code == 404  # type: ignore[union-attr]
    assert isinstance(errors[BAD_CHECKSUM], IntegrityError)
    assert isinstance(errors[UNSAFE], UnsafePathError)
    # The failed ones left nothing; the others are complete.
    assert _entries(site.target) == sorted(
        [f"run-{n}" for n in range(3)]
        + [f"run-{n}/frame{k}.h5" for n in range(3) for k in range(3)]
    )
    assert snapshot(site.storage) == before
    unknown = next(r for r in summary.failed if r.pid == UNKNOWN)
    assert unknown.target is None  # it failed before a folder was chosen
    assert "nobody-knows" in unknown.describe()
    with pytest.raises(DownloadsFailedError) as info:
        summary.raise_on_failure()
    assert str(info.value).startswith("4 of 7 datasets failed: ")
    assert [r.pid for r in info.value.failures] == list(errors)
    assert info.value.summary is summary


class Counting:
    """A transfer wrapper that records how many connections are open at once."""

    def __init__(self, inner: Downloader, hold: float = 0.02) -> None:
        self.inner = inner
        self.hold = hold
        self.open = 0
        self.peak = 0
        self.blocked: set[str] = set()
        self.release = anyio.Event()

    @asynccontextmanager
    async def _connect(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[DownloadConnection]:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await anyio.sleep(self.hold)
            async with self.inner.connect_for_download(
                dataset, representative_file_path
            ) as connection:
                yield Blocking(connection, self, str(dataset.pid))
        finally:
            self.open -= 1

    def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> Any:
        return self._connect(dataset, representative_file_path)


class Blocking:
    """A connection that waits for ``release`` before downloading blocked pids
    (it passes alink's extras through, so the inner transfer's rollback,
    replacing and verifying still apply)."""

    def __init__(self, inner: DownloadConnection, owner: Counting, pid: str) -> None:
        self.inner, self.owner, self.pid = inner, owner, pid

    async def download_files(
        self,
        *,
        remote: Any,
        local: Any,
        replace: Any = (),
        verify: Any = None,
        progress: Any = None,
    ) -> None:
        if self.pid in self.owner.blocked:
            # Waiting inside the connection, as a slow storage would.
            await self.owner.release.wait()
        await self.inner.download_files(  # type: ignore[call-arg]
            remote=remote,
            local=local,
            replace=replace,
            verify=verify,
            progress=progress,
        )


async def test_concurrency_is_bounded(site: Site) -> None:
    counting = Counting(LinkFileTransfer())
    async with _client(site, counting) as client:  # type: ignore[arg-type]
        summary = await client.download_datasets(
            GOOD, target=site.target, max_concurrent=2
        )
    assert summary.ok
    assert counting.peak == 2
    counting = Counting(LinkFileTransfer())
    async with _client(site, counting) as client:  # type: ignore[arg-type]
        summary = await client.download_datasets(
            GOOD, target=site.target / "one", max_concurrent=1
        )
    assert counting.peak == 1


async def test_cancelling_keeps_finished_datasets_and_rolls_back_the_rest(
    site: Site,
) -> None:
    counting = Counting(LinkFileTransfer(), hold=0)
    counting.blocked = {GOOD[0]}
    with anyio.CancelScope() as scope:

        def progress(state: DownloadsProgress) -> None:
            if state.finished == 5:  # everything but the blocked one
                scope.cancel()

        async with _client(site, counting) as client:  # type: ignore[arg-type]
            await client.download_datasets(
                GOOD, target=site.target, max_concurrent=3, progress=progress
            )
    assert scope.cancelled_caught
    # run-0 had linked its files, then waited: rolled back, folder removed.
    assert _entries(site.target) == sorted(
        [f"run-{n}" for n in range(1, 6)]
        + [f"run-{n}/frame{k}.h5" for n in range(1, 6) for k in range(3)]
    )


async def test_a_progress_callback_that_raises_stops_everything(site: Site) -> None:
    def progress(state: DownloadsProgress) -> None:
        if state.files_done:
            raise KeyError("broken display")

    async with _client(site) as client:
        with pytest.raises(KeyError, match="broken display"):
            await client.download_datasets(GOOD, target=site.target, progress=progress)
    # Whatever was in flight was rolled back; no ExceptionGroup reached us.
    for folder in site.target.glob("*"):
        assert len(list(folder.iterdir())) == 3  # only complete datasets remain


async def test_datasets_with_their_files_are_used_as_they_are(site: Site) -> None:
    async with _client(site) as client:
        queried = await client.query_datasets(
            where={"pid": {"$in": GOOD[:2]}}, files=True
        )
        site.server.clear_requests()
        summary = await client.download_datasets(queried, target=site.target)
        assert summary.ok
        # Nothing fetched again.
        assert site.server.requests == []
        # Without their file lists, they fail clearly instead of downloading
        # nothing.
        bare = await client.query_datasets(where={"pid": GOOD[3]})
        summary = await client.download_datasets(bare, target=site.target / "bare")
    [failed] = summary.failed
    assert "came without its file list (SciCat counts 3 files)" in str(failed.error)
    assert "files=True" in str(failed.error)
    assert not (site.target / "bare").exists()


async def test_repeats_once_and_default_folder_names(site: Site) -> None:
    async with _client(site) as client:
        summary = await client.download_datasets(
            [GOOD[0], GOOD[0], GOOD[1]], target=site.target
        )
    assert [r.pid for r in summary.results] == GOOD[:2]
    assert default_folder("20.500.12269/abc-1") == "abc-1"
    assert default_folder("no-prefix") == "no-prefix"
    assert default_folder("p/a/b%c") == "a%2Fb%25c"
    with pytest.raises(UnsafePathError):
        default_folder("p/..")


async def test_two_pids_for_one_folder_are_refused_up_front(site: Site) -> None:
    async with _client(site) as client:
        with pytest.raises(ValueError, match="would share the folder 'run-0'"):
            await client.download_datasets(
                [GOOD[0], "other.prefix/run-0"], target=site.target
            )
    assert not site.target.exists()
    assert site.server.requests == []


async def test_custom_folders_are_checked(site: Site) -> None:
    def folder(dataset: Dataset) -> str:
        return {
            GOOD[0]: "a",
            GOOD[1]: "a/inside",  # overlaps a
            GOOD[2]: "/abs",
            GOOD[3]: "../up",
            GOOD[4]: "b/c",
        }[str(dataset.pid)]

    async with _client(site) as client:
        summary = await client.download_datasets(
            GOOD[:5], target=site.target, folder=folder, max_concurrent=1
        )
    errors = {r.pid: r.error for r in summary.failed}
    assert list(errors) == GOOD[1:4]
    assert "overlaps" in str(errors[GOOD[1]])
    assert isinstance(errors[GOOD[2]], UnsafePathError)
    assert isinstance(errors[GOOD[3]], UnsafePathError)
    assert [r.target for r in summary.succeeded] == [
        site.target / "a",
        site.target / "b" / "c",
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"datasets": "p/1"}, TypeError, "not a single one"),
        ({"datasets": [3]}, TypeError, r"datasets\[0\] must be a PID"),
        ({"datasets": ["  "]}, ValueError, "empty PID"),
        ({"max_concurrent": 0}, ValueError, "at least 1"),
        ({"max_concurrent": 1.5}, TypeError, "must be an integer"),
        ({"folder": "x"}, TypeError, "folder must be a callable"),
        ({"progress": 1}, TypeError, "progress must be a callable"),
    ],
)
async def test_bad_arguments_fail_before_anything_starts(
    site: Site, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"datasets": GOOD, "target": site.target, **kwargs}
    async with _client(site) as client:
        with pytest.raises(error, match=message):
            await client.download_datasets(**arguments)
    assert not site.target.exists()
    assert site.server.requests == []


async def test_no_transfer_or_a_file_as_target(site: Site) -> None:
    async with Client.from_token(
        url=site.server.url, token=site.server.token("user1")
    ) as client:
        with pytest.raises(ValueError, match="no file transfer"):
            await client.download_datasets(GOOD, target=site.target)
    site.target.parent.mkdir(parents=True, exist_ok=True)
    site.target.write_text("a file")
    async with _client(site) as client:
        with pytest.raises(NotADirectoryError):
            await client.download_datasets(GOOD, target=site.target)


async def test_an_empty_list_does_nothing(site: Site) -> None:
    async with _client(site) as client:
        summary = await client.download_datasets([], target=site.target)
    assert summary.ok
    assert len(summary) == 0
    assert not site.target.exists()


async def test_rerunning_keeps_what_is_in_place(site: Site) -> None:
    async with _client(site) as client:
        await client.download_datasets(GOOD[:2], target=site.target)
        again = await client.download_datasets(GOOD[:2], target=site.target)
    assert again.ok
    assert [(r.files, r.transferred, r.kept) for r in again.results] == [
        (3, 0, 3),
        (3, 0, 3),
    ]
    assert os.path.islink(site.target / "run-0" / "frame0.h5")


async def test_select_for_chooses_per_dataset(site: Site) -> None:
    def select_for(dataset: Dataset) -> Any:
        if str(dataset.pid) == GOOD[1]:
            raise LookupError("not this one")
        n = GOOD.index(str(dataset.pid))
        return lambda file: file.remote_path.name == f"frame{n}.h5"

    async with _client(site) as client:
        summary = await client.download_datasets(
            GOOD[:3], target=site.target, select_for=select_for
        )
    [failed] = summary.failed
    assert failed.pid == GOOD[1]
    assert isinstance(failed.error, LookupError)
    assert _entries(site.target) == [
        "run-0",
        "run-0/frame0.h5",
        "run-2",
        "run-2/frame2.h5",
    ]
