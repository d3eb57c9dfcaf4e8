"""CopyFileTransfer downloads: copies, temporary files, faults, crashes, hard links.

The rules Copy shares with Link are in ``test_shared_download.py``. Most tests
run twice more: with unnamed ``O_TMPFILE`` temporaries and with the named
temporary files used on filesystems without them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import anyio
import pytest

from alink import Dataset, Engine, RemotePath
from alink.transfer import _copy_ops, _staging
from alink.transfer.copy import CopyDownloadConnection, CopyFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["unnamed", "named", "staged"])
def temp_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How a copy is kept out of sight until complete: an O_TMPFILE file or a
    named temporary file (new folders not staged), or new folders built under
    a hidden name (``_staging``; files in existing folders as O_TMPFILE)."""
    if request.param != "staged":
        monkeypatch.setattr(_staging, "plan_staging", lambda folders: None)
    if request.param == "named":
        monkeypatch.setattr(_copy_ops, "_unnamed_temp_supported", lambda: False)
    elif not _copy_ops._unnamed_temp_supported():
        pytest.skip("O_TMPFILE is not available here")
    return str(request.param)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "remote" / "ds"
    folder.mkdir(parents=True)
    for i in range(6):
        (folder / f"f{i}.dat").write_bytes(os.urandom(1000 + 37 * i))
    return folder


@pytest.fixture
def dataset(source: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(source), pid="p/1")


def remote(source: Path, *names: str) -> list[RemotePath]:
    return [RemotePath(str(source)) / n for n in names]


