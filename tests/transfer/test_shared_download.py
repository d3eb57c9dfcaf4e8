"""The download rules Link and Copy share (CONTRACT §3 and §5), tested on both.

Every test runs with LinkFileTransfer, CopyFileTransfer and a hard-linking
CopyFileTransfer, on asyncio and trio.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from alink import (
    Dataset,
    Engine,
    FileNotAccessibleError,
    RemotePath,
    UnsafePathError,
)
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio

Transfer = LinkFileTransfer | CopyFileTransfer
MakeTransfer = Callable[..., Transfer]


@pytest.fixture(params=["link", "copy", "hardlink"])
def make_transfer(request: pytest.FixtureRequest) -> MakeTransfer:
    kind = request.param

    def make(**kwargs: object) -> Transfer:
        if kind == "link":
            return LinkFileTransfer(**kwargs)  # type: ignore[arg-type]
        return CopyFileTransfer(hard_link=kind == "hardlink", **kwargs)  # type: ignore[arg-type]

    make.kind = kind  # type: ignore[attr-defined]
    return make


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A dataset folder with files a.dat, b.dat, sub/c.dat (distinct contents)."""
    folder = tmp_path / "remote" / "ds"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.dat", "b.dat", "sub/c.dat"):
        (folder / name).write_bytes(name.encode() * 1000)
    return folder


@pytest.fixture
def dataset(source: Path) -> Dataset:
    return Dataset(type="raw", source_folder=str(source), pid="p/1")


