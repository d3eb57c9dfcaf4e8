"""Uploads with CopyFileTransfer: copy into the source folder, never overwrite,
revert exactly what was uploaded."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from alink import (
    Dataset,
    Engine,
    File,
    FileNotAccessibleError,
    RemotePath,
    UnsafePathError,
)
from alink.transfer import _copy_ops
from alink.transfer.copy import CopyFileTransfer, CopyUploadConnection
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """Local files to upload: a.dat, b.dat and sub/c.dat."""
    folder = tmp_path / "local"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.dat", "b.dat", "sub/c.dat"):
        (folder / name).write_bytes(os.urandom(500) + name.encode())
    return folder


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """The 'remote' storage, mounted here."""
    folder = tmp_path / "storage"
    folder.mkdir()
    return folder


def tree(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = path.read_bytes()
    return out


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if _copy_ops.TEMP_NAME.match(p.name)]


def files(local: Path, *names: str) -> list[File]:
    return [File.from_local(local / n, remote_path=n) for n in names]


async def test_upload_and_revert(local: Path, storage: Path) -> None:
    folder = storage / "2025" / "run1"
    ds = Dataset(type="raw", source_folder=str(folder))
    transfer = CopyFileTransfer()
    assert transfer.source_folder_for(ds) == RemotePath(str(folder))
    to_upload = files(local, "a.dat", "sub/c.dat")
    async with transfer.connect_for_upload(ds, RemotePath("a.dat")) as con:
        assert isinstance(con, CopyUploadConnection)
        assert con.source_folder == RemotePath(str(folder))
        assert con.remote_path("x/y") == RemotePath(f"{folder}/x/y")
        seen: list[tuple[int, int]] = []
        uploaded = await con.upload_files(
            *to_upload, progress=lambda d, t: seen.append((d, t))
        )
        assert seen[-1] == (2, 2)
        # Still relative to the source folder, as in Scitacean.
        assert [f.remote_path for f in uploaded] == ["a.dat", "sub/c.dat"]
        assert [f.remote_access_path(ds.source_folder or "") for f in uploaded] == [
            RemotePath(str(folder / "a.dat")),
            RemotePath(str(folder / "sub" / "c.dat")),
        ]
        for original, up in zip(to_upload, uploaded, strict=True):
            assert up.is_on_remote
            assert up.local_path == original.local_path
            assert original.local_path is not None
            assert up.size == original.local_path.stat().st_size
            assert up.creation_time is not None
        assert (folder / "a.dat").read_bytes() == (local / "a.dat").read_bytes()
        assert (folder / "sub" / "c.dat").read_bytes() == (
            local / "sub" / "c.dat"
        ).read_bytes()
        assert (folder / "a.dat").stat().st_mtime_ns == (
            local / "a.dat"
        ).stat().st_mtime_ns
        await con.revert_upload(*uploaded)
    # Everything the upload created is gone, folders included.
    assert tree(storage) == {}
    assert (local / "a.dat").exists()


async def test_revert_accepts_the_files_as_given(local: Path, storage: Path) -> None:
    ds = Dataset(type="raw", source_folder=str(storage / "ds"))
    to_upload = files(local, "a.dat", "b.dat")
    async with CopyFileTransfer().connect_for_upload(ds, "a.dat") as con:
        await con.upload_files(*to_upload)
        await con.revert_upload(to_upload[0])  # relative remote path
        assert sorted(os.listdir(storage / "ds")) == ["b.dat"]


async def test_revert_removes_only_what_this_connection_uploaded(
    local: Path, storage: Path
) -> None:
    folder = storage / "ds"
    folder.mkdir()
    (folder / "theirs.dat").write_bytes(b"not ours")
    ds = Dataset(type="raw", source_folder=str(folder))
    transfer = CopyFileTransfer()
    async with transfer.connect_for_upload(ds, "a.dat") as first:
        uploaded = await first.upload_files(*files(local, "a.dat", "b.dat"))
    # b.dat is replaced by someone else after the upload.
    (folder / "b.dat").unlink()
    (folder / "b.dat").write_bytes(b"replaced")
    async with transfer.connect_for_upload(ds, "a.dat") as second:
        await second.revert_upload(*uploaded)  # not this connection's files
    assert sorted(os.listdir(folder)) == ["a.dat", "b.dat", "theirs.dat"]
    await first.revert_upload(
        *uploaded, File.from_local(local / "x", remote_path="theirs.dat")
    )
    assert tree(folder) == {"b.dat": b"replaced", "theirs.dat": b"not ours"}


@pytest.mark.parametrize("hard_link", [False, True])
async def test_refuses_to_overwrite(
    local: Path, storage: Path, hard_link: bool
) -> None:
    folder = storage / "ds"
    folder.mkdir()
    # Even an identical file is not claimed as uploaded.
    (folder / "b.dat").write_bytes((local / "b.dat").read_bytes())
    before = tree(storage)
    ds = Dataset(type="raw", source_folder=str(folder))
    async with CopyFileTransfer(hard_link=hard_link).connect_for_upload(ds, "a") as con:
        with pytest.raises(FileExistsError):
            await con.upload_files(*files(local, "a.dat", "b.dat", "sub/c.dat"))
    assert tree(storage) == before


async def test_failure_mid_way_removes_this_calls_uploads(
    local: Path, storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        (local / f"n{i}").write_bytes(os.urandom(100))
    folder = storage / "ds"
    ds = Dataset(type="raw", source_folder=str(folder))
    transfer = CopyFileTransfer(engine=Engine(max_workers=1))
    async with transfer.connect_for_upload(ds, "a") as con:
        earlier = await con.upload_files(*files(local, "a.dat"))
        before = tree(storage)
        real = _copy_ops._copy_data
        calls = 0

        def disk_full(src: int, dst: int, size: int) -> int:
            nonlocal calls
            calls += 1
            if calls == 12:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(src, dst, size)

        monkeypatch.setattr(_copy_ops, "_copy_data", disk_full)
        names = [f"n{i}" for i in range(20)]
        with pytest.raises(OSError, match="No space left"):
            await con.upload_files(
                *[File.from_local(local / n, remote_path=f"new/{n}") for n in names]
            )
        assert tree(storage) == before
        assert temp_files(storage) == []
        monkeypatch.undo()
        await con.revert_upload(*earlier)
    assert tree(storage) == {}


async def test_hard_link_upload(local: Path, storage: Path) -> None:
    ds = Dataset(type="raw", source_folder=str(storage / "ds"))
    async with CopyFileTransfer(hard_link=True).connect_for_upload(ds, "a") as con:
        uploaded = await con.upload_files(*files(local, "a.dat"))
        assert (storage / "ds" / "a.dat").stat().st_ino == (
            local / "a.dat"
        ).stat().st_ino
        await con.revert_upload(*uploaded)
    assert (local / "a.dat").exists()
    assert not (storage / "ds").exists()


async def test_hard_link_revert_after_the_file_changed(
    local: Path, storage: Path
) -> None:
    """A hard link is recognised by its inode: still reverted after the shared
    file's contents and mtime changed."""
    ds = Dataset(type="raw", source_folder=str(storage / "ds"))
    async with CopyFileTransfer(hard_link=True).connect_for_upload(ds, "a") as con:
        uploaded = await con.upload_files(*files(local, "a.dat"))
        with (local / "a.dat").open("ab") as f:
            f.write(b"more")
        os.utime(local / "a.dat", ns=(1, 1))
        await con.revert_upload(*uploaded)
    assert not (storage / "ds").exists()
    assert (local / "a.dat").read_bytes().endswith(b"more")


