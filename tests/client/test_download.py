"""Client.download_files with LinkFileTransfer on real temporary folders."""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from alink import (
    Client,
    Dataset,
    File,
    IntegrityError,
    LocalFileConflictError,
    NothingSelectedWarning,
    RemotePath,
    UnsafePathError,
)
from alink.transfer import _copy_ops
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client.without_login(
        url="https://scicat.test", file_transfer=LinkFileTransfer()
    ) as c:
        yield c


def snapshot(root: Path) -> dict[str, tuple[str, Any]]:
    """Every entry below ``root``: kind and link target / content / nothing."""
    if not root.exists():
        return {}
    out: dict[str, tuple[str, Any]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", None)
        else:
            st = path.stat()
            out[rel] = ("file", (path.read_bytes(), st.st_ino, st.st_mtime_ns))
    return out


def with_file(dataset: Dataset, index: int, **changes: Any) -> Dataset:
    files = list(dataset.files)
    old = files[index]
    files[index] = File(
        remote_path=changes.get("remote_path", old.remote_path),
        size=changes.get("size", old.size),
        creation_time=old.creation_time,
        checksum=changes.get("checksum", old.checksum),
        checksum_algorithm=changes.get("checksum_algorithm", old.checksum_algorithm),
        is_on_remote=changes.get("is_on_remote", old.is_on_remote),
        local_path=changes.get("local_path", old.local_path),
    )
    return Dataset(
        type=dataset.type,
        source_folder=dataset.source_folder,
        pid=dataset.pid,
        files=files,
    )


# --- the basic flow ---------------------------------------------------------


async def test_download_all_flat(client: Client, storage: Any) -> None:
    original_files = storage.dataset.files
    result = await client.download_files(storage.dataset, target=storage.target)
    assert result is not storage.dataset
    assert storage.dataset.files == original_files
    assert all(f.local_path is None for f in storage.dataset.files)
    for file in result.files:
        assert file.local_path == storage.target / file.remote_path.name
        assert os.readlink(file.local_path) == storage.remote(file.remote_path.posix)
        assert file.local_path.read_bytes() == storage.contents[file.remote_path.posix]
    assert sorted(os.listdir(storage.target)) == ["a.txt", "b.dat", "c.txt", "d.bin"]


async def test_download_keep_tree(client: Client, storage: Any) -> None:
    result = await client.download_files(
        storage.dataset, target=storage.target, keep_tree=True
    )
    locals_ = sorted(
        str(f.local_path.relative_to(storage.target)) for f in result.files
    )
    assert locals_ == ["a.txt", "b.dat", "sub/c.txt", "sub/deep/d.bin"]
    assert (storage.target / "sub" / "deep" / "d.bin").read_bytes() == bytes(range(256))


async def test_relative_target(
    client: Client, storage: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = await client.download_files(storage.dataset, target="rel", select="a.txt")
    [file] = [f for f in result.files if f.local_path is not None]
    assert file.local_path == Path("rel/a.txt")
    assert (tmp_path / "rel" / "a.txt").read_bytes() == b"alpha\n"


async def test_progress_is_reported(client: Client, storage: Any) -> None:
    calls: list[tuple[int, int]] = []
    await client.download_files(
        storage.dataset,
        target=storage.target,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 4)
    assert calls[-1] == (4, 4)


async def test_rerun_is_a_no_op(client: Client, storage: Any) -> None:
    await client.download_files(storage.dataset, target=storage.target)
    before = snapshot(storage.target)
    for verify in ("checksum", "size", "none"):
        await client.download_files(
            storage.dataset, target=storage.target, verify=verify
        )
        assert snapshot(storage.target) == before


# --- selection -------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (True, ["a.txt", "b.dat", "c.txt", "d.bin"]),
        (False, []),
        ("sub/c.txt", ["c.txt"]),
        ("FULL:sub/c.txt", ["c.txt"]),
        (["a.txt", "sub/deep/d.bin"], ["a.txt", "d.bin"]),
        (("b.dat",), ["b.dat"]),
        (re.compile(r"\.txt$"), ["a.txt", "c.txt"]),
        (lambda f: f.size > 200, ["b.dat", "d.bin"]),
    ],
)
async def test_selection_forms(
    client: Client, storage: Any, select: Any, expected: list[str]
) -> None:
    if isinstance(select, str) and select.startswith("FULL:"):
        select = storage.remote(select.removeprefix("FULL:"))
    result = await client.download_files(
        storage.dataset, target=storage.target, select=select
    )
    got = sorted(f.local_path.name for f in result.files if f.local_path is not None)
    assert got == expected
    on_disk = sorted(os.listdir(storage.target)) if storage.target.exists() else []
    assert on_disk == expected


