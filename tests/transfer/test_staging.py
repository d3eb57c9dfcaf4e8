"""New folders of a copy are built under a hidden name, then renamed into place."""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from alink import Dataset, Engine, IntegrityError, RemotePath
from alink.transfer import _copy_ops, _fs, _plan, _staging
from alink.transfer.copy import CopyFileTransfer

pytestmark = pytest.mark.anyio

COUNT = 40


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "remote" / "ds"
    folder.mkdir(parents=True)
    for i in range(COUNT):
        (folder / f"f{i}.dat").write_bytes(f"file {i} ".encode() * (i + 1))
    return folder


@pytest.fixture
def dataset(source: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(source), pid="p/1")


def stand_ins(root: Path) -> list[Path]:
    """alink's hidden names anywhere below ``root``."""
    return [p for p in root.rglob("*") if _copy_ops.TEMP_NAME.match(p.name)]


def check_copies(source: Path, local: list[Path]) -> None:
    for path in local:
        assert not path.is_symlink()
        assert path.read_bytes() == (source / path.name).read_bytes()
        assert path.stat().st_nlink == 1  # no second (staged) name left


async def download(
    dataset: Dataset,
    source: Path,
    local: list[Path],
    progress: Callable[[int, int], object] | None = None,
    *,
    hard_link: bool = False,
) -> None:
    # Small batches and a report after each: progress sees the middle.
    engine = Engine(max_workers=1, max_batch=8, slice_seconds=0)
    transfer = CopyFileTransfer(hard_link=hard_link, engine=engine)
    remote = [RemotePath(str(source)) / p.name for p in local]
    async with transfer.connect_for_download(dataset, remote[0]) as con:
        await con.download_files(remote=remote, local=local, progress=progress)


# --- planning (no event loop) --------------------------------------------------


def test_the_highest_missing_folder_is_staged_next_to_where_it_belongs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "file.txt").write_text("not a folder")
    folders = [
        f"{out}/a/b",
        f"{out}/a/c/d",
        f"{out}/x",
        str(out),
        f"{out}/file.txt/sub",
    ]
    staging = _staging.plan_staging(folders)
    assert staging is not None
    a = staging.folder(f"{out}/a/b").removesuffix("/b")
    assert Path(a).parent == out
    assert _copy_ops.TEMP_NAME.match(Path(a).name)
    assert Path(a).name.startswith(".a.")
    assert staging.folder(f"{out}/a/c/d") == f"{a}/c/d"
    x = staging.folder(f"{out}/x")
    assert Path(x).parent == out
    assert Path(x).name.startswith(".x.")
    assert staging.folder(str(out)) == str(out)  # exists
    assert staging.folder(f"{out}/file.txt/sub") == f"{out}/file.txt/sub"
    assert staging.staged_folders == {f"{a}/b", f"{a}/c/d", x}
    assert staging.final_path(f"{a}/c/d/f.dat") == f"{out}/a/c/d/f.dat"
    assert staging.final_path(f"{out}/y") == f"{out}/y"
    assert staging.final_path(a) == a  # a stand-in itself keeps its name
    assert not os.path.lexists(a)  # planning creates nothing


def test_nothing_is_staged_when_every_folder_exists(tmp_path: Path) -> None:
    assert _staging.plan_staging([str(tmp_path)]) is None


def test_a_new_top_level_folder_is_staged_in_the_root_folder() -> None:
    staging = _staging.plan_staging(["/alink-test-never-made/a"])
    assert staging is not None
    (stand_in,) = staging.stand_ins
    assert stand_in.startswith("/.alink-test-never-made.alink-")
    assert staging.folder("/alink-test-never-made/a") == f"{stand_in}/a"


@pytest.mark.parametrize("every", [True, False], ids=["one-new-tree", "mixed"])
def test_targets_are_mapped_a_slice_at_a_time(
    tmp_path: Path, every: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_plan, "_GIL_SLICE", 2)  # iteration crosses chunks
    new = f"{tmp_path}/new"
    folders = [f"{new}/a", new] + ([] if every else [str(tmp_path)])
    staging = _staging.plan_staging(folders)
    assert staging is not None
    targets = [f"{new}/a/f0", f"{new}/f1"] + ([] if every else [f"{tmp_path}/f2"])
    view = staging.targets(targets)
    assert len(view) == len(targets)
    stand_in = staging.folder(new)
    expected = [f"{stand_in}/a/f0", f"{stand_in}/f1"]
    expected += [] if every else [f"{tmp_path}/f2"]
    assert view[:] == expected
    assert [view[i] for i in range(len(view))] == expected
    assert view[1:2] == expected[1:2]
    assert list(view) == expected


# --- renaming without replacing ------------------------------------------------


