"""SFTPFileTransfer downloads against a real OpenSSH server (see conftest.py).

The same rules as the local transfers: validation first, one error naming
every missing file, temporary names, rollback, idempotent re-runs, no
replacing without being asked — plus what only a network transfer has:
large files in blocks, progress in bytes, several channels, the login
folder for relative paths.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from alink import (
    Client,
    Dataset,
    FileNotAccessibleError,
    IntegrityError,
    RemotePath,
    UnsafePathError,
)
from alink.testing import ScicatServer, SFTPServer, dataset_from_directory
from alink.transfer import _copy_ops, _sftp_bridge
from alink.transfer._engine import RunResult
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer
from alink.transfer.sftp import SFTPDownloadConnection, SFTPFileTransfer

pytestmark = pytest.mark.anyio

Snapshot = Callable[[Path], dict[str, tuple[str, str, int]]]


@pytest.fixture
def source(sftp_root: Path) -> Path:
    """A dataset folder on the server: small files, a sub-folder, a large file."""
    folder = sftp_root / "ds"
    (folder / "sub").mkdir(parents=True)
    for i in range(6):
        (folder / f"f{i}.dat").write_bytes(os.urandom(1000 + 37 * i))
    (folder / "empty.dat").write_bytes(b"")
    (folder / "sub" / "big.dat").write_bytes(os.urandom(3 << 20 | 12345))
    return folder


@pytest.fixture
def dataset(source: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(source), pid="p/1")


NAMES = [*(f"f{i}.dat" for i in range(6)), "empty.dat", "sub/big.dat"]


def remote(source: Path, *names: str) -> list[RemotePath]:
    return [RemotePath(str(source)) / n for n in names]


def leftovers(root: Path) -> list[Path]:
    """alink's temporary and backup files below ``root``."""
    return [p for p in root.rglob("*") if ".alink-" in p.name]