async def test_nothing_selected_warns_and_makes_the_target(
    client: Client, storage: Any
) -> None:
    with pytest.warns(NothingSelectedWarning, match="no/such/file"):
        result = await client.download_files(
            storage.dataset, target=storage.target, select="no/such/file"
        )
    assert result == storage.dataset
    assert result is not storage.dataset
    # As in Scitacean, the target folder exists afterwards; nothing is in it.
    assert os.listdir(storage.target) == []


async def test_nothing_selected_warning_names_the_callers_line(
    client: Client, storage: Any
) -> None:
    # Filters by module and the location shown to the user need the frame
    # that called the client, not one inside alink.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await client.download_files(
            storage.dataset, target=storage.target, select="no/such/file"
        )
        await client.download_files_with_report(
            storage.dataset, target=storage.target, select="no/such/file"
        )
    found = [w for w in caught if issubclass(w.category, NothingSelectedWarning)]
    assert [w.filename for w in found] == [__file__, __file__]


async def test_select_false_makes_the_target_without_a_warning(
    client: Client, storage: Any
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await client.download_files(
            storage.dataset, target=storage.target / "new" / "deep", select=False
        )
    assert all(f.local_path is None for f in result.files)
    assert os.listdir(storage.target / "new" / "deep") == []


async def test_a_file_where_the_empty_target_goes_is_an_error(
    client: Client, storage: Any
) -> None:
    storage.target.write_text("mine")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        await client.download_files(
            storage.dataset, target=storage.target, select=False
        )
    assert storage.target.read_text() == "mine"


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        ("sub/c.txt", ["c.txt"]),
        (["a.txt", "sub/deep/d.bin"], ["a.txt", "d.bin"]),
        (re.compile(r"^b\.dat$"), ["b.dat"]),
        (re.compile(r"^sub/"), ["c.txt", "d.bin"]),
    ],
)
async def test_select_matches_the_path_below_the_source_folder(
    client: Client, storage: Any, select: Any, expected: list[str]
) -> None:
    # Scitacean's semantics: ``File.remote_path`` as the datablock lists it.
    result = await client.download_files(
        storage.dataset, target=storage.target, select=select
    )
    assert sorted(os.listdir(storage.target)) == expected
    assert sorted(f.local_path.name for f in result.files if f.local_path) == expected


async def test_files_not_on_remote_are_never_paired(
    client: Client, storage: Any, tmp_path: Path
) -> None:
    local_only = File.from_local(tmp_path / "mine.txt", remote_path="zzz.txt")
    files = [local_only, *storage.dataset.files]
    dataset = Dataset(
        type="raw", source_folder=storage.dataset.source_folder, files=files
    )
    result = await client.download_files(dataset, target=storage.target)
    assert result.files[0] == local_only
    for file in result.files[1:]:
        assert os.readlink(file.local_path) == storage.remote(file.remote_path.posix)
    assert not (storage.target / "zzz.txt").exists()
    assert not (storage.target / "mine.txt").exists()


# --- validation before the disk is touched -------------------------------------


async def assert_refused(
    client: Client,
    dataset: Dataset,
    target: Path,
    error: type[BaseException],
    match: str,
    **options: Any,
) -> None:
    with pytest.raises(error, match=match):
        await client.download_files(dataset, target=target, **options)
    assert not target.exists()


async def test_no_file_transfer(storage: Any) -> None:
    async with Client.without_login(url="https://scicat.test") as client:
        await assert_refused(
            client, storage.dataset, storage.target, ValueError, "no file transfer"
        )


