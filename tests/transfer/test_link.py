"""LinkFileTransfer on real temporary folders: every rule of the contract, §3."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from alink import (
    Dataset,
    FileNotAccessibleError,
    IntegrityError,
    RemotePath,
    UnsafePathError,
)
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkDownloadConnection, LinkFileTransfer

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A dataset's source folder with a few files and a sub-folder."""
    root = tmp_path / "remote" / "ds"
    (root / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (root / name).write_text(f"content of {name}")
    return root


@pytest.fixture
def dataset(remote: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(remote))


def rp(path: Path) -> RemotePath:
    return RemotePath(str(path))


@pytest.mark.usefixtures("plans")
async def test_links_files_with_absolute_targets(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        assert isinstance(con, LinkDownloadConnection)
        await con.download_files(
            remote=[rp(remote / "a.txt"), rp(remote / "sub/c.txt")],
            local=[out / "a.txt", str(out / "deep/er/c.txt")],
        )
    assert os.readlink(out / "a.txt") == str(remote / "a.txt")
    assert (out / "deep/er/c.txt").read_text() == "content of sub/c.txt"


async def test_download_file_single(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_file(remote=rp(remote / "b.txt"), local=tmp_path / "b")
    assert os.readlink(tmp_path / "b") == str(remote / "b.txt")


async def test_relative_source_folder_gives_absolute_links(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(remote.parent)
    dataset = Dataset(type="raw", source_folder="ds")
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(remote=[RemotePath("ds/a.txt")], local=["../out/a"])
    link = tmp_path / "out" / "a"
    assert os.readlink(link) == str(remote / "a.txt")
    assert link.read_text() == "content of a.txt"


@pytest.mark.usefixtures("plans")
async def test_rerun_is_a_no_op(remote: Path, dataset: Dataset, tmp_path: Path) -> None:
    pairs: dict[str, Any] = {
        "remote": [rp(remote / "a.txt"), rp(remote / "b.txt")],
        "local": [tmp_path / "o/a", tmp_path / "o/b"],
    }
    transfer = LinkFileTransfer()
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        await con.download_files(**pairs)
    before = os.lstat(tmp_path / "o/a")
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        await con.download_files(**pairs)
    after = os.lstat(tmp_path / "o/a")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


async def test_progress_reports_done_and_total(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    for i in range(1000):
        (remote / f"p{i}").touch()
    seen: list[tuple[int, int]] = []
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(
            remote=[rp(remote / f"p{i}") for i in range(1000)],
            local=[tmp_path / "o" / f"p{i}" for i in range(1000)],
            progress=lambda done, total: seen.append((done, total)),
        )
    assert seen[0] == (0, 1000)
    assert seen[-1] == (1000, 1000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# --- connecting -------------------------------------------------------------


async def test_connect_requires_source_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no source folder"):
        async with LinkFileTransfer().connect_for_download(Dataset(type="raw"), "a"):
            pass


async def test_connect_missing_source_folder(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted"
    dataset = Dataset(type="raw", source_folder=str(missing))
    with pytest.raises(FileNotAccessibleError) as info:
        async with LinkFileTransfer().connect_for_download(dataset, "a.txt"):
            pass
    assert info.value.remote_path == RemotePath(str(missing))


async def test_connect_missing_representative_file(dataset: Dataset) -> None:
    with pytest.raises(FileNotAccessibleError) as info:
        async with LinkFileTransfer().connect_for_download(dataset, "nope.txt"):
            pass
    assert info.value.remote_path == RemotePath("nope.txt")


@pytest.mark.parametrize(
    "transfer", [LinkFileTransfer, CopyFileTransfer], ids=["link", "copy"]
)
@pytest.mark.parametrize("where", ["parent", "absolute", "dotdot"])
async def test_representative_outside_the_source_folder_is_only_probed(
    remote: Path, dataset: Dataset, transfer: type[Any], where: str
) -> None:
    # As in Scitacean (whose own tests pass the source folder's parent): the
    # path is only checked for existence, never linked or read.
    given = {
        "parent": str(remote.parent),
        "absolute": str(remote.parent.parent),
        "dotdot": "../ds/a.txt",
    }[where]
    async with transfer().connect_for_download(dataset, RemotePath(given)) as con:
        assert con.source_folder == rp(remote)
    missing = {"parent": "../nope", "absolute": f"{remote.parent}/nope"}.get(
        where, "../ds/nope.txt"
    )
    with pytest.raises(FileNotAccessibleError) as info:
        async with transfer().connect_for_download(dataset, RemotePath(missing)):
            pass
    assert info.value.remote_path == RemotePath(missing)


async def test_connect_ignores_upload_source_folder(
    dataset: Dataset, tmp_path: Path
) -> None:
    transfer = LinkFileTransfer(source_folder=str(tmp_path / "uploads-go-here"))
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        assert con.source_folder == dataset.source_folder


async def test_connect_for_upload_is_not_implemented(dataset: Dataset) -> None:
    with pytest.raises(NotImplementedError):
        async with LinkFileTransfer().connect_for_upload(dataset, "a.txt"):
            pass


async def test_allowed_roots_refuse_before_any_filesystem_access() -> None:
    dataset = Dataset(type="raw", source_folder="/etc")
    transfer = LinkFileTransfer(allowed_roots=["/facility/data"])
    with pytest.raises(UnsafePathError, match="allowed roots"):
        async with transfer.connect_for_download(dataset, "passwd"):
            pass
    # /facility/data does not exist: accepted lexically, then not accessible.
    inside = Dataset(type="raw", source_folder="/facility/data/run1")
    with pytest.raises(FileNotAccessibleError):
        async with transfer.connect_for_download(inside, "f"):
            pass


async def test_allowed_roots_accept_inside(remote: Path, dataset: Dataset) -> None:
    transfer = LinkFileTransfer(allowed_roots=[str(remote.parent)])
    async with transfer.connect_for_download(dataset, "a.txt"):
        pass


def test_allowed_roots_must_be_a_sequence_of_absolute_paths() -> None:
    with pytest.raises(TypeError):
        LinkFileTransfer(allowed_roots="/data")
    with pytest.raises(ValueError, match="absolute"):
        LinkFileTransfer(allowed_roots=["data"])


# --- bad input: a specific error and an unchanged disk ----------------------


@pytest.mark.parametrize(
    ("remote_names", "local_names", "error", "match"),
    [
        (["a.txt"], ["x", "y"], ValueError, "same length"),
        (["a.txt", "b.txt"], ["x", "x"], ValueError, "more than once"),
        (["a.txt", "b.txt"], ["x", "d/../x"], ValueError, "more than once"),
        (["../outside.txt"], ["x"], UnsafePathError, "outside"),
        (["/etc/hostname"], ["x"], UnsafePathError, "outside"),
        (["a.txt"], [".."], UnsafePathError, "file name"),
        (["a.txt"], ["."], UnsafePathError, "file name"),
        (["a.txt"], [""], UnsafePathError, "file name"),
    ],
)
async def test_invalid_input_creates_nothing(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snap,
    remote_names: list[str],
    local_names: list[str],
    error: type[Exception],
    match: str,
) -> None:
    out = tmp_path / "out"
    (tmp_path / "outside.txt").write_text("secret")
    before = snapshot(tmp_path)
    remote_paths = [RemotePath(str(remote)) / n for n in remote_names]
    local = [str(out / n) if n not in ("", ".", "..") else n for n in local_names]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(error, match=match):
            await con.download_files(remote=remote_paths, local=local)
    assert snapshot(tmp_path) == before
    assert not out.exists()


async def test_all_missing_files_reported_at_once(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap
) -> None:
    names = ["a.txt", "missing1", "b.txt", "sub", "sub/missing2"]
    before = snapshot(tmp_path)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "out" / f"f{i}" for i in range(len(names))],
            )
    assert info.value.remote_path == rp(remote / "missing1")
    assert info.value.remote_paths == (
        rp(remote / "missing1"),
        rp(remote / "sub"),
        rp(remote / "sub/missing2"),
    )
    assert "not regular files" in str(info.value)
    assert snapshot(tmp_path) == before


async def test_many_missing_files_in_a_big_folder(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    for i in range(100):
        (remote / f"f{i}").touch()
    names = [f"f{i}" for i in range(100)] + ["gone1", "gone2"]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
    assert [p.name for p in info.value.remote_paths] == ["gone1", "gone2"]
    assert not (tmp_path / "o").exists()


@pytest.mark.usefixtures("plans")
async def test_lists_changed_after_validation_change_nothing(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    """What was validated is what is linked: changing the caller's lists
    mid-download (here from the first progress report) has no effect."""
    for i in range(300):
        (remote / f"f{i}").touch()
    remote_paths = [rp(remote / f"f{i}") for i in range(300)]
    local = [tmp_path / "out" / f"f{i}" for i in range(300)]

    def progress(done: int, total: int) -> None:
        if done == 0:
            remote_paths[:] = [rp(remote / "a.txt")] * 300
            local[:] = [tmp_path / "elsewhere" / f"x{i}" for i in range(300)]

    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(remote=remote_paths, local=local, progress=progress)
    assert local[0].parent.name == "elsewhere"  # the lists did change
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(os.listdir(tmp_path / "out")) == sorted(f"f{i}" for i in range(300))
    assert os.readlink(tmp_path / "out" / "f7") == str(remote / "f7")


async def test_a_deleted_working_directory_only_matters_for_relative_paths(
    remote: Path, dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(
            remote=[rp(remote / "a.txt")], local=[tmp_path / "out" / "a.txt"]
        )
        with pytest.raises(FileNotFoundError, match="working directory was deleted"):
            await con.download_files(
                remote=[rp(remote / "b.txt")], local=["relative/b.txt"]
            )
    assert os.readlink(tmp_path / "out" / "a.txt") == str(remote / "a.txt")


@pytest.mark.parametrize("unlisted", ["sub-folder", "source folder"])
async def test_folders_that_can_be_entered_but_not_listed(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unlisted: str,
) -> None:
    """Shared storage often has folders of mode 0711: files inside can be
    opened by name, the folder cannot be listed. The check then looks at
    each file by name instead of failing or calling them missing. (A
    listing that is refused is simulated: root would list them anyway.)"""
    for d in "wxyz":
        (remote / d).mkdir()
        for i in range(4):
            (remote / d / f"f{i}").write_text(f"{d}{i}")
    (remote / "y" / "f2").unlink()
    refused = {str(remote / "x")} if unlisted == "sub-folder" else {str(remote)}
    scandir = os.scandir

    def guarded(path: Any = ".") -> Any:
        if isinstance(path, str) and path.rstrip("/") in refused:
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", guarded)
    names = [f"{d}/f{i}" for i in range(4) for d in "wxyz"]  # alternating
    good = [n for n in names if n != "y/f2"]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
        assert list(info.value.remote_paths) == [rp(remote / "y/f2")]
        assert not (tmp_path / "o").exists()
        await con.download_files(
            remote=[rp(remote / n) for n in good],
            local=[tmp_path / "o" / n for n in good],
        )
    for n in good:
        assert (tmp_path / "o" / n).read_text() == n.replace("/f", "")


@pytest.mark.parametrize("files", [1, 2, 40])  # looked at one by one, or listed
@pytest.mark.parametrize("locked", ["p", "p/q"])
async def test_files_behind_a_folder_that_may_not_be_entered_are_denied(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: int,
    locked: str,
) -> None:
    """A folder of another proposal's group (mode 0750, say): its files
    cannot be looked at, and whether they exist is unknown. They are named
    as such, not as missing files. (Simulated: root enters any folder; see
    the test with real permissions below.)"""
    below = remote / "p" / "q"
    below.mkdir(parents=True)
    names = [f"p/q/f{i}" for i in range(files)]
    for n in names:
        (remote / n).write_text(n)
    barrier = str(remote / locked) + "/"
    lstat, scandir = os.lstat, os.scandir

    def guard(path: Any) -> None:
        if isinstance(path, str) and path.startswith(barrier):
            raise PermissionError(13, "Permission denied", path)

    def guarded_lstat(path: Any, *args: Any, **kwargs: Any) -> Any:
        guard(path)
        return lstat(path, *args, **kwargs)

    def guarded_scandir(path: Any = ".") -> Any:
        guard(path if not isinstance(path, str) else path.rstrip("/") + "/")
        return scandir(path)

    monkeypatch.setattr(os, "lstat", guarded_lstat)
    monkeypatch.setattr(os, "scandir", guarded_scandir)
    wanted = ["a.txt", *names, "gone.txt"]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in wanted],
                local=[tmp_path / "o" / n for n in wanted],
            )
    message = str(info.value)
    assert "1 remote file(s) do not exist" in message
    assert (
        f"{files} remote file(s) cannot be looked at (permission denied on a"
        " folder on the way)" in message
    )
    assert list(info.value.remote_paths) == [rp(remote / n) for n in wanted[1:]]
    assert not (tmp_path / "o").exists()


def test_denied_folders_with_real_permissions(
    tmp_path: Path, permissions_bind: Callable[[list[str], Path], list[str]]
) -> None:
    """The same with a real folder of mode 0700 and a process that has no
    way around it (root's overriding capabilities dropped)."""
    remote = tmp_path / "remote"
    (remote / "mine").mkdir(parents=True)
    (remote / "theirs").mkdir()
    for n in ("mine/a", "theirs/b", "theirs/c"):
        (remote / n).write_text(n)
    (remote / "theirs").chmod(0o700)
    if os.geteuid() == 0:
        os.chown(remote / "theirs", 65534, 65534)  # someone else's
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o777)
    script = (
        "import sys, anyio\n"
        "from alink import Dataset, FileNotAccessibleError, RemotePath\n"
        "from alink.transfer.link import LinkFileTransfer\n"
        "src, out = sys.argv[1:3]\n"
        "names = ['mine/a', 'theirs/b', 'theirs/c']\n"
        "async def main():\n"
        "    ds = Dataset(type='raw', source_folder=src)\n"
        "    async with LinkFileTransfer().connect_for_download(ds, None) as con:\n"
        "        await con.download_files(\n"
        "            remote=[RemotePath(f'{src}/{n}') for n in names],\n"
        "            local=[f'{out}/{n}' for n in names])\n"
        "for backend in ('asyncio', 'trio'):\n"
        "    try:\n"
        "        anyio.run(main, backend=backend)\n"
        "    except FileNotAccessibleError as exc:\n"
        "        print(exc)\n"
    )
    command = permissions_bind(
        [sys.executable, "-c", script, str(remote), str(tmp_path / "out")],
        remote / "theirs" / "probe",
    )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        (remote / "theirs").chmod(0o755)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2  # asyncio, then trio
    for line in lines:
        assert "2 remote file(s) cannot be looked at (permission denied" in line
        assert "do not exist" not in line
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("order", ["sorted", "shuffled"])
@pytest.mark.parametrize("match", ["set", "sorted search"])
async def test_big_folder_listing_finds_every_kind_of_problem(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
    match: str,
) -> None:
    """Huge folders are matched against their listing without a set of every
    path (see ``_sources._SET_LIMIT``); both ways find the same problems, and
    name them in input order."""
    from alink.transfer import _sources

    if match == "sorted search":
        monkeypatch.setattr(_sources, "_SET_LIMIT", 4)
    for i in range(60):
        (remote / f"f{i:02d}").touch()
    (remote / "f20").unlink()
    (remote / "f30").unlink()
    (remote / "f30").mkdir()
    (remote / "f40").unlink()
    (remote / "f40").symlink_to(remote / "a.txt")  # inside: fine
    (remote / "f50").unlink()
    (remote / "f50").symlink_to(remote / "nowhere")  # dangling: missing
    names = [f"f{i:02d}" for i in range(60)]
    if order == "shuffled":
        names = names[30:] + names[:30]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
        bad = {"f20", "f30", "f50"}
        assert [p.name for p in info.value.remote_paths] == [
            n for n in names if n in bad
        ]
        assert "not regular files: '" + str(remote / "f30") in str(info.value)
        assert not (tmp_path / "o").exists()
        names.remove("f20")
        names.remove("f30")
        names.remove("f50")
        await con.download_files(
            remote=[rp(remote / n) for n in names],
            local=[tmp_path / "o" / n for n in names],
        )
    assert sorted(os.listdir(tmp_path / "o")) == sorted(names)


def _loops(folder: Path, outside: Path) -> None:
    """Regular files ``f0``..``f3`` in ``folder`` and links that never resolve:
    ``a`` and ``b`` to each other, ``self`` to itself, ``out`` to a link
    outside the dataset that leads back to it."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (folder / f"f{i}").write_text(f"f{i}")
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to("a")
    (folder / "self").symlink_to("self")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "back").symlink_to(folder / "out")
    (folder / "out").symlink_to(outside / "back")


#: Per way of checking a remote folder: the files asked for (below the
#: source folder), loops and a missing file among them.
_LOOP_CASES = {
    # Each folder holds at most two wanted files: one lstat each.
    "few": ["p/f0", "p/a", "q/missing", "r/self", "q/f1", "r/b", "s/out"],
    # One folder holds them all: it is listed.
    "set": ["p/f0", "p/a", "p/f1", "p/missing", "p/self", "p/f2", "p/b", "p/out"],
}
_LOOP_CASES["sorted search"] = _LOOP_CASES["by name"] = _LOOP_CASES["set"]


@pytest.mark.parametrize("kind", ["link", "copy"])
@pytest.mark.parametrize("matching", sorted(_LOOP_CASES))
async def test_symlink_loops_are_reported_as_loops_not_as_missing(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    matching: str,
    kind: str,
) -> None:
    """A remote file that is a symlink loop (``a -> b -> a``, ``self -> self``,
    or one through a folder outside the dataset) exists: it cannot be
    resolved. The one error names it for that, next to the missing files,
    and lists every path in input order."""
    from alink.transfer import _sources

    if matching == "sorted search":
        monkeypatch.setattr(_sources, "_SET_LIMIT", 4)
    elif matching == "by name":  # as on slow storage (see SourceCheck.open_base)
        monkeypatch.setattr(_sources.SourceCheck, "_relative", True)
    for folder in "pqrs":
        _loops(remote / folder, tmp_path / "outside" / folder)
    names = _LOOP_CASES[matching]
    if matching == "sorted search":
        names = sorted(names)
    transfer = LinkFileTransfer() if kind == "link" else CopyFileTransfer()
    before = snapshot(tmp_path)
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
    bad = [n for n in names if not n.split("/")[1].startswith("f")]
    assert list(info.value.remote_paths) == [rp(remote / n) for n in bad]
    assert info.value.remote_path == rp(remote / bad[0])
    message = str(info.value)
    missing = [n for n in names if n.endswith("missing")]
    loops = [n for n in bad if n not in missing]
    assert (
        "1 remote file(s) do not exist: " + repr(str(remote / missing[0])) + ";"
        in message
    )
    assert (
        f"{len(loops)} remote path(s) cannot be resolved (a symlink loop, or too"
        " many levels of symbolic links): "
        + ", ".join(repr(str(remote / n)) for n in loops)
        in message
    )
    assert "not regular files" not in message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("files", [2, 6], ids=["few", "listed"])
@pytest.mark.parametrize("follow", [False, True], ids=["contained", "follow"])
async def test_files_below_a_folder_loop_are_reported_as_loops(
    remote: Path, dataset: Dataset, tmp_path: Path, files: int, follow: bool
) -> None:
    """A folder on the way that is a symlink loop: its files cannot be
    reached, whether the folder is listed or its files looked at one by
    one, and whether external symlinks are followed (no containment check)
    or not. Reported as such, not as missing nor as a bare ``OSError``."""
    (remote / "l").symlink_to("l")  # a folder link to itself
    (remote / "m").symlink_to("n")
    (remote / "n").symlink_to("m")
    # l: listed for its sub-folders' types; m: each looked at (see _sources).
    folders = ("l", "m", "l/sub", "l/s2", "l/s3", "m/sub")
    names = [f"{folder}/f{i}" for folder in folders for i in range(files)]
    names.insert(1, "gone/f")
    transfer = LinkFileTransfer(follow_external_symlinks=follow)
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
    assert list(info.value.remote_paths) == [rp(remote / n) for n in names]
    message = str(info.value)
    assert f"{len(names) - 1} remote path(s) cannot be resolved" in message
    assert "1 remote file(s) do not exist: " + repr(str(remote / "gone/f")) in message
    assert not (tmp_path / "o").exists()


async def test_a_loop_among_escaping_links_is_still_a_loop(
    remote: Path, dataset: Dataset, outside: Path, tmp_path: Path
) -> None:
    """Escaping links are refused first (``UnsafePathError``); a loop does not
    resolve anywhere, so it is not among them, and once they are gone it is
    reported as a loop."""
    _loops(remote / "p", tmp_path / "outside" / "p")
    (remote / "evil").symlink_to(outside / "key")
    names = ["evil", "p/self", "p/out"]
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(UnsafePathError) as unsafe:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )
        message = str(unsafe.value)
        assert "1 remote file(s) are symlinks that resolve outside" in message
        assert repr(str(remote / "evil")) in message
        assert str(remote / "p") not in message
        with pytest.raises(FileNotAccessibleError, match="cannot be resolved"):
            await con.download_files(
                remote=[rp(remote / n) for n in names[1:]],
                local=[tmp_path / "o" / n for n in names[1:]],
            )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["file", "dangling", "other-link", "folder"])
async def test_existing_local_path_is_never_overwritten(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap, kind: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    clash = out / "b"
    if kind == "file":
        clash.write_text("precious")
    elif kind == "dangling":
        clash.symlink_to(tmp_path / "nowhere")
    elif kind == "other-link":
        clash.symlink_to(remote / "a.txt")
    else:
        clash.mkdir()
    before = snapshot(tmp_path)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileExistsError) as info:
            await con.download_files(
                remote=[
                    rp(remote / "a.txt"),
                    rp(remote / "b.txt"),
                    rp(remote / "sub/c.txt"),
                ],
                local=[out / "new/a", clash, out / "c"],
            )
    assert type(info.value) is FileExistsError
    assert info.value.filename == str(clash)
    assert snapshot(tmp_path) == before


async def test_parent_that_is_a_file_fails_cleanly(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "file").write_text("x")
    before = snapshot(tmp_path)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(NotADirectoryError):
            await con.download_files(
                remote=[rp(remote / "a.txt"), rp(remote / "b.txt")],
                local=[tmp_path / "out/new/deep/a", tmp_path / "out/file/b"],
            )
    assert snapshot(tmp_path) == before


# --- what is already in place ------------------------------------------------


def _link_like_ln_sr(link: Path, to: Path, text: str | None = None) -> str:
    """Make ``link`` a relative symlink to ``to``, as ``ln -sr`` does (or with
    the given ``text``); return its text."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        text = os.path.relpath(to, link.parent)
    assert not text.startswith("/")
    link.symlink_to(text)
    return text


#: Where a file's relative link is, and its text (``None``: as ``ln -sr``).
_RELATIVE_LAYOUTS = {
    "flat": [("a.txt", "a.txt", None)],
    "nested": [("sub/c.txt", "x/y/c.txt", None)],
    "dotted": [("a.txt", "x/a.txt", "./../../remote/ds/sub/../a.txt")],
    "all three": [
        ("a.txt", "a.txt", None),
        ("sub/c.txt", "x/y/c.txt", None),
        ("b.txt", "x/b.txt", "../../remote/./ds/sub/../b.txt"),
    ],
}


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace=True"])
@pytest.mark.parametrize("layout", sorted(_RELATIVE_LAYOUTS))
async def test_a_relative_link_to_the_very_file_is_already_in_place(
    remote: Path, dataset: Dataset, tmp_path: Path, layout: str, replace: bool
) -> None:
    """A relative symlink whose text, taken against its own folder, names the
    remote file (as ``ln -sr`` or ``cp -rs`` in the right place leave them)
    counts as done: not a conflict, and not replaced either."""
    out = tmp_path / "out"
    pairs = _RELATIVE_LAYOUTS[layout]
    texts = {
        local: _link_like_ln_sr(out / local, remote / name, text)
        for name, local, text in pairs
    }
    before = {local: os.lstat(out / local) for local in texts}
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(
            remote=[rp(remote / name) for name, _, _ in pairs]
            + [rp(remote / "sub/c.txt")],
            local=[out / local for _, local, _ in pairs] + [out / "new/c.txt"],
            replace=replace,
        )
    assert (result.created, result.already_done, result.replaced) == (
        1,
        len(pairs),
        0,
    )
    for name, local, _ in pairs:
        assert os.readlink(out / local) == texts[local]  # left as it was
        after = os.lstat(out / local)
        assert (after.st_ino, after.st_mtime_ns) == (
            before[local].st_ino,
            before[local].st_mtime_ns,
        )
        assert (out / local).read_text() == f"content of {name}"
    assert os.readlink(out / "new/c.txt") == str(remote / "sub/c.txt")
    assert [p for p in out.rglob("*") if ".alink-" in p.name] == []


async def test_a_hard_link_of_the_remote_file_is_in_place_when_replacing(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap
) -> None:
    """Told to replace it, the entry that is the very remote file (a hard
    link of it) is already in place: kept, not a conflict with "something
    else", and not replaced either (that would throw its content away)."""
    out = tmp_path / "out"
    out.mkdir()
    os.link(remote / "a.txt", out / "a.txt")
    before = snapshot(out)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(
            remote=[rp(remote / "a.txt"), rp(remote / "b.txt")],
            local=[out / "a.txt", out / "b.txt"],
            replace=True,
        )
    assert (result.created, result.already_done, result.replaced) == (1, 1, 0)
    after = snapshot(out)
    assert after.pop("b.txt")[0] == "link"
    assert after["a.txt"] == before["a.txt"]
    assert os.stat(out / "a.txt").st_ino == os.stat(remote / "a.txt").st_ino


@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace=True"])
async def test_a_rerun_over_relative_links_made_by_ln_sr_is_a_no_op(
    remote: Path, dataset: Dataset, tmp_path: Path, replace: bool
) -> None:
    """A whole tree of relative links (``cp -rs`` then made relative, or
    ``ln -sr`` file by file): re-running the download over it changes nothing."""
    names = ["a.txt", "b.txt", "sub/c.txt"]
    out = tmp_path / "out"
    for name in names:
        _link_like_ln_sr(out / name, remote / name)
    before = {name: os.readlink(out / name) for name in names}
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(
            remote=[rp(remote / n) for n in names],
            local=[out / n for n in names],
            replace=replace,
        )
    assert (result.created, result.already_done, result.replaced) == (0, 3, 0)
    assert {name: os.readlink(out / name) for name in names} == before


@pytest.mark.parametrize("kind", ["other file", "dangling", "resolves elsewhere"])
async def test_a_relative_link_to_anything_else_is_a_conflict(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap, kind: str
) -> None:
    """Only the very file is in place: a relative link to another file, to
    nothing, or whose text names the remote file but which leads to another
    one (its folder is a symlink, so ``..`` goes elsewhere) is a conflict,
    left untouched."""
    out = tmp_path / "out"
    out.mkdir()
    folder = out
    if kind == "resolves elsewhere":
        real = tmp_path / "elsewhere" / "deep" / "d"
        real.mkdir(parents=True)
        (out / "d").symlink_to(real)
        folder = out / "d"
        # What the link's text leads to from the real folder: another file.
        decoy = tmp_path / "elsewhere" / "remote" / "ds" / "b.txt"
        decoy.parent.mkdir(parents=True)
        decoy.write_text("content of b.txt")  # the same bytes, even
        text = "../../remote/ds/b.txt"
    elif kind == "other file":
        text = "../remote/ds/a.txt"
    else:
        text = "../remote/ds/nowhere"
    clash = folder / "b"
    clash.symlink_to(text)
    if kind == "resolves elsewhere":  # lexically the remote file, really not
        joined = os.path.normpath(os.path.join(os.path.dirname(clash), text))
        assert joined == str(remote / "b.txt")
        assert os.path.realpath(clash) == str(decoy)
    before = snapshot(tmp_path)
    pairs: dict[str, Any] = {
        "remote": [rp(remote / "b.txt"), rp(remote / "a.txt")],
        "local": [clash, out / "new/a"],
    }
    for others in ([], [1]):  # replacing other pairs changes nothing here
        async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
            with pytest.raises(FileExistsError) as info:
                await con.download_files(**pairs, replace=others)
        assert type(info.value) is FileExistsError
        assert info.value.filename == str(clash)
        assert snapshot(tmp_path) == before
    # Only when the caller asks is it replaced.
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(**pairs, replace=[0])
    assert (result.created, result.already_done, result.replaced) == (2, 0, 1)
    assert os.readlink(clash) == str(remote / "b.txt")


@pytest.mark.usefixtures("plans")
@pytest.mark.parametrize(
    ("failure", "replace"),
    [("conflict", False), ("verify", False), ("verify", True)],
    ids=["later-conflict", "verify", "verify-replace=True"],
)
async def test_a_rollback_leaves_a_relative_link_that_was_in_place(
    remote: Path,
    dataset: Dataset,
    tmp_path: Path,
    snapshot: Snap,
    failure: str,
    replace: bool,
) -> None:
    """A relative link counted as already in place is not this call's: a
    later failure rolls back what the call made and leaves that link alone."""
    out = tmp_path / "out"
    _link_like_ln_sr(out / "x/a.txt", remote / "a.txt")
    _link_like_ln_sr(out / "c.txt", remote / "sub/c.txt")
    if failure == "conflict":
        (out / "x/b").write_text("in the way")
    before = snapshot(tmp_path)

    def verify(index: int, path: str) -> None:
        if index == 3:
            raise IntegrityError(f"bad {path}")

    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(
            FileExistsError if failure == "conflict" else IntegrityError
        ) as info:
            await con.download_files(
                remote=[
                    rp(remote / "a.txt"),
                    rp(remote / "a.txt"),
                    rp(remote / "sub/c.txt"),
                    rp(remote / "b.txt"),
                ],
                local=[out / "x/a.txt", out / "y/new/a", out / "c.txt", out / "x/b"],
                replace=replace,
                verify=verify if failure == "verify" else None,
            )
    if failure == "conflict":
        assert info.value.filename == str(out / "x/b")
    assert getattr(info.value, "__notes__", []) == []  # a clean rollback
    assert snapshot(tmp_path) == before


async def test_a_rollback_keeps_a_relative_link_put_over_a_replaced_entry(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    """A replaced entry comes back on rollback only while the path still holds
    the very link this call made: someone's relative link put there since,
    even to the same file, is left, and so is the replaced entry's backup."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("stale")

    def verify(index: int, path: str) -> None:
        if index == 0:
            os.unlink(path)
            os.symlink("../remote/ds/a.txt", path)  # the same file, relative
            raise IntegrityError(f"bad {path}")

    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(IntegrityError) as info:
            await con.download_files(
                remote=[rp(remote / "a.txt")],
                local=[out / "a"],
                replace=True,
                verify=verify,
            )
    assert os.readlink(out / "a") == "../remote/ds/a.txt"
    assert "changed by someone else" in " ".join(info.value.__notes__)
    backups = [p for p in out.iterdir() if ".alink-" in p.name]
    assert [p.read_text() for p in backups] == ["stale"]


# --- symlinks inside the remote tree ----------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("do not link me")
    return secret


async def test_remote_symlink_out_of_dataset_is_refused(
    remote: Path, dataset: Dataset, outside: Path, tmp_path: Path
) -> None:
    (remote / "evil").symlink_to(outside / "key")
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(UnsafePathError, match="symlinks that resolve outside"):
            await con.download_files(
                remote=[rp(remote / "a.txt"), rp(remote / "evil")],
                local=[tmp_path / "o/a", tmp_path / "o/evil"],
            )
    assert not (tmp_path / "o").exists()


async def test_remote_symlinked_folder_out_of_dataset_is_refused(
    remote: Path, dataset: Dataset, outside: Path, tmp_path: Path
) -> None:
    (remote / "door").symlink_to(outside)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(UnsafePathError):
            await con.download_files(
                remote=[rp(remote / "door/key")], local=[tmp_path / "o/key"]
            )
    assert not (tmp_path / "o").exists()


async def test_remote_symlinks_inside_dataset_are_fine(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    (remote / "alias").symlink_to(remote / "sub/c.txt")
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(remote=[rp(remote / "alias")], local=[tmp_path / "x"])
    assert (tmp_path / "x").read_text() == "content of sub/c.txt"


async def test_follow_external_symlinks_allows_them(
    remote: Path, dataset: Dataset, outside: Path, tmp_path: Path
) -> None:
    (remote / "evil").symlink_to(outside / "key")
    transfer = LinkFileTransfer(follow_external_symlinks=True)
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        await con.download_files(remote=[rp(remote / "evil")], local=[tmp_path / "k"])
    assert (tmp_path / "k").read_text() == "do not link me"


async def test_follow_external_symlinks_still_honours_allowed_roots(
    remote: Path, dataset: Dataset, outside: Path, tmp_path: Path
) -> None:
    (remote / "evil").symlink_to(outside / "key")
    transfer = LinkFileTransfer(
        follow_external_symlinks=True, allowed_roots=[str(remote.parent)]
    )
    async with transfer.connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(UnsafePathError):
            await con.download_files(
                remote=[rp(remote / "evil")], local=[tmp_path / "k"]
            )


# --- replace and verify -----------------------------------------------------


@pytest.mark.usefixtures("plans")
async def test_replace_swaps_an_existing_file_atomically(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "a").write_text("stale")
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        await con.download_files(
            remote=[rp(remote / "a.txt")], local=[tmp_path / "a"], replace=True
        )
    assert os.readlink(tmp_path / "a") == str(remote / "a.txt")
    assert sorted(os.listdir(tmp_path)) == ["a", "remote"]  # no temp files left


@pytest.mark.usefixtures("plans")
async def test_failed_verify_restores_replaced_files(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a").write_text("stale")
    before = snapshot(tmp_path)

    def verify(index: int, path: str) -> None:
        if index == 1:
            raise IntegrityError(f"bad {path}")

    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(IntegrityError, match="bad"):
            await con.download_files(
                remote=[rp(remote / "a.txt"), rp(remote / "b.txt")],
                local=[tmp_path / "out/a", tmp_path / "out/new/b"],
                replace=[0],
                verify=verify,
            )
    assert snapshot(tmp_path) == before


async def test_replace_refuses_folders(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(IsADirectoryError):
            await con.download_files(
                remote=[rp(remote / "a.txt")], local=[tmp_path / "a"], replace=True
            )
    assert (tmp_path / "a").is_dir()


@pytest.mark.parametrize(
    "through_link", [False, True], ids=["same-path", "linked-folder"]
)
async def test_replace_never_replaces_the_remote_file_itself(
    remote: Path, dataset: Dataset, tmp_path: Path, snapshot: Snap, through_link: bool
) -> None:
    # The local path names the remote file: directly, or through a target
    # folder that is a symlink to the source folder. Replacing it would
    # leave a link to itself and delete the content with the backup.
    folder = remote
    if through_link:
        folder = tmp_path / "into-remote"
        folder.symlink_to(remote)
    before = snapshot(tmp_path)
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(FileExistsError, match="left untouched"):
            await con.download_files(
                remote=[rp(remote / "a.txt")], local=[folder / "a.txt"], replace=True
            )
    assert (remote / "a.txt").read_text() == "content of a.txt"
    assert snapshot(tmp_path) == before
    # A copy onto itself is already in place (it is identical), not replaced.
    async with CopyFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(
            remote=[rp(remote / "a.txt")], local=[folder / "a.txt"], replace=True
        )
    assert (result.created, result.already_done, result.replaced) == (0, 1, 0)
    assert (remote / "a.txt").read_text() == "content of a.txt"
    assert snapshot(tmp_path) == before


@pytest.mark.usefixtures("plans")
async def test_replace_handles_the_longest_multibyte_names(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    # 255 bytes but 128 characters: the temporary names must be cut in bytes.
    name = "é" * 127 + "x"
    assert len(os.fsencode(name)) == 255
    (tmp_path / name).write_text("stale")
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        result = await con.download_files(
            remote=[rp(remote / "a.txt")], local=[tmp_path / name], replace=True
        )
    assert result.replaced == 1
    assert os.readlink(tmp_path / name) == str(remote / "a.txt")
    assert sorted(os.listdir(tmp_path)) == sorted([name, "remote"])


async def test_replace_indices_are_checked(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
        with pytest.raises(ValueError, match="out of range"):
            await con.download_files(
                remote=[rp(remote / "a.txt")], local=[tmp_path / "a"], replace=[3]
            )


# --- failure and cancellation mid-way ---------------------------------------


@pytest.fixture(scope="session")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50k empty files in 10 folders, made once per test session."""
    src = tmp_path_factory.mktemp("big")
    for d in range(10):
        (src / f"d{d}").mkdir()
        for i in range(5000):
            os.close(os.open(src / f"d{d}/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    return src


@pytest.fixture
def big(
    big_source: Path, tmp_path: Path
) -> tuple[Dataset, list[RemotePath], list[Path]]:
    """A dataset of 50k files and where to link them (fresh per test)."""
    names = [f"d{d}/f{i}" for d in range(10) for i in range(5000)]
    remote = [RemotePath(f"{big_source}/{n}") for n in names]
    local = [tmp_path / "out" / n for n in names]
    return Dataset(type="raw", source_folder=str(big_source)), remote, local


@pytest.mark.usefixtures("plans")
async def test_cancel_mid_way_removes_everything_of_this_call(
    big: tuple[Dataset, list[RemotePath], list[Path]], tmp_path: Path
) -> None:
    dataset, remote, local = big
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    calls: list[int] = []
    with anyio.CancelScope() as scope:

        def progress(done: int, total: int) -> None:
            calls.append(done)
            if 0 < done < total:
                scope.cancel()

        async with LinkFileTransfer().connect_for_download(dataset, "d0/f0") as con:
            await con.download_files(remote=remote, local=local, progress=progress)
    assert scope.cancelled_caught
    assert any(0 < d < len(remote) for d in calls)
    assert sorted(os.listdir(tmp_path / "out")) == ["keep.txt"]


@pytest.mark.parametrize("deadline", [0.0, 0.01, 0.05, 0.2])
async def test_cancel_at_any_time_leaves_disk_unchanged(
    big: tuple[Dataset, list[RemotePath], list[Path]],
    tmp_path: Path,
    snapshot: Snap,
    deadline: float,
) -> None:
    dataset, remote, local = big
    before = snapshot(tmp_path / "out")
    with anyio.move_on_after(deadline) as scope:
        async with LinkFileTransfer().connect_for_download(dataset, "d0/f0") as con:
            await con.download_files(remote=remote, local=local)
    if scope.cancelled_caught:
        assert snapshot(tmp_path / "out") == before
    else:
        assert os.path.islink(local[-1])


@pytest.mark.usefixtures("plans")
async def test_failure_mid_way_rolls_back(
    big: tuple[Dataset, list[RemotePath], list[Path]],
    tmp_path: Path,
    snapshot: Snap,
) -> None:
    dataset, remote, local = big
    (tmp_path / "out" / "d7").mkdir(parents=True)
    (local[36000]).write_text("in the way")
    before = snapshot(tmp_path / "out")
    async with LinkFileTransfer().connect_for_download(dataset, "d0/f0") as con:
        with pytest.raises(FileExistsError):
            await con.download_files(remote=remote, local=local)
    assert snapshot(tmp_path / "out") == before


async def test_sibling_task_failure_cancels_and_rolls_back(
    big: tuple[Dataset, list[RemotePath], list[Path]], tmp_path: Path
) -> None:
    dataset, remote, local = big

    async def link() -> None:
        async with LinkFileTransfer().connect_for_download(dataset, "d0/f0") as con:
            await con.download_files(remote=remote, local=local)

    async def fail_soon() -> None:
        await anyio.sleep(0.05)
        raise KeyError("sibling failed")

    with pytest.raises(BaseExceptionGroup) as info:
        async with anyio.create_task_group() as tg:
            tg.start_soon(link)
            tg.start_soon(fail_soon)
    assert info.group_contains(KeyError)
    assert not (tmp_path / "out").exists()


async def test_concurrent_downloads_of_the_same_files_both_succeed(
    remote: Path, dataset: Dataset, tmp_path: Path
) -> None:
    names = ["a.txt", "b.txt", "sub/c.txt"]

    async def once() -> None:
        async with LinkFileTransfer().connect_for_download(dataset, "a.txt") as con:
            await con.download_files(
                remote=[rp(remote / n) for n in names],
                local=[tmp_path / "o" / n for n in names],
            )

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(once)
    assert (tmp_path / "o/sub/c.txt").read_text() == "content of sub/c.txt"
