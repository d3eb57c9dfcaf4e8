"""The Client against ``alink.testing.ScicatServer`` (a real HTTP server on
127.0.0.1): login, datasets, errors and faults, then linking real files."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from alink import (
    Client,
    IntegrityError,
    ScicatCommError,
    ScicatLoginError,
)
from alink.client import RetryPolicy
from alink.testing import ScicatServer, dataset_from_directory, make_dataset
from alink.transfer.link import LinkFileTransfer

pytestmark = pytest.mark.anyio

PID = "20.500.12269/ds-1"
PUBLIC_PID = "20.500.12269/public-1"
CONTENT = {
    "scan.h5": b"\x89HDF" + bytes(1000),
    "meta/params.json": b'{"energy": 12.4}\n',
    "meta/logs/run.log": b"started\nfinished\n",
}


@pytest.fixture
def facility(tmp_path: Path) -> Path:
    """The facility storage: the dataset's files on (temporary) disk."""
    root = tmp_path / "facility" / "run42"
    for name, data in CONTENT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def server(
    facility: Path, scicat_server_factory: Callable[..., ScicatServer]
) -> ScicatServer:
    private = dataset_from_directory(facility, pid=PID, datasetName="Run 42")
    public = dataset_from_directory(
        facility, pid=PUBLIC_PID, checksum_algorithm="sha256", is_published=True
    )
    return scicat_server_factory(
        datasets=[private.dataset, public.dataset],
        orig_datablocks=[*private.orig_datablocks, *public.orig_datablocks],
        users={
            "user1": "pw1",
            "outsider": {"password": "pw2", "groups": ["elsewhere"]},
        },
    )


async def test_login_get_and_link(
    server: ScicatServer,
    facility: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("httpx", "httpcore", "alink"):
        caplog.set_level(logging.DEBUG, logger=name)
    target = tmp_path / "downloads"
    client = await Client.from_credentials(
        url=server.url,
        username="user1",
        password="pw1",
        file_transfer=LinkFileTransfer(),
    )
    token = client._token.authorization().removeprefix("Bearer ")  # type: ignore[union-attr]
    async with client:
        dataset = await client.get_dataset(PID)
        flat = await client.download_files(dataset, target=target / "flat")
        tree = await client.download_files(
            dataset, target=target / "tree", keep_tree=True, select="meta/params.json"
        )
    assert dataset.name == "Run 42"
    assert sorted(f.remote_path.posix for f in dataset.files) == sorted(CONTENT)
    assert sorted(os.listdir(target / "flat")) == ["params.json", "run.log", "scan.h5"]
    for file in flat.files:
        assert file.local_path is not None
        assert os.readlink(file.local_path) == str(facility / file.remote_path.posix)
        assert file.local_path.read_bytes() == CONTENT[file.remote_path.posix]
    assert [str(f.local_path) for f in tree.files if f.local_path] == [
        str(target / "tree" / "meta" / "params.json")
    ]
    login, get = server.requests
    assert login[:2] == ("POST", "/api/v3/auth/login")
    assert get[:2] == ("GET", f"/api/v4/datasets/{quote(PID, safe='')}")
    assert get.query == "include=origdatablocks"
    assert (get.auth, get.user, get.status) == ("valid", "user1", 200)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert not [r for r in caplog.records if token in r.getMessage()]
    assert not [r for r in caplog.records if "pw1" in r.getMessage()]


async def test_public_dataset_without_login(
    server: ScicatServer, tmp_path: Path
) -> None:
    async with Client.without_login(
        url=server.url + "/v3", file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset(PUBLIC_PID)
        result = await client.download_files(dataset, target=tmp_path / "dl")
        with pytest.raises(ScicatCommError) as info:
            await client.get_dataset(PID)  # exists, but not published
    assert info.value.status_code == 404
    assert {f.checksum_algorithm for f in result.files} == {"sha256"}
    assert (tmp_path / "dl" / "scan.h5").read_bytes() == CONTENT["scan.h5"]
    assert [r.auth for r in server.requests] == ["none", "none"]


async def test_token_from_the_server(server: ScicatServer) -> None:
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        dataset = await c.get_dataset(PID)
    assert len(dataset.files) == 3


async def test_wrong_password(server: ScicatServer, sleeps: list[float]) -> None:
    with pytest.raises(ScicatLoginError, match="user1"):
        await Client.from_credentials(url=server.url, username="user1", password="x")
    assert [r.status for r in server.requests] == [401]
    assert sleeps == []


async def test_expired_token_sends_nothing(server: ScicatServer) -> None:
    token = server.token("user1", expires_in=-60)
    with pytest.raises(ScicatLoginError, match="expired"):
        Client.from_token(url=server.url, token=token)
    assert server.requests == []


async def test_not_allowed_and_unknown(server: ScicatServer) -> None:
    client = await Client.from_credentials(
        url=server.url, username="outsider", password="pw2"
    )
    async with client:
        with pytest.raises(ScicatCommError) as forbidden:
            await client.get_dataset(PID)
        with pytest.raises(ScicatCommError) as unknown:
            await client.get_dataset("20.500.12269/nope")
    assert forbidden.value.status_code == 403
    assert unknown.value.status_code == 404


async def test_invalid_token_is_a_403(server: ScicatServer, jwt: Any) -> None:
    forged = jwt(time.time() + 600, username="user1")
    async with Client.from_token(url=server.url, token=forged) as client:
        with pytest.raises(ScicatCommError, match="invalid or expired") as info:
            await client.get_dataset(PID)
    assert info.value.status_code == 403
    assert forged not in str(info.value)


async def test_transient_faults_are_retried(
    server: ScicatServer, sleeps: list[float]
) -> None:
    server.faults.fail_next(2, status=503)
    server.faults.drop_next(1)
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        dataset = await c.get_dataset(PID)
    assert len(dataset.files) == 3
    assert [r.status for r in server.requests] == [503, 503, None, 200]
    assert sleeps == [0.5, 1.0, 2.0]


async def test_persistent_faults_give_up(
    server: ScicatServer, sleeps: list[float]
) -> None:
    server.faults.fail_next(10, status=502, message="bad gateway")
    async with Client.from_token(
        url=server.url, token=server.token("user1"), retry=RetryPolicy(attempts=3)
    ) as client:
        with pytest.raises(ScicatCommError, match="bad gateway") as info:
            await client.get_dataset(PID)
    assert info.value.status_code == 502
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("{not json", "malformed JSON"),
        ('{"type": "raw", "origdatablocks": {"x": 1}}', "origdatablocks"),
        ("[]", "JSON array"),
    ],
)
async def test_bad_bodies(server: ScicatServer, body: str, match: str) -> None:
    server.faults.respond_raw(body)
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        with pytest.raises(ScicatCommError, match=match):
            await c.get_dataset(PID)


