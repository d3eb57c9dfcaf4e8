"""Port of Scitacean's ``tests/transfer/select_transfer_test.py`` (Scitacean 26.10.1).

Scitacean's three child doubles (one that works, one that cannot connect,
one that connects and then fails) become async classes with the shape of
``alink.typing.FileTransfer``; the cases and assertions are the same, on
asyncio and trio. The last case uses alink's real Copy and Link transfers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from alink import Dataset, File, RemotePath
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer

pytestmark = pytest.mark.anyio


class Works:
    """Connects for anything and records what it is asked to do."""

    def __init__(self) -> None:
        self.downloaded: list[tuple[RemotePath, Path]] = []
        self.uploaded: list[Path] = []
        self.reverted: list[Path] = []
        self.is_open_for_download = False
        self.is_open_for_upload = False

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        raise RuntimeError("a child transfer must not be asked for the folder")

    @asynccontextmanager
    async def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[Works]:
        self.is_open_for_download = True
        try:
            yield self
        finally:
            self.is_open_for_download = False

    @asynccontextmanager
    async def connect_for_upload(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[Works]:
        self.is_open_for_upload = True
        try:
            yield self
        finally:
            self.is_open_for_upload = False

    async def download_files(
        self, *, remote: list[RemotePath], local: list[Path]
    ) -> None:
        self.downloaded.extend(zip(remote, local, strict=True))

    async def upload_files(self, *files: File) -> list[File]:
        paths = [f.local_path for f in files]
        self.uploaded.extend(p for p in paths if p is not None)
        return [dataclasses.replace(f, is_on_remote=True) for f in files]

    async def revert_upload(self, *files: File) -> None:
        self.reverted.extend(f.local_path for f in files if f.local_path)


class CannotConnect:
    """Fails on entering either connection (not when it is made)."""

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        raise RuntimeError("a child transfer must not be asked for the folder")

    @asynccontextmanager
    async def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[NoReturn]:
        raise RuntimeError("This transfer always fails")
        yield  # pragma: no cover

    @asynccontextmanager
    async def connect_for_upload(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[NoReturn]:
        raise RuntimeError("This transfer always fails")
        yield  # pragma: no cover


class FailsAfterConnecting:
    """Connects, then fails at the work itself."""

    def __init__(self) -> None:
        self.is_open_for_download = False
        self.is_open_for_upload = False

    def source_folder_for(self, dataset: Dataset) -> RemotePath:
        raise RuntimeError("a child transfer must not be asked for the folder")

    @asynccontextmanager
    async def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[FailsAfterConnecting]:
        self.is_open_for_download = True
        try:
            yield self
        finally:
            self.is_open_for_download = False

    @asynccontextmanager
    async def connect_for_upload(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[FailsAfterConnecting]:
        self.is_open_for_upload = True
        try:
            yield self
        finally:
            self.is_open_for_upload = False

    async def download_files(
        self, *, remote: list[RemotePath], local: list[Path]
    ) -> None:
        raise RuntimeError("This should propagate to the user")

    async def upload_files(self, *files: File) -> list[File]:
        raise RuntimeError("This should propagate to the user")

    async def revert_upload(self, *files: File) -> None:
        raise RuntimeError("This should propagate to the user")


@pytest.fixture
def dataset() -> Dataset:
    return Dataset(type="raw", source_folder=RemotePath("/remote/data"))


def _remote(dataset: Dataset) -> RemotePath:
    assert dataset.source_folder is not None
    return dataset.source_folder / "file"


def test_select_cannot_init_without_children() -> None:
    with pytest.raises(ValueError, match="child transfer must be provided"):
        SelectFileTransfer([])


def test_select_uses_own_source_folder_override() -> None:
    transfer = SelectFileTransfer([Works()], source_folder="override")  # type: ignore[list-item]
    assert transfer.source_folder_for(Dataset(type="raw")) == RemotePath("override")


async def test_select_download_uses_single_child_transfer_success(
    dataset: Dataset,
) -> None:
    child = Works()
    transfer = SelectFileTransfer([child])  # type: ignore[list-item]
    remote, local = _remote(dataset), Path("local_file")
    async with transfer.connect_for_download(dataset, RemotePath("file")) as con:
        await con.download_files(remote=[remote], local=[local])
    assert not child.is_open_for_download
    assert child.downloaded == [(remote, local)]
    assert not child.uploaded
    assert not child.reverted


async def test_select_download_uses_single_child_transfer_failure(
    dataset: Dataset,
) -> None:
    transfer = SelectFileTransfer([CannotConnect()])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="no suitable file transfer available"):
        async with transfer.connect_for_download(dataset, RemotePath("file")):
            pass


async def test_select_download_fails_gracefully_with_multiple_failing_children(
    dataset: Dataset,
) -> None:
    transfer = SelectFileTransfer([CannotConnect(), CannotConnect()])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="no suitable file transfer available"):
        async with transfer.connect_for_download(dataset, RemotePath("file")):
            pass


async def test_select_download_fails_if_download_fails_after_connection(
    dataset: Dataset,
) -> None:
    child = FailsAfterConnecting()
    transfer = SelectFileTransfer([child])  # type: ignore[list-item]
    async with transfer.connect_for_download(dataset, RemotePath("file")) as con:
        assert child.is_open_for_download
        with pytest.raises(RuntimeError, match="This should propagate to the user"):
            await con.download_files(
                remote=[_remote(dataset)], local=[Path("local_file")]
            )
    assert not child.is_open_for_download


async def test_select_download_uses_first_child_transfer_success(
    dataset: Dataset,
) -> None:
    first = Works()
    transfer = SelectFileTransfer([first, CannotConnect()])  # type: ignore[list-item]
    remote, local = _remote(dataset), Path("local_file")
    async with transfer.connect_for_download(dataset, RemotePath("file")) as con:
        await con.download_files(remote=[remote], local=[local])
    assert not first.is_open_for_download
    assert first.downloaded == [(remote, local)]
    assert not first.uploaded
    assert not first.reverted


async def test_select_download_uses_second_child_transfer_success(
    dataset: Dataset,
) -> None:
    second = Works()
    transfer = SelectFileTransfer([CannotConnect(), second])  # type: ignore[list-item]
    remote, local = _remote(dataset), Path("local_file")
    async with transfer.connect_for_download(dataset, RemotePath("file")) as con:
        await con.download_files(remote=[remote], local=[local])
    assert not second.is_open_for_download
    assert second.downloaded == [(remote, local)]
    assert not second.uploaded
    assert not second.reverted


async def test_select_download_does_not_keep_going_after_first_success(
    dataset: Dataset,
) -> None:
    first, second = Works(), Works()
    transfer = SelectFileTransfer([first, second])  # type: ignore[list-item]
    remote, local = _remote(dataset), Path("local_file")
    async with transfer.connect_for_download(dataset, RemotePath("file")) as con:
        await con.download_files(remote=[remote], local=[local])
    assert not first.is_open_for_download
    assert first.downloaded == [(remote, local)]
    assert not first.uploaded
    assert not first.reverted
    assert not second.is_open_for_download
    assert not second.downloaded
    assert not second.uploaded
    assert not second.reverted


async def test_select_upload_uses_single_child_transfer_success(
    dataset: Dataset,
) -> None:
    child = Works()
    transfer = SelectFileTransfer([child])  # type: ignore[list-item]
    file = File.from_local("local_file", remote_path="remote_file")
    async with transfer.connect_for_upload(dataset, RemotePath("remote_file")) as con:
        await con.upload_files(file)
    assert not child.is_open_for_upload
    assert child.uploaded == [file.local_path]
    assert not child.reverted
    assert not child.downloaded


async def test_select_upload_uses_single_child_transfer_failure(
    dataset: Dataset,
) -> None:
    transfer = SelectFileTransfer([CannotConnect()])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="no suitable file transfer available"):
        async with transfer.connect_for_upload(dataset, RemotePath("file")):
            pass


async def test_select_upload_fails_gracefully_with_multiple_failing_children(
    dataset: Dataset,
) -> None:
    transfer = SelectFileTransfer([CannotConnect(), CannotConnect()])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="no suitable file transfer available"):
        async with transfer.connect_for_upload(dataset, RemotePath("file")):
            pass


async def test_select_upload_fails_if_upload_fails_after_connection(
    dataset: Dataset,
) -> None:
    child = FailsAfterConnecting()
    transfer = SelectFileTransfer([child])  # type: ignore[list-item]
    file = File.from_local("local_file", remote_path="remote_file")
    async with transfer.connect_for_upload(dataset, RemotePath("file")) as con:
        assert child.is_open_for_upload
        with pytest.raises(RuntimeError, match="This should propagate to the user"):
            await con.upload_files(file)
    assert not child.is_open_for_upload


async def test_select_upload_uses_first_child_transfer_success(
    dataset: Dataset,
) -> None:
    first = Works()
    transfer = SelectFileTransfer([first, CannotConnect()])  # type: ignore[list-item]
    file = File.from_local("local_file", remote_path="remote_file")
    async with transfer.connect_for_upload(dataset, RemotePath("remote_file")) as con:
        await con.upload_files(file)
    assert not first.is_open_for_download
    assert first.uploaded == [file.local_path]
    assert not first.downloaded
    assert not first.reverted


async def test_select_upload_uses_second_child_transfer_success(
    dataset: Dataset,
) -> None:
    second = Works()
    transfer = SelectFileTransfer([CannotConnect(), second])  # type: ignore[list-item]
    file = File.from_local("local_file", remote_path="remote_file")
    async with transfer.connect_for_upload(dataset, RemotePath("remote_file")) as con:
        await con.upload_files(file)
    assert not second.is_open_for_download
    assert second.uploaded == [file.local_path]
    assert not second.downloaded
    assert not second.reverted


@pytest.mark.parametrize("hard_link", [True, False])
async def test_copy_and_link_transfers_fall_back(
    dataset: Dataset, hard_link: bool
) -> None:
    # "/remote" does not exist here: Copy cannot reach the upload folder and
    # Link cannot upload at all, so the third child is used.
    fallback = Works()
    transfer = SelectFileTransfer(
        [CopyFileTransfer(hard_link=hard_link), LinkFileTransfer(), fallback]  # type: ignore[list-item]
    )
    file = File.from_local("/not-a-real-parent/local_file", remote_path="remote_file")
    async with transfer.connect_for_upload(dataset, RemotePath("remote_file")) as con:
        await con.upload_files(file)
    assert not fallback.is_open_for_download
    assert fallback.uploaded == [file.local_path]
    assert not fallback.downloaded
    assert not fallback.reverted