async def test_upload_folder_pattern(local: Path, storage: Path) -> None:
    ds = Dataset(
        type="raw",
        source_folder="/somewhere/else",
        pid="20.500/abc",
        fields={"owner": "alice"},
    )
    transfer = CopyFileTransfer(source_folder=f"{storage}/{{owner}}/{{pid}}")
    async with transfer.connect_for_upload(ds, "a.dat") as con:
        assert con.source_folder == RemotePath(f"{storage}/alice/20.500_abc")
        await con.upload_files(*files(local, "a.dat"))
    assert (storage / "alice" / "20.500_abc" / "a.dat").is_file()


async def test_a_uid_folder_chosen_once_stays_the_same(storage: Path) -> None:
    transfer = CopyFileTransfer(source_folder=f"{storage}/{{owner}}/{{uid}}")
    ds = Dataset(type="raw", fields={"owner": "alice"})
    first = transfer.source_folder_for(ds)
    assert first.parent == RemotePath(f"{storage}/alice")
    assert transfer.source_folder_for(ds) != first  # a fresh uid each time...
    chosen = ds.replace(source_folder=first)
    assert transfer.source_folder_for(chosen) == first  # ...unless already chosen
    async with transfer.connect_for_upload(chosen, "a.dat") as con:
        assert con.source_folder == first
    # A folder not made by this pattern is not taken for one.
    other = ds.replace(source_folder=f"{storage}/bob/{first.name}")
    assert transfer.source_folder_for(other).parent == RemotePath(f"{storage}/alice")