async def test_downloads_every_file_with_times_and_mode(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    (source / "f1.dat").chmod(0o640)
    os.utime(source / "f2.dat", (1_600_000_000, 1_600_000_000))
    out = tmp_path / "out"
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        assert isinstance(con, SFTPDownloadConnection)
        assert con.source_folder == str(source)
        await con.download_files(
            remote=remote(source, *NAMES), local=[out / n for n in NAMES]
        )
    for name in NAMES:
        assert (out / name).read_bytes() == (source / name).read_bytes(), name
    assert (out / "f2.dat").stat().st_mtime == 1_600_000_000
    assert (out / "f1.dat").stat().st_mode & 0o777 == 0o640 & ~_umask()
    assert leftovers(out) == []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


async def test_accepts_str_paths_and_download_file(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_file(
            remote=f"{source}/f3.dat", local=str(tmp_path / "x" / "three")
        )
    assert (tmp_path / "x" / "three").read_bytes() == (source / "f3.dat").read_bytes()


async def test_relative_paths_are_against_the_login_folder(
    sftp_server: SFTPServer, source: Path, tmp_path: Path
) -> None:
    """SFTP's relative paths start in the login folder, not in this process's
    working directory."""
    home = Path(os.path.expanduser("~")) if os.geteuid() else Path("/root")
    relative = os.path.relpath(source, home)
    dataset = Dataset(type="raw", source_folder=relative)
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        assert con.source_folder == str(source)
        await con.download_files(
            remote=[RemotePath(relative) / "f4.dat"], local=[tmp_path / "f4"]
        )
    assert (tmp_path / "f4").read_bytes() == (source / "f4.dat").read_bytes()


async def test_many_small_files_over_several_channels(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    folder = sftp_root / "many"
    folder.mkdir()
    names = [f"n{i:04d}" for i in range(600)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(i.to_bytes(4, "big") * (i % 50))
    dataset = Dataset(type="raw", source_folder=str(folder))
    progress: list[tuple[int, int]] = []
    transfer = sftp_server.transfer(channels=3)
    async with transfer.connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=remote(folder, *names),
            local=[tmp_path / n for n in names],
            progress=lambda done, total: progress.append((done, total)),
        )
    for name in names:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes()
    assert progress[-1] == (600, 600)
    assert all(total == 600 for _, total in progress)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


async def test_a_large_file_in_blocks_with_byte_progress(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    size = (source / "sub" / "big.dat").stat().st_size
    seen: list[tuple[int, int]] = []
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(
            remote=remote(source, "sub/big.dat"),
            local=[tmp_path / "big"],
            byte_progress=lambda done, total: seen.append((done, total)),
        )
    digest = hashlib.sha256((source / "sub" / "big.dat").read_bytes()).hexdigest()
    assert hashlib.sha256((tmp_path / "big").read_bytes()).hexdigest() == digest
    assert seen[-1] == (size, size)
    assert seen[0][1] == size


async def test_validation_happens_before_anything_is_transferred(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(ValueError, match="same length"):
            await con.download_files(remote=remote(source, "f0.dat"), local=[])
        with pytest.raises(ValueError, match="more than once"):
            await con.download_files(
                remote=remote(source, "f0.dat", "f1.dat"),
                local=[out / "x", out / "sub" / ".." / "x"],
            )
        with pytest.raises(UnsafePathError, match="outside"):
            await con.download_files(
                remote=[RemotePath(str(source)) / ".." / "secret"], local=[out / "s"]
            )
        with pytest.raises(UnsafePathError, match="file name"):
            await con.download_files(
                remote=remote(source, "f0.dat"), local=[out / ".."]
            )
        with pytest.raises(TypeError):
            await con.download_files(
                remote=str(source / "f0.dat"),  # type: ignore[arg-type]
                local=[out / "a"],
            )
    assert not out.exists()


async def test_every_missing_file_is_named_in_one_error(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    (source / "dir.dat").mkdir()
    out = tmp_path / "out"
    wanted = ["f0.dat", "gone1", "dir.dat", "sub/gone2", "nosuch/f"]
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=remote(source, *wanted), local=[out / n for n in wanted]
            )
    error = info.value
    assert [p.name for p in error.remote_paths] == ["gone1", "dir.dat", "gone2", "f"]
    assert error.remote_path == RemotePath(str(source)) / "gone1"
    assert "not regular files" in str(error)
    assert "nothing was created" in str(error)
    assert not out.exists()


async def test_rerun_is_a_noop_and_keeps_the_files(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snapshot,
) -> None:
    out = tmp_path / "out"
    pairs = {"remote": remote(source, *NAMES), "local": [out / n for n in NAMES]}
    transfer = sftp_server.transfer()
    async with transfer.connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(**pairs)
        before = snapshot(out)
        inodes = {n: (out / n).stat().st_ino for n in NAMES}
        done: list[tuple[int, int]] = []
        await con.download_files(**pairs, progress=lambda d, t: done.append((d, t)))
    assert snapshot(out) == before
    assert {n: (out / n).stat().st_ino for n in NAMES} == inodes
    assert done[0] == (len(NAMES), len(NAMES))


async def test_a_different_local_file_is_never_replaced_unasked(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.dat").write_bytes(b"my own edits")
    (out / "f2.dat").mkdir()
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(FileExistsError, match="folders"):
            await con.download_files(
                remote=remote(source, "f0.dat", "f2.dat"),
                local=[out / "f0.dat", out / "f2.dat"],
            )
        with pytest.raises(FileExistsError, match="differ") as info:
            await con.download_files(
                remote=remote(source, "f0.dat", "f1.dat"),
                local=[out / "f0.dat", out / "f1.dat"],
            )
    assert str(out / "f1.dat") in str(info.value)
    assert (out / "f1.dat").read_bytes() == b"my own edits"
    assert sorted(p.name for p in out.iterdir()) == ["f1.dat", "f2.dat"]


async def test_replace_swaps_the_chosen_files_atomically(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.dat").write_bytes(b"stale")
    (out / "f2.dat").symlink_to(source / "f2.dat")
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(
            remote=remote(source, "f0.dat", "f1.dat", "f2.dat"),
            local=[out / "f0.dat", out / "f1.dat", out / "f2.dat"],
            replace=[1, 2],
        )
    for name in ("f0.dat", "f1.dat", "f2.dat"):
        assert (out / name).read_bytes() == (source / name).read_bytes()
        assert not (out / name).is_symlink()
    assert leftovers(out) == []


async def test_replace_leaves_files_that_are_up_to_date_alone(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snapshot,
) -> None:
    """``replace`` replaces what differs, as with the local transfers: a file
    already as the download would make it (the remote file's size and
    modification time) is already done, not fetched again and not replaced."""
    out = tmp_path / "out"
    pairs = {"remote": remote(source, *NAMES), "local": [out / n for n in NAMES]}
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(**pairs)
        (out / "f1.dat").write_bytes(b"stale")
        inodes = {n: (out / n).stat().st_ino for n in NAMES}
        done = await con.download_files(**pairs, replace=True)
        assert done == RunResult(created=1, already_done=len(NAMES) - 1, replaced=1)
        assert (out / "f1.dat").read_bytes() == (source / "f1.dat").read_bytes()
        assert (out / "f1.dat").stat().st_ino != inodes["f1.dat"]
        del inodes["f1.dat"]
        assert {n: (out / n).stat().st_ino for n in inodes} == inodes
        before = snapshot(out)
        again = await con.download_files(**pairs, replace=list(range(len(NAMES))))
        assert again == RunResult(created=0, already_done=len(NAMES), replaced=0)
    assert snapshot(out) == before
    assert leftovers(out) == []


async def test_replace_takes_a_file_that_only_looks_up_to_date(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    """Same size and modification time, other bytes: ``verify`` tells. Asked
    to replace it, the download does; not asked, the call fails."""
    out = tmp_path / "out"
    pairs = {"remote": remote(source, *NAMES), "local": [out / n for n in NAMES]}
    digests = {
        i: hashlib.sha256((source / n).read_bytes()).digest()
        for i, n in enumerate(NAMES)
    }

    def verify(index: int, path: str) -> None:
        if hashlib.sha256(Path(path).read_bytes()).digest() != digests[index]:
            raise IntegrityError(f"checksum mismatch: {path}")

    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(**pairs)
        edited = out / "f3.dat"
        times = (edited.stat().st_atime, edited.stat().st_mtime)
        edited.write_bytes(bytes(len(edited.read_bytes())))
        os.utime(edited, times)
        with pytest.raises(IntegrityError, match="mismatch"):
            await con.download_files(**pairs, verify=verify)
        assert edited.read_bytes() == bytes(edited.stat().st_size)
        done = await con.download_files(**pairs, verify=verify, replace=[3])
    assert done == RunResult(created=1, already_done=len(NAMES) - 1, replaced=1)
    assert edited.read_bytes() == (source / "f3.dat").read_bytes()
    assert leftovers(out) == []


async def test_verify_sees_complete_temporary_files_and_rolls_back(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snapshot,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.dat").write_bytes(b"stale")
    before = snapshot(out)
    seen: dict[int, bytes] = {}

    def verify(index: int, path: str) -> None:
        seen[index] = Path(path).read_bytes()
        assert ".alink-" in path  # checked before it gets its final name
        if index == 5:
            raise IntegrityError(f"checksum mismatch: {path}")

    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(IntegrityError, match="mismatch") as info:
            await con.download_files(
                remote=remote(source, *NAMES),
                local=[out / n for n in NAMES],
                replace=[1],
                verify=verify,
            )
    # The message names the file asked for, not the hidden temporary one.
    assert str(info.value) == f"checksum mismatch: {out / NAMES[5]}"
    assert seen[5] == (source / NAMES[5]).read_bytes()
    assert snapshot(out) == before


async def test_symlinks_leading_out_of_the_dataset_are_refused(
    sftp_server: SFTPServer, sftp_root: Path, source: Path, tmp_path: Path
) -> None:
    secret = sftp_root / "secret.txt"
    secret.write_text("secret")
    (source / "inside.lnk").symlink_to(source / "f0.dat")
    (source / "outside.lnk").symlink_to(secret)
    (source / "away").symlink_to(sftp_root, target_is_directory=True)
    dataset = Dataset(type="raw", source_folder=str(source))
    out = tmp_path / "out"
    transfer = sftp_server.transfer()
    async with transfer.connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(remote=remote(source, "inside.lnk"), local=[out / "i"])
        for name in ("outside.lnk", "away/secret.txt"):
            with pytest.raises(UnsafePathError, match="follow_external_symlinks"):
                await con.download_files(remote=remote(source, name), local=[out / "o"])
    assert (out / "i").read_bytes() == (source / "f0.dat").read_bytes()
    assert not (out / "o").exists()
    follow = sftp_server.transfer(follow_external_symlinks=True)
    async with follow.connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(
            remote=remote(source, "outside.lnk"), local=[out / "o"]
        )
    assert (out / "o").read_text() == "secret"


async def test_connect_checks_the_folder_and_the_representative_file(
    sftp_server: SFTPServer, source: Path, dataset: Dataset
) -> None:
    transfer = sftp_server.transfer()
    missing = Dataset(type="raw", source_folder=str(source / "nope"))
    with pytest.raises(FileNotAccessibleError) as info:
        async with transfer.connect_for_download(missing, "f0.dat"):
            pass
    assert info.value.remote_path == str(source / "nope")
    with pytest.raises(FileNotAccessibleError) as info:
        async with transfer.connect_for_download(dataset, "nope.dat"):
            pass
    assert info.value.remote_path == "nope.dat"
    # Only probed: it may lie outside the source folder (as in Scitacean).
    async with transfer.connect_for_download(dataset, f"../{source.name}/f0.dat"):
        pass
    with pytest.raises(ValueError, match="no source folder"):
        async with transfer.connect_for_download(Dataset(type="raw"), "f0.dat"):
            pass


async def test_allowed_roots_are_checked_before_connecting(
    sftp_server: SFTPServer, source: Path, dataset: Dataset
) -> None:
    # A host nobody listens on: refused before any connection is tried.
    transfer = SFTPFileTransfer(
        host="127.0.0.1", port=1, allowed_roots=["/somewhere/else"]
    )
    with pytest.raises(UnsafePathError, match="allowed"):
        async with transfer.connect_for_download(dataset, "f0.dat"):
            pass
    inside = sftp_server.transfer(allowed_roots=[str(source.parent)])
    async with inside.connect_for_download(dataset, "f0.dat") as con:
        assert con.source_folder == str(source)


async def test_cancellation_removes_everything_this_call_created(
    sftp_server: SFTPServer,
    sftp_root: Path,
    tmp_path: Path,
    snapshot: Snapshot,
) -> None:
    folder = sftp_root / "large"
    folder.mkdir()
    names = [f"l{i}" for i in range(6)]
    for name in names:
        (folder / name).write_bytes(os.urandom(8 << 20))
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    (out / "existing").mkdir(parents=True)
    before = snapshot(out)
    local = [out / "existing" / "new" / n for n in names]
    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        with anyio.CancelScope() as scope:

            def on_bytes(done: int, total: int) -> None:
                if done:
                    scope.cancel()

            await con.download_files(
                remote=remote(folder, *names), local=local, byte_progress=on_bytes
            )
        assert scope.cancelled_caught
        assert snapshot(out) == before
        # The connection is still usable afterwards.
        await con.download_files(remote=remote(folder, *names), local=local)
    for name, path in zip(names, local, strict=True):
        assert path.read_bytes() == (folder / name).read_bytes()


async def test_a_failing_progress_callback_fails_the_call(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
) -> None:
    def progress(done: int, total: int) -> None:
        raise RuntimeError("display broke")

    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(RuntimeError, match="display broke"):
            await con.download_files(
                remote=remote(source, *NAMES),
                local=[tmp_path / "out" / n for n in NAMES],
                progress=progress,
            )
    assert leftovers(tmp_path) == []


class _Stop(BaseException):
    """Not an ``Exception``: what a worker's ``except Exception`` lets through."""


async def test_a_progress_callback_s_base_exception_comes_out_alone(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
) -> None:
    def progress(done: int, total: int) -> None:
        raise _Stop("display broke")

    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        with pytest.raises(_Stop, match="display broke") as info:
            await con.download_files(
                remote=remote(source, *NAMES),
                local=[tmp_path / "out" / n for n in NAMES],
                progress=progress,
            )
    assert type(info.value) is _Stop
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "out").exists()


async def test_stale_temporary_files_of_dead_processes_are_swept(
    sftp_server: SFTPServer, source: Path, dataset: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".f0.dat.alink-{_copy_ops._HOST}-999999999-0.part"
    stale.write_bytes(b"half")
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(remote=remote(source, "f0.dat"), local=[out / "f0"])
    assert not stale.exists()


async def test_progress_is_reported_while_files_move(
    sftp_server: SFTPServer,
    source: Path,
    dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """32 MiB cannot move within one 1 ms poll of the counters: the bytes are
    reported on the way, in order, ending at the total."""
    monkeypatch.setattr(_sftp_bridge, "PUMP_SECONDS", 0.001)
    (source / "large.dat").write_bytes(os.urandom(32 << 20))
    seen: list[tuple[int, int]] = []
    files: list[tuple[int, int]] = []
    async with sftp_server.transfer().connect_for_download(dataset, "f0.dat") as con:
        await con.download_files(
            remote=remote(source, "large.dat", "f0.dat"),
            local=[tmp_path / "large", tmp_path / "f0"],
            byte_progress=lambda d, t: seen.append((d, t)),
            progress=lambda d, t: files.append((d, t)),
        )
    total = (32 << 20) + (source / "f0.dat").stat().st_size
    assert len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {t for _, t in seen} == {total}
    assert seen[-1] == (total, total)
    assert files[-1] == (2, 2)


# ------------------------------------------------ in the chain and the client


def _fill(folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    names = [f"r{i}.dat" for i in range(5)]
    for name in names:
        (folder / name).write_bytes(os.urandom(2000))
    return names


async def test_select_falls_back_to_sftp_where_nothing_is_mounted(
    sftp_elsewhere: SFTPServer, tmp_path: Path
) -> None:
    """The laptop case: the dataset's folder exists on the file server only."""
    names = _fill(sftp_elsewhere.root / "data" / "ds")
    folder = sftp_elsewhere.remote_path(sftp_elsewhere.root / "data" / "ds")
    assert folder == "/data/ds"
    assert not os.path.exists(folder)
    dataset = Dataset(type="raw", source_folder=folder)
    chain = SelectFileTransfer(
        [LinkFileTransfer(), CopyFileTransfer(), sftp_elsewhere.transfer()]
    )
    async with chain.connect_for_download(dataset, names[0]) as con:
        assert isinstance(con, SFTPDownloadConnection)
        await con.download_files(
            remote=[RemotePath(folder) / n for n in names],
            local=[tmp_path / n for n in names],
        )
    for name in names:
        assert (tmp_path / name).read_bytes() == (
            sftp_elsewhere.root / "data" / "ds" / name
        ).read_bytes()
    missing = Dataset(type="raw", source_folder="/data/nope")
    with pytest.raises(FileNotAccessibleError) as info:
        async with chain.connect_for_download(missing, names[0]):
            pass
    assert len(info.value.errors) == 3  # type: ignore[attr-defined]
    assert "SFTPFileTransfer" in str(info.value)


async def test_client_downloads_over_sftp_and_verifies_checksums(
    sftp_elsewhere: SFTPServer, tmp_path: Path
) -> None:
    """``Client.download_files`` with the usual chain, on a machine without
    the mount: checksums verified, a re-run keeps every file."""
    local_view = sftp_elsewhere.root / "data" / "ds"
    names = _fill(local_view)
    folder = sftp_elsewhere.remote_path(local_view)
    ds, blocks = dataset_from_directory(
        local_view, pid="20.500/sftp", checksum_algorithm="md5", source_folder=folder
    )
    chain = SelectFileTransfer([LinkFileTransfer(), sftp_elsewhere.transfer()])
    server = ScicatServer(datasets=[ds], orig_datablocks=blocks, users={"u": "pw"})
    async with (
        server,
        Client.from_token(
            url=server.url, token=server.token("u"), file_transfer=chain
        ) as client,
    ):
        dataset = await client.get_dataset("20.500/sftp")
        done = await client.download_files(dataset, target=tmp_path / "t")
        inodes = {f.local_path: os.stat(f.local_path).st_ino for f in done.files}
        again = await client.download_files(dataset, target=tmp_path / "t")
        assert {
            f.local_path: os.stat(f.local_path).st_ino for f in again.files
        } == inodes
        (tmp_path / "t" / names[0]).write_bytes(b"corrupted")
        with pytest.raises(FileExistsError):
            await client.download_files(dataset, target=tmp_path / "t")
        await client.download_files(dataset, target=tmp_path / "t", force=True)
    for name in names:
        assert (tmp_path / "t" / name).read_bytes() == (local_view / name).read_bytes()


async def test_client_force_keeps_what_is_up_to_date(
    sftp_elsewhere: SFTPServer, tmp_path: Path
) -> None:
    """``force=True`` over SFTP replaces only files that differ; the others
    are kept (their inodes too) and counted as such, as with the local
    transfers — also one of the same size and time whose checksum differs
    is replaced, not a failure."""
    local_view = sftp_elsewhere.root / "data" / "ds"
    names = _fill(local_view)
    folder = sftp_elsewhere.remote_path(local_view)
    ds, blocks = dataset_from_directory(
        local_view, pid="20.500/force", checksum_algorithm="md5", source_folder=folder
    )
    server = ScicatServer(datasets=[ds], orig_datablocks=blocks, users={"u": "pw"})
    target = tmp_path / "t"
    async with (
        server,
        Client.from_token(
            url=server.url,
            token=server.token("u"),
            file_transfer=sftp_elsewhere.transfer(),
        ) as client,
    ):
        dataset = await client.get_dataset("20.500/force")
        first = await client.download_files_with_report(dataset, target=target)
        assert first.transferred == len(names)
        inodes = {n: (target / n).stat().st_ino for n in names}
        forced = await client.download_files_with_report(
            dataset, target=target, force=True
        )
        assert (forced.transferred, forced.replaced, forced.kept) == (0, 0, 5)
        assert {n: (target / n).stat().st_ino for n in names} == inodes
        # Other bytes, the same size and time: only the checksum tells.
        edited = target / names[2]
        times = (edited.stat().st_atime, edited.stat().st_mtime)
        edited.write_bytes(bytes(2000))
        os.utime(edited, times)
        with pytest.raises(FileExistsError, match="checksum"):
            await client.download_files(dataset, target=target)
        forced = await client.download_files_with_report(
            dataset, target=target, force=True
        )
        assert (forced.transferred, forced.replaced, forced.kept) == (0, 1, 4)
        del inodes[names[2]]
        assert {n: (target / n).stat().st_ino for n in inodes} == inodes
    for name in names:
        assert (target / name).read_bytes() == (local_view / name).read_bytes()


async def test_large_downloads_use_a_second_connection_on_its_own_thread(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path, snapshot: Snapshot
) -> None:
    from alink.transfer._sftp_download import DownloadTuning

    folder = sftp_root / "lanes"
    folder.mkdir()
    names = [f"big{i}" for i in range(4)]
    for name in names:
        (folder / name).write_bytes(os.urandom(6 << 20))
    dataset = Dataset(type="raw", source_folder=str(folder))
    transfer = sftp_server.transfer(connections=2)
    transfer._tuning = DownloadTuning(widen_bytes=1 << 20)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    async with transfer.connect_for_download(dataset, names[0]) as con:
        with anyio.CancelScope() as scope:

            def cancel_once_moving(done: int, total: int) -> None:
                if done:
                    scope.cancel()

            await con.download_files(
                remote=remote(folder, *names),
                local=[out / n for n in names],
                byte_progress=cancel_once_moving,
            )
        assert snapshot(out) == before
        await con.download_files(
            remote=remote(folder, *names), local=[out / n for n in names]
        )
        assert len(con._opened.session.lanes) == 1  # a second private loop
    for name in names:
        assert (out / name).read_bytes() == (folder / name).read_bytes()
