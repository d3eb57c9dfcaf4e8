"""Port of Scitacean's ``tests/transfer/copy_test.py`` (Scitacean 26.10.1).

The same cases on alink's async API (asyncio and trio), with real folders in
``tmp_path`` instead of pyfakefs and the real SciCat double instead of
Scitacean's ``FakeClient``. Not ported: ``test_client_upload_with_copy``, which
uploads a whole dataset through the client (``upload_new_dataset_now``):
uploading datasets stays with Scitacean (migration.md, first paragraph); the
transfer-level upload cases are ported below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alink import Dataset, File, FileNotAccessibleError, RemotePath
from alink.transfer.copy import CopyFileTransfer

from ._helpers import PID_TEXT, TEXT, published, rp, scicat

pytestmark = pytest.mark.anyio


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    return tmp_path / "server"


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


def _dataset(server_dir: Path) -> Dataset:
    return Dataset(type="raw", source_folder=RemotePath.from_local(server_dir))


async def test_download_one_file(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "text.txt").write_text(TEXT)
    async with CopyFileTransfer().connect_for_download(
        _dataset(server_dir), RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "text.txt")], local=[user_dir / "text.txt"]
        )
    assert (user_dir / "text.txt").read_text() == TEXT
    assert not (user_dir / "text.txt").is_symlink()


async def test_download_two_files(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "table.csv").write_text("7,2\n5,2\n")
    (server_dir / "text.txt").write_text(TEXT)
    async with CopyFileTransfer().connect_for_download(
        _dataset(server_dir), RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "table.csv"), rp(server_dir / "text.txt")],
            local=[user_dir / "local-table.csv", user_dir / "text.txt"],
        )
    assert (user_dir / "local-table.csv").read_text() == "7,2\n5,2\n"
    assert (user_dir / "text.txt").read_text() == TEXT


async def test_download_makes_a_copy(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "text.txt").write_text(TEXT)
    async with CopyFileTransfer().connect_for_download(
        _dataset(server_dir), RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "text.txt")], local=[user_dir / "text.txt"]
        )
    assert not (user_dir / "text.txt").is_symlink()


async def test_download_with_hard_link(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "text.txt").write_text(TEXT)
    async with CopyFileTransfer(hard_link=True).connect_for_download(
        _dataset(server_dir), RemotePath.from_local(tmp_path)
    ) as con:
        await con.download_files(
            remote=[rp(server_dir / "text.txt")], local=[user_dir / "text.txt"]
        )
    assert (user_dir / "text.txt").read_text() == TEXT
    assert not (user_dir / "text.txt").is_symlink()
    # A hard link shares its bytes with the remote file.
    (user_dir / "text.txt").write_text("New content")
    assert (server_dir / "text.txt").read_text() == "New content"


async def test_upload_one_file(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (user_dir / "text.txt").write_text(TEXT)
    dataset = _dataset(server_dir)
    async with CopyFileTransfer().connect_for_upload(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        assert con.source_folder == dataset.source_folder
        await con.upload_files(
            File.from_local(path=user_dir / "text.txt", remote_path="text.txt")
        )
    assert (server_dir / "text.txt").read_text() == TEXT
    assert not (server_dir / "text.txt").is_symlink()


async def test_upload_with_hard_link(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (user_dir / "text.txt").write_text(TEXT)
    dataset = _dataset(server_dir)
    async with CopyFileTransfer(hard_link=True).connect_for_upload(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        assert con.source_folder == dataset.source_folder
        await con.upload_files(
            File.from_local(path=user_dir / "text.txt", remote_path="text.txt")
        )
    assert (server_dir / "text.txt").read_text() == TEXT
    assert not (server_dir / "text.txt").is_symlink()
    (server_dir / "text.txt").write_text("New content")
    assert (user_dir / "text.txt").read_text() == "New content"


async def test_upload_does_not_overwrite_remote_file(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "text.txt").write_text("Original remote")
    (user_dir / "text.txt").write_text("Local file")
    dataset = _dataset(server_dir)
    async with CopyFileTransfer().connect_for_upload(
        dataset, RemotePath.from_local(tmp_path)
    ) as con:
        assert con.source_folder == dataset.source_folder
        with pytest.raises(FileExistsError):
            await con.upload_files(
                File.from_local(path=user_dir / "text.txt", remote_path="text.txt")
            )
    assert (server_dir / "text.txt").read_text() == "Original remote"


async def test_revert_one_uploaded_file(
    tmp_path: Path, server_dir: Path, user_dir: Path
) -> None:
    (user_dir / "file1").write_text("File that should get reverted")
    (user_dir / "file2").write_text("File that should be kept")
    async with CopyFileTransfer().connect_for_upload(
        _dataset(server_dir), RemotePath.from_local(tmp_path)
    ) as con:
        file1 = File.from_local(path=user_dir / "file1")
        file2 = File.from_local(path=user_dir / "file2")
        await con.upload_files(file1, file2)
        await con.revert_upload(file1)
    assert "file1" not in (p.name for p in server_dir.iterdir())
    assert (server_dir / "file2").read_text() == "File that should be kept"


async def test_copy_transfer_raises_if_file_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scitacean runs this in pyfakefs, relative to its working directory.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    dataset = Dataset(type="raw", source_folder=RemotePath(""))
    async with CopyFileTransfer().connect_for_download(
        dataset, RemotePath("data")
    ) as con:
        with pytest.raises(FileNotAccessibleError) as exc_info:
            await con.download_files(
                remote=[RemotePath("data/non_existent.txt")],
                local=[Path("non_existent.txt")],
            )
    assert exc_info.value.remote_path == "data/non_existent.txt"


async def test_copy_transfer_connect_raises_if_folder_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dataset = Dataset(type="raw", source_folder=RemotePath(""))
    with pytest.raises(FileNotAccessibleError) as exc_info:
        async with CopyFileTransfer().connect_for_download(dataset, RemotePath("data")):
            pass
    assert exc_info.value.remote_path == "data"


async def test_client_download_with_copy(tmp_path: Path, server_dir: Path) -> None:
    server_dir.mkdir()
    (server_dir / "file1.txt").write_text(TEXT)
    served = published(PID_TEXT, server_dir, [("file1.txt", TEXT)])
    async with scicat(served, file_transfer=CopyFileTransfer()) as client:
        downloaded = await client.get_dataset(PID_TEXT)
        downloaded = await client.download_files(
            downloaded, target=tmp_path / "download"
        )
    assert (tmp_path / "download" / "file1.txt").read_text() == TEXT
    local = downloaded.files[0].local_path
    assert local is not None
    assert local.read_text() == TEXT


async def test_client_download_with_copy_local_file_exists(
    tmp_path: Path, server_dir: Path
) -> None:
    server_dir.mkdir()
    (server_dir / "file1.txt").write_text(TEXT)
    local_dir = tmp_path / "download"
    local_dir.mkdir()
    (local_dir / "file1.txt").symlink_to(server_dir / "file1.txt")
    served = published(PID_TEXT, server_dir, [("file1.txt", TEXT)])
    async with scicat(served, file_transfer=CopyFileTransfer()) as client:
        downloaded = await client.get_dataset(PID_TEXT)
        downloaded = await client.download_files(downloaded, target=local_dir)
    assert (local_dir / "file1.txt").read_text() == TEXT
    local = downloaded.files[0].local_path
    assert local is not None
    assert local.read_text() == TEXT
    # Scitacean keeps the existing link. alink replaces a link into the
    # source folder by a copy (migration.md, "Where alink deliberately
    # differs": "a Copy re-run over links of a Link run keeps the links").
    assert not (local_dir / "file1.txt").is_symlink()
