"""The transfers satisfy the protocols of :mod:`alink.typing`.

mypy checks this module (see ``[tool.mypy] files``): an assignment below fails
type checking if a transfer or connection stops matching its protocol. The
tests also check the runtime view (``isinstance`` on the protocols).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alink import Dataset, File, RemotePath
from alink.testing import SFTPServer
from alink.testing.transfer import FakeFileTransfer
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer
from alink.transfer.sftp import (
    SFTPDownloadConnection,
    SFTPFileTransfer,
    SFTPUploadConnection,
)
from alink.typing import (
    DownloadConnection,
    Downloader,
    FileTransfer,
    UploadConnection,
    Uploader,
)


def test_transfers_satisfy_the_protocols() -> None:
    link: FileTransfer = LinkFileTransfer()
    copy: FileTransfer = CopyFileTransfer(hard_link=True)
    fake: FileTransfer = FakeFileTransfer()
    sftp: FileTransfer = SFTPFileTransfer(host="files.example.org")
    select: FileTransfer = SelectFileTransfer([link, copy, fake, sftp])
    downloaders: list[Downloader] = [link, copy, fake, sftp, select]
    uploaders: list[Uploader] = [link, copy, fake, sftp, select]
    for transfer in (link, copy, fake, sftp, select):
        assert isinstance(transfer, FileTransfer)
    assert len(downloaders) == len(uploaders) == 5
    assert not isinstance(object(), Downloader)


@pytest.mark.anyio
async def test_connections_satisfy_the_protocols(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "a.dat").write_bytes(b"a")
    (tmp_path / "new.dat").write_bytes(b"new")
    dataset = Dataset(type="raw", source_folder=str(tmp_path / "ds"))
    first = RemotePath("a.dat")
    transfer: FileTransfer = SelectFileTransfer([CopyFileTransfer()])
    async with transfer.connect_for_download(dataset, first) as down:
        connection: DownloadConnection = down
        assert isinstance(connection, DownloadConnection)
        await connection.download_files(
            remote=[RemotePath(str(tmp_path / "ds" / "a.dat"))],
            local=[tmp_path / "out" / "a.dat"],
        )
    async with transfer.connect_for_upload(dataset, RemotePath("new.dat")) as up:
        uploader: UploadConnection = up
        assert isinstance(uploader, UploadConnection)
        files = await uploader.upload_files(File.from_local(tmp_path / "new.dat"))
        assert all(f.is_on_remote for f in files)
        await uploader.revert_upload(*files)
    # The concrete connections satisfy the protocols too.
    copy = CopyFileTransfer()
    async with copy.connect_for_download(dataset, first) as copy_down:
        concrete_down: DownloadConnection = copy_down
    async with copy.connect_for_upload(dataset, first) as copy_up:
        concrete_up: UploadConnection = copy_up
    async with LinkFileTransfer().connect_for_download(dataset, first) as link_down:
        link_connection: DownloadConnection = link_down
    fake = FakeFileTransfer(files={RemotePath(str(tmp_path / "ds")) / "a.dat": b"a"})
    async with fake.connect_for_download(dataset, first) as fake_down:
        fake_download: DownloadConnection = fake_down
    async with fake.connect_for_upload(dataset, first) as fake_up:
        fake_upload: UploadConnection = fake_up
    assert isinstance(concrete_down, DownloadConnection)
    assert isinstance(concrete_up, UploadConnection)
    assert isinstance(link_connection, DownloadConnection)
    assert isinstance(fake_download, DownloadConnection)
    assert isinstance(fake_upload, UploadConnection)
    assert (tmp_path / "out" / "a.dat").read_bytes() == b"a"
    assert not (tmp_path / "ds" / "new.dat").exists()


@pytest.mark.anyio
async def test_sftp_connections_satisfy_the_protocols(
    sftp_server: SFTPServer, tmp_path: Path
) -> None:
    folder = sftp_server.root / "typing-ds"
    folder.mkdir(exist_ok=True)
    (folder / "a.dat").write_bytes(b"a")
    dataset = Dataset(type="raw", source_folder=str(folder))
    transfer: FileTransfer = sftp_server.transfer()
    async with transfer.connect_for_download(dataset, RemotePath("a.dat")) as down:
        connection: DownloadConnection = down
        assert isinstance(connection, DownloadConnection)
        await connection.download_files(
            remote=[RemotePath(str(folder / "a.dat"))], local=[tmp_path / "a.dat"]
        )
    async with transfer.connect_for_upload(dataset, RemotePath("b.dat")) as up:
        uploader: UploadConnection = up
        assert isinstance(uploader, UploadConnection)
    concrete = SFTPFileTransfer(host=sftp_server.host)
    async with sftp_server.transfer().connect_for_download(dataset) as sftp_down:
        concrete_down: DownloadConnection = sftp_down
        assert isinstance(sftp_down, SFTPDownloadConnection)
    async with sftp_server.transfer().connect_for_upload(dataset) as sftp_up:
        concrete_up: UploadConnection = sftp_up
        assert isinstance(sftp_up, SFTPUploadConnection)
    assert isinstance(concrete_down, DownloadConnection)
    assert isinstance(concrete_up, UploadConnection)
    assert concrete.port is None
    assert (tmp_path / "a.dat").read_bytes() == b"a"
