"""The download target cannot be redirected by symlinks planted in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alink import Dataset, File, UnsafePathError
from alink.client import Client
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    src = tmp_path / "remote"
    (src / "sub").mkdir(parents=True)
    files = []
    for name in ("a.txt", "sub/b.txt"):
        (src / name).write_text(name)
        files.append(File.from_remote(f"{src}/{name}", len(name), None))
    return Dataset(type="raw", source_folder=str(src), files=files)


@pytest.fixture
def client() -> Client:
    return Client.without_login(
        url="http://127.0.0.1:9", file_transfer=LinkFileTransfer()
    )


async def test_target_that_is_a_symlink_elsewhere_is_refused(
    client: Client, dataset: Dataset, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "target").symlink_to(elsewhere)
    async with client:
        with pytest.raises(UnsafePathError, match="is a symlink"):
            await client.download_files(dataset, target=tmp_path / "target")
        assert os.listdir(elsewhere) == []
        done = await client.download_files(
            dataset, target=tmp_path / "target", follow_target_symlinks=True
        )
    assert sorted(os.listdir(elsewhere)) == ["a.txt", "b.txt"]
    assert all(f.local_path is not None for f in done.files)


async def test_symlinked_folder_inside_target_leading_out_is_refused(
    client: Client, dataset: Dataset, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    async with client:
        with pytest.raises(UnsafePathError, match="outside the target"):
            await client.download_files(dataset, target=target, keep_tree=True)
    assert os.listdir(outside) == []
    assert sorted(os.listdir(target)) == ["sub"]


async def test_symlinked_folder_staying_inside_target_is_fine(
    client: Client, dataset: Dataset, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    (target / "real").mkdir(parents=True)
    (target / "sub").symlink_to(target / "real")
    async with client:
        await client.download_files(dataset, target=target, keep_tree=True)
    assert (target / "real" / "b.txt").read_text() == "sub/b.txt"


async def test_target_that_is_a_file_is_refused(
    client: Client, dataset: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "target").write_text("x")
    async with client:
        with pytest.raises(NotADirectoryError):
            await client.download_files(dataset, target=tmp_path / "target")
    assert (tmp_path / "target").read_text() == "x"


@pytest.mark.parametrize("kind", ["link", "copy", "select"])
async def test_allowed_roots_refuse_a_dataset_whose_files_are_in_place(
    dataset: Dataset, tmp_path: Path, kind: str
) -> None:
    # Whether the files are already there must not decide whether a dataset
    # outside the allowed roots is accepted.
    from alink.transfer.copy import CopyFileTransfer
    from alink.transfer.select import SelectFileTransfer

    def transfer(**options: object) -> object:
        if kind == "link":
            return LinkFileTransfer(**options)  # type: ignore[arg-type]
        copy = CopyFileTransfer(**options)  # type: ignore[arg-type]
        return SelectFileTransfer([copy]) if kind == "select" else copy

    target = tmp_path / "target"
    for options, refused in (({}, False), ({"allowed_roots": ["/elsewhere"]}, True)):
        client = Client.without_login(
            url="http://127.0.0.1:9",
            file_transfer=transfer(**options),  # type: ignore[arg-type]
        )
        async with client:
            if refused:
                with pytest.raises(UnsafePathError, match="allowed roots"):
                    await client.download_files(dataset, target=target)
            else:
                await client.download_files(dataset, target=target)
    assert sorted(os.listdir(target)) == ["a.txt", "b.txt"]


async def test_dot_dot_after_a_symlinked_folder_means_the_folder_on_paper(
    client: Client, dataset: Dataset, tmp_path: Path
) -> None:
    """``target/sub/..`` is ``target`` for the checks and the links alike,
    even where ``sub`` is a symlink (the kernel would go to the parent of
    where it leads): the user's file there is checked, and kept."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "a.txt").write_text("my own work")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "x").mkdir(parents=True)
    (target / "sub").symlink_to(elsewhere / "x")
    # Reached through the symlink: an entry that looks like one of ours.
    (elsewhere / "a.txt").symlink_to(tmp_path / "remote" / "sub" / "b.txt")
    spelled = f"{target}/sub/.."
    async with client:
        with pytest.raises(FileExistsError, match="differ from the catalogue"):
            await client.download_files(dataset, target=spelled)
        assert (target / "a.txt").read_text() == "my own work"
        assert sorted(os.listdir(target)) == ["a.txt", "sub"]
        (target / "a.txt").unlink()
        done = await client.download_files(dataset, target=spelled)
    paths = sorted(str(f.local_path) for f in done.files)
    assert paths == [f"{target}/a.txt", f"{target}/b.txt"]
    assert [Path(p).read_text() for p in paths] == ["a.txt", "sub/b.txt"]
    assert os.readlink(elsewhere / "a.txt") == str(tmp_path / "remote/sub/b.txt")
