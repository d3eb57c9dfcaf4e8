"""Port of Scitacean's ``tests/transfer/link_test.py`` (Scitacean 26.10.1).

The same cases and assertions, on alink's async API (asyncio and trio), with
real folders in ``tmp_path`` instead of pyfakefs and the real SciCat double
instead of Scitacean's ``FakeClient``. Scitacean's ``Dataset`` is mutable
(``dataset.source_folder = ...``); alink's is built with its source folder
(migration.md, "Where alink deliberately differs": ``Dataset`` is immutable).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alink import Dataset, FileNotAccessibleError, RemotePath
from alink.transfer.link import LinkFileTransfer

from ._helpers import PID_TEXT, TEXT, published, rp, scicat

pytestmark = pytest.mark.anyio


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    folder.mkdir()
    return folder


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


async def test_download_one_file(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (server_dir / "text.txt").write_text(TEXT)
    dataset = Dataset(type="raw", source_folder=RemotePath.from_local(server_dir))
    # The representative path is the source folder's parent, as in Scitacean.
    async with LinkFileTransfer().connect_for_download(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "text.txt")], local=[user_dir / "text.txt"]
        )
    assert (user_dir / "text.txt").read_text() == TEXT


async def test_download_two_files(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (server_dir / "table.csv").write_text("7,2\n5,2\n")
    (server_dir / "text.txt").write_text(TEXT)
    dataset = Dataset(type="raw", source_folder=RemotePath.from_local(server_dir))
    async with LinkFileTransfer().connect_for_download(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "table.csv"), rp(server_dir / "text.txt")],
            local=[user_dir / "local-table.csv", user_dir / "text.txt"],
        )
    assert (user_dir / "local-table.csv").read_text() == "7,2\n5,2\n"
    assert (user_dir / "text.txt").read_text() == TEXT


async def test_link_transfer_creates_symlink(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (server_dir / "text.txt").write_text(TEXT)
    dataset = Dataset(type="raw", source_folder=RemotePath.from_local(server_dir))
    async with LinkFileTransfer().connect_for_download(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "text.txt")], local=[user_dir / "text.txt"]
        )
    assert (user_dir / "text.txt").is_symlink()


async def test_link_transfer_cannot_upload() -> None:
    dataset = Dataset(type="raw", source_folder=RemotePath("/data/upload"))
    assert dataset.source_folder is not None
    with pytest.raises(NotImplementedError):
        async with LinkFileTransfer().connect_for_upload(
            dataset, dataset.source_folder
        ):
            pass


async def test_link_transfer_raises_if_file_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scitacean runs this in pyfakefs, relative to its working directory.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    dataset = Dataset(type="raw", source_folder=RemotePath(""))
    async with LinkFileTransfer().connect_for_download(
        dataset, RemotePath("data")
    ) as con:
        with pytest.raises(FileNotAccessibleError) as exc_info:
            await con.download_files(
                remote=[RemotePath("data/non_existent.txt")],
                local=[Path("non_existent.txt")],
            )
    assert exc_info.value.remote_path == "data/non_existent.txt"


async def test_link_transfer_connect_raises_if_folder_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dataset = Dataset(type="raw", source_folder=RemotePath(""))
    with pytest.raises(FileNotAccessibleError) as exc_info:
        async with LinkFileTransfer().connect_for_download(dataset, RemotePath("data")):
            pass
    assert exc_info.value.remote_path == "data"


async def test_client_with_link(tmp_path: Path, server_dir: Path) -> None:
    (server_dir / "file1.txt").write_text(TEXT)
    served = published(PID_TEXT, server_dir, [("file1.txt", TEXT)])
    async with scicat(served, file_transfer=LinkFileTransfer()) as client:
        downloaded = await client.get_dataset(PID_TEXT)
        downloaded = await client.download_files(
            downloaded, target=tmp_path / "download"
        )
    assert (tmp_path / "download" / "file1.txt").read_text() == TEXT
    local = downloaded.files[0].local_path
    assert local is not None
    assert local.read_text() == TEXT


async def test_client_with_link_local_file_exists(
    tmp_path: Path, server_dir: Path
) -> None:
    (server_dir / "file1.txt").write_text(TEXT)
    local_dir = tmp_path / "download"
    local_dir.mkdir()
    (local_dir / "file1.txt").write_text(TEXT)
    served = published(PID_TEXT, server_dir, [("file1.txt", TEXT)])
    async with scicat(served, file_transfer=LinkFileTransfer()) as client:
        downloaded = await client.get_dataset(PID_TEXT)
        downloaded = await client.download_files(downloaded, target=local_dir)
    assert (local_dir / "file1.txt").read_text() == TEXT
    local = downloaded.files[0].local_path
    assert local is not None
    assert local.read_text() == TEXT
    # The existing (identical) file was kept, not replaced by a link.
    assert not (local_dir / "file1.txt").is_symlink()
