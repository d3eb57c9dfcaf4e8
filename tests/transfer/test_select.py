"""SelectFileTransfer: the first child that connects is used; only connect selects."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from alink import (
    Dataset,
    File,
    FileNotAccessibleError,
    NoSuitableTransferError,
    RemotePath,
    UnsafePathError,
)
from alink.transfer.copy import (
    CopyDownloadConnection,
    CopyFileTransfer,
    CopyUploadConnection,
)
from alink.transfer.link import LinkDownloadConnection, LinkFileTransfer
from alink.transfer.select import SelectFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "remote" / "ds"
    folder.mkdir(parents=True)
    (folder / "a.dat").write_bytes(b"aaa")
    return folder


@pytest.fixture
def dataset(source: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(source), pid="p/1")


class Recorder:
    """A child transfer that records what happens to it."""

    def __init__(self, name: str, fail_with: BaseException | None = None) -> None:
        self.name = name
        self.fail_with = fail_with
        self.events: list[str] = []

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        return RemotePath("/upload") / self.name

    @asynccontextmanager
    async def _connect(self, kind: str) -> AsyncIterator[Recorder]:
        self.events.append(f"enter-{kind}")
        await anyio.lowlevel.checkpoint()
        if self.fail_with is not None:
            raise self.fail_with
        try:
            yield self
        except BaseException as exc:
            self.events.append(f"exit-{kind}-{type(exc).__name__}")
            raise
        self.events.append(f"exit-{kind}")

    def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[Recorder]:
        return self._connect("download")  # type: ignore[return-value]

    def connect_for_upload(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[Recorder]:
        return self._connect("upload")  # type: ignore[return-value]

    async def download_files(
        self, *, remote: list[RemotePath], local: list[Path]
    ) -> None:
        self.events.append("download")

    async def upload_files(self, *files: File) -> list[File]:
        return list(files)

    async def revert_upload(self, *files: File) -> None:
        pass


async def test_link_is_used_where_the_storage_is_mounted(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    transfer = SelectFileTransfer([LinkFileTransfer(), CopyFileTransfer()])
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        assert isinstance(con, LinkDownloadConnection)
        await con.download_files(
            remote=[RemotePath(str(source / "a.dat"))], local=[tmp_path / "o" / "a"]
        )
    assert os.readlink(tmp_path / "o" / "a") == str(source / "a.dat")


async def test_falls_back_when_the_first_child_cannot_reach_the_files(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    first = Recorder(
        "link", FileNotAccessibleError("not mounted", remote_path=RemotePath("x"))
    )
    transfer = SelectFileTransfer([first, CopyFileTransfer()])  # type: ignore[list-item]
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        assert isinstance(con, CopyDownloadConnection)
        await con.download_files(
            remote=[RemotePath(str(source / "a.dat"))], local=[tmp_path / "o" / "a"]
        )
    assert first.events == ["enter-download"]
    assert not (tmp_path / "o" / "a").is_symlink()
    assert (tmp_path / "o" / "a").read_bytes() == b"aaa"


async def test_upload_skips_link_which_cannot_upload(
    dataset: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "new.dat").write_bytes(b"new")
    ds = Dataset(type="raw", source_folder=str(tmp_path / "up"))
    transfer = SelectFileTransfer([LinkFileTransfer(), CopyFileTransfer()])
    async with transfer.connect_for_upload(ds, "new.dat") as con:
        assert isinstance(con, CopyUploadConnection)
        await con.upload_files(File.from_local(tmp_path / "new.dat"))
    assert (tmp_path / "up" / "new.dat").read_bytes() == b"new"


async def test_all_children_fail(tmp_path: Path) -> None:
    """Not mounted at all: Link and Copy both fail; one error carries both."""
    ds = Dataset(type="raw", source_folder=str(tmp_path / "not-mounted"), pid="p/9")
    link, copy = LinkFileTransfer(), CopyFileTransfer()
    transfer = SelectFileTransfer([link, copy])
    with pytest.raises(FileNotAccessibleError) as info:
        async with transfer.connect_for_download(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    err = info.value
    assert isinstance(err, NoSuitableTransferError)
    assert len(err.errors) == 2
    assert all(isinstance(e, FileNotAccessibleError) for e in err.errors)
    assert err.remote_path == RemotePath("a.dat")
    message = str(err)
    assert "LinkFileTransfer" in message
    assert "CopyFileTransfer" in message
    assert "p/9" in message


async def test_all_children_fail_on_upload() -> None:
    ds = Dataset(type="raw", source_folder="/not-mounted-alink-test/x")
    transfer = SelectFileTransfer([LinkFileTransfer(), CopyFileTransfer()])
    with pytest.raises(NoSuitableTransferError) as info:
        async with transfer.connect_for_upload(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    kinds = [type(e) for e in info.value.errors]
    assert kinds == [NotImplementedError, FileNotAccessibleError]


async def test_errors_in_the_body_propagate_unchanged(dataset: Dataset) -> None:
    first, second = Recorder("first"), Recorder("second")
    transfer = SelectFileTransfer([first, second])  # type: ignore[list-item]
    boom = RuntimeError("boom")

    async def use() -> None:
        async with transfer.connect_for_download(dataset, "a.dat") as con:
            await con.download_files(remote=[], local=[])
            raise boom

    with pytest.raises(RuntimeError) as info:
        await use()
    assert info.value is boom
    assert first.events == ["enter-download", "download", "exit-download-RuntimeError"]
    assert second.events == []  # never tried


async def test_normal_exit_closes_the_child(dataset: Dataset) -> None:
    first, second = Recorder("first", NotImplementedError("no")), Recorder("second")
    transfer = SelectFileTransfer([first, second])  # type: ignore[list-item]
    async with transfer.connect_for_upload(dataset, RemotePath("a.dat")) as con:
        assert con is second  # type: ignore[comparison-overlap]
    assert first.events == ["enter-upload"]
    assert second.events == ["enter-upload", "exit-upload"]


@pytest.mark.parametrize(
    "error", [ValueError("bad input"), UnsafePathError("outside"), KeyError("k")]
)
async def test_other_connect_errors_are_not_skipped(
    dataset: Dataset, error: Exception
) -> None:
    first, second = Recorder("first", error), Recorder("second")
    transfer = SelectFileTransfer([first, second])  # type: ignore[list-item]
    with pytest.raises(type(error)) as info:
        async with transfer.connect_for_download(dataset, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    assert info.value is error
    assert second.events == []


async def test_cancellation_while_connecting_propagates(dataset: Dataset) -> None:
    first, second = Recorder("first"), Recorder("second")
    transfer = SelectFileTransfer([first, second])  # type: ignore[list-item]
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with transfer.connect_for_download(dataset, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    assert scope.cancelled_caught
    assert second.events == []


def test_needs_children_and_reports_upload_folder(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="at least one"):
        SelectFileTransfer([])
    transfer = SelectFileTransfer([LinkFileTransfer()], source_folder="/up/{pid}")
    assert transfer.source_folder_for(dataset) == RemotePath("/up/p_1")
    assert (
        SelectFileTransfer([LinkFileTransfer()]).source_folder_for(dataset)
        == dataset.source_folder
    )
    assert "LinkFileTransfer" in repr(transfer)
    assert len(transfer.children) == 1
