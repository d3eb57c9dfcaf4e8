"""Public v4 endpoint, the v3 endpoints Scitacean <= 25 uses, and unknown routes."""

from __future__ import annotations

import httpx
import pytest

from alink.testing import ScicatSeed, ScicatServer

from ._helpers import bearer, example, q

pytestmark = pytest.mark.anyio


def _public(server: ScicatServer, pid: str, query: str = "") -> str:
    return f"{server.url}/v4/datasets/public/{q(pid)}{query}"


async def test_public_dataset_only_lists_published_blocks(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    r = await http.get(
        _public(scicat_server, scicat_seed.published_pid, "?include=origdatablocks")
    )
    assert r.status_code == 200
    body = r.json()
    assert body["pid"] == scicat_seed.published_pid
    [block] = body["origdatablocks"]
    assert block["isPublished"] is True
    assert [f["path"] for f in block["dataFileList"]] == [
        "spells/fire.txt",
        "spells/water.txt",
        "README.md",
    ]
    # Derived: published dataset, unpublished datablock -> no files anonymously.
    r = await http.get(
        _public(scicat_server, scicat_seed.derived_pid, "?include=origdatablocks")
    )
    expected = example("dataset-derived.v4.json")
    expected["origdatablocks"] = []
    assert r.json() == expected


async def test_public_unpublished_or_unknown_is_200_with_empty_body(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    for pid in (scicat_seed.raw_pid, "PID.prefix/unknown"):
        r = await http.get(_public(scicat_server, pid, "?include=origdatablocks"))
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-length"] == "0"


async def test_public_ignores_the_token_for_blocks(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    r = await http.get(
        _public(scicat_server, scicat_seed.derived_pid, "?include=origdatablocks"),
        headers=bearer(scicat_server.token("admin")),
    )
    assert r.json()["origdatablocks"] == []
    r = await http.get(
        _public(scicat_server, scicat_seed.raw_pid),
        headers=bearer(scicat_server.token("admin")),
    )
    assert r.content == b""


async def test_public_validates_include(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    r = await http.get(_public(scicat_server, scicat_seed.published_pid, "?include=x"))
    assert r.status_code == 400
    assert r.json()["error"] == "Bad Request"


async def test_publishing_later_is_seen_at_once(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    url = _public(scicat_server, scicat_seed.raw_pid, "?include=origdatablocks")
    assert (await http.get(url)).content == b""
    scicat_server.update_dataset(scicat_seed.raw_pid, {"isPublished": True})
    body = (await http.get(url)).json()
    assert body["isPublished"] is True
    assert body["origdatablocks"] == []  # its block is still unpublished


async def test_v3_dataset_and_origdatablocks(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    base = f"{scicat_server.url}/v3/datasets/{q(scicat_seed.raw_pid)}"
    r = await http.get(base, headers=bearer(scicat_token))
    assert r.status_code == 200
    expected = example("dataset-raw.v4.json")
    del expected["origdatablocks"]
    assert r.json() == expected
    r = await http.get(f"{base}/origdatablocks", headers=bearer(scicat_token))
    assert r.status_code == 200
    assert r.json() == example("origdatablocks.json")


async def test_v3_unknown_pid_is_200_empty_and_no_blocks(
    scicat_server: ScicatServer, scicat_token: str, http: httpx.AsyncClient
) -> None:
    base = f"{scicat_server.url}/v3/datasets/{q('PID.prefix/unknown')}"
    r = await http.get(base, headers=bearer(scicat_token))
    assert (r.status_code, r.content) == (200, b"")
    r = await http.get(f"{base}/origdatablocks", headers=bearer(scicat_token))
    assert (r.status_code, r.json()) == (200, [])


async def test_v3_anonymous_reads_published_and_is_refused_the_rest(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    published = f"{scicat_server.url}/v3/datasets/{q(scicat_seed.published_pid)}"
    r = await http.get(published)
    assert r.json()["pid"] == scicat_seed.published_pid
    r = await http.get(f"{published}/origdatablocks")
    assert len(r.json()) == 1
    private = f"{scicat_server.url}/v3/datasets/{q(scicat_seed.raw_pid)}"
    # An expired token is ignored: the request is anonymous.
    expired = bearer(scicat_server.token("user1", expires_in=-1))
    for url in (private, f"{private}/origdatablocks"):
        r = await http.get(url, headers=expired)
        assert r.status_code == 403
        assert r.json() == {
            "message": "Unauthorized access",
            "error": "Forbidden",
            "statusCode": 403,
        }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v5/datasets/x"),
        ("POST", "/api/v4/datasets/public"),
        ("GET", "/api/v4/datasets/a%2Fb/extra"),
        ("GET", "/api/v3/datasets/a%2Fb/attachments"),
        ("DELETE", "/api/v4/datasets/a%2Fb/extra"),
        ("PUT", "/api/v3/auth/login"),
        ("GET", "/"),
        ("GET", "/api"),
    ],
)
async def test_unknown_routes_are_404_nest_style(
    scicat_server: ScicatServer, http: httpx.AsyncClient, method: str, path: str
) -> None:
    root = scicat_server.url.removesuffix("/api")
    r = await http.request(
        method, f"{root}{path}?x=1", headers=bearer(scicat_server.token("admin"))
    )
    assert r.status_code == 404
    assert r.json() == {
        "message": f"Cannot {method} {path}?x=1",
        "error": "Not Found",
        "statusCode": 404,
    }


async def test_head_answers_headers_only(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.head(f"{scicat_server.url}/nothing")
    assert r.status_code == 404
    assert r.content == b""
    assert int(r.headers["content-length"]) > 0
