"""alink.testing.transfer.FakeFileTransfer: in-memory files, real local disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import MappingProxyType

import anyio
import pytest

from alink import (
    Client,
    Dataset,
    File,
    FileNotAccessibleError,
    IntegrityError,
    LocalFileConflictError,
    NoSuitableTransferError,
    RemotePath,
    UnsafePathError,
)
from alink.testing import ScicatServer, make_dataset
from alink.testing.transfer import FakeFileTransfer, Transferred
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer
from alink.typing import Downloader

#: What the ``snapshot`` fixture of tests/conftest.py returns.
Snapshot = dict[str, tuple[str, str, int]]

FOLDER = "/facility/raw/run1"
CONTENTS = {"a.dat": b"abc", "sub/b.dat": b"hello", "sub/deep/c.dat": b""}
PID = "PID.prefix/run1"


def _remote(contents: dict[str, bytes] = CONTENTS) -> dict[str, bytes]:
    return {f"{FOLDER}/{rel}": content for rel, content in contents.items()}


def _dataset(source_folder: str | None = FOLDER) -> Dataset:
    return Dataset(type="raw", source_folder=source_folder, pid=PID)


def _full(rel: str) -> RemotePath:
    return RemotePath(FOLDER) / rel


@pytest.fixture
async def client(
    scicat_server_factory: Callable[..., ScicatServer],
) -> AsyncIterator[Callable[[Downloader], Client]]:
    """``make(transfer)`` -> a logged-in client of a server holding the dataset."""
    ds, blocks = make_dataset(pid=PID, source_folder=FOLDER, files=CONTENTS.items())
    server = scicat_server_factory(
        datasets=[ds], orig_datablocks=blocks, users={"u": "p"}
    )
    clients: list[Client] = []

    def make(transfer: Downloader) -> Client:
        made = Client.from_token(
            url=server.url, token=server.token("u"), file_transfer=transfer
        )
        clients.append(made)
        return made

    yield make
    for made in clients:
        await made.aclose()


# --- with the Client -------------------------------------------------------


@pytest.mark.anyio
async def test_client_downloads_the_bytes_and_the_transfer_records_them(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        downloaded = await c.download_files(dataset, target=tmp_path / "out")
    for file in downloaded.files:
        assert file.local_path is not None
        assert not file.local_path.is_symlink()
        rel = file.remote_path.posix.removeprefix(FOLDER + "/")
        assert file.local_path.read_bytes() == CONTENTS[rel]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.dat",
        "b.dat",
        "c.dat",
    ]
    assert transfer.downloaded == [
        Transferred(_full(rel), tmp_path / "out" / Path(rel).name, len(content))
        for rel, content in CONTENTS.items()
    ]
    assert transfer.uploaded == []


@pytest.mark.anyio
async def test_the_clients_report_counts_what_the_fake_did(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    verified: list[tuple[int, int, int, int]] = []
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        first = await c.download_files_with_report(
            dataset,
            target=tmp_path,
            verify_progress=lambda *counts: verified.append(counts),
        )
        (tmp_path / "a.dat").write_bytes(b"edited")
        forced = await c.download_files_with_report(
            dataset, target=tmp_path, select="a.dat", force=True
        )
        again = await c.download_files_with_report(dataset, target=tmp_path)
    assert (first.transfer, first.transferred, first.replaced, first.kept) == (
        "fake",
        3,
        0,
        0,
    )
    assert verified[-1] == (3, 3, 8, 8)  # files and bytes verified
    assert (forced.transferred, forced.replaced) == (0, 1)
    assert (again.transferred, again.kept, again.transfer) == (0, 3, None)


@pytest.mark.anyio
async def test_an_edited_local_file_stops_the_client_before_the_fake_writes(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    (tmp_path / "a.dat").write_bytes(b"my edits")
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        with pytest.raises(LocalFileConflictError):
            await c.download_files(dataset, target=tmp_path)
    assert (tmp_path / "a.dat").read_bytes() == b"my edits"
    assert sorted(os.listdir(tmp_path)) == ["a.dat"]
    assert transfer.downloaded == []


@pytest.mark.anyio
async def test_up_to_date_files_are_not_transferred_again_and_force_replaces(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        await c.download_files(dataset, target=tmp_path)
        await c.download_files(dataset, target=tmp_path)
        assert len(transfer.downloaded) == 3  # the re-run had nothing to do
        (tmp_path / "a.dat").write_bytes(b"edited")
        await c.download_files(dataset, target=tmp_path, select="a.dat", force=True)
    assert (tmp_path / "a.dat").read_bytes() == b"abc"
    assert [t.local.name for t in transfer.downloaded] == [
        "a.dat",
        "b.dat",
        "c.dat",
        "a.dat",
    ]
    assert sorted(os.listdir(tmp_path)) == ["a.dat", "b.dat", "c.dat"]  # no leftovers


@pytest.mark.anyio
async def test_client_verification_failure_removes_everything(
    client: Callable[[Downloader], Client],
    tmp_path: Path,
    snapshot: Callable[[Path], Snapshot],
) -> None:
    files = _remote()
    files[f"{FOLDER}/sub/b.dat"] = b"HELLO"  # not what the catalogue's md5 says
    transfer = FakeFileTransfer(files=files)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.dat").write_bytes(b"old")
    before = snapshot(tmp_path)
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        with pytest.raises(IntegrityError, match=r"b\.dat"):
            await c.download_files(dataset, target=tmp_path / "out", force=True)
    assert snapshot(tmp_path) == before
    assert transfer.downloaded == []


@pytest.mark.anyio
async def test_client_reports_every_missing_remote_file(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    transfer = FakeFileTransfer(files={f"{FOLDER}/a.dat": b"abc"})
    async with client(transfer) as c:
        dataset = await c.get_dataset(PID)
        with pytest.raises(FileNotAccessibleError) as caught:
            await c.download_files(dataset, target=tmp_path / "out")
    assert caught.value.remote_paths == (_full("sub/b.dat"), _full("sub/deep/c.dat"))
    assert caught.value.remote_path == _full("sub/b.dat")
    assert not (tmp_path / "out").exists()


@pytest.mark.anyio
async def test_select_file_transfer_skips_a_fake_without_the_dataset(
    client: Callable[[Downloader], Client], tmp_path: Path
) -> None:
    empty = FakeFileTransfer()
    full = FakeFileTransfer(files=_remote())
    select = SelectFileTransfer([LinkFileTransfer(), empty, full])
    async with client(select) as c:
        dataset = await c.get_dataset(PID)
        downloaded = await c.download_files(dataset, target=tmp_path)
    assert all(f.local_path is not None for f in downloaded.files)
    assert empty.downloaded == []
    assert len(full.downloaded) == 3


@pytest.mark.anyio
async def test_select_file_transfer_reports_each_fake_that_failed() -> None:
    select = SelectFileTransfer([FakeFileTransfer(), FakeFileTransfer()])
    with pytest.raises(NoSuitableTransferError) as caught:
        async with select.connect_for_download(_dataset(), RemotePath("a.dat")):
            pass  # pragma: no cover
    assert len(caught.value.errors) == 2
    assert all(isinstance(e, FileNotAccessibleError) for e in caught.value.errors)


# --- connecting -------------------------------------------------------------


@pytest.mark.anyio
async def test_connect_checks_the_representative_file() -> None:
    transfer = FakeFileTransfer(files=_remote())
    async with transfer.connect_for_download(_dataset(), "sub/b.dat") as con:
        assert con.source_folder == FOLDER
    with pytest.raises(FileNotAccessibleError) as caught:
        async with transfer.connect_for_download(_dataset(), "nope.dat"):
            pass  # pragma: no cover
    assert caught.value.remote_path == "nope.dat"
    # Like Scitacean: the representative file is only probed, wherever it is.
    outside = FakeFileTransfer(files={**_remote(), "/facility/raw/x.dat": b"x"})
    async with outside.connect_for_download(_dataset(), "../x.dat"):
        pass


@pytest.mark.anyio
async def test_connect_without_representative_needs_a_file_in_the_folder() -> None:
    transfer = FakeFileTransfer(files={"/facility/raw/run10/a.dat": b"a"})
    with pytest.raises(FileNotAccessibleError, match="run1'"):
        async with transfer.connect_for_download(_dataset()):
            pass  # pragma: no cover
    async with FakeFileTransfer(files=_remote()).connect_for_download(_dataset()):
        pass


@pytest.mark.anyio
async def test_connect_needs_a_source_folder() -> None:
    with pytest.raises(ValueError, match="no source folder"):
        async with FakeFileTransfer().connect_for_download(_dataset(None), "a"):
            pass  # pragma: no cover


# --- the download connection ---------------------------------------------------


@pytest.mark.anyio
async def test_download_files_writes_creates_folders_and_reports_progress(
    tmp_path: Path,
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    seen: list[tuple[int, int]] = []
    remote = [_full(rel) for rel in CONTENTS]
    local = [tmp_path / "x" / rel for rel in CONTENTS]
    checked: list[tuple[int, str]] = []
    verified: list[tuple[int, int]] = []
    async with transfer.connect_for_download(_dataset(), "a.dat") as con:
        first = await con.download_files(
            remote=remote,
            local=local,
            progress=lambda d, t: seen.append((d, t)),
            verify=lambda i, path: checked.append((i, path)),
            verify_progress=lambda d, t: verified.append((d, t)),
        )
        again = await con.download_files(remote=remote, local=local)  # a no-op
        single = await con.download_file(
            remote=remote[0], local=tmp_path / "single.dat"
        )
    assert [p.read_bytes() for p in local] == list(CONTENTS.values())
    assert (tmp_path / "single.dat").read_bytes() == b"abc"
    assert (seen[0], seen[-1]) == ((0, 3), (3, 3))
    assert sorted(checked) == [(i, str(p)) for i, p in enumerate(local)]
    assert (verified[0], verified[-1]) == ((0, 3), (3, 3))
    assert (first.created, first.already_done, first.replaced) == (3, 0, 0)
    assert (again.created, again.already_done) == (0, 3)
    assert single.created == 1
    assert len(transfer.downloaded) == 4
    assert con.method == "fake"


@pytest.mark.anyio
async def test_download_validates_everything_before_writing(tmp_path: Path) -> None:
    transfer = FakeFileTransfer(files={**_remote(), "/facility/raw/x.dat": b"x"})
    a = _full("a.dat")
    async with transfer.connect_for_download(_dataset(), "a.dat") as con:
        with pytest.raises(ValueError, match="same length"):
            await con.download_files(remote=[a], local=[])
        with pytest.raises(TypeError, match="sequences"):
            await con.download_files(remote=a, local=[tmp_path / "a"])  # type: ignore[arg-type]
        with pytest.raises(UnsafePathError, match="outside"):
            await con.download_files(
                remote=[a, RemotePath(FOLDER) / "../x.dat"],
                local=[tmp_path / "a", tmp_path / "x"],
            )
        with pytest.raises(UnsafePathError, match="file name"):
            await con.download_files(remote=[a], local=[tmp_path / ".."])
        with pytest.raises(ValueError, match="more than once"):
            await con.download_files(
                remote=[a, _full("sub/b.dat")],
                local=[tmp_path / "a", tmp_path / "sub" / ".." / "a"],
            )
        with pytest.raises(ValueError, match="out of range"):
            await con.download_files(remote=[a], local=[tmp_path / "a"], replace=[1])
    assert list(tmp_path.iterdir()) == []
    assert transfer.downloaded == []


@pytest.mark.anyio
async def test_download_never_overwrites_without_replace(tmp_path: Path) -> None:
    transfer = FakeFileTransfer(files=_remote())
    (tmp_path / "a.dat").write_bytes(b"mine")
    (tmp_path / "b.dat").symlink_to(tmp_path / "a.dat")
    (tmp_path / "c.dat").mkdir()
    remote = [_full(rel) for rel in CONTENTS]
    local = [tmp_path / "a.dat", tmp_path / "b.dat", tmp_path / "c.dat"]
    async with transfer.connect_for_download(_dataset(), "a.dat") as con:
        with pytest.raises(FileExistsError) as caught:
            await con.download_files(remote=remote, local=local)
        assert all(str(p) in str(caught.value) for p in local)
        # Replacing: files and links yes, folders never.
        with pytest.raises(FileExistsError, match=r"c\.dat"):
            await con.download_files(remote=remote, local=local, replace=True)
        result = await con.download_files(
            remote=remote[:2], local=local[:2], replace=True
        )
    assert (result.created, result.replaced) == (2, 2)
    assert (tmp_path / "a.dat").read_bytes() == b"abc"
    assert not (tmp_path / "b.dat").is_symlink()
    assert (tmp_path / "b.dat").read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["a.dat", "b.dat", "c.dat"]


@pytest.mark.anyio
async def test_failed_verification_rolls_back_and_restores_replaced_files(
    tmp_path: Path, snapshot: Callable[[Path], Snapshot]
) -> None:
    transfer = FakeFileTransfer(files=_remote())
    (tmp_path / "a.dat").write_bytes(b"old")
    before = snapshot(tmp_path)
    remote = [_full(rel) for rel in CONTENTS]
    local = [tmp_path / "a.dat", tmp_path / "new" / "b.dat", tmp_path / "c.dat"]

    def verify(index: int, path: str) -> None:
        assert os.path.exists(path)  # every pair exists by now
        if index == 2:
            raise IntegrityError(f"{path} is wrong")

    async with transfer.connect_for_download(_dataset(), "a.dat") as con:
        with pytest.raises(IntegrityError, match=r"c\.dat"):
            await con.download_files(
                remote=remote, local=local, replace=[0], verify=verify
            )
    assert snapshot(tmp_path) == before
    assert transfer.downloaded == []


@pytest.mark.anyio
async def test_cancelled_download_removes_what_it_wrote(
    tmp_path: Path, snapshot: Callable[[Path], Snapshot]
) -> None:
    many = {f"{FOLDER}/f{i:04d}.dat": b"%d" % i for i in range(600)}
    transfer = FakeFileTransfer(files=many)
    before = snapshot(tmp_path)
    calls: list[int] = []
    with anyio.CancelScope() as scope:

        def progress(done: int, total: int) -> None:
            calls.append(done)
            if done:
                scope.cancel()  # after the first batch of files is written

        async with transfer.connect_for_download(_dataset(), "f0000.dat") as con:
            await con.download_files(
                remote=list(many),
                local=[tmp_path / "out" / Path(k).name for k in many],
                progress=progress,
            )
    assert scope.cancelled_caught
    assert calls[0] == 0
    assert 0 < calls[-1] < 600
    assert snapshot(tmp_path) == before
    assert transfer.downloaded == []


# --- uploads ----------------------------------------------------------------


@pytest.mark.anyio
async def test_upload_reads_local_files_into_the_storage(tmp_path: Path) -> None:
    (tmp_path / "new.dat").write_bytes(b"new content")
    (tmp_path / "other.dat").write_bytes(b"other")
    transfer = FakeFileTransfer()
    dataset = _dataset()
    files = [
        File.from_local(tmp_path / "new.dat"),
        File.from_local(tmp_path / "other.dat", remote_path="sub/o.dat"),
    ]
    async with transfer.connect_for_upload(dataset, "new.dat") as con:
        assert con.source_folder == FOLDER
        uploaded = await con.upload_files(*files)
    assert transfer.files == {
        _full("new.dat"): b"new content",
        _full("sub/o.dat"): b"other",
    }
    assert [f.remote_path for f in uploaded] == ["new.dat", "sub/o.dat"]
    assert all(f.is_on_remote for f in uploaded)
    assert [f.size for f in uploaded] == [11, 5]
    assert all(f.creation_time is not None for f in uploaded)
    assert transfer.uploaded == [
        Transferred(_full("new.dat"), tmp_path / "new.dat", 11),
        Transferred(_full("sub/o.dat"), tmp_path / "other.dat", 5),
    ]


@pytest.mark.anyio
async def test_upload_refuses_bad_files_and_overwriting(tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_bytes(b"a")
    transfer = FakeFileTransfer(files=_remote())
    before = dict(transfer.files)
    async with transfer.connect_for_upload(_dataset()) as con:
        with pytest.raises(FileExistsError, match=r"a\.dat"):
            await con.upload_files(File.from_local(tmp_path / "a.dat"))
        with pytest.raises(FileNotFoundError) as missing:
            await con.upload_files(
                File.from_local(tmp_path / "x1"), File.from_local(tmp_path / "x2")
            )
        assert "x1" in str(missing.value)
        assert "x2" in str(missing.value)
        with pytest.raises(ValueError, match="not regular files"):
            await con.upload_files(File.from_local(tmp_path, remote_path="d"))
        with pytest.raises(ValueError, match="no local path"):
            await con.upload_files(File(remote_path=RemotePath("z.dat")))
        with pytest.raises(UnsafePathError, match="outside"):
            await con.upload_files(
                File.from_local(tmp_path / "a.dat", remote_path="../escape.dat")
            )
        with pytest.raises(ValueError, match="several files"):
            await con.upload_files(
                File.from_local(tmp_path / "a.dat", remote_path="n.dat"),
                File.from_local(tmp_path / "a.dat", remote_path="./n.dat"),
            )
        with pytest.raises(TypeError):
            await con.upload_files("a.dat")  # type: ignore[arg-type]
    with pytest.raises(UnsafePathError):
        async with transfer.connect_for_upload(_dataset(), "../x"):
            pass  # pragma: no cover
    assert transfer.files == before
    assert transfer.uploaded == []


@pytest.mark.anyio
async def test_revert_removes_only_what_the_connection_uploaded(tmp_path: Path) -> None:
    (tmp_path / "n.dat").write_bytes(b"n")
    transfer = FakeFileTransfer(files=_remote())
    async with transfer.connect_for_upload(_dataset()) as con:
        [uploaded] = await con.upload_files(File.from_local(tmp_path / "n.dat"))
        await con.revert_upload(
            uploaded, File.from_remote("a.dat", size=3, creation_time=None)
        )
    assert _full("n.dat") not in transfer.files
    assert transfer.files[_full("a.dat")] == b"abc"  # not uploaded: kept
    assert transfer.reverted == {_full("n.dat"): b"n"}
    assert len(transfer.uploaded) == 1


@pytest.mark.anyio
async def test_uploads_follow_the_source_folder_pattern(tmp_path: Path) -> None:
    (tmp_path / "n.dat").write_bytes(b"n")
    transfer = FakeFileTransfer(source_folder="/ingest/{owner}/{type}")
    dataset = Dataset(type="raw", source_folder=FOLDER, fields={"owner": "ada"})
    assert transfer.source_folder_for(dataset) == "/ingest/ada/raw"
    async with transfer.connect_for_upload(dataset) as con:
        await con.upload_files(File.from_local(tmp_path / "n.dat"))
    assert transfer.files == {RemotePath("/ingest/ada/raw/n.dat"): b"n"}


# --- the storage ------------------------------------------------------------


@pytest.mark.anyio
async def test_a_dict_is_shared_and_its_keys_are_normalised(tmp_path: Path) -> None:
    storage: dict[str, bytes] = {f"{FOLDER}//a.dat": b"abc", f"{FOLDER}/b": b"b"}
    first = FakeFileTransfer(files=storage)
    second = FakeFileTransfer(files=first.files)
    assert first.files is storage
    assert second.files is storage
    assert storage == {f"{FOLDER}/a.dat": b"abc", f"{FOLDER}/b": b"b"}
    (tmp_path / "up.dat").write_bytes(b"up")
    async with first.connect_for_upload(_dataset()) as con:
        await con.upload_files(File.from_local(tmp_path / "up.dat"))
    assert storage[f"{FOLDER}/up.dat"] == b"up"
    async with second.connect_for_download(_dataset(), "up.dat") as down:
        await down.download_file(remote=_full("up.dat"), local=tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == b"up"
    assert second.downloaded
    assert not first.downloaded


def test_read_only_mappings_are_copied_and_bad_storage_is_refused() -> None:
    frozen = MappingProxyType({f"{FOLDER}/a.dat": b"a"})
    transfer = FakeFileTransfer(files=frozen)
    assert transfer.files == {_full("a.dat"): b"a"}
    assert transfer.files is not frozen
    with pytest.raises(TypeError, match="must be bytes"):
        FakeFileTransfer(files={"/a": "text"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="str or RemotePath"):
        FakeFileTransfer(files={Path("/a"): b""})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="two different contents"):
        FakeFileTransfer(files={"/a/b": b"1", "/a//b": b"2"})
    with pytest.raises(TypeError, match="mapping"):
        FakeFileTransfer(files=[("/a", b"")])  # type: ignore[arg-type]
    assert "files=1" in repr(transfer)


def test_checksums_of_the_fixture_data_are_real() -> None:
    # The catalogue of the ``client`` fixture is made from CONTENTS itself.
    ds, blocks = make_dataset(pid=PID, source_folder=FOLDER, files=CONTENTS.items())
    chk = {e["path"]: e["chk"] for e in blocks[0]["dataFileList"]}
    assert chk == {k: hashlib.md5(v).hexdigest() for k, v in CONTENTS.items()}
    assert ds["size"] == sum(map(len, CONTENTS.values()))


@pytest.mark.anyio
async def test_many_files_are_checked_off_the_event_loop(tmp_path: Path) -> None:
    many = {f"{FOLDER}/d{i % 7}/f{i:05d}.dat": b"%d" % i for i in range(2500)}
    transfer = FakeFileTransfer(files=many)
    remote = list(many)
    local = [tmp_path / Path(k).relative_to(FOLDER) for k in many]
    async with transfer.connect_for_download(_dataset()) as con:
        with pytest.raises(FileNotAccessibleError) as caught:
            await con.download_files(
                remote=[*remote, f"{FOLDER}/nope"], local=[*local, tmp_path / "nope"]
            )
        assert caught.value.remote_paths == (_full("nope"),)
        await con.download_files(remote=remote, local=local)
    assert len(transfer.downloaded) == 2500
    assert (tmp_path / "d3" / "f00010.dat").read_bytes() == b"10"
