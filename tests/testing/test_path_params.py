"""Path parameters (pids, datablock ids) are decoded as Express decodes them.

Express matches routes on the raw path, then decodes each parameter with
``decodeURIComponent``: ``%XX`` escapes only (``+`` stays ``+``, ``%2F``
gives a ``/`` inside the parameter), and a malformed escape or one that is
not UTF-8 throws a ``URIError``, which NestJS answers with 400 "Failed to
decode param". Requests here are sent with the raw paths given.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from alink.testing import ScicatServer, make_dataset

from ._helpers import bearer

pytestmark = pytest.mark.anyio

PIDS = ("PID+1", "PID 1", "20.500.12269/a/b", "50%", "Müller")


@pytest.fixture
def server(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    made = [
        make_dataset(
            pid=pid,
            source_folder="/data/x",
            files=[("f", 1)],
            is_published=True,
            datasetName=f"named {pid}",
        )
        for pid in PIDS
    ]
    return scicat_server_factory(
        datasets=[m.dataset for m in made],
        orig_datablocks=[b for m in made for b in m.orig_datablocks],
        users={"user1": "pw1"},
    )


@pytest.mark.parametrize(
    ("raw", "pid"),
    [
        ("PID%2B1", "PID+1"),
        ("PID+1", "PID+1"),  # '+' is not a space in a path
        ("PID%201", "PID 1"),
        ("20.500.12269%2Fa%2Fb", "20.500.12269/a/b"),
        ("20.500.12269%2fa%2fb", "20.500.12269/a/b"),  # lower-case hex
        ("50%25", "50%"),
        ("M%C3%BCller", "Müller"),
    ],
)
@pytest.mark.parametrize(
    "route", ["/v4/datasets/{}", "/v4/datasets/public/{}", "/v3/datasets/{}"]
)
async def test_a_parameter_is_decoded_like_decode_uri_component(
    server: ScicatServer, http: httpx.AsyncClient, raw: str, pid: str, route: str
) -> None:
    r = await http.get(
        server.url + route.format(raw), headers=bearer(server.token("user1"))
    )
    assert r.status_code == 200
    assert r.json()["pid"] == pid


async def test_a_plus_never_finds_a_pid_with_a_space(
    scicat_server_factory: Callable[..., ScicatServer], http: httpx.AsyncClient
) -> None:
    made = make_dataset(pid="PID 1", source_folder="/data/x")
    server = scicat_server_factory(datasets=[made.dataset], users={"user1": "pw1"})
    r = await http.get(
        f"{server.url}/v4/datasets/PID+1", headers=bearer(server.token("user1"))
    )
    assert r.status_code == 404
    assert r.json()["message"] == "dataset: null not found"


async def test_an_unescaped_slash_is_another_route(
    server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.get(
        f"{server.url}/v4/datasets/20.500.12269/a/b",
        headers=bearer(server.token("user1")),
    )
    assert r.status_code == 404
    assert r.json()["message"] == "Cannot GET /api/v4/datasets/20.500.12269/a/b"


BAD = ["%", "%2", "a%zz", "%G0", "%u00fc", "%FF", "%C3", "%C3%28", "%ED%A0%80"]


@pytest.mark.parametrize("raw", BAD)
@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/v4/datasets/{}"),
        ("GET", "/v4/datasets/public/{}"),
        ("GET", "/v3/datasets/{}"),
        ("GET", "/v3/datasets/{}/origdatablocks"),
        ("DELETE", "/v4/datasets/{}"),
        ("DELETE", "/v4/origdatablocks/{}"),
    ],
)
async def test_a_malformed_escape_is_400_like_nestjs(
    server: ScicatServer,
    http: httpx.AsyncClient,
    raw: str,
    method: str,
    route: str,
) -> None:
    r = await http.request(
        method, server.url + route.format(raw), headers=bearer(server.token("user1"))
    )
    assert r.status_code == 400
    assert r.json() == {
        "message": f"Failed to decode param '{raw}'",
        "error": "Bad Request",
        "statusCode": 400,
    }
    assert server.errors == []


async def test_the_parameter_is_decoded_before_the_token_is_checked(
    server: ScicatServer, http: httpx.AsyncClient
) -> None:
    """Express decodes while matching the route, before any guard runs."""
    r = await http.get(f"{server.url}/v4/datasets/%zz")
    assert r.status_code == 400
