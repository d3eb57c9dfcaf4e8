"""GET /api/v4/datasets?filter= and /api/v4/datasets/public?filter= on the double."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from alink.testing import ScicatSeed, ScicatServer, make_dataset

from ._helpers import bearer, example

pytestmark = pytest.mark.anyio


async def _search(
    http: httpx.AsyncClient,
    server: ScicatServer,
    flt: Any = None,
    *,
    token: str | None = None,
    public: bool = False,
    raw: str | None = None,
) -> httpx.Response:
    url = f"{server.url}/v4/datasets" + ("/public" if public else "")
    params: dict[str, str] = {}
    if raw is not None:
        params["filter"] = raw
    elif flt is not None:
        params["filter"] = json.dumps(flt)
    headers = bearer(token) if token else {}
    return await http.get(url, params=params, headers=headers)


def _pids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    return [d["pid"] for d in body]


@pytest.fixture
def many(scicat_server_factory: Any) -> ScicatServer:
    """25 datasets: p/00..p/24; even ones raw, odd derived; every fifth published;
    names "Run NN"; group1 owns them except p/03 (group9, shared with user1)."""
    datasets = []
    for n in range(25):
        generated = make_dataset(
            pid=f"p/{n:02d}",
            source_folder=f"/data/{n}",
            files=[(f"f{n}.dat", n + 1)],
            type="raw" if n % 2 == 0 else "derived",
            is_published=n % 5 == 0,
            owner_group="group9" if n == 3 else "group1",
            access_groups=[],
            creation_time=f"2024-01-{n + 1:02d}T00:00:00.000Z",
            datasetName=f"Run {n:02d}",
            sharedWith=["user1@your.site"] if n == 3 else [],
            scientificMetadata={"temperature": {"value": 100 + n, "unit": "K"}},
        )
        datasets.append(generated.with_blocks())
    server: ScicatServer = scicat_server_factory(
        datasets=datasets,
        users={
            "user1": {"password": "pw1", "groups": ["group1"]},
            "outsider": {"password": "pw", "groups": ["other"]},
            "admin": "admin-pw",
        },
    )
    return server


async def test_defaults_are_ten_datasets_newest_first(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await _search(http, many, token=many.token("admin"))
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert _pids(r) == [f"p/{n:02d}" for n in range(24, 14, -1)]


async def test_where_sort_skip_limit(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    flt = {
        "where": {"type": "raw", "scientificMetadata.temperature.value": {"$gte": 110}},
        "limits": {"limit": 3, "skip": 1, "sort": {"datasetName": "asc"}},
    }
    r = await _search(http, many, flt, token=many.token("admin"))
    assert _pids(r) == ["p/12", "p/14", "p/16"]


async def test_each_dataset_has_the_shape_of_a_single_get(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    flt = {"where": {"pid": scicat_seed.raw_pid}, "include": ["origdatablocks"]}
    r = await _search(http, scicat_server, flt, token=scicat_token)
    assert r.status_code == 200
    assert r.json() == [example("dataset-raw.v4.json")]
    # Without include: no origdatablocks key at all.
    r = await _search(
        http, scicat_server, {"where": {"pid": scicat_seed.raw_pid}}, token=scicat_token
    )
    assert "origdatablocks" not in r.json()[0]


async def test_fields_project_and_include_objects(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    flt = {
        "where": {"pid": "p/04"},
        "fields": ["datasetName"],
        "include": [{"relation": "origdatablocks"}],
    }
    r = await _search(http, many, flt, token=many.token("admin"))
    [only] = r.json()
    assert set(only) == {"_id", "datasetName", "origdatablocks"}
    assert only["origdatablocks"][0]["dataFileList"][0]["path"] == "f4.dat"


async def test_a_user_sees_what_they_may_read(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    flt = {"limits": {"limit": 100, "sort": {"pid": "asc"}}}
    everything = [f"p/{n:02d}" for n in range(25)]
    assert _pids(await _search(http, many, flt, token=many.token("admin"))) == (
        everything
    )
    # user1: group1 datasets and p/03, shared with their email.
    assert _pids(await _search(http, many, flt, token=many.token("user1"))) == (
        everything
    )
    published = [f"p/{n:02d}" for n in range(0, 25, 5)]
    outsider = many.token("outsider")
    assert _pids(await _search(http, many, flt, token=outsider)) == published


async def test_the_public_list_holds_published_datasets_only(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    flt = {
        "where": {"isPublished": False},
        "limits": {"limit": 100, "sort": {"pid": "asc"}},
    }
    # The public endpoint overrides isPublished, whatever the filter says.
    r = await _search(http, many, flt, public=True)
    assert _pids(r) == [f"p/{n:02d}" for n in range(0, 25, 5)]


async def test_anonymous_requests_to_the_private_list_are_forbidden(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await _search(http, many, {"where": {}})
    assert r.status_code == 403
    assert r.json() == {
        "message": "Forbidden resource",
        "error": "Forbidden",
        "statusCode": 403,
    }
    # An invalid token counts as none.
    r = await _search(http, many, token="not-a-jwt")
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            {"customField": 1},
            "Property customField should not exist in the filter object",
        ),
        (
            {"where": {"nope": 1}},
            "Property where.nope should not exist in the filter object",
        ),
        (
            {"where": {"pid": {"$where": "1"}}},
            "Property where.pid.$where should not exist in the filter object",
        ),
        (
            {"limits": {"order": "pid:asc"}},
            "Property limits.order should not exist in the filter object",
        ),
        (
            {"include": ["nope"]},
            'Provided include field "nope" is not part of the dataset relations',
        ),
        ({"where": {"pid": {"$match": "x"}}}, "unknown operator: $match"),
        ({"limits": {"skip": -1}}, "invalid argument to $skip stage"),
        ({"limits": {"limit": "5"}}, "invalid argument to $limit stage"),
    ],
)
async def test_bad_filters_are_400_with_the_backends_message(
    many: ScicatServer, http: httpx.AsyncClient, flt: Any, message: str
) -> None:
    r = await _search(http, many, flt, token=many.token("admin"))
    assert r.status_code == 400
    body = r.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    assert body["message"].startswith(message)


async def test_malformed_json_is_400(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await _search(
        http, many, raw='{"limits": {"limit": 1},}', token=many.token("admin")
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("Invalid JSON in filter: ")


async def test_free_form_metadata_keys_are_allowed(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    flt = {"where": {"scientificMetadata.temperature.unit": "K", "pid": "p/07"}}
    assert _pids(await _search(http, many, flt, token=many.token("admin"))) == ["p/07"]


async def test_date_markers(many: ScicatServer, http: httpx.AsyncClient) -> None:
    flt = {
        "where": {"creationTime": {"$lt": {"$date": "2024-01-03T00:00:00Z"}}},
        "limits": {"sort": {"pid": "asc"}},
    }
    assert _pids(await _search(http, many, flt, token=many.token("admin"))) == [
        "p/00",
        "p/01",
    ]
    # A string is not a date (as in MongoDB, where these fields are dates).
    flt["where"] = {"creationTime": {"$lt": "2024-01-03T00:00:00Z"}}
    assert _pids(await _search(http, many, flt, token=many.token("admin"))) == []


async def test_requests_are_recorded(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    await _search(http, many, {"where": {"pid": "p/01"}}, token=many.token("admin"))
    last = many.requests[-1]
    assert last[:2] == ("GET", "/api/v4/datasets")
    assert last.status == 200
    assert last.user == "admin"


async def test_v3_fullquery_scitaceans_search(
    many: ScicatServer, http: httpx.AsyncClient
) -> None:
    url = f"{many.url}/v3/datasets/fullquery"
    admin = bearer(many.token("admin"))
    r = await http.get(
        url,
        params={
            "fields": json.dumps({"type": "raw", "pid": ["p/02", "p/04", "p/05"]}),
            "limits": json.dumps({"order": "pid:desc"}),
        },
        headers=admin,
    )
    assert r.status_code == 200
    assert _pids(r) == ["p/04", "p/02"]
    # A date range on a date field; anonymous callers see published ones.
    fields = {"creationTime": {"begin": "2024-01-01", "end": "2024-01-11T00:00:00Z"}}
    r = await http.get(url, params={"fields": json.dumps(fields)})
    assert _pids(r) == ["p/00", "p/05", "p/10"]
    r = await http.get(url, params={"fields": "{"}, headers=admin)
    assert r.status_code == 400
    r = await http.get(url, params={"fields": '{"text": "x"}'}, headers=admin)
    assert r.status_code == 400
