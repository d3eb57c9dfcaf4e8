"""Remote files that change between the check and the copy.

The check before a download looks at every remote file; a copy opens each
one later. Whatever happened in between — a file swapped for a symlink out
of the dataset, rewritten while it is read, removed, turned into a FIFO —
fails the call with an error about that remote file, and nothing is left.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from alink import Dataset, FileNotAccessibleError, RemotePath, UnsafePathError
from alink.client import _local
from alink.transfer import _copy_ops, _download
from alink.transfer._engine import Engine
from alink.transfer.copy import CopyFileTransfer

pytestmark = pytest.mark.anyio

COUNT = 64


def _tree(tmp_path: Path) -> tuple[Path, list[str]]:
    source = tmp_path / "src"
    source.mkdir()
    names = [f"f{i:03d}" for i in range(COUNT)]
    for i, name in enumerate(names):
        (source / name).write_bytes(b"data%03d" % i)
    (tmp_path / "secret").write_bytes(b"SECRET!")  # outside, the same size
    return source, names


async def _download_with(
    tmp_path: Path, change: Callable[[Path], None], *, hard_link: bool = False
) -> Path:
    """Copy the tree, calling ``change(last remote file)`` once the check is
    done (at the first progress report, small batches on one worker)."""
    source, names = _tree(tmp_path)
    victim = source / names[-1]
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        if not calls:
            change(victim)
        calls.append(done)

    engine = Engine(
        max_workers=1, start_workers=1, min_batch=8, max_batch=8, slice_seconds=0
    )
    transfer = CopyFileTransfer(engine=engine, hard_link=hard_link)
    out = tmp_path / "out"
    async with transfer.connect_for_download(
        Dataset(type="raw", source_folder=str(source)), names[0]
    ) as con:
        await con.download_files(
            remote=[RemotePath(str(source / n)) for n in names],
            local=[out / n for n in names],
            progress=progress,
        )
    return out


@pytest.mark.parametrize("proc", [True, False], ids=["proc", "no proc"])
@pytest.mark.parametrize("hard_link", [False, True], ids=["copy", "hard link"])
async def test_a_file_swapped_for_a_symlink_out_of_the_dataset_is_refused(
    tmp_path: Path, hard_link: bool, proc: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without /proc/self/fd (macOS), the path resolved now, if it still
    # names the open file.
    monkeypatch.setattr(_copy_ops, "_proc_fds", lambda: proc)

    def swap(victim: Path) -> None:
        victim.unlink()
        victim.symlink_to(tmp_path / "secret")

    with pytest.raises(UnsafePathError, match="outside the dataset's source folder"):
        await _download_with(tmp_path, swap, hard_link=hard_link)
    assert not (tmp_path / "out").exists()  # undone


async def test_a_file_swapped_for_a_symlink_inside_the_dataset_is_copied(
    tmp_path: Path,
) -> None:
    def swap(victim: Path) -> None:
        victim.unlink()
        victim.symlink_to(victim.parent / "f000")

    out = await _download_with(tmp_path, swap)
    assert (out / f"f{COUNT - 1:03d}").read_bytes() == b"data000"


async def test_a_file_removed_after_the_check(tmp_path: Path) -> None:
    with pytest.raises(FileNotAccessibleError, match="is gone") as info:
        await _download_with(tmp_path, Path.unlink)
    assert info.value.remote_path.name == f"f{COUNT - 1:03d}"
    assert not (tmp_path / "out").exists()


async def test_a_file_turned_into_a_fifo_after_the_check(tmp_path: Path) -> None:
    def fifo(victim: Path) -> None:
        victim.unlink()
        os.mkfifo(victim)

    with pytest.raises(FileNotAccessibleError, match="no regular file any more"):
        await _download_with(tmp_path, fifo)
    assert not (tmp_path / "out").exists()


async def test_a_file_that_changes_while_it_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _copy_ops._copy_data
    victim = tmp_path / "src" / f"f{COUNT - 1:03d}"

    def copy_then_grow(src: int, dst: int, size: int) -> int:
        copied = real(src, dst, size)
        if os.fstat(src).st_ino == victim.stat().st_ino:
            with victim.open("ab") as more:
                more.write(b"+")
        return copied

    monkeypatch.setattr(_copy_ops, "_copy_data", copy_then_grow)
    with pytest.raises(FileNotAccessibleError, match="while it was copied") as info:
        await _download_with(tmp_path, lambda victim: None)
    assert info.value.remote_path.name == victim.name
    assert not (tmp_path / "out").exists()


def test_a_local_side_error_is_not_blamed_on_the_remote() -> None:
    sources = ["/data/a"]
    # symlink()/link() name the source first; the error is the target's.
    two = PermissionError(errno.EACCES, "Permission denied", "/data/a", None, "/out/a")
    assert _download._unreadable_source(two, sources, sources) is None
    one = PermissionError(errno.EACCES, "Permission denied", "/data/a")
    found = _download._unreadable_source(one, sources, sources)
    assert isinstance(found, FileNotAccessibleError)
    assert "cannot be read" in str(found)


def test_a_link_to_a_remote_file_that_is_gone_is_no_integrity_error(
    tmp_path: Path,
) -> None:
    link = tmp_path / "a.dat"
    link.symlink_to(tmp_path / "gone.dat")
    expected = _local.Expected(str(tmp_path / "gone.dat"), 3)
    with pytest.raises(FileNotAccessibleError, match="is gone"):
        _local.check_file(str(link), expected)
