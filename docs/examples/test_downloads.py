"""Tests of your own download code, against alink's SciCat double.

Copy this file into a test suite: with alink installed, pytest finds the
``scicat_*`` fixtures by itself, no ``conftest.py`` needed. Run it with
``pytest test_downloads.py``; every test runs on asyncio and on trio.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from alink import Client, Dataset, RemotePath
from alink.testing import DatasetWithFiles, ScicatServer, make_dataset
from alink.testing import strategies as ast
from alink.testing.transfer import FakeFileTransfer
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_link_a_dataset(
    scicat_server: ScicatServer,
    scicat_token: str,
    scicat_dataset_with_files: DatasetWithFiles,
    tmp_path: Path,
) -> None:
    async with Client.from_token(
        url=scicat_server.url, token=scicat_token, file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset(scicat_dataset_with_files.pid)
        dataset = await client.download_files(dataset, target=tmp_path / "run")
    assert len(dataset.files) == 3
    linked = tmp_path / "run" / "file1.txt"
    assert linked.is_symlink()
    assert linked.read_bytes() == scicat_dataset_with_files.contents["file1.txt"]


async def test_copy_files_of_your_own(
    scicat_server: ScicatServer,
    scicat_token: str,
    scicat_dataset_factory: Callable[..., DatasetWithFiles],
    tmp_path: Path,
) -> None:
    made = scicat_dataset_factory({"raw/scan.h5": b"\x89HDF\r\n", "notes.txt": "hi"})
    async with Client.from_token(
        url=scicat_server.url, token=scicat_token, file_transfer=CopyFileTransfer()
    ) as client:
        dataset = await client.get_dataset(made.pid)
        await client.download_files(dataset, target=tmp_path, select="notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "hi"
    assert not (tmp_path / "notes.txt").is_symlink()
    assert not (tmp_path / "scan.h5").exists()


async def test_files_in_memory(
    scicat_server: ScicatServer, scicat_token: str, tmp_path: Path
) -> None:
    content = b"no disk behind this dataset"
    scicat_server.add_dataset(
        *make_dataset(
            pid="PID.prefix/in-memory",
            source_folder="/facility/run42",
            files=[("a.dat", content)],  # size and checksum from the content
        )
    )
    transfer = FakeFileTransfer(files={"/facility/run42/a.dat": content})
    async with Client.from_token(
        url=scicat_server.url, token=scicat_token, file_transfer=transfer
    ) as client:
        dataset = await client.get_dataset("PID.prefix/in-memory")
        await client.download_files(dataset, target=tmp_path)
    assert (tmp_path / "a.dat").read_bytes() == content
    assert [t.remote for t in transfer.downloaded] == ["/facility/run42/a.dat"]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pair=ast.datasets_with_contents(files=ast.file_contents(unique_names=True)))
async def test_any_dataset_downloads(
    scicat_server: ScicatServer,
    tmp_path_factory: pytest.TempPathFactory,
    pair: tuple[Dataset, dict[RemotePath, bytes]],
) -> None:
    dataset, contents = pair
    pid = str(dataset.pid)
    if pid in scicat_server.pids:  # from an earlier example: replace it
        scicat_server.remove_dataset(pid)
    scicat_server.add_dataset(dataset.to_scicat())
    target = tmp_path_factory.mktemp("any")
    async with Client.from_token(
        url=scicat_server.url,
        token=scicat_server.token("admin"),  # reads every dataset
        file_transfer=FakeFileTransfer(files=contents),
    ) as client:
        read = await client.get_dataset(pid)
        read = await client.download_files(read, target=target)
    folder = dataset.source_folder
    assert folder is not None
    assert len(read.files) == len(contents)
    for file in read.files:
        assert file.local_path is not None
        assert file.local_path.read_bytes() == contents[folder / file.remote_path]