async def test_no_source_folder(client: Client, storage: Any) -> None:
    dataset = Dataset(type="raw", files=storage.dataset.files)
    await assert_refused(client, dataset, storage.target, ValueError, "source folder")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"select": 3}, TypeError, "select"),
        ({"select": None}, TypeError, "select"),
        ({"select": ["a.txt", None]}, TypeError, "select"),
        ({"verify": "all"}, ValueError, "verify"),
        ({"verify": True}, ValueError, "verify"),
        ({"checksum_algorithm": "crc32"}, ValueError, "unsupported"),
        ({"force": "yes"}, TypeError, "force"),
        ({"keep_tree": 1}, TypeError, "keep_tree"),
        ({"progress": 5}, TypeError, "progress"),
    ],
)
async def test_bad_arguments(
    client: Client,
    storage: Any,
    options: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    await assert_refused(
        client, storage.dataset, storage.target, error, match, **options
    )


async def test_select_callable_error_propagates_before_disk(
    client: Client, storage: Any
) -> None:
    def broken(file: File) -> bool:
        raise KeyError("mine")

    await assert_refused(
        client, storage.dataset, storage.target, KeyError, "mine", select=broken
    )


async def test_duplicate_names_flat(
    client: Client, storage_factory: Callable[..., Any]
) -> None:
    storage = storage_factory({"x/a.txt": b"1", "y/a.txt": b"2", "b.txt": b"3"})
    await assert_refused(client, storage.dataset, storage.target, ValueError, "a.txt")
    result = await client.download_files(
        storage.dataset, target=storage.target, keep_tree=True
    )
    assert sorted(str(f.local_path) for f in result.files) == sorted(
        str(storage.target / p) for p in ("x/a.txt", "y/a.txt", "b.txt")
    )


async def test_file_outside_source_folder(client: Client, storage: Any) -> None:
    outside = storage.source.parent / "secret"
    outside.write_bytes(b"secret")
    dataset = with_file(storage.dataset, 1, remote_path=RemotePath("../secret"))
    await assert_refused(client, dataset, storage.target, UnsafePathError, "outside")


async def test_unsupported_dataset_algorithm(client: Client, storage: Any) -> None:
    dataset = with_file(storage.dataset, 0, checksum_algorithm="crc32c")
    await assert_refused(client, dataset, storage.target, ValueError, "crc32c")
    # Overriding the algorithm or lowering verification gets past it.
    result = await client.download_files(dataset, target=storage.target, verify="size")
    assert all(f.local_path is not None for f in result.files)


async def test_folder_at_a_local_path(client: Client, storage: Any) -> None:
    (storage.target / "b.dat").mkdir(parents=True)
    before = snapshot(storage.target)
    with pytest.raises(FileExistsError, match="folder"):
        await client.download_files(storage.dataset, target=storage.target)
    assert snapshot(storage.target) == before


async def test_missing_remote_file_rolls_back(client: Client, storage: Any) -> None:
    (storage.source / "sub" / "c.txt").unlink()
    from alink import FileNotAccessibleError

    with pytest.raises(FileNotAccessibleError):
        await client.download_files(storage.dataset, target=storage.target)
    assert not storage.target.exists()


# --- existing local files ------------------------------------------------------


async def test_up_to_date_file_is_kept_untouched(client: Client, storage: Any) -> None:
    storage.target.mkdir()
    copy = storage.target / "b.dat"
    copy.write_bytes(storage.contents["b.dat"])
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))
    before = copy.stat()
    result = await client.download_files(storage.dataset, target=storage.target)
    after = copy.stat()
    assert not copy.is_symlink()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert result.files[1].local_path == copy
    assert (storage.target / "a.txt").is_symlink()


