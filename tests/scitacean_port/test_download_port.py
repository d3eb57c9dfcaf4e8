"""Port of Scitacean's ``tests/download_test.py`` (Scitacean 26.10.1).

Scitacean downloads through a ``FakeFileTransfer`` that writes regular files
into pyfakefs; here the dataset is served by the real SciCat double, read by
a real ``alink.Client``, and its files are copied by a real
``CopyFileTransfer`` from a source folder in ``tmp_path`` (``/src/...`` of
the original lives below ``tmp_path``). Every case runs on asyncio and trio.

Scitacean's dataset lists one file outside its source folder
(``/src/ridcully/grades.csv``). alink refuses such a file (migration.md,
"Defects fixed", #2): the cases that download everything use the dataset
without it, and ``test_download_files_refuses_file_outside_source_folder``
checks the refusal itself.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from alink import (
    Client,
    Dataset,
    File,
    IntegrityError,
    LocalFileConflictError,
    UnsafePathError,
)
from alink.testing import GeneratedDataset
from alink.transfer.copy import CopyFileTransfer

from ._helpers import RefusingTransfer, md5, published, scicat

pytestmark = pytest.mark.anyio

PID = "UU.000/5125.ab.663.8c9f"
FILE_TIME = "1995-08-06T14:14:14.000Z"


class Served(NamedTuple):
    """The dataset as served, and each file's content by full remote path."""

    generated: GeneratedDataset
    contents: dict[str, bytes]
    source: Path


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory: Scitacean's tests download into ``./download``."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _serve(tmp_path: Path, *, outside: bool) -> Served:
    source = tmp_path / "src" / "stibbons" / "774"
    listed = {
        "file1.dat": b"contents-of-file1",
        "log/what-happened.log": b"ERROR Flux is off the scale",
        f"{source}/thaum.dat": b"0 4 2 59 330 2314552",
    }
    if outside:
        listed[f"{tmp_path}/src/ridcully/grades.csv"] = b"3,12,-2"
    contents: dict[str, bytes] = {}
    for name, content in listed.items():
        full = Path(name) if name.startswith("/") else source / name
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content)
        contents[str(full)] = content
    generated = published(
        PID,
        source,
        list(listed.items()),
        owner="pstibbons",
        owner_group="faculty",
        creation_time=FILE_TIME,
        scientificMetadata={"height": {"value": 0.3, "unit": "m"}, "mass": "hefty"},
    )
    return Served(generated, contents, source)


@pytest.fixture
def served(tmp_path: Path, work: Path) -> Served:
    """Scitacean's dataset, the file outside the source folder included."""
    return _serve(tmp_path, outside=True)


@pytest.fixture
def served_inside(tmp_path: Path, work: Path) -> Served:
    """Scitacean's dataset without the file outside its source folder."""
    return _serve(tmp_path, outside=False)


def with_extra_block(
    generated: GeneratedDataset,
    files: list[dict[str, Any]],
    checksum_algorithm: str | None,
) -> GeneratedDataset:
    """``generated`` with one more orig datablock (Scitacean's
    ``add_orig_datablock`` followed by ``add_files``)."""
    block = copy.deepcopy(generated.orig_datablocks[0])
    block["_id"] = "extra-block"
    block.pop("chkAlg", None)
    if checksum_algorithm is not None:
        block["chkAlg"] = checksum_algorithm
    block["dataFileList"] = files
    block["size"] = sum(f["size"] for f in files)
    return GeneratedDataset(generated.dataset, [*generated.orig_datablocks, block])


def load(name: str | Path) -> bytes:
    return Path(name).read_bytes()


def listing(folder: str) -> list[Path]:
    return list(Path(folder).iterdir())


async def _get(client: Client) -> Dataset:
    return await client.get_dataset(PID)


