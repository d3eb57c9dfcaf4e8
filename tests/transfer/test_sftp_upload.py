"""SFTPFileTransfer uploads against a real OpenSSH server (see conftest.py).

Nothing on the server is ever overwritten, a failed or cancelled upload
leaves nothing behind, and ``revert_upload`` removes exactly what the
connection uploaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from alink import Dataset, File, FileTransferError, RemotePath, UnsafePathError
from alink.testing import SFTPServer
from alink.transfer.sftp import SFTPUploadConnection

pytestmark = pytest.mark.anyio


@pytest.fixture
def local_files(tmp_path: Path) -> list[File]:
    folder = tmp_path / "local"
    (folder / "deep").mkdir(parents=True)
    files = []
    for name, size in (("a.dat", 100), ("b.dat", 0), ("deep/c.dat", 6 << 20)):
        (folder / name).write_bytes(os.urandom(size))
        files.append(File.from_local(folder / name, remote_path=name))
    return files


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_uploads_into_the_source_folder_and_reverts(
    sftp_server: SFTPServer, sftp_root: Path, local_files: list[File]
) -> None:
    target = sftp_root / "new" / "ds"
    dataset = Dataset(type="raw", source_folder=str(target))
    transfer = sftp_server.transfer()
    assert transfer.source_folder_for(dataset) == str(target)
    async with transfer.connect_for_upload(dataset, "a.dat") as con:
        assert isinstance(con, SFTPUploadConnection)
        assert con.remote_path("x") == RemotePath(str(target)) / "x"
        files = await con.upload_files(*local_files)
        for before, after in zip(local_files, files, strict=True):
            assert after.is_on_remote
            assert after.remote_path == before.remote_path  # relative, as given
            assert before.local_path is not None
            assert after.size == before.local_path.stat().st_size
            assert (target / after.remote_path.posix).read_bytes() == (
                before.local_path.read_bytes()
            )
            assert int((target / after.remote_path.posix).stat().st_mtime) == int(
                before.local_path.stat().st_mtime
            )
        assert tree(sftp_root) == [
            "new", "new/ds", "new/ds/a.dat", "new/ds/b.dat", "new/ds/deep",
            "new/ds/deep/c.dat",
        ]  # fmt: skip
        (target / "mine.txt").write_text("someone else's")
        await con.revert_upload(*files)
    assert tree(sftp_root) == ["new", "new/ds", "new/ds/mine.txt"]


async def test_pattern_folder_and_no_overwrite(
    sftp_server: SFTPServer, sftp_root: Path, local_files: list[File]
) -> None:
    transfer = sftp_server.transfer(source_folder=str(sftp_root) + "/{owner}/{pid}")
    dataset = Dataset(
        type="raw", pid="p/7", source_folder="/elsewhere", fields={"owner": "ann"}
    )
    folder = sftp_root / "ann" / "p_7"
    folder.mkdir(parents=True)
    (folder / "b.dat").write_bytes(b"precious")
    async with transfer.connect_for_upload(dataset, "a.dat") as con:
        assert con.source_folder == str(folder)
        with pytest.raises(FileExistsError, match="never overwritten"):
            await con.upload_files(*local_files)
    assert tree(folder) == ["b.dat"]
    assert (folder / "b.dat").read_bytes() == b"precious"


async def test_bad_input_is_refused_before_anything_is_uploaded(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path, local_files: list[File]
) -> None:
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    async with sftp_server.transfer().connect_for_upload(dataset) as con:
        assert await con.upload_files() == []
        with pytest.raises(TypeError):
            await con.upload_files("a.dat")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="no local path"):
            await con.upload_files(File.from_remote("x", 1, "2024-01-01T00:00:00Z"))
        with pytest.raises(UnsafePathError):
            await con.upload_files(
                File.from_local(local_files[0].local_path or "", remote_path="../x")
            )
        with pytest.raises(FileNotFoundError):
            await con.upload_files(File.from_local(tmp_path / "missing"))
        with pytest.raises(ValueError, match=r"more than once|same remote"):
            await con.upload_files(local_files[0], local_files[0])
    assert tree(sftp_root) == []


async def test_a_failure_mid_way_removes_what_the_call_uploaded(
    sshd_binary: str, local_files: list[File]
) -> None:
    """A server that refuses renames: every file's last step fails, after its
    data went up; the upload is undone, temporary files included."""
    with SFTPServer(
        sshd=sshd_binary, options={"Subsystem": "sftp internal-sftp -P rename"}
    ) as server:
        folder = server.root / "up" / "ds"
        dataset = Dataset(type="raw", source_folder=str(folder))
        async with server.transfer().connect_for_upload(dataset) as con:
            with pytest.raises(FileTransferError, match="failed a request") as info:
                await con.upload_files(*local_files)
        assert len(info.value.remote_paths) == 3
        assert tree(server.root) == []


async def test_a_lost_connection_says_what_stayed_on_the_server(
    sshd_binary: str, tmp_path: Path
) -> None:
    """With the connection gone, nothing can be removed: the error says so and
    names what remains, instead of claiming a clean rollback."""
    folder = tmp_path / "big"
    folder.mkdir()
    files = []
    for i in range(3):
        (folder / f"g{i}").write_bytes(os.urandom(24 << 20))
        files.append(File.from_local(folder / f"g{i}", remote_path=f"g{i}"))
    with SFTPServer(sshd=sshd_binary) as server:
        dataset = Dataset(type="raw", source_folder=str(server.root / "up" / "ds"))

        def cut_once_moving(done: int, total: int) -> None:
            if done:
                server.kill_sessions()

        async with server.transfer().connect_for_upload(dataset) as con:
            with pytest.raises(FileTransferError, match="was lost") as info:
                await con.upload_files(*files, byte_progress=cut_once_moving)
        message = str(info.value)
        left = tree(server.root)
        if left:
            assert "remain on the server" in message
            assert "everything this call created was removed" not in message
            assert str(server.root / "up" / "ds") in message
        else:
            assert "everything this call created was removed" in message


async def test_cancelling_an_upload_removes_what_it_made(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    files = []
    for i in range(40):
        (folder / f"m{i}").write_bytes(os.urandom(256 << 10))
        files.append(File.from_local(folder / f"m{i}"))
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    async with sftp_server.transfer().connect_for_upload(dataset) as con:
        with anyio.CancelScope() as scope:

            def on_bytes(done: int, total: int) -> None:
                if done:
                    scope.cancel()

            await con.upload_files(*files, byte_progress=on_bytes)
        assert scope.cancelled_caught
    assert tree(sftp_root) == []


@pytest.mark.parametrize("request_name", ["open", "rename"])
async def test_a_creating_request_done_but_unanswered_is_undone(
    sftp_server: SFTPServer,
    sftp_root: Path,
    local_files: list[File],
    monkeypatch: pytest.MonkeyPatch,
    request_name: str,
) -> None:
    """The server made the file, the answer never came (cancelled or cut off
    in flight): the undo still looks for it, and removes it."""
    import asyncssh

    real = getattr(asyncssh.SFTPClient, request_name)

    async def done_but_unanswered(self: Any, *args: Any, **kwargs: Any) -> Any:
        await real(self, *args, **kwargs)
        raise asyncssh.ConnectionLost("the answer was lost")

    monkeypatch.setattr(asyncssh.SFTPClient, request_name, done_but_unanswered)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    async with sftp_server.transfer().connect_for_upload(dataset) as con:
        with pytest.raises(FileTransferError):
            await con.upload_files(*local_files)
    assert tree(sftp_root) == []


async def test_a_failing_progress_callback_undoes_the_upload(
    sftp_server: SFTPServer, sftp_root: Path, local_files: list[File]
) -> None:
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))

    def progress(done: int, total: int) -> None:
        if done == total:
            raise RuntimeError("display broke")

    async with sftp_server.transfer().connect_for_upload(dataset) as con:
        with pytest.raises(RuntimeError, match="display broke"):
            await con.upload_files(*local_files, progress=progress)
    assert tree(sftp_root) == []


async def test_revert_only_removes_files_as_uploaded(
    sftp_server: SFTPServer, sftp_root: Path, local_files: list[File]
) -> None:
    target = sftp_root / "ds"
    dataset = Dataset(type="raw", source_folder=str(target))
    async with sftp_server.transfer().connect_for_upload(dataset) as con:
        files = await con.upload_files(*local_files)
        (target / "a.dat").write_bytes(b"changed on the server since")
        await con.revert_upload(*files, File.from_remote("other", 1, "2024-01-01"))
    assert tree(sftp_root) == ["ds", "ds/a.dat"]


async def test_upload_connect_checks(sftp_server: SFTPServer, sftp_root: Path) -> None:
    (sftp_root / "file").write_text("x")
    transfer = sftp_server.transfer()
    not_a_folder = Dataset(type="raw", source_folder=str(sftp_root / "file" / "ds"))
    with pytest.raises(Exception, match="not a folder"):
        async with transfer.connect_for_upload(not_a_folder):
            pass
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    with pytest.raises(UnsafePathError):
        async with transfer.connect_for_upload(dataset, "../outside"):
            pass
    roots = sftp_server.transfer(allowed_roots=["/nowhere"])
    with pytest.raises(UnsafePathError):
        async with roots.connect_for_upload(dataset):
            pass
    with pytest.raises(ValueError, match="source folder"):
        async with transfer.connect_for_upload(Dataset(type="raw")):
            pass


async def test_client_uploads_a_new_dataset_over_sftp(
    sftp_elsewhere: SFTPServer, tmp_path: Path
) -> None:
    """``Client.upload_new_dataset_now`` on a machine without the mount: the
    files go up over SFTP into the server's folder, then SciCat registers
    them; a second upload of the same files is refused and changes nothing."""
    from alink import Client
    from alink.testing import ScicatServer

    local = tmp_path / "out"
    (local / "sub").mkdir(parents=True)
    (local / "a.dat").write_bytes(os.urandom(5000))
    (local / "sub" / "b.dat").write_bytes(b"bravo" * 100)
    dataset = Dataset.new(
        type="raw",
        source_folder="/data/run42",
        name="run 42",
        owner="Ponder Stibbons",
        owner_group="group1",
        contact_email="ponder@uu.am",
        principal_investigators=["Ponder Stibbons"],
        creation_location="/UU/HEX",
    ).add_local_files(local / "a.dat", local / "sub" / "b.dat", base_path=local)
    (sftp_elsewhere.root / "data").mkdir()
    server = ScicatServer(users={"u": "pw"})
    async with (
        server,
        Client.from_token(
            url=server.url,
            token=server.token("u"),
            file_transfer=sftp_elsewhere.transfer(),
        ) as client,
    ):
        uploaded = await client.upload_new_dataset_now(dataset)
        stored = sftp_elsewhere.root / "data" / "run42"
        assert (stored / "a.dat").read_bytes() == (local / "a.dat").read_bytes()
        assert (stored / "sub" / "b.dat").read_bytes() == b"bravo" * 100
        assert sorted(f.remote_path.posix for f in uploaded.files) == [
            "a.dat",
            "sub/b.dat",
        ]
        before = tree(stored)
        with pytest.raises(FileExistsError):
            await client.upload_new_dataset_now(dataset)
        assert tree(stored) == before