@pytest.mark.parametrize("verify", ["checksum", "size", "none"])
@pytest.mark.parametrize("edit", ["size", "content"])
async def test_an_edited_file_is_never_replaced_without_force(
    client: Client, storage: Any, verify: str, edit: str
) -> None:
    storage.target.mkdir()
    edited = storage.target / "b.dat"
    if edit == "size":
        edited.write_bytes(b"my own notes")
    else:  # same size, other bytes: only the checksum tells
        edited.write_bytes(b"B" * len(storage.contents["b.dat"]))
    before = snapshot(storage.target)
    if edit == "content" and verify != "checksum":
        # Not read below the checksum level: the right size counts as in place.
        report = await client.download_files_with_report(
            storage.dataset, target=storage.target, verify=verify
        )
        assert (report.kept, report.transferred, report.replaced) == (1, 3, 0)
        assert snapshot(storage.target)["b.dat"] == before["b.dat"]
        return
    with pytest.raises(LocalFileConflictError) as info:
        await client.download_files(
            storage.dataset, target=storage.target, verify=verify
        )
    assert isinstance(info.value, FileExistsError)
    assert info.value.paths == (edited,)
    assert "b.dat" in str(info.value)
    assert "force=True" in str(info.value)
    assert snapshot(storage.target) == before  # nothing at all changed
    report = await client.download_files_with_report(
        storage.dataset, target=storage.target, verify=verify, force=True
    )
    assert os.readlink(edited) == storage.remote("b.dat")
    assert (report.replaced, report.transferred, report.kept) == (1, 3, 0)
    assert [p.name for p in storage.target.iterdir() if ".alink-" in p.name] == []


async def test_every_conflict_is_named_in_a_short_message(
    client: Client, storage_factory: Callable[..., Any]
) -> None:
    storage = storage_factory({f"f{i:03}.dat": b"x" * 10 for i in range(40)})
    storage.target.mkdir()
    for i in range(40):
        (storage.target / f"f{i:03}.dat").write_bytes(b"mine")
    with pytest.raises(LocalFileConflictError) as info:
        await client.download_files(storage.dataset, target=storage.target)
    assert len(info.value.paths) == 40
    assert len(info.value.reasons) == 40
    message = str(info.value)
    assert "and 35 more" in message
    assert len(message) < 1200
    assert "f039.dat" not in message


async def test_file_without_checksum_of_the_right_size_is_kept(
    client: Client, storage_factory: Callable[..., Any]
) -> None:
    storage = storage_factory({"a.txt": b"alpha"}, algorithm=None)
    storage.target.mkdir()
    (storage.target / "a.txt").write_bytes(b"alpha")  # same bytes, unknown sum
    report = await client.download_files_with_report(
        storage.dataset, target=storage.target
    )
    assert not (storage.target / "a.txt").is_symlink()
    assert (report.kept, report.transferred, report.transfer) == (1, 0, None)


async def test_a_stale_link_of_ours_is_replaced(client: Client, storage: Any) -> None:
    storage.target.mkdir()
    # Into the dataset's source folder, dangling or to another file: ours.
    (storage.target / "a.txt").symlink_to(storage.source / "gone")
    (storage.target / "b.dat").symlink_to(storage.source / "a.txt")
    (storage.target / "c.txt").symlink_to(
        os.path.relpath(storage.source / "x", storage.target)
    )
    report = await client.download_files_with_report(
        storage.dataset, target=storage.target
    )
    for name, remote in [
        ("a.txt", "a.txt"),
        ("b.dat", "b.dat"),
        ("c.txt", "sub/c.txt"),
    ]:
        assert os.readlink(storage.target / name) == storage.remote(remote)
    assert (report.replaced, report.transferred, report.kept) == (3, 1, 0)
    assert report.transfer == "link"


async def test_a_relative_link_to_the_very_file_is_kept(
    client: Client, storage: Any
) -> None:
    """A relative symlink to the very file (``ln -sr``, say) is in place, as
    alink's own absolute one is: kept as it is, not replaced."""
    storage.target.mkdir()
    texts = {
        "a.txt": os.path.relpath(storage.source / "a.txt", storage.target),
        "c.txt": os.path.relpath(storage.source / "sub/deep/../c.txt", storage.target),
    }
    for name, text in texts.items():
        (storage.target / name).symlink_to(text)
    report = await client.download_files_with_report(
        storage.dataset, target=storage.target
    )
    assert (report.kept, report.transferred, report.replaced) == (2, 2, 0)
    for name, text in texts.items():
        assert os.readlink(storage.target / name) == text
    assert os.readlink(storage.target / "b.dat") == storage.remote("b.dat")


