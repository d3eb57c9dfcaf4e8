"""Datasets from alink.testing.strategies, through the SciCat double and the
client: read back equal, downloaded byte for byte (with FakeFileTransfer),
and, made ``for_upload``, uploaded as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from alink import Client, Dataset, RemotePath
from alink.client._upload_body import dataset_body
from alink.testing import ScicatServer
from alink.testing import strategies as ast
from alink.testing.transfer import FakeFileTransfer

pytestmark = pytest.mark.anyio

_settings = settings(
    max_examples=30,  # per backend
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


Reader = tuple[ScicatServer, Client, FakeFileTransfer]


@pytest.fixture
async def reader(
    scicat_server_factory: Callable[..., ScicatServer],
) -> AsyncIterator[Reader]:
    """One server, one fake transfer and one client (of a user who reads
    every dataset) per test, not per example."""
    server = scicat_server_factory(users={"admin": "pw"})
    transfer = FakeFileTransfer()
    async with Client.from_token(
        url=server.url, token=server.token("admin"), file_transfer=transfer
    ) as client:
        yield server, client, transfer


def _serve(server: ScicatServer, dataset: Dataset) -> str:
    assert dataset.pid is not None
    pid = str(dataset.pid)
    if pid in server.pids:  # Hypothesis may draw the same dataset again
        server.remove_dataset(pid)
    server.add_dataset(dataset.to_scicat())
    return pid


@_settings
@given(dataset=ast.datasets())
async def test_a_generated_dataset_reads_back_equal(
    reader: Reader, dataset: Dataset
) -> None:
    server, client, _ = reader
    pid = _serve(server, dataset)
    again = await client.get_dataset(pid)
    assert again == dataset
    assert again.to_scicat() == dataset.to_scicat()


@_settings
@given(
    pair=ast.datasets_with_contents(
        files=ast.file_contents(max_files=4, unique_names=True)
    )
)
async def test_a_generated_dataset_downloads_byte_for_byte(
    reader: Reader,
    tmp_path_factory: pytest.TempPathFactory,
    pair: tuple[Dataset, dict[RemotePath, bytes]],
) -> None:
    server, client, transfer = reader
    dataset, contents = pair
    pid = _serve(server, dataset)
    transfer.files.clear()  # the storage of this example only
    transfer.files.update(contents)
    transfer.downloaded.clear()
    target = tmp_path_factory.mktemp("download")
    read = await client.get_dataset(pid)
    downloaded = await client.download_files(read, target=target)
    folder = dataset.source_folder
    assert folder is not None
    for file in downloaded.files:
        assert file.local_path is not None
        assert file.local_path.parent == target
        assert file.local_path.read_bytes() == contents[folder / file.remote_path]
    assert sorted(t.remote.posix for t in transfer.downloaded) == sorted(
        path.posix for path in contents
    )
    assert sorted(Path(p).name for p in target.iterdir()) == sorted(
        f.local_path.name for f in downloaded.files if f.local_path is not None
    )


@settings(_settings, max_examples=25)
@given(dataset=ast.datasets(for_upload=True))
async def test_a_generated_dataset_for_upload_uploads_as_it_is(
    reader: Reader, dataset: Dataset
) -> None:
    server, client, _ = reader
    uploaded = await client.upload_new_dataset_now(dataset)
    assert uploaded.pid is not None
    assert str(uploaded.pid) in server.pids
    sent = dataset_body(dataset.fields)
    stored = dataset_body(uploaded.fields)  # without the server's nested ids
    assert {k: stored[k] for k in sent} == sent
    assert [(f.remote_path, f.size, f.checksum) for f in uploaded.files] == [
        (f.remote_path, f.size, f.checksum) for f in dataset.files
    ]