async def test_slow_server_times_out(server: ScicatServer, sleeps: list[float]) -> None:
    server.faults.delay(2.0, n=2)
    async with Client.from_token(
        url=server.url,
        token=server.token("user1"),
        timeout=0.2,
        retry=RetryPolicy(attempts=2),
    ) as client:
        with pytest.raises(ScicatCommError, match="ReadTimeout"):
            await client.get_dataset(PID)
    assert len(sleeps) == 1


async def test_catalogue_mismatch_is_caught_and_undone(
    facility: Path,
    tmp_path: Path,
    scicat_server_factory: Callable[..., ScicatServer],
) -> None:
    generated = dataset_from_directory(facility, pid=PID)
    generated.orig_datablocks[0]["dataFileList"][0]["chk"] = "0" * 32
    server = scicat_server_factory(
        datasets=[generated.dataset],
        orig_datablocks=generated.orig_datablocks,
        users={"user1": "pw1"},
    )
    target = tmp_path / "dl"
    async with Client.from_token(
        url=server.url, token=server.token("user1"), file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset(PID)
        with pytest.raises(IntegrityError, match="0" * 32):
            await client.download_files(dataset, target=target)
        assert not target.exists()
        # The caller can lower the level to sizes only.
        await client.download_files(dataset, target=target, verify="size")
    assert len(os.listdir(target)) == 3


async def test_many_files(
    tmp_path: Path, scicat_server_factory: Callable[..., ScicatServer]
) -> None:
    """A few thousand files: planning, inspection and results off the loop."""
    source = tmp_path / "many"
    source.mkdir()
    names = [f"f{i:05d}.dat" for i in range(3000)]
    for name in names:
        (source / name).write_bytes(name.encode())
    generated = make_dataset(
        pid=PID,
        source_folder=source,
        files=[(n, len(n)) for n in names],
        files_per_block=1000,
    )
    server = scicat_server_factory(
        datasets=[generated.dataset],
        orig_datablocks=generated.orig_datablocks,
        users={"user1": "pw1"},
    )
    async with Client.from_token(
        url=server.url, token=server.token("user1"), file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset(PID)
        result = await client.download_files(dataset, target=tmp_path / "dl")
    assert len(result.files) == 3000
    assert sorted(os.listdir(tmp_path / "dl")) == names