async def test_a_symlink_elsewhere_is_not_ours(
    client: Client, storage: Any, tmp_path: Path
) -> None:
    storage.target.mkdir()
    mine = tmp_path / "my-own-a.txt"
    mine.write_bytes(storage.contents["a.txt"])
    (storage.target / "a.txt").symlink_to(mine)
    (storage.target / "b.dat").symlink_to(storage.target / "gone")
    with pytest.raises(LocalFileConflictError) as info:
        await client.download_files(storage.dataset, target=storage.target)
    assert [p.name for p in info.value.paths] == ["a.txt", "b.dat"]
    assert all("symlink" in why for why in info.value.reasons)
    assert os.readlink(storage.target / "a.txt") == str(mine)


async def test_a_rerun_reports_everything_already_in_place(
    client: Client, storage: Any
) -> None:
    first = await client.download_files_with_report(
        storage.dataset, target=storage.target
    )
    assert (first.transferred, first.replaced, first.kept) == (4, 0, 0)
    assert first.selected == 4
    again = await client.download_files_with_report(
        storage.dataset, target=storage.target
    )
    assert (again.transferred, again.replaced, again.kept) == (0, 0, 4)
    assert again.dataset == first.dataset


def client_factory(transfer: Any) -> Client:
    return Client.without_login(url="https://scicat.test", file_transfer=transfer)


async def test_a_hard_link_report_says_hard_link(storage: Any) -> None:
    async with client_factory(CopyFileTransfer(hard_link=True)) as client:
        report = await client.download_files_with_report(
            storage.dataset, target=storage.target
        )
    assert (report.transferred, report.transfer) == (4, "hard link")
    assert (storage.target / "a.txt").stat().st_nlink == 2


@pytest.mark.parametrize("force", [False, True], ids=["keep", "force"])
@pytest.mark.parametrize(
    "transfer",
    [LinkFileTransfer, CopyFileTransfer, lambda: CopyFileTransfer(hard_link=True)],
    ids=["link", "copy", "hard link"],
)
async def test_a_hard_link_of_the_remote_file_is_kept_by_every_transfer(
    storage: Any, transfer: Callable[[], Any], force: bool
) -> None:
    """A hard link alink made is the very remote file: in place for a link,
    a copy or a hard link transfer alike, and ``force`` does not change that
    (it replaces only what differs)."""
    async with client_factory(CopyFileTransfer(hard_link=True)) as client:
        await client.download_files(storage.dataset, target=storage.target)
    before = snapshot(storage.target)
    async with client_factory(transfer()) as client:
        report = await client.download_files_with_report(
            storage.dataset, target=storage.target, force=force
        )
    assert (report.transferred, report.replaced, report.kept) == (0, 0, 4)
    assert snapshot(storage.target) == before  # same inodes, nothing touched