@pytest.fixture(params=["renameat2", "check-then-rename"])
def rename_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "renameat2":
        if _staging._renameat2() is None:
            pytest.skip("no renameat2 in this C library")
    else:
        monkeypatch.setattr(_staging, "_renameat2", lambda: None)
    return str(request.param)


def test_rename_noreplace_never_replaces(tmp_path: Path, rename_kind: str) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("keep")
    for taken in ("empty", "file"):
        with pytest.raises(FileExistsError):
            _staging.rename_noreplace(str(folder), str(tmp_path / taken))
    assert (tmp_path / "file").read_text() == "keep"
    assert (tmp_path / "empty").is_dir()
    _staging.rename_noreplace(str(folder), str(tmp_path / "moved"))
    assert (tmp_path / "moved" / "sub").is_dir()
    assert not folder.exists()
    with pytest.raises(FileNotFoundError):
        _staging.rename_noreplace(str(folder), str(tmp_path / "again"))


# --- downloads -----------------------------------------------------------------


async def test_a_new_folder_appears_only_once_complete(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    local = [out / "deep" / f"f{i}.dat" for i in range(COUNT)]
    seen: list[tuple[int, bool, int]] = []

    def progress(done: int, total: int) -> None:
        hidden = stand_ins(tmp_path)
        written = sum(len(files) for h in hidden for _, _, files in os.walk(h))
        seen.append((done, out.exists(), written))

    await download(dataset, source, local, progress)
    middle = [s for s in seen if 0 < s[0] < COUNT]
    assert middle, seen
    # Mid-way: files exist only under the hidden name, never under out/.
    assert all(not exists and written == done for done, exists, written in middle)
    check_copies(source, local)
    assert stand_ins(tmp_path) == []


async def test_hard_links_into_a_new_folder(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    local = [tmp_path / "out" / f"f{i}.dat" for i in range(COUNT)]
    await download(dataset, source, local, hard_link=True)
    for path in local:
        assert path.samefile(source / path.name)
    assert stand_ins(tmp_path) == []


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The final folders that staged files were linked into one by one."""
    seen: list[str] = []
    real = _staging.Staging._link_into

    def link_into(self: _staging.Staging, root: _staging._Root) -> None:
        seen.append(root.final)
        real(self, root)

    monkeypatch.setattr(_staging.Staging, "_link_into", link_into)
    return seen


async def test_a_folder_made_meanwhile_gets_the_files_linked_in(
    dataset: Dataset, source: Path, tmp_path: Path, merges: list[str]
) -> None:
    """Someone makes the new folder mid-way (and a file in it): the staged
    files are linked in, nothing of theirs is touched."""
    out = tmp_path / "out"
    local = [out / f"f{i}.dat" for i in range(COUNT)]

    def progress(done: int, total: int) -> None:
        if done and not out.exists():
            out.mkdir()
            (out / "theirs.txt").write_text("theirs")

    await download(dataset, source, local, progress)
    assert (out / "theirs.txt").read_text() == "theirs"
    assert sorted(os.listdir(out)) == sorted([p.name for p in local] + ["theirs.txt"])
    check_copies(source, local)
    assert stand_ins(tmp_path) == []
    assert merges == [str(out)]


async def test_an_identical_file_made_meanwhile_counts_as_done(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    local = [out / f"f{i}.dat" for i in range(COUNT)]

    def progress(done: int, total: int) -> None:
        if done and not out.exists():
            out.mkdir()
            (out / "f3.dat").write_bytes((source / "f3.dat").read_bytes())

    await download(dataset, source, local, progress)
    check_copies(source, local)
    assert stand_ins(tmp_path) == []


async def test_a_conflict_in_a_folder_made_meanwhile_undoes_everything(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    """Two new folders: ``one`` is renamed into place, then ``two`` (made
    meanwhile by someone else) holds another file at one of our names. The
    download fails, ``one`` is taken back and removed, theirs stays."""
    one, two = tmp_path / "one", tmp_path / "two"
    half = COUNT // 2
    local = [one / f"f{i}.dat" for i in range(half)]
    local += [two / f"f{i}.dat" for i in range(half, COUNT)]

    def progress(done: int, total: int) -> None:
        if done and not two.exists():
            two.mkdir()
            (two / f"f{COUNT - 1}.dat").write_text("theirs")

    with pytest.raises(FileExistsError) as info:
        await download(dataset, source, local, progress)
    assert info.value.filename == str(two / f"f{COUNT - 1}.dat")
    assert not one.exists()
    assert os.listdir(two) == [f"f{COUNT - 1}.dat"]
    assert (two / f"f{COUNT - 1}.dat").read_text() == "theirs"
    assert stand_ins(tmp_path) == []


async def test_what_others_write_into_a_folder_taken_back_is_given_back(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``one`` is renamed into place; someone writes into it; then ``two``
    fails. The rollback takes ``one`` back to its hidden name, removes our
    files there, and gives the folder (with their file only) back."""
    one, two = tmp_path / "one", tmp_path / "two"
    local = [one / "f0.dat", one / "f1.dat", two / "f2.dat"]
    real = _staging.rename_noreplace

    def rename(src: str, dst: str) -> None:
        if dst == str(two):
            (one / "theirs.txt").write_text("theirs")
            raise OSError(errno.EIO, "injected", src, None, dst)
        real(src, dst)

    monkeypatch.setattr(_staging, "rename_noreplace", rename)
    with pytest.raises(OSError, match="injected") as info:
        await download(dataset, source, local)
    assert info.value.filename2 == str(two)
    assert os.listdir(one) == ["theirs.txt"]
    assert not two.exists()
    assert stand_ins(tmp_path) == []


async def test_two_downloads_into_one_new_folder_at_once(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    merges: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both stage the same new folder; the second to finish links its files
    into the folder the first one renamed into place."""
    out = tmp_path / "out"
    plans: list[object] = []
    both_planned = threading.Event()
    plan, commit = _staging.plan_staging, _staging.Staging.commit

    def plan_then_tell(folders: object) -> object:
        staging = plan(folders)  # type: ignore[arg-type]
        plans.append(staging)
        if len(plans) == 2:
            both_planned.set()
        return staging

    def commit_once_both_planned(self: _staging.Staging) -> None:
        # Worker threads: the first to finish waits until both have planned.
        assert both_planned.wait(timeout=30)
        commit(self)

    monkeypatch.setattr(_staging, "plan_staging", plan_then_tell)
    monkeypatch.setattr(_staging.Staging, "commit", commit_once_both_planned)
    first = [out / f"f{i}.dat" for i in range(COUNT // 2)]
    second = [out / f"f{i}.dat" for i in range(COUNT // 2, COUNT)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(download, dataset, source, first)
        tg.start_soon(download, dataset, source, second)
    check_copies(source, first + second)
    assert stand_ins(tmp_path) == []
    assert merges == [str(out)]  # one renamed its folder, the other linked


async def test_errors_name_final_paths(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = _copy_ops._copy_new
    failing = str(tmp_path / "out" / "f5.dat")

    def copy_new(src: int, st: os.stat_result, source: str, target: str) -> int:
        if staging_name and target.endswith("/f5.dat"):
            staging_name.append(target)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return real(src, st, source, target)

    staging_name: list[str] = ["armed"]
    monkeypatch.setattr(_copy_ops, "_copy_new", copy_new)
    local = [tmp_path / "out" / f"f{i}.dat" for i in range(COUNT)]
    with pytest.raises(OSError, match=os.strerror(errno.ENOSPC)) as info:
        await download(dataset, source, local)
    assert staging_name[1] != failing  # written under the hidden name
    assert info.value.filename == failing
    assert not (tmp_path / "out").exists()
    assert stand_ins(tmp_path) == []


async def test_a_stand_in_that_cannot_be_made_is_named_as_its_folder(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a read-only target: the hidden folder is refused; the error
    # names the folder the user asked for.
    real = os.mkdir
    tried: list[str] = []

    def mkdir(path: str, *args: object, **kwargs: object) -> None:
        if ".alink-" in os.fspath(path):
            tried.append(os.fspath(path))
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_fs.os, "mkdir", mkdir)
    local = [tmp_path / "out" / "sub" / f"f{i}.dat" for i in range(COUNT)]
    with pytest.raises(PermissionError) as info:
        await download(dataset, source, local)
    assert tried  # the stand-in was what failed
    assert info.value.filename in (str(tmp_path / "out"), str(tmp_path / "out" / "sub"))
    assert ".alink-" not in str(info.value)


async def test_verify_sees_final_paths_once_the_folder_is_in_place(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    local = [tmp_path / "out" / "deep" / f"f{i}.dat" for i in range(COUNT)]
    checked: list[str] = []

    def verify(index: int, path: str) -> None:
        assert Path(path).read_bytes() == (source / f"f{index}.dat").read_bytes()
        checked.append(path)

    transfer = CopyFileTransfer()
    remote = [RemotePath(str(source)) / p.name for p in local]
    async with transfer.connect_for_download(dataset, remote[0]) as con:
        await con.download_files(remote=remote, local=local, verify=verify)
    assert sorted(checked) == sorted(map(str, local))
    check_copies(source, local)
    assert stand_ins(tmp_path) == []


async def test_a_failed_verify_takes_a_folder_in_place_back(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    """The folder was renamed into place before verification; a failure
    removes it again, and leaves no hidden folder behind."""
    out = tmp_path / "out"
    local = [out / f"f{i}.dat" for i in range(COUNT)]

    def verify(index: int, path: str) -> None:
        if index == COUNT - 1:
            raise IntegrityError(f"bad checksum: {path}")

    transfer = CopyFileTransfer()
    remote = [RemotePath(str(source)) / p.name for p in local]
    async with transfer.connect_for_download(dataset, remote[0]) as con:
        with pytest.raises(IntegrityError, match=f"bad checksum: {local[-1]}"):
            await con.download_files(remote=remote, local=local, verify=verify)
    assert not out.exists()
    assert stand_ins(tmp_path) == []


async def test_a_killed_downloads_stand_in_is_removed_by_the_next_one(
    dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    async with await anyio.open_process([sys.executable, "-c", "pass"]) as child:
        await child.wait()
    dead = child.pid  # a process that ran here and is gone
    stale = tmp_path / f".out.alink-{_copy_ops._HOST}-{dead}-3.part"
    (stale / "deep").mkdir(parents=True)
    (stale / "deep" / "half").write_bytes(b"half")
    local = [tmp_path / "out" / f"f{i}.dat" for i in range(3)]
    await download(dataset, source, local)
    assert not stale.exists()
    check_copies(source, local)


async def test_a_transfer_sweeps_each_parent_folder_once(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service downloading dataset after dataset into one folder does not
    list that (growing) folder again for each download."""
    swept: list[str] = []
    real = _copy_ops.remove_stale_temps

    def remove(folder: str) -> list[str]:
        swept.append(folder)
        return real(folder)

    monkeypatch.setattr(_copy_ops, "remove_stale_temps", remove)
    transfer = CopyFileTransfer()
    remote = [RemotePath(str(source)) / "f0.dat"]
    for name in ("a", "b", "c/d"):
        async with transfer.connect_for_download(dataset, remote[0]) as con:
            await con.download_files(remote=remote, local=[tmp_path / name / "f0.dat"])
        assert (tmp_path / name / "f0.dat").read_bytes() == (
            source / "f0.dat"
        ).read_bytes()
    assert swept == [str(tmp_path)]
    # Another transfer (another service, or after a restart) sweeps again.
    other = CopyFileTransfer()
    async with other.connect_for_download(dataset, remote[0]) as con:
        await con.download_files(remote=remote, local=[tmp_path / "e" / "f0.dat"])
    assert swept == [str(tmp_path)] * 2


@pytest.mark.parametrize("planted", ["symlink", "folder"])
async def test_a_hidden_folder_planted_before_us_is_never_written_into(
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    planted: str,
) -> None:
    """Someone who guesses the hidden name puts a symlink to another folder
    (or a folder of their own) there first: the download fails before
    writing anything, and touches neither."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plan = _staging.plan_staging
    stand_ins: list[str] = []

    def plan_then_plant(folders: object) -> object:
        staging = plan(folders)  # type: ignore[arg-type]
        assert staging is not None
        for stand_in in staging.stand_ins:
            if planted == "symlink":
                os.symlink(elsewhere, stand_in)
            else:
                os.mkdir(stand_in)
            stand_ins.append(stand_in)
        return staging

    monkeypatch.setattr(_staging, "plan_staging", plan_then_plant)
    local = [tmp_path / "out" / "deep" / f"f{i}.dat" for i in range(COUNT)]
    with pytest.raises(FileExistsError) as info:
        await download(dataset, source, local)
    assert info.value.filename == stand_ins[0]
    assert os.listdir(elsewhere) == []
    assert not (tmp_path / "out").exists()
    (stand_in,) = stand_ins
    if planted == "symlink":
        assert os.readlink(stand_in) == str(elsewhere)
    else:
        assert os.listdir(stand_in) == []  # what we made inside was removed


@pytest.mark.parametrize("kind", ["symlink", "file"])
async def test_a_non_folder_made_meanwhile_at_the_new_folders_name_fails_it(
    dataset: Dataset, source: Path, tmp_path: Path, kind: str
) -> None:
    """A symlink (to a folder elsewhere) or a file appears where the new
    folder goes: nothing is written through it, and it is left alone."""
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    local = [out / f"f{i}.dat" for i in range(COUNT)]

    def progress(done: int, total: int) -> None:
        if done and not os.path.lexists(out):
            if kind == "symlink":
                out.symlink_to(elsewhere)
            else:
                out.write_text("theirs")

    with pytest.raises(NotADirectoryError) as info:
        await download(dataset, source, local, progress)
    assert info.value.filename == str(out)
    assert os.listdir(elsewhere) == []
    if kind == "symlink":
        assert os.readlink(out) == str(elsewhere)
    else:
        assert out.read_text() == "theirs"
    assert stand_ins(tmp_path) == []