@pytest.mark.parametrize("unnamed", [True, False])
async def test_an_upload_never_shows_a_half_written_file(
    local: Path, storage: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    if not unnamed:
        monkeypatch.setattr(_copy_ops, "_unnamed_temp_supported", lambda: False)
    folder = storage / "ds"
    folder.mkdir()
    final = folder / "a.dat"
    seen: list[bool] = []
    hidden: list[int] = []
    real = _copy_ops._copy_data

    def watched(src: int, dst: int, size: int) -> int:
        seen.append(os.path.lexists(final))  # before writing
        copied = real(src, dst, size)
        seen.append(os.path.lexists(final))  # written, not yet named
        hidden.append(len(temp_files(folder)))  # a named temporary, or none
        return copied

    monkeypatch.setattr(_copy_ops, "_copy_data", watched)
    ds = Dataset(type="raw", source_folder=str(folder))
    async with CopyFileTransfer().connect_for_upload(ds, "a.dat") as con:
        await con.upload_files(*files(local, "a.dat"))
    assert seen == [False, False]
    assert hidden == [0 if unnamed and _copy_ops._unnamed_temp_supported() else 1]
    assert final.read_bytes() == (local / "a.dat").read_bytes()
    assert temp_files(storage) == []


async def test_validation_before_anything_is_created(
    local: Path, storage: Path
) -> None:
    folder = storage / "ds"
    ds = Dataset(type="raw", source_folder=str(folder))
    async with CopyFileTransfer().connect_for_upload(ds, "a.dat") as con:
        with pytest.raises(ValueError, match="no local path"):
            await con.upload_files(File.from_remote("x", 1, None))
        with pytest.raises(FileNotFoundError, match="do not exist"):
            await con.upload_files(*files(local, "a.dat", "missing.dat"))
        with pytest.raises(ValueError, match="not regular files"):
            await con.upload_files(*files(local, "a.dat", "sub"))
        with pytest.raises(ValueError, match="more than once"):
            await con.upload_files(
                File.from_local(local / "a.dat", remote_path="same"),
                File.from_local(local / "b.dat", remote_path="./same"),
            )
        for bad in ("../escape.dat", "/etc/evil", "sub/../../escape.dat", "."):
            with pytest.raises(UnsafePathError):
                await con.upload_files(
                    File.from_local(local / "a.dat", remote_path=bad)
                )
        with pytest.raises(TypeError):
            await con.upload_files("a.dat")  # type: ignore[arg-type]
        assert await con.upload_files() == []
    assert tree(storage) == {}


async def test_symlinked_subfolder_leading_out_is_refused(
    local: Path, storage: Path, tmp_path: Path
) -> None:
    folder = storage / "ds"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "sneaky").symlink_to(outside)
    ds = Dataset(type="raw", source_folder=str(folder))
    async with CopyFileTransfer().connect_for_upload(ds, "a.dat") as con:
        with pytest.raises(UnsafePathError):
            await con.upload_files(
                File.from_local(local / "a.dat", remote_path="sneaky/a.dat")
            )
    assert list(outside.iterdir()) == []


async def test_connect_checks(storage: Path, tmp_path: Path) -> None:
    # The storage's top-level folder is not here: not mounted.
    ds = Dataset(type="raw", source_folder="/not-mounted-alink-test/ds")
    with pytest.raises(FileNotAccessibleError) as info:
        async with CopyFileTransfer().connect_for_upload(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    assert info.value.remote_path == RemotePath("/not-mounted-alink-test/ds")
    # A file where a folder should be.
    (storage / "file").write_bytes(b"")
    ds = Dataset(type="raw", source_folder=str(storage / "file" / "ds"))
    with pytest.raises(FileNotAccessibleError):
        async with CopyFileTransfer().connect_for_upload(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    ds = Dataset(type="raw", source_folder=str(storage / "ds"))
    with pytest.raises(UnsafePathError):
        async with CopyFileTransfer(
            allowed_roots=[str(tmp_path / "elsewhere")]
        ).connect_for_upload(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    with pytest.raises(ValueError, match="source folder"):
        async with CopyFileTransfer().connect_for_upload(Dataset(type="raw"), "a"):
            pytest.fail("connected")  # pragma: no cover
    assert tree(storage) == {"file": b""}


@pytest.mark.parametrize("representative", ["../outside.dat", "/elsewhere", "."])
async def test_representative_path_is_not_looked_at(
    local: Path, storage: Path, representative: str
) -> None:
    # As in Scitacean (whose tests pass the upload folder's parent): the file
    # does not exist before the upload, so the path says nothing; where each
    # file goes is checked when it is uploaded.
    ds = Dataset(type="raw", source_folder=str(storage / "ds"))
    async with CopyFileTransfer().connect_for_upload(ds, representative) as con:
        with pytest.raises(UnsafePathError):
            await con.upload_files(
                File.from_local(local / "a.dat", remote_path="../outside.dat")
            )
    assert tree(storage) == {}


async def test_link_transfer_cannot_upload(storage: Path) -> None:
    ds = Dataset(type="raw", source_folder=str(storage))
    with pytest.raises(NotImplementedError):
        async with LinkFileTransfer().connect_for_upload(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
