"""alink's query_datasets finds what Scitacean's own query_datasets finds.

Scitacean searches with the v3 ``datasets/fullquery`` endpoint, alink with the
v4 filter; the double serves both. The same ``fields`` must select the same
datasets — that is the rule alink's ``fields`` argument promises.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
import pytest

scitacean = pytest.importorskip("scitacean")
import scitacean as sc  # noqa: E402

from alink import Client  # noqa: E402
from alink.testing import ScicatServer, make_dataset  # noqa: E402

_HTTP: dict[str, Any] = (
    {"allow_http": True}
    if "allow_http" in inspect.signature(sc.Client.from_token).parameters
    else {}
)


@pytest.fixture
def server(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    datasets = []
    for n in range(12):
        generated = make_dataset(
            pid=f"PID.prefix/q-{n:02d}",
            source_folder=f"/data/{n}",
            files=[("a.dat", 1)],
            type="raw" if n % 3 else "derived",
            is_published=n % 4 == 0,
            datasetName=f"Run {n % 5}",
            proposalIds=[f"prop.{n % 3}"] + (["shared"] if n % 2 else []),
            creation_time=f"2024-02-{n + 1:02d}T08:00:00.000Z",
        )
        datasets.append(generated.dataset)
    return scicat_server_factory(datasets=datasets, users={"admin": "admin-pw"})


QUERIES: list[dict[str, Any]] = [
    {},
    {"type": "raw"},
    {"proposalIds": ["shared"]},
    {"proposalIds": ["prop.1", "prop.2"]},
    {"proposalIds": ["shared"], "datasetName": "Run 1"},
    {"datasetName": "Run 9"},
]


def _scitacean_pids(
    server: ScicatServer, fields: dict[str, Any], *, login: bool, **kwargs: Any
) -> list[str]:
    if login:
        client = sc.Client.from_token(
            url=server.url + "/v3", token=server.token("admin"), **_HTTP
        )
    else:
        client = sc.Client.without_login(url=server.url + "/v3", **_HTTP)
    found = client.scicat.query_datasets(fields, **kwargs)
    return sorted(str(d.pid) for d in found)


@pytest.mark.parametrize("fields", QUERIES)
@pytest.mark.parametrize("login", [True, False])
def test_the_same_fields_find_the_same_datasets(
    server: ScicatServer, fields: dict[str, Any], login: bool
) -> None:
    expected = _scitacean_pids(server, fields, login=login)

    async def ours() -> list[str]:
        factory = (
            Client.from_token(url=server.url, token=server.token("admin"))
            if login
            else Client.without_login(url=server.url)
        )
        async with factory as client:
            return sorted(str(d.pid) for d in await client.query_datasets(fields))

    assert anyio.run(ours) == expected
    assert anyio.run(ours, backend="trio") == expected
    if login and fields.get("datasetName") != "Run 9":
        assert expected  # the query is not trivially empty


def test_order_and_limit_agree(server: ScicatServer) -> None:
    newest_raw = ["PID.prefix/q-11", "PID.prefix/q-10", "PID.prefix/q-08"]
    theirs = sc.Client.from_token(
        url=server.url + "/v3", token=server.token("admin"), **_HTTP
    ).scicat.query_datasets({"type": "raw"}, order="creationTime:desc", limit=3)
    assert [str(d.pid) for d in theirs] == newest_raw

    async def ours() -> list[str]:
        async with Client.from_token(
            url=server.url, token=server.token("admin")
        ) as client:
            found = await client.query_datasets(
                {"type": "raw"}, order="creationTime:desc", limit=3
            )
            return [str(d.pid) for d in found]

    assert anyio.run(ours) == newest_raw