async def test_download_files_creates_local_files_select_all(
    served_inside: Served,
) -> None:
    contents, source = served_inside.contents, served_inside.source
    async with scicat(served_inside.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(await _get(c), target="./download", select=True)
    assert load("download/file1.dat") == contents[f"{source}/file1.dat"]
    assert (
        load("download/what-happened.log")
        == contents[f"{source}/log/what-happened.log"]
    )
    assert load("download/thaum.dat") == contents[f"{source}/thaum.dat"]


async def test_download_files_refuses_file_outside_source_folder(
    served: Served,
) -> None:
    # Scitacean also downloads /src/ridcully/grades.csv here. alink refuses
    # a file outside the source folder, before anything is created
    # (migration.md, "Defects fixed", #2 and #5).
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        with pytest.raises(UnsafePathError, match=r"grades\.csv"):
            await c.download_files(await _get(c), target="./download", select=True)
    assert not Path("download").exists()


async def test_download_files_creates_local_files_select_none(
    served: Served,
) -> None:
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(await _get(c), target="./download", select=False)
    assert not listing("download")


async def test_download_files_creates_local_files_select_one_by_string(
    served: Served,
) -> None:
    thaum = f"{served.source}/thaum.dat"
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(await _get(c), target="./download", select=thaum)
    assert len(listing("download")) == 1
    assert load("download/thaum.dat") == served.contents[thaum]


async def test_download_files_creates_local_files_select_two_by_string(
    served: Served,
) -> None:
    thaum = f"{served.source}/thaum.dat"
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(
            await _get(c),
            target="./download",
            select=[thaum, "log/what-happened.log"],
        )
    assert len(listing("download")) == 2
    assert (
        load("download/what-happened.log")
        == served.contents[f"{served.source}/log/what-happened.log"]
    )
    assert load("download/thaum.dat") == served.contents[thaum]


async def test_download_files_creates_local_files_select_one_by_regex_name_only(
    served: Served,
) -> None:
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(
            await _get(c), target="./download", select=re.compile("thaum")
        )
    assert len(listing("download")) == 1
    assert load("download/thaum.dat") == served.contents[f"{served.source}/thaum.dat"]


async def test_download_files_creates_local_files_select_two_by_regex_suffix(
    served: Served,
) -> None:
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(
            await _get(c), target="./download", select=re.compile(r"\.dat")
        )
    assert len(listing("download")) == 2
    assert load("download/file1.dat") == served.contents[f"{served.source}/file1.dat"]
    assert load("download/thaum.dat") == served.contents[f"{served.source}/thaum.dat"]


async def test_download_files_creates_local_files_select_one_by_regex_full_path(
    served: Served,
) -> None:
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(
            await _get(c), target="./download", select=re.compile(r"^file1\.dat$")
        )
    assert len(listing("download")) == 1
    assert load("download/file1.dat") == served.contents[f"{served.source}/file1.dat"]


async def test_download_files_creates_local_files_select_one_by_predicate(
    served: Served,
) -> None:
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(
            await _get(c),
            target="./download",
            select=lambda f: f.remote_path == "file1.dat",
        )
    assert len(listing("download")) == 1
    assert load("download/file1.dat") == served.contents[f"{served.source}/file1.dat"]


async def test_download_files_refuses_download_if_flattening_creates_clash(
    served_inside: Served,
) -> None:
    second = b"second file with the same name"
    (served_inside.source / "sub_directory").mkdir()
    (served_inside.source / "sub_directory" / "file1.dat").write_bytes(second)
    async with scicat(served_inside.generated, file_transfer=CopyFileTransfer()) as c:
        # Dataset is immutable: add_files returns a new one (migration.md,
        # "Where alink deliberately differs").
        dataset = (await _get(c)).add_files(
            File.from_remote(
                "sub_directory/file1.dat",
                size=len(second),
                creation_time=FILE_TIME,
                checksum=md5(second),
                checksum_algorithm="md5",
            )
        )
        with pytest.raises(RuntimeError, match=r"file1\.dat"):
            await c.download_files(dataset, target="./download", select=True)
    # Scitacean leaves an empty target folder; alink validates before it
    # touches the disk (migration.md, "Defects fixed", #5).
    assert not Path("download").exists()


async def test_download_files_returns_updated_dataset(served_inside: Served) -> None:
    async with scicat(served_inside.generated, file_transfer=CopyFileTransfer()) as c:
        dataset = await _get(c)
        original = copy.deepcopy(dataset)
        finalized = await c.download_files(dataset, target="./download")
    assert dataset == original
    # Scitacean compares its typed fields and ``meta``; alink keeps every
    # catalogue field, scientific metadata included, in ``fields``.
    assert finalized.fields == original.fields
    assert finalized.fields["scientificMetadata"] == {
        "height": {"value": 0.3, "unit": "m"},
        "mass": "hefty",
    }
    for f in finalized.files:
        assert f.is_on_local
    for f in dataset.files:
        assert not f.is_on_local  # the original is unchanged


def _file_txt(*, size: int, chk: str) -> dict[str, Any]:
    return {"path": "file.txt", "size": size, "time": FILE_TIME, "chk": chk}


async def test_download_files_ignores_checksum_if_alg_is_none(
    served_inside: Served,
) -> None:
    content = b"random-stuff"
    (served_inside.source / "file.txt").write_bytes(content)
    generated = with_extra_block(
        served_inside.generated,
        [_file_txt(size=len(content), chk="incorrect-checksum")],
        checksum_algorithm=None,
    )
    async with scicat(generated, file_transfer=CopyFileTransfer()) as c:
        # Does not raise.
        await c.download_files(await _get(c), target="./download", select="file.txt")
    assert load("download/file.txt") == content


async def test_download_files_detects_bad_checksum(served_inside: Served) -> None:
    content = b"random-stuff"
    (served_inside.source / "file.txt").write_bytes(content)
    generated = with_extra_block(
        served_inside.generated,
        [_file_txt(size=len(content), chk="incorrect-checksum")],
        checksum_algorithm="md5",
    )
    async with scicat(generated, file_transfer=CopyFileTransfer()) as c:
        with pytest.raises(IntegrityError):
            await c.download_files(
                await _get(c), target="./download", select="file.txt"
            )


async def test_download_files_detects_bad_size(served_inside: Served) -> None:
    content = b"random-stuff"
    (served_inside.source / "file.txt").write_bytes(content)
    generated = with_extra_block(
        served_inside.generated,
        [_file_txt(size=89412, chk=md5(content))],  # too large
        checksum_algorithm="md5",
    )
    async with scicat(generated, file_transfer=CopyFileTransfer()) as c:
        dataset = await _get(c)
        # Scitacean logs the mismatch (INFO) and keeps the file. alink's
        # verification fails on it and removes the file again (migration.md,
        # "Where alink deliberately differs": a size that differs).
        with pytest.raises(IntegrityError, match="89412"):
            await c.download_files(dataset, target="./download", select="file.txt")
    assert not Path("download/file.txt").exists()


async def download_once(served: Served) -> Served:
    """A first download of ``served`` into ``./download``, by copying (as
    Scitacean's fake transfer writes regular files)."""
    async with scicat(served.generated, file_transfer=CopyFileTransfer()) as c:
        await c.download_files(await _get(c), target="./download", select=True)
    return served


async def test_download_does_not_download_up_to_date_file(
    served_inside: Served,
) -> None:
    downloaded_once = await download_once(served_inside)
    # Downloading the same files again does not even connect the transfer.
    async with scicat(downloaded_once.generated, file_transfer=RefusingTransfer()) as c:
        downloaded = await c.download_files(
            await _get(c), target="./download", select=True
        )
    assert all(file.local_path is not None for file in downloaded.files)


async def test_download_does_not_download_up_to_date_file_manual_checksum(
    served_inside: Served,
) -> None:
    downloaded_once = await download_once(served_inside)
    async with scicat(downloaded_once.generated, file_transfer=RefusingTransfer()) as c:
        downloaded = await c.download_files(
            await _get(c), target="./download", select=True, checksum_algorithm="md5"
        )
    assert all(file.local_path is not None for file in downloaded.files)


async def test_override_datablock_checksum(served_inside: Served) -> None:
    downloaded_once = await download_once(served_inside)
    before = {p.name: p.read_bytes() for p in Path("download").iterdir()}
    async with scicat(downloaded_once.generated, file_transfer=RefusingTransfer()) as c:
        dataset = await _get(c)
        # Scitacean finds the files out of date (their sha256 is not the
        # catalogue's md5) and downloads them again, over the local files.
        # alink never replaces a local file that differs from the catalogue
        # without force (migration.md, "Where alink deliberately differs":
        # an existing local file); it fails before connecting.
        with pytest.raises(LocalFileConflictError, match="force=True"):
            await c.download_files(
                dataset,
                target="./download",
                select=True,
                checksum_algorithm="sha256",  # the datablock uses md5
            )
    assert {p.name: p.read_bytes() for p in Path("download").iterdir()} == before


async def test_force_file_download(served_inside: Served) -> None:
    downloaded_once = await download_once(served_inside)
    async with scicat(downloaded_once.generated, file_transfer=RefusingTransfer()) as c:
        dataset = await _get(c)
        with pytest.raises(RuntimeError, match="Download disabled"):
            await c.download_files(
                dataset,
                target="./download",
                select=True,
                checksum_algorithm="md5",
                force=True,
            )