async def test_a_hard_link_report_says_copy_when_links_are_refused(
    storage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _copy_ops._link_following

    def refuse(src: str, dst: str) -> None:  # as fs.protected_hardlinks may
        if not src.startswith("/proc/"):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real(src, dst)

    monkeypatch.setattr(_copy_ops, "_link_following", refuse)
    async with client_factory(CopyFileTransfer(hard_link=True)) as client:
        report = await client.download_files_with_report(
            storage.dataset, target=storage.target
        )
    assert (report.transferred, report.transfer) == (4, "copy")
    assert (storage.target / "a.txt").stat().st_nlink == 1


async def test_a_copy_replaces_links_of_ours(storage: Any) -> None:
    async with client_factory(LinkFileTransfer()) as linker:
        await linker.download_files(storage.dataset, target=storage.target)
    async with client_factory(CopyFileTransfer()) as copier:
        report = await copier.download_files_with_report(
            storage.dataset, target=storage.target
        )
        assert (report.replaced, report.transferred, report.kept) == (4, 0, 0)
        assert report.transfer == "copy"
        for name in ("a.txt", "b.dat", "c.txt", "d.bin"):
            assert not (storage.target / name).is_symlink()
        again = await copier.download_files_with_report(
            storage.dataset, target=storage.target
        )
        assert (again.replaced, again.transferred, again.kept) == (0, 0, 4)
    # A link transfer keeps matching copies as they are: nothing is lost.
    async with client_factory(LinkFileTransfer()) as linker:
        report = await linker.download_files_with_report(
            storage.dataset, target=storage.target
        )
    assert (report.kept, report.transferred) == (4, 0)
    assert not (storage.target / "a.txt").is_symlink()


async def test_force_replaces_up_to_date_files(client: Client, storage: Any) -> None:
    storage.target.mkdir()
    copy = storage.target / "b.dat"
    copy.write_bytes(storage.contents["b.dat"])
    await client.download_files(storage.dataset, target=storage.target, force=True)
    assert os.readlink(copy) == storage.remote("b.dat")


async def test_lower_verify_levels_keep_files_of_the_right_size_unread(
    client: Client, storage: Any
) -> None:
    storage.target.mkdir()
    copy = storage.target / "b.dat"
    copy.write_bytes(storage.contents["b.dat"])
    inode = copy.stat().st_ino
    await client.download_files(storage.dataset, target=storage.target, verify="size")
    assert not copy.is_symlink()
    assert copy.stat().st_ino == inode


async def test_cancelled_download_is_undone(client: Client, storage: Any) -> None:
    storage.target.mkdir()
    stale = storage.target / "a.txt"
    stale.symlink_to(storage.source / "b.dat")  # a stale link of ours
    before = snapshot(storage.target)
    with anyio.CancelScope() as scope:

        def cancel_midway(done: int, total: int) -> None:
            if done > 0:
                scope.cancel()

        await client.download_files(
            storage.dataset, target=storage.target, progress=cancel_midway
        )
    assert scope.cancelled_caught
    assert snapshot(storage.target) == before


class _Stop(BaseException):
    """Not an ``Exception``: what a worker's ``except Exception`` lets through."""


@pytest.mark.parametrize("error", [_Stop, SystemExit])
@pytest.mark.parametrize("where", ["progress", "verify_progress"])
async def test_a_callback_s_base_exception_comes_out_alone_and_undone(
    client: Client, storage: Any, error: type[BaseException], where: str
) -> None:
    """CONTRACT §3.5: the caller sees one exception (``except SystemExit``
    matches it), and the download is undone."""
    storage.target.mkdir()
    stale = storage.target / "a.txt"
    stale.symlink_to(storage.source / "b.dat")  # a stale link of ours
    before = snapshot(storage.target)

    def callback(*counts: int) -> None:
        if counts[0] > 0:
            raise error("stop")

    with pytest.raises(error, match="stop") as info:
        await client.download_files(
            storage.dataset, target=storage.target, **{where: callback}
        )
    assert type(info.value) is error
    assert snapshot(storage.target) == before


# --- verification ----------------------------------------------------------------


async def test_checksum_mismatch_rolls_everything_back(
    client: Client, storage: Any
) -> None:
    storage.target.mkdir()
    stale = storage.target / "a.txt"
    stale.symlink_to(storage.source / "b.dat")  # a stale link of ours
    dataset = with_file(storage.dataset, 2, checksum="0" * 32)
    before = snapshot(storage.target)
    with pytest.raises(IntegrityError) as info:
        await client.download_files(dataset, target=storage.target)
    message = str(info.value)
    assert "c.txt" in message
    assert "0" * 32 in message
    assert hashlib.md5(storage.contents["sub/c.txt"]).hexdigest() in message
    assert snapshot(storage.target) == before
    assert os.readlink(stale) == str(storage.source / "b.dat")


async def test_size_mismatch(client: Client, storage: Any) -> None:
    dataset = with_file(storage.dataset, 0, size=999)
    with pytest.raises(IntegrityError, match="999"):
        await client.download_files(dataset, target=storage.target, verify="size")
    assert not storage.target.exists()
    # Not checked at all with verify="none".
    result = await client.download_files(dataset, target=storage.target, verify="none")
    assert result.files[0].local_path is not None


async def test_verify_size_ignores_checksums(client: Client, storage: Any) -> None:
    dataset = with_file(storage.dataset, 2, checksum="0" * 32)
    await client.download_files(dataset, target=storage.target, verify="size")
    assert (storage.target / "c.txt").is_symlink()


async def test_checksum_algorithm_override(
    client: Client, storage_factory: Callable[..., Any]
) -> None:
    storage = storage_factory({"a.txt": b"alpha"}, algorithm="sha256")
    # The catalogue claims md5 but holds a sha256 digest.
    dataset = with_file(storage.dataset, 0, checksum_algorithm="md5")
    with pytest.raises(IntegrityError, match="md5"):
        await client.download_files(dataset, target=storage.target)
    assert not storage.target.exists()
    await client.download_files(
        dataset, target=storage.target, checksum_algorithm="SHA-256"
    )
    assert (storage.target / "a.txt").is_symlink()


async def test_override_applies_to_the_up_to_date_check(
    client: Client, storage_factory: Callable[..., Any]
) -> None:
    storage = storage_factory({"a.txt": b"alpha"}, algorithm="sha256")
    dataset = with_file(storage.dataset, 0, checksum_algorithm="md5")
    storage.target.mkdir()
    copy = storage.target / "a.txt"
    copy.write_bytes(b"alpha")
    inode = copy.stat().st_ino
    await client.download_files(
        dataset, target=storage.target, checksum_algorithm="sha256"
    )
    assert not copy.is_symlink()
    assert copy.stat().st_ino == inode


async def test_checksum_without_algorithm_checks_size_only(
    client: Client, storage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = with_file(storage.dataset, 0, checksum="0" * 32, checksum_algorithm=None)
    await client.download_files(dataset, target=storage.target)
    assert (storage.target / "a.txt").is_symlink()
    assert "no checksum algorithm" in caplog.text


@pytest.mark.parametrize("algorithm", ["md5", "sha256", "blake2b", "sha3_512"])
async def test_algorithms(
    client: Client, storage_factory: Callable[..., Any], algorithm: str
) -> None:
    storage = storage_factory({"big.bin": os.urandom(3 << 20)}, algorithm=algorithm)
    await client.download_files(storage.dataset, target=storage.target)
    bad = with_file(storage.dataset, 0, checksum="ab" * 32)
    with pytest.raises(IntegrityError):
        await client.download_files(bad, target=storage.target / "again")
    assert not (storage.target / "again").exists()


# --- third-party transfers (download_files(*, remote, local) only) ---------------


class _PlainConnection:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[tuple[list[str], list[str]]] = []

    async def download_files(
        self, *, remote: Sequence[RemotePath], local: Sequence[Path]
    ) -> None:
        self.calls.append(([str(r) for r in remote], [str(p) for p in local]))
        await self._inner.download_files(remote=remote, local=local)


class PlainTransfer:
    """A Scitacean-shaped transfer: no replace, no verify, no progress."""

    def __init__(self) -> None:
        self.link = LinkFileTransfer()
        self.connections: list[_PlainConnection] = []

    @asynccontextmanager
    async def connect_for_download(
        self, dataset: Dataset, representative_file_path: RemotePath
    ) -> AsyncIterator[_PlainConnection]:
        assert not representative_file_path.is_absolute()
        async with self.link.connect_for_download(
            dataset, representative_file_path
        ) as con:
            plain = _PlainConnection(con)
            self.connections.append(plain)
            yield plain


@pytest.fixture
async def plain() -> AsyncIterator[tuple[Client, PlainTransfer]]:
    transfer = PlainTransfer()
    async with Client.without_login(
        url="https://scicat.test", file_transfer=transfer
    ) as c:
        yield c, transfer


async def test_plain_transfer_downloads_and_verifies(
    plain: tuple[Client, PlainTransfer], storage: Any
) -> None:
    client, transfer = plain
    calls: list[tuple[int, int]] = []
    result = await client.download_files(
        storage.dataset,
        target=storage.target,
        keep_tree=True,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert all(f.local_path is not None and f.local_path.exists() for f in result.files)
    [connection] = transfer.connections
    [(remote, local)] = connection.calls
    assert remote == [
        storage.remote(f.remote_path.posix) for f in storage.dataset.files
    ]
    assert local == [str(f.local_path) for f in result.files]
    assert calls == [(0, 4), (4, 4)]


async def test_plain_transfer_mismatch_removes_what_it_made(
    plain: tuple[Client, PlainTransfer], storage: Any
) -> None:
    client, _ = plain
    storage.target.mkdir()
    (storage.target / "keep.txt").write_bytes(b"mine")
    before = snapshot(storage.target)
    dataset = with_file(storage.dataset, 3, checksum="0" * 32)
    with pytest.raises(IntegrityError, match="removed again"):
        await client.download_files(dataset, target=storage.target, keep_tree=True)
    assert snapshot(storage.target) == before


async def test_plain_transfer_refuses_replacing(
    plain: tuple[Client, PlainTransfer], storage: Any
) -> None:
    client, transfer = plain
    storage.target.mkdir()
    (storage.target / "a.txt").symlink_to(storage.source / "b.dat")  # stale, ours
    before = snapshot(storage.target)
    with pytest.raises(FileExistsError, match="cannot replace"):
        await client.download_files(storage.dataset, target=storage.target)
    assert snapshot(storage.target) == before
    assert transfer.connections[0].calls == []
    # Up-to-date files are fine: they are not handed to the transfer.
    (storage.target / "a.txt").unlink()
    (storage.target / "a.txt").write_bytes(storage.contents["a.txt"])
    await client.download_files(storage.dataset, target=storage.target)
    assert not (storage.target / "a.txt").is_symlink()
    assert (storage.target / "b.dat").is_symlink()


@pytest.mark.parametrize("verify", ["checksum", "size"])
async def test_verification_reports_files_and_bytes(
    client: Client, storage: Any, verify: str
) -> None:
    made: list[tuple[int, int]] = []
    checked: list[tuple[int, int, int, int]] = []
    await client.download_files(
        storage.dataset,
        target=storage.target,
        verify=verify,
        progress=lambda d, t: made.append((d, t)),
        verify_progress=lambda *counts: checked.append(counts),
    )
    size = sum(len(v) for v in storage.contents.values())
    assert made[-1] == (4, 4)
    assert checked[0] == (0, 4, 0, size)
    assert checked[-1] == (4, 4, size, size)
    assert [c[0] for c in checked] == sorted(c[0] for c in checked)
    assert [c[2] for c in checked] == sorted(c[2] for c in checked)


async def test_no_verification_no_verify_progress(client: Client, storage: Any) -> None:
    checked: list[tuple[int, ...]] = []
    await client.download_files(
        storage.dataset,
        target=storage.target,
        verify="none",
        verify_progress=lambda *counts: checked.append(counts),
    )
    assert checked == []


async def test_plain_transfer_reports_verification(
    plain: tuple[Client, PlainTransfer], storage: Any
) -> None:
    client, _ = plain
    checked: list[tuple[int, int, int, int]] = []
    await client.download_files(
        storage.dataset,
        target=storage.target,
        verify_progress=lambda *counts: checked.append(counts),
    )
    size = sum(len(v) for v in storage.contents.values())
    assert checked[0] == (0, 4, 0, size)
    assert checked[-1] == (4, 4, size, size)


async def test_large_per_file_work_runs_with_the_collector_paused() -> None:
    """What ``download_files`` makes per file (paths, the plan, the result's
    files) lives on; for many files it is made with automatic collection
    paused, so it does not set off full collections later (alink._gcpause)."""
    from alink.client import _download

    def state() -> bool:
        return gc.isenabled()

    assert gc.isenabled()
    assert await _download._maybe_thread(state, _download._OFFLOAD_FILES + 1) is False
    assert await _download._maybe_thread(state, 10) is True  # small: inline, as is
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
