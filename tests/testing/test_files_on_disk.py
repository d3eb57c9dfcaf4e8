"""Datasets whose files exist: write_dataset, make_dataset from bytes, and the
scicat_dataset_factory / scicat_dataset_with_files fixtures."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alink import Client, Dataset
from alink.testing import (
    DatasetWithFiles,
    ScicatServer,
    make_dataset,
    write_dataset,
)
from alink.testing.fixtures import DEFAULT_FILES
from alink.testing.transfer import FakeFileTransfer
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.typing import Downloader

from ._helpers import example


def test_make_dataset_takes_contents() -> None:
    ds, [block] = make_dataset(
        pid="p/1",
        source_folder="/d",
        files=[("a.txt", b"hello"), ("b", 3)],
        checksum_algorithm="SHA-256",
    )
    assert [(f["path"], f["size"], f.get("chk")) for f in block["dataFileList"]] == [
        ("a.txt", 5, hashlib.sha256(b"hello").hexdigest()),
        ("b", 3, None),
    ]
    assert ds["size"] == 8
    _, [plain] = make_dataset(
        pid="p/2", source_folder="/d", files=[("a", b"x")], checksum_algorithm=None
    )
    assert "chk" not in plain["dataFileList"][0]


def test_write_dataset_writes_and_describes_the_files(tmp_path: Path) -> None:
    made = write_dataset(
        tmp_path / "storage",
        {"a.txt": "text é", "sub/deep/b.bin": b"\0\1\2"},
        pid="p/w",
        checksum_algorithm="sha256",
        datasetName="written",
    )
    root = tmp_path / "storage"
    assert (root / "a.txt").read_bytes() == "text é".encode()
    assert (root / "sub" / "deep" / "b.bin").read_bytes() == b"\0\1\2"
    assert made.folder == root
    assert made.pid == "p/w"
    assert made.source_folder == str(root)
    assert made.dataset["datasetName"] == "written"
    assert made.dataset["numberOfFiles"] == 2
    [block] = made.orig_datablocks
    assert block["chkAlg"] == "sha256"
    for entry in block["dataFileList"]:
        content = (root / entry["path"]).read_bytes()
        assert entry["size"] == len(content)
        assert entry["chk"] == hashlib.sha256(content).hexdigest()
        assert entry["time"].endswith("Z")
    assert made.contents == {"a.txt": "text é".encode(), "sub/deep/b.bin": b"\0\1\2"}
    assert made.path("sub/deep/b.bin") == root / "sub" / "deep" / "b.bin"
    with pytest.raises(KeyError):
        made.path("nope")
    assert made.remote_files() == {
        made.source_folder / "a.txt": "text é".encode(),
        made.source_folder / "sub/deep/b.bin": b"\0\1\2",
    }
    # Only real SciCat field names, and the model reads it.
    real = example("dataset-raw.v4.json")
    assert set(made.dataset) <= set(real)
    dataset = Dataset.from_scicat(made.with_blocks())
    assert [f.size for f in dataset.files] == [7, 3]


def test_write_dataset_keeps_identical_files_and_refuses_others(
    tmp_path: Path,
) -> None:
    write_dataset(tmp_path, {"a": b"1", "b": b"2"}, pid="p/1")
    again = write_dataset(tmp_path, {"a": b"1"}, pid="p/2")  # same content: fine
    assert again.contents == {"a": b"1"}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match="'b'"):
        write_dataset(tmp_path, {"new": b"n", "b": b"other"}, pid="p/3")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        ({"/abs": b""}, ValueError, "clean path"),
        ({"a/../b": b""}, ValueError, "clean path"),
        ({"a//b": b""}, ValueError, "clean path"),
        ({"": b""}, ValueError, "non-empty"),
        ({"a": b"", "a/b": b""}, ValueError, "folder of another file"),
        ({"a": 1}, TypeError, "bytes or str"),
    ],
)
def test_write_dataset_refuses_bad_input(
    tmp_path: Path, files: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        write_dataset(tmp_path / "x", files, pid="p/1")
    assert not (tmp_path / "x").exists()


def test_scicat_dataset_with_files_is_on_the_server(
    scicat_server: ScicatServer, scicat_dataset_with_files: DatasetWithFiles
) -> None:
    made = scicat_dataset_with_files
    assert made.pid in scicat_server.pids
    assert made.contents == DEFAULT_FILES
    for rel, content in DEFAULT_FILES.items():
        assert made.path(rel).read_bytes() == content
    names = [Path(rel).name for rel in DEFAULT_FILES]
    assert len(set(names)) == len(names)  # a flat download keeps them apart


def test_the_factory_makes_distinct_datasets(
    scicat_dataset_factory: Callable[..., DatasetWithFiles],
    scicat_server: ScicatServer,
    scicat_server_factory: Callable[..., ScicatServer],
) -> None:
    a = scicat_dataset_factory({"x.dat": b"x"})
    b = scicat_dataset_factory({"x.dat": b"y"}, pid="p/custom", is_published=True)
    assert a.pid != b.pid
    assert a.folder != b.folder
    assert b.pid == "p/custom"
    assert scicat_server.dataset("p/custom")["isPublished"] is True
    other = scicat_server_factory()
    c = scicat_dataset_factory({"z": b"z"}, server=other)
    assert other.pids == [c.pid]
    assert c.pid not in scicat_server.pids


def test_the_factory_starts_no_server_it_does_not_need(
    scicat_dataset_factory: Callable[..., DatasetWithFiles],
    scicat_server_factory: Callable[..., ScicatServer],
    request: pytest.FixtureRequest,
) -> None:
    scicat_dataset_factory({"z": b"z"}, server=scicat_server_factory())
    assert "scicat_server" not in request.fixturenames


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["link", "copy", "fake"])
async def test_a_download_of_the_dataset_with_files_works(
    scicat_server: ScicatServer,
    scicat_token: str,
    scicat_dataset_with_files: DatasetWithFiles,
    tmp_path: Path,
    kind: str,
) -> None:
    made = scicat_dataset_with_files
    transfer: Downloader = {
        "link": LinkFileTransfer(),
        "copy": CopyFileTransfer(),
        "fake": FakeFileTransfer(files=made.remote_files()),
    }[kind]
    async with Client.from_token(
        url=scicat_server.url, token=scicat_token, file_transfer=transfer
    ) as client:
        dataset = await client.get_dataset(made.pid)
        dataset = await client.download_files(dataset, target=tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        Path(rel).name for rel in made.contents
    )
    for rel, content in made.contents.items():
        local = tmp_path / "out" / Path(rel).name
        assert local.read_bytes() == content
        assert local.is_symlink() is (kind == "link")
    assert all(f.local_path is not None for f in dataset.files)
