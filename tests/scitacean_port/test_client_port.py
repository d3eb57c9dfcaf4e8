"""Port of the dataset-reading cases of Scitacean's ``tests/client/client_test.py``
and ``tests/client/dataset_client_test.py`` (Scitacean 26.10.1).

Scitacean runs these against SciCat in Docker (or its ``FakeClient``); here
the real SciCat double serves the datasets over HTTP, on asyncio and trio.
Not ported: uploads and dataset creation/validation (they stay with
Scitacean, migration.md), ``FakeClient``'s own features, Scitacean's model
classes (``get_dataset_model``, ``strict_validation``), and the expiry case
that relies on Scitacean refusing a token two seconds before it expires.
"""

from __future__ import annotations

import base64
import json
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alink import PID, Client, RemotePath, ScicatCommError
from alink.client import RetryPolicy
from alink.testing import GeneratedDataset, ScicatServer, make_dataset

pytestmark = pytest.mark.anyio

SECRET = "the token/which_must-be.kept secret"


def _raw() -> GeneratedDataset:
    return make_dataset(
        pid="PID.prefix.a0b1/abcd",
        source_folder="/hex/data/123",
        files=[
            {"path": "file1.nxs", "size": 426, "time": "2022-08-17T13:53:24.000Z"},
            {"path": "sub/file2.nxs", "size": 91, "time": "2022-08-17T13:54:12.000Z"},
        ],
        creation_time="2022-06-13T01:45:28.100Z",
        access_groups=["group1", "2nd_group"],
        scientificMetadata={
            "temperature": {"value": "123", "unit": "K"},
            "data_type": "histogram",
        },
    )


def _public() -> GeneratedDataset:
    return make_dataset(
        pid="PID.prefix.a0b1/public",
        source_folder="/hex/public",
        files=[("data.csv", 11)],
        is_published=True,
        access_groups=["uu"],
    )


@pytest.fixture
async def server() -> Any:
    raw, public = _raw(), _public()
    async with ScicatServer(
        datasets=[raw.dataset, public.dataset],
        orig_datablocks=[*raw.orig_datablocks, *public.orig_datablocks],
        users={"user1": "pw1"},
    ) as running:
        yield running


async def test_get_dataset(server: ScicatServer) -> None:
    expected, [block] = _raw()
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        downloaded = await c.get_dataset(PID.parse(expected["pid"]))
    assert downloaded.source_folder == expected["sourceFolder"]
    # Scitacean's typed attributes (creation_time, access_groups, meta) are
    # catalogue fields in alink (migration.md, "Where alink deliberately
    # differs": typed dataset attributes).
    assert downloaded.fields["creationTime"] == expected["creationTime"]
    assert downloaded.fields["accessGroups"] == expected["accessGroups"]
    meta = downloaded.fields["scientificMetadata"]
    assert meta["temperature"] == expected["scientificMetadata"]["temperature"]
    assert meta["data_type"] == expected["scientificMetadata"]["data_type"]
    for file, listed in zip(downloaded.files, block["dataFileList"], strict=True):
        assert file.local_path is None
        assert file.size == listed["size"]
        assert file.creation_time == datetime.fromisoformat(listed["time"])


async def test_can_get_public_dataset_without_login(server: ScicatServer) -> None:
    expected, _ = _public()
    async with Client.without_login(url=server.url) as client:
        downloaded = await client.get_dataset(expected["pid"])
    assert downloaded.source_folder == expected["sourceFolder"]
    assert downloaded.fields["creationTime"] == expected["creationTime"]
    assert downloaded.fields["accessGroups"] == expected["accessGroups"]
    # Scitacean's anonymous read returns no files; alink reads the published
    # datablocks in the same request (migration.md, "Names": get_dataset).
    assert [f.remote_path for f in downloaded.files] == [RemotePath("data.csv")]


async def test_get_dataset_bad_id(server: ScicatServer) -> None:
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        with pytest.raises(ScicatCommError):
            await c.get_dataset(PID(pid="bad-pid"))


async def test_get_dataset_source_folder_is_a_remote_path(server: ScicatServer) -> None:
    # From test_get_broken_dataset: the source folder is a RemotePath.
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        downloaded = await c.get_dataset("PID.prefix.a0b1/abcd")
    assert isinstance(downloaded.source_folder, RemotePath)
    assert downloaded.source_folder == "/hex/data/123"
    assert isinstance(downloaded.number_of_files, int)
    assert isinstance(downloaded.size, int)


async def test_cannot_pickle_client_credentials_manual_token_str() -> None:
    async with Client.from_token(url="https://example.org", token=SECRET) as client:
        with pytest.raises(TypeError):
            pickle.dumps(client)


async def test_cannot_pickle_client_credentials_login(server: ScicatServer) -> None:
    client = await Client.from_credentials(
        url=server.url, username="user1", password="pw1"
    )
    async with client:
        with pytest.raises(TypeError):
            pickle.dumps(client)


async def test_connection_error_does_not_contain_token() -> None:
    # Nothing listens on port 9 of this machine (discard service); one
    # attempt, not alink's retries with backoff, keeps the case fast.
    async with Client.from_token(
        url="http://127.0.0.1:9", token=SECRET, retry=RetryPolicy(attempts=1)
    ) as client:
        with pytest.raises(Exception) as exc_info:  # noqa: PT011
            await client.get_dataset("does not exist")
    assert SECRET not in str(exc_info.value)
    for arg in exc_info.value.args:
        assert SECRET not in str(arg)


def _jwt(expires_in: timedelta) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode("ascii")

    now = datetime.now(tz=UTC)
    payload = {
        "_id": "7fc0856e50a8",
        "username": "Weatherwax",
        "iat": now.timestamp(),
        "exp": (now + expires_in).timestamp(),
    }
    return ".".join((part({"alg": "HS256", "typ": "JWT"}), part(payload), "123abc"))


def test_detects_expired_token_init() -> None:
    with pytest.raises(RuntimeError, match="SciCat login has expired"):
        Client.from_token(url="https://example.org", token=_jwt(timedelta(0)))