def tree(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every entry under ``root``: kind, content or link text, inode."""
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = ("link", os.readlink(path), st.st_ino)
        elif path.is_dir():
            out[key] = ("dir", "", st.st_ino)
        else:
            out[key] = ("file", path.read_bytes(), st.st_ino)
    return out


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if _copy_ops.TEMP_NAME.match(p.name)]


def names(n: int) -> list[str]:
    return [f"f{i}.dat" for i in range(n)]


async def download(
    transfer: CopyFileTransfer,
    dataset: Dataset,
    remote_paths: list[RemotePath],
    local: list[Path],
) -> None:
    async with transfer.connect_for_download(dataset, remote_paths[0]) as con:
        assert isinstance(con, CopyDownloadConnection)
        await con.download_files(remote=remote_paths, local=local)


# --- what a copy is ------------------------------------------------------------


@pytest.mark.usefixtures("plans")
async def test_copy_content_times_and_mode(
    temp_mode: str, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    os.chmod(source / "f1.dat", 0o640)
    os.utime(source / "f2.dat", ns=(1_000_000_123, 2_000_000_456))
    local = [tmp_path / "out" / "x" / n for n in names(6)]
    await download(CopyFileTransfer(), dataset, remote(source, *names(6)), local)
    umask = os.umask(0)
    os.umask(umask)
    for name, path in zip(names(6), local, strict=True):
        original = (source / name).stat()
        copy = path.lstat()
        assert path.read_bytes() == (source / name).read_bytes()
        assert copy.st_ino != original.st_ino
        assert copy.st_mtime_ns == original.st_mtime_ns
        assert copy.st_mode == original.st_mode & ~umask
    assert (tmp_path / "out" / "x" / "f2.dat").stat().st_mtime_ns == 2_000_000_456
    assert temp_files(tmp_path) == []


async def test_empty_and_large_files(
    temp_mode: str, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    (source / "empty").write_bytes(b"")
    big = os.urandom(1 << 20) * 9  # crosses the cancellation-check size
    (source / "big").write_bytes(big)
    local = [tmp_path / "o" / "empty", tmp_path / "o" / "big"]
    await download(CopyFileTransfer(), dataset, remote(source, "empty", "big"), local)
    assert local[0].read_bytes() == b""
    assert local[1].read_bytes() == big


async def test_fallback_copy_without_kernel_fast_paths(
    dataset: Dataset, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[str] = []

    def unsupported(*args: object) -> int:
        refused.append("call")
        raise OSError(errno.ENOSYS, "not here")

    monkeypatch.setattr(_copy_ops, "_copy_file_range", unsupported)
    monkeypatch.setattr(os, "sendfile", unsupported)
    local = [tmp_path / "o" / n for n in names(3)]
    await download(CopyFileTransfer(), dataset, remote(source, *names(3)), local)
    assert len(refused) == 6  # both fast paths tried and refused for each file
    for name, path in zip(names(3), local, strict=True):
        assert path.read_bytes() == (source / name).read_bytes()


async def test_never_visible_under_final_name(
    temp_mode: str,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the bytes are written, the final name does not exist yet."""
    real_copy = _copy_ops._copy_data
    checked: list[int] = []
    out = tmp_path / "out"

    def watched(src: int, dst: int, size: int) -> int:
        # Whatever is visible under a final name is complete ...
        for entry in os.listdir(out):
            if not _copy_ops.TEMP_NAME.match(entry):
                assert (out / entry).read_bytes() == (source / entry).read_bytes()
        copied = real_copy(src, dst, size)
        # ... and the file being written is unnamed or has a hidden temporary name.
        written = os.readlink(f"/proc/self/fd/{dst}")
        if temp_mode == "named":
            assert _copy_ops.TEMP_NAME.match(Path(written).name)
        else:
            assert written.endswith("(deleted)")
        checked.append(size)
        return copied

    monkeypatch.setattr(_copy_ops, "_copy_data", watched)
    out.mkdir()
    local = [out / n for n in names(6)]
    await download(CopyFileTransfer(), dataset, remote(source, *names(6)), local)
    assert len(checked) == 6
    assert sorted(os.listdir(out)) == sorted(names(6))


# --- existing local files ------------------------------------------------------


@pytest.mark.usefixtures("plans")
async def test_identical_existing_file_is_kept(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "f0.dat"
    mine.write_bytes((source / "f0.dat").read_bytes())
    inode = mine.stat().st_ino
    local = [out / n for n in names(2)]
    await download(CopyFileTransfer(), dataset, remote(source, *names(2)), local)
    assert mine.stat().st_ino == inode
    assert local[1].read_bytes() == (source / "f1.dat").read_bytes()


@pytest.mark.parametrize("change", ["size", "content"])
async def test_different_existing_file_is_refused(
    dataset: Dataset, source: Path, tmp_path: Path, change: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    data = bytearray((source / "f3.dat").read_bytes())
    if change == "size":
        data += b"!"
    else:
        data[len(data) // 2] ^= 0xFF
    (out / "f3.dat").write_bytes(bytes(data))
    before = tree(out)
    local = [out / n for n in names(6)]
    with pytest.raises(FileExistsError):
        await download(CopyFileTransfer(), dataset, remote(source, *names(6)), local)
    assert tree(out) == before


@pytest.mark.parametrize("same_content", [True, False])
async def test_never_writes_through_a_symlink(
    temp_mode: str,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    same_content: bool,
) -> None:
    """A local path that is a symlink to another file: refused, the file unchanged.

    Even a symlink to a file with identical content is refused: the local
    path would not be a regular file of its own.
    """
    other = tmp_path / "precious.txt"
    data = (source / "f2.dat").read_bytes() if same_content else b"precious"
    other.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "f2.dat").symlink_to(other)
    before = tree(tmp_path / "out")
    local = [out / n for n in names(4)]
    with pytest.raises(FileExistsError):
        await download(CopyFileTransfer(), dataset, remote(source, *names(4)), local)
    assert other.read_bytes() == data
    assert tree(tmp_path / "out") == before
    assert temp_files(tmp_path) == []


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("conflict", ["identical", "different", "dangling-link"])
async def test_busy_folder_listed_up_front(
    temp_mode: str, source: Path, tmp_path: Path, conflict: str
) -> None:
    """A folder receiving many files is listed once; existing files are still
    recognised (kept when identical, refused otherwise)."""
    for i in range(6, 80):
        (source / f"f{i}.dat").write_bytes(os.urandom(64) + bytes([i]))
    ds = Dataset(type="raw", source_folder=str(source))
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / "f50.dat"
    if conflict == "identical":
        blocker.write_bytes((source / "f50.dat").read_bytes())
    elif conflict == "different":
        blocker.write_bytes(b"other")
    else:
        blocker.symlink_to(tmp_path / "nowhere")
    before = tree(out)
    local = [out / n for n in names(80)]
    transfer = CopyFileTransfer()
    if conflict == "identical":
        await download(transfer, ds, remote(source, *names(80)), local)
        assert tree(out)["f50.dat"] == before["f50.dat"]
        assert len(os.listdir(out)) == 80
    else:
        with pytest.raises(FileExistsError):
            await download(transfer, ds, remote(source, *names(80)), local)
        assert tree(out) == before
    assert temp_files(tmp_path) == []


async def test_file_appearing_after_the_listing_is_not_overwritten(
    temp_mode: str,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(6, 80):
        (source / f"f{i}.dat").write_bytes(os.urandom(64))
    ds = Dataset(type="raw", source_folder=str(source))
    out = tmp_path / "out"
    out.mkdir()
    real_scan = _copy_ops.CopyOperation.scan_folders

    def scan_then_race(
        self: _copy_ops.CopyOperation, folders: Mapping[str, int]
    ) -> None:
        real_scan(self, folders)
        (out / "f60.dat").write_bytes(b"arrived late")

    monkeypatch.setattr(_copy_ops.CopyOperation, "scan_folders", scan_then_race)
    with pytest.raises(FileExistsError):
        await download(
            CopyFileTransfer(),
            ds,
            remote(source, *names(80)),
            [out / n for n in names(80)],
        )
    assert os.listdir(out) == ["f60.dat"]
    assert (out / "f60.dat").read_bytes() == b"arrived late"
    assert temp_files(tmp_path) == []


def test_same_content_rules(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_bytes(b"x" * 3000 + b"y")
    same = tmp_path / "same"
    same.write_bytes(b"x" * 3000 + b"y")
    longer = tmp_path / "longer"
    longer.write_bytes(b"x" * 3001 + b"y")
    differs = tmp_path / "differs"
    differs.write_bytes(b"x" * 3000 + b"z")
    link = tmp_path / "link"
    link.symlink_to(same)
    hard = tmp_path / "hard"
    os.link(a, hard)
    assert _copy_ops.same_content(str(a), str(same))
    assert _copy_ops.same_content(str(a), str(hard))
    assert not _copy_ops.same_content(str(a), str(longer))
    assert not _copy_ops.same_content(str(a), str(differs))
    assert not _copy_ops.same_content(str(a), str(link))
    assert not _copy_ops.same_content(str(a), str(tmp_path / "missing"))


def test_upload_operation_never_accepts_existing(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_bytes(b"data")
    b = tmp_path / "b"
    b.write_bytes(b"data")
    assert _copy_ops.CopyOperation().matches(str(a), str(b))
    assert not _copy_ops.CopyOperation(accept_identical=False).matches(str(a), str(b))


# --- faults -------------------------------------------------------------------


def fault_after(
    func: Callable[..., object], k: int, error: OSError
) -> Callable[..., object]:
    """``func`` that raises ``error`` on its ``k``-th call (1-based), after doing
    half of the work where it can (a partial write)."""
    calls = 0

    def faulty(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == k:
            if func is _copy_ops._copy_data:
                src, dst, size = args
                assert isinstance(src, int)
                assert isinstance(dst, int)
                assert isinstance(size, int)
                os.write(dst, os.read(src, size // 2))
            raise error
        return func(*args, **kwargs)

    return faulty


@pytest.mark.parametrize("where", ["data", "place"])
@pytest.mark.parametrize(
    ("kind", "code"),
    [(OSError, errno.ENOSPC), (PermissionError, errno.EACCES)],
    ids=["ENOSPC", "EACCES"],
)
@pytest.mark.usefixtures("plans")
async def test_fault_mid_way_leaves_disk_as_it_was(
    temp_mode: str,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    kind: type[OSError],
    code: int,
) -> None:
    """Disk full or a permission error on the 40th file: the original error, no
    partial or temporary files, nothing that existed before touched."""
    error = kind(code, os.strerror(code))
    for i in range(6, 60):
        (source / f"f{i}.dat").write_bytes(os.urandom(300))
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "old.txt").write_bytes(b"old")
    (out / "keep" / "f7.dat").write_bytes((source / "f7.dat").read_bytes())
    before = tree(out)
    if where == "data":
        monkeypatch.setattr(
            _copy_ops, "_copy_data", fault_after(_copy_ops._copy_data, 40, error)
        )
    else:
        monkeypatch.setattr(os, "link", fault_after(os.link, 40, error))
        # A staged new folder is placed by one rename, once all files exist.
        rename = fault_after(_staging.rename_noreplace, 1, error)
        monkeypatch.setattr(_staging, "rename_noreplace", rename)
    local = [out / "keep" / n for n in names(30)] + [
        out / "new" / "deep" / n for n in names(60)[30:]
    ]
    transfer = CopyFileTransfer(engine=Engine(max_workers=1))  # a deterministic 40th
    with pytest.raises(OSError, match=os.strerror(code)) as info:
        await download(transfer, dataset, remote(source, *names(60)), local)
    assert info.value is error
    assert tree(out) == before
    assert temp_files(tmp_path) == []


async def test_cancel_during_a_large_copy(
    temp_mode: str,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large copy notices cancellation between chunks and is removed."""
    (source / "big").write_bytes(os.urandom(1 << 20) * 16)
    monkeypatch.setattr(_copy_ops, "_CHUNK", 1 << 20)
    real = os.copy_file_range
    calls = 0
    started = anyio.Event()
    cancelled = threading.Event()

    def copy_range(src: int, dst: int, count: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            anyio.from_thread.run_sync(started.set)
            assert cancelled.wait(30)
        return real(src, dst, count)

    monkeypatch.setattr(_copy_ops, "_copy_file_range", copy_range)
    out = tmp_path / "out"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_when_started() -> None:
                await started.wait()
                scope.cancel()
                cancelled.set()

            tg.start_soon(cancel_when_started)
            await download(
                CopyFileTransfer(), dataset, remote(source, "big"), [out / "big"]
            )
            tg.cancel_scope.cancel()  # not cancelled in time: fails below
    assert scope.cancelled_caught
    assert calls == 1  # stopped after the chunk during which it was cancelled
    assert not out.exists()
    assert temp_files(tmp_path) == []


async def test_cancel_between_files_of_a_batch(
    temp_mode: str,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files of 1 MiB and more check for cancellation before they are copied,
    so a cancelled batch stops at the next such file."""
    block = os.urandom(1 << 20)
    big = [f"big{i}" for i in range(20)]
    for name in big:
        (source / name).write_bytes(block)
    real = os.copy_file_range
    calls = 0
    started = anyio.Event()
    cancelled = threading.Event()

    def copy_range(src: int, dst: int, count: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            anyio.from_thread.run_sync(started.set)
            assert cancelled.wait(30)
        return real(src, dst, count)

    monkeypatch.setattr(_copy_ops, "_copy_file_range", copy_range)
    out = tmp_path / "out"
    transfer = CopyFileTransfer(engine=Engine(max_workers=1))
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_when_started() -> None:
                await started.wait()
                scope.cancel()
                cancelled.set()

            tg.start_soon(cancel_when_started)
            await download(
                transfer, dataset, remote(source, *big), [out / n for n in big]
            )
            tg.cancel_scope.cancel()  # not cancelled in time: fails below
    assert scope.cancelled_caught
    assert calls == 1
    assert not out.exists()
    assert temp_files(tmp_path) == []


# --- hard links ---------------------------------------------------------------


async def test_hard_link_shares_the_inode(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    local = [tmp_path / "o" / n for n in names(3)]
    transfer = CopyFileTransfer(hard_link=True)
    await download(transfer, dataset, remote(source, *names(3)), local)
    for name, path in zip(names(3), local, strict=True):
        assert path.stat().st_ino == (source / name).stat().st_ino
    # Re-running (either way) accepts the links as done.
    await download(transfer, dataset, remote(source, *names(3)), local)
    await download(CopyFileTransfer(), dataset, remote(source, *names(3)), local)
    assert local[0].stat().st_ino == (source / "f0.dat").stat().st_ino


async def test_hard_link_falls_back_to_copying_when_refused(
    dataset: Dataset, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _copy_ops._link_following

    def refuse(src: str, dst: str) -> None:
        if not src.startswith("/proc/"):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real(src, dst)

    monkeypatch.setattr(_copy_ops, "_link_following", refuse)
    local = [tmp_path / "o" / n for n in names(3)]
    await download(
        CopyFileTransfer(hard_link=True), dataset, remote(source, *names(3)), local
    )
    for name, path in zip(names(3), local, strict=True):
        assert path.stat().st_ino != (source / name).stat().st_ino
        assert path.read_bytes() == (source / name).read_bytes()


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on a different filesystem than ``tmp_path``, if there is one."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem")
    with tempfile.TemporaryDirectory(dir=shm) as folder:
        yield Path(folder)


async def test_hard_link_across_filesystems_copies(
    source: Path, tmp_path: Path, other_filesystem: Path
) -> None:
    remote_folder = other_filesystem / "ds"
    remote_folder.mkdir()
    (remote_folder / "a").write_bytes(b"across")
    ds = Dataset(type="raw", source_folder=str(remote_folder))
    target = tmp_path / "o" / "a"
    await download(
        CopyFileTransfer(hard_link=True), ds, remote(remote_folder, "a"), [target]
    )
    assert target.read_bytes() == b"across"
    assert target.stat().st_dev != (remote_folder / "a").stat().st_dev


def refuse_links(
    monkeypatch: pytest.MonkeyPatch, refused: Callable[[str], bool] = lambda _: True
) -> None:
    """Make the kernel refuse (``EPERM``) hard links of sources ``refused``
    accepts, as ``fs.protected_hardlinks`` does; ``O_TMPFILE`` links through
    ``/proc`` still work."""
    real = _copy_ops._link_following

    def link(src: str, dst: str) -> None:
        if not src.startswith("/proc/") and refused(src):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real(src, dst)

    monkeypatch.setattr(_copy_ops, "_link_following", link)


async def method_after(
    transfer: CopyFileTransfer,
    dataset: Dataset,
    remote_paths: list[RemotePath],
    local: list[Path],
) -> tuple[str, str]:
    """The connection's ``method`` before and after one download."""
    async with transfer.connect_for_download(dataset, remote_paths[0]) as con:
        assert isinstance(con, CopyDownloadConnection)
        before = con.method
        await con.download_files(remote=remote_paths, local=local)
        return before, con.method


async def test_hard_link_method_says_hard_link_when_all_were_linked(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    local = [tmp_path / "o" / n for n in names(3)]
    transfer = CopyFileTransfer(hard_link=True)
    got = await method_after(transfer, dataset, remote(source, *names(3)), local)
    assert got == ("hard link", "hard link")


async def test_hard_link_method_says_copy_when_links_were_refused(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    temp_mode: str,
) -> None:
    refuse_links(monkeypatch)
    local = [tmp_path / "o" / n for n in names(3)]
    transfer = CopyFileTransfer(hard_link=True)
    got = await method_after(transfer, dataset, remote(source, *names(3)), local)
    assert got == ("hard link", "copy")
    assert all(p.stat().st_nlink == 1 for p in local)


async def test_hard_link_method_says_both_when_some_were_copied(
    dataset: Dataset, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_links(monkeypatch, lambda src: src.endswith("f1.dat"))
    local = [tmp_path / "o" / n for n in names(3)]
    transfer = CopyFileTransfer(hard_link=True)
    got = await method_after(transfer, dataset, remote(source, *names(3)), local)
    assert got == ("hard link", "hard link and copy")
    assert [p.stat().st_nlink for p in local] == [2, 1, 2]


async def test_hard_link_method_is_per_call(
    dataset: Dataset, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``method`` describes the last call only: a call that copied, then one
    that linked, then one that made nothing new (it says what it tries)."""
    transfer = CopyFileTransfer(hard_link=True)
    out = tmp_path / "o"
    async with transfer.connect_for_download(
        dataset, remote(source, "f0.dat")[0]
    ) as con:
        assert isinstance(con, CopyDownloadConnection)
        with monkeypatch.context() as patch:
            refuse_links(patch)
            await con.download_files(
                remote=remote(source, "f0.dat"), local=[out / "f0.dat"]
            )
        assert con.method == "copy"
        await con.download_files(
            remote=remote(source, "f1.dat"), local=[out / "f1.dat"]
        )
        assert con.method == "hard link"
        await con.download_files(
            remote=remote(source, "f0.dat", "f1.dat"),
            local=[out / "f0.dat", out / "f1.dat"],
        )
        assert con.method == "hard link"


async def test_hard_link_method_says_copy_across_filesystems(
    tmp_path: Path, other_filesystem: Path
) -> None:
    remote_folder = other_filesystem / "ds"
    remote_folder.mkdir()
    (remote_folder / "a").write_bytes(b"across")
    ds = Dataset(type="raw", source_folder=str(remote_folder))
    got = await method_after(
        CopyFileTransfer(hard_link=True),
        ds,
        remote(remote_folder, "a"),
        [tmp_path / "o" / "a"],
    )
    assert got == ("hard link", "copy")


async def test_hard_link_rolls_back_only_its_links(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f4.dat").write_bytes(b"in the way")
    before_remote = tree(source)
    with pytest.raises(FileExistsError):
        await download(
            CopyFileTransfer(hard_link=True),
            dataset,
            remote(source, *names(6)),
            [out / n for n in names(6)],
        )
    assert sorted(os.listdir(out)) == ["f4.dat"]
    assert tree(source) == before_remote  # the remote files are untouched


# --- temporary files left by a killed process ---------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_stale_temporaries_are_removed(
    monkeypatch: pytest.MonkeyPatch, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    monkeypatch.setattr(_copy_ops, "_unnamed_temp_supported", lambda: False)
    out = tmp_path / "out"
    out.mkdir()
    host = _copy_ops._HOST
    stale = out / f".f0.dat.alink-{host}-{dead_pid()}-7.part"
    alive = out / f".f0.dat.alink-{host}-{os.getppid()}-7.part"
    mine = out / f".f1.dat.alink-{host}-{os.getpid()}-99999999.part"
    other_host = "ffffffff" if host != "ffffffff" else "00000000"
    foreign = out / f".f0.dat.alink-{other_host}-{dead_pid()}-7.part"
    unrelated = out / ".f0.dat.other.part"
    for path in (stale, alive, mine, foreign, unrelated):
        path.write_bytes(b"half")
    stale_dir = out / f".x.alink-{host}-{dead_pid()}-1.part"  # a staged folder
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "half").write_bytes(b"half")
    stale_link = out / f".y.alink-{host}-{dead_pid()}-1.part"
    stale_link.symlink_to(source)
    alive_dir = out / f".z.alink-{host}-{os.getppid()}-1.part"  # being built
    alive_dir.mkdir()
    (alive_dir / "half").write_bytes(b"half")
    await download(
        CopyFileTransfer(), dataset, remote(source, "f0.dat"), [out / "f0.dat"]
    )
    assert not stale.exists()
    assert not stale_dir.exists()
    for path in (alive, mine, foreign, unrelated, stale_link, alive_dir / "half"):
        assert path.exists()
    assert (source / "f0.dat").exists()


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    import anyio
    from alink import Dataset, Engine, RemotePath
    from alink.transfer import _copy_ops, _staging
    from alink.transfer.copy import CopyFileTransfer

    source, out, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode != "staged":
        _staging.plan_staging = lambda folders: None
    if mode == "named":
        _copy_ops._unnamed_temp_supported = lambda: False

    def progress(done, total):
        print(done, flush=True)

    async def main():
        names = [f"f{i:05d}" for i in range(count)]
        ds = Dataset(type="raw", source_folder=source)
        async with CopyFileTransfer().connect_for_download(ds, names[0]) as con:
            await con.download_files(
                remote=[RemotePath(source) / n for n in names],
                local=[f"{out}/{n}" for n in names],
                progress=progress,
            )
        print("finished", flush=True)

    anyio.run(main)
    """
)


def run_and_kill(source: Path, out: Path, count: int, mode: str) -> int:
    """Run CRASH_SCRIPT; SIGKILL it once it reports progress; its return code."""
    args = [sys.executable, "-c", CRASH_SCRIPT, str(source), str(out), str(count)]
    child = subprocess.Popen([*args, mode], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    with child:
        for line in child.stdout:
            if line.strip() not in ("0", "finished"):
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
    return child.returncode


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory (tmpfs) when available, else ``tmp_path``."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm) as folder:
            yield Path(folder)
    else:  # pragma: no cover - depends on the machine
        yield tmp_path


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_kill_9_mid_copy_then_rerun(
    temp_mode: str,
    fast_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kill -9 during a copy of 2000 x 64 KiB: every file under its final name is
    complete; a re-run completes the download and leaves no temporary files."""
    count = 2000
    source = fast_dir / "remote"
    source.mkdir()
    digests: dict[str, str] = {}
    block = os.urandom(64 << 10)
    for i in range(count):
        data = i.to_bytes(4, "big") + block[4:]
        (source / f"f{i:05d}").write_bytes(data)
        digests[f"f{i:05d}"] = hashlib.sha256(data).hexdigest()
    out = fast_dir / "out"
    returncode = await anyio.to_thread.run_sync(
        run_and_kill, source, out, count, temp_mode
    )
    assert returncode == -signal.SIGKILL
    if temp_mode == "staged":
        # The new folder was still being built under a hidden name.
        assert not out.exists()
        (stand_in,) = temp_files(fast_dir)
        written = len(os.listdir(stand_in))
        assert 0 < written < count, "the kill did not land mid-copy"
    else:
        present = [p for p in out.iterdir() if not _copy_ops.TEMP_NAME.match(p.name)]
        assert 0 < len(present) < count, "the kill did not land mid-copy"
        for path in present:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digests[path.name]

    if temp_mode == "named":
        monkeypatch.setattr(_copy_ops, "_unnamed_temp_supported", lambda: False)
    names = sorted(digests)
    ds = Dataset(type="raw", source_folder=str(source))
    async with CopyFileTransfer().connect_for_download(ds, names[0]) as con:
        await con.download_files(
            remote=[RemotePath(str(source)) / n for n in names],
            local=[out / n for n in names],
        )
    assert sorted(os.listdir(out)) == names
    for name in names:
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digests[name]
    assert temp_files(fast_dir) == []


def test_a_remote_file_that_cannot_be_read_is_named_as_such(
    tmp_path: Path, permissions_bind: Callable[[list[str], Path], list[str]]
) -> None:
    """The check only looks at the remote files; a copy must read them. One
    it may not read (mode 000, in a folder it may enter) fails the download
    as that remote file, ``FileNotAccessibleError``, with everything undone,
    where a bare ``PermissionError`` said neither which side nor what. A
    real process without root's overriding capabilities."""
    remote = tmp_path / "remote"
    remote.mkdir()
    names = [f"f{i}" for i in range(6)]
    for n in names:
        (remote / n).write_text(n)
    (remote / "f4").chmod(0)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    script = textwrap.dedent(
        """
        import os, sys, anyio
        from alink import Dataset, FileNotAccessibleError, RemotePath
        from alink.transfer.copy import CopyFileTransfer
        src, out = sys.argv[1:3]
        names = sys.argv[3:]
        async def main():
            ds = Dataset(type="raw", source_folder=src)
            async with CopyFileTransfer().connect_for_download(ds, None) as con:
                await con.download_files(
                    remote=[RemotePath(f"{src}/{n}") for n in names],
                    local=[f"{out}/{n}" for n in names],
                )
        for backend in ("asyncio", "trio"):
            try:
                anyio.run(main, backend=backend)
            except FileNotAccessibleError as exc:
                print(type(exc).__name__, exc.remote_path, exc, sep="|")
                print(os.listdir(out))
        """
    )
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    command = permissions_bind(
        [sys.executable, "-c", script, str(remote), str(out), *names],
        locked / "probe",
    )
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4  # asyncio, then trio
    for first, second in (lines[0:2], lines[2:4]):
        kind, path, message = first.split("|")
        assert (kind, path) == ("FileNotAccessibleError", str(remote / "f4"))
        assert "cannot be read (permission denied)" in message
        assert second == "[]"  # every copy undone