def remote(source: Path, *names: str) -> list[RemotePath]:
    return [RemotePath(str(source)) / n for n in names]


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Everything under ``root``: file contents, link targets, folders."""
    out: dict[str, bytes | str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = path.read_bytes()
    return out


def check_available(local: Path, original: Path, kind: str) -> None:
    if kind == "link":
        assert local.is_symlink()
        assert os.readlink(local) == str(original)
    else:
        assert not local.is_symlink()
        assert local.read_bytes() == original.read_bytes()
        if kind == "hardlink":
            assert local.stat().st_ino == original.stat().st_ino


# --- connect ---------------------------------------------------------------


async def test_connect_missing_source_folder(
    make_transfer: MakeTransfer, tmp_path: Path
) -> None:
    missing = tmp_path / "not-mounted" / "ds"
    ds = Dataset(type="raw", source_folder=str(missing))
    with pytest.raises(FileNotAccessibleError) as info:
        async with make_transfer().connect_for_download(ds, "a.dat"):
            pytest.fail("connected")  # pragma: no cover
    assert info.value.remote_path == RemotePath(str(missing))


async def test_connect_missing_representative(
    make_transfer: MakeTransfer, dataset: Dataset
) -> None:
    with pytest.raises(FileNotAccessibleError) as info:
        async with make_transfer().connect_for_download(dataset, "nope.dat"):
            pytest.fail("connected")  # pragma: no cover
    assert info.value.remote_path == RemotePath("nope.dat")
    # The source folder is there: the message does not blame the mount.
    assert "source folder" in str(info.value)
    assert "is here, but not this file" in str(info.value)
    assert "mounted" not in str(info.value)


async def test_connect_without_source_folder(make_transfer: MakeTransfer) -> None:
    with pytest.raises(ValueError, match="source folder"):
        async with make_transfer().connect_for_download(Dataset(type="raw"), "a"):
            pytest.fail("connected")  # pragma: no cover


async def test_connect_outside_allowed_roots(
    make_transfer: MakeTransfer, dataset: Dataset, tmp_path: Path
) -> None:
    transfer = make_transfer(allowed_roots=[str(tmp_path / "elsewhere")])
    with pytest.raises(UnsafePathError):
        async with transfer.connect_for_download(dataset, "a.dat"):
            pytest.fail("connected")  # pragma: no cover


async def test_download_ignores_upload_pattern(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    transfer = make_transfer(source_folder=str(tmp_path / "uploads" / "{pid}"))
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        assert con.source_folder == RemotePath(str(source))
        await con.download_file(remote=remote(source, "a.dat")[0], local=tmp_path / "x")
    check_available(tmp_path / "x", source / "a.dat", make_transfer.kind)  # type: ignore[attr-defined]


async def test_relative_source_folder(
    make_transfer: MakeTransfer,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(source.parent)
    ds = Dataset(type="raw", source_folder="ds")
    async with make_transfer().connect_for_download(ds, "a.dat") as con:
        await con.download_files(remote=[RemotePath("ds/a.dat")], local=["out/a"])
    check_available(
        tmp_path / "remote" / "out" / "a", source / "a.dat", make_transfer.kind
    )  # type: ignore[attr-defined]


# --- downloads ---------------------------------------------------------------


async def test_download_and_rerun(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    names = ["a.dat", "b.dat", "sub/c.dat"]
    local = [tmp_path / "out" / "deep" / n.replace("/", "_") for n in names]
    seen: list[tuple[int, int]] = []
    transfer = make_transfer()
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        await con.download_files(
            remote=remote(source, *names),
            local=local,
            progress=lambda d, t: seen.append((d, t)),
        )
        before = {p: p.lstat().st_ino for p in local}
        # A re-run is a no-op: nothing replaced, no error.
        await con.download_files(remote=remote(source, *names), local=local)
    for path, name in zip(local, names, strict=True):
        check_available(path, source / name, make_transfer.kind)  # type: ignore[attr-defined]
        assert path.lstat().st_ino == before[path]
    assert seen[-1] == (3, 3)
    assert all(t == 3 and 0 <= d <= 3 for d, t in seen)


async def test_length_mismatch(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(ValueError, match="same length"):
            await con.download_files(
                remote=remote(source, "a.dat", "b.dat"), local=[tmp_path / "o" / "a"]
            )
    assert not (tmp_path / "o").exists()


async def test_duplicate_local_paths(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "o" / "a"
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(ValueError, match="more than once"):
            await con.download_files(
                remote=remote(source, "a.dat", "b.dat"),
                local=[target, str(tmp_path / "o" / "." / "a")],
            )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "bad_remote",
    ["../outside.dat", "sub/../../outside.dat", "/etc/passwd", ".", "sub/.."],
)
async def test_remote_outside_source_folder(
    make_transfer: MakeTransfer,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    bad_remote: str,
) -> None:
    (source.parent / "outside.dat").write_bytes(b"secret")
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(UnsafePathError):
            await con.download_files(
                remote=[*remote(source, "a.dat"), RemotePath(str(source)) / bad_remote],
                local=[tmp_path / "o" / "a", tmp_path / "o" / "b"],
            )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad_name", ["", ".", ".."])
async def test_bad_local_names(
    make_transfer: MakeTransfer,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    bad_name: str,
) -> None:
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(UnsafePathError):
            await con.download_files(
                remote=remote(source, "a.dat", "b.dat"),
                local=[str(tmp_path / "o" / "a"), f"{tmp_path}/o/{bad_name}"],
            )
    assert not (tmp_path / "o").exists()


async def test_missing_remote_files_reported_at_once(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    names = ["a.dat", "gone1.dat", "b.dat", "sub", "gone2.dat"]
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=remote(source, *names),
                local=[tmp_path / "o" / str(i) for i in range(len(names))],
            )
    err = info.value
    assert err.remote_path == remote(source, "gone1.dat")[0]
    assert set(err.remote_paths) == set(remote(source, "gone1.dat", "sub", "gone2.dat"))
    assert not (tmp_path / "o").exists()


async def test_external_symlink_refused_unless_allowed(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    (source / "escape.dat").symlink_to(secret)
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(UnsafePathError):
            await con.download_files(
                remote=remote(source, "a.dat", "escape.dat"),
                local=[tmp_path / "o" / "a", tmp_path / "o" / "e"],
            )
    assert not (tmp_path / "o").exists()
    transfer = make_transfer(follow_external_symlinks=True)
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        await con.download_files(
            remote=remote(source, "escape.dat"), local=[tmp_path / "o" / "e"]
        )
    assert (tmp_path / "o" / "e").read_bytes() == b"secret"


async def test_internal_symlink_allowed(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    (source / "sub" / "alias.dat").symlink_to("../a.dat")
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        await con.download_files(
            remote=remote(source, "sub/alias.dat"), local=[tmp_path / "o" / "a"]
        )
    assert (tmp_path / "o" / "a").read_bytes() == (source / "a.dat").read_bytes()


@pytest.mark.parametrize("conflict", ["other-file", "dir", "dangling-link", "link"])
async def test_conflict_rolls_back_everything(
    make_transfer: MakeTransfer,
    dataset: Dataset,
    source: Path,
    tmp_path: Path,
    conflict: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / "b"
    if conflict == "other-file":
        blocker.write_bytes(b"mine, not yours")
    elif conflict == "dir":
        blocker.mkdir()
    elif conflict == "dangling-link":
        blocker.symlink_to(tmp_path / "nowhere")
    else:
        other = tmp_path / "other.txt"
        other.write_bytes(b"keep me")
        blocker.symlink_to(other)
    before = snapshot(tmp_path)
    names = ["a.dat", "b.dat", "sub/c.dat"]
    async with make_transfer().connect_for_download(dataset, "a.dat") as con:
        with pytest.raises(FileExistsError):
            await con.download_files(
                remote=remote(source, *names),
                local=[out / "new" / "a", blocker, out / "new" / "deeper" / "c"],
            )
    assert snapshot(tmp_path) == before


async def test_cancelled_download_rolls_back(
    make_transfer: MakeTransfer, dataset: Dataset, source: Path, tmp_path: Path
) -> None:
    for i in range(800):
        (source / f"f{i}").write_bytes(b"x" * 64)
    names = [f"f{i}" for i in range(800)]
    out = tmp_path / "out"
    before = snapshot(tmp_path / "out")
    # Progress after every small batch, so the cancellation lands mid-way.
    engine = Engine(max_batch=64, slice_seconds=0)
    transfer = make_transfer(engine=engine)
    async with transfer.connect_for_download(dataset, "a.dat") as con:
        with anyio.CancelScope() as scope:

            def progress(done: int, total: int) -> None:
                if done > 0:
                    scope.cancel()

            await con.download_files(
                remote=remote(source, *names),
                local=[out / "x" / n for n in names],
                progress=progress,
            )
    assert scope.cancelled_caught
    assert snapshot(out) == before
