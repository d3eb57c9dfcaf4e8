"""Client.query_datasets and query_datasets_pages against the double (real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from alink import PID, Client, ScicatCommError
from alink.client import DatasetPages
from alink.testing import ScicatServer, make_dataset

pytestmark = pytest.mark.anyio

USERS = {
    "user1": {"password": "pw1", "groups": ["group1"]},
    "admin": "admin-pw",
}


def _dataset(n: int, **fields: Any) -> dict[str, Any]:
    generated = make_dataset(
        pid=f"p/{n:02d}",
        source_folder=f"/data/{n}",
        files=[(f"f{n}.dat", n + 1), (f"sub/g{n}.dat", 1)],
        type="raw" if n % 2 == 0 else "derived",
        is_published=n % 5 == 0,
        creation_time=f"2024-01-{n + 1:02d}T00:00:00.000Z",
        datasetName=f"Run {n % 7}",
        proposalIds=[f"prop.{n % 3}"] + (["shared"] if n % 4 == 0 else []),
        scientificMetadata={"temperature": {"value": 100 + n, "unit": "K"}},
        **fields,
    )
    return generated.with_blocks()


@pytest.fixture
def many(scicat_server_factory: Callable[..., ScicatServer]) -> ScicatServer:
    """25 datasets p/00..p/24 (see ``_dataset``)."""
    return scicat_server_factory(datasets=[_dataset(n) for n in range(25)], users=USERS)


def _filters(server: ScicatServer) -> list[dict[str, Any]]:
    """The filter of every search request the server received."""
    out = []
    for r in server.requests:
        if r.path in ("/api/v4/datasets", "/api/v4/datasets/public"):
            out.append(json.loads(parse_qs(r.query)["filter"][-1]))
    return out


def _pids(datasets: list[Any]) -> list[str]:
    return [str(d.pid) for d in datasets]


async def test_everything_by_default_in_pid_order(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets()
    assert _pids(found) == [f"p/{n:02d}" for n in range(25)]
    # Metadata only, like Scitacean's query: no file lists.
    assert all(d.files == () for d in found)
    assert found[3].fields["scientificMetadata"]["temperature"]["value"] == 103
    # One request (page of 100), sorted by pid, no include.
    [only] = _filters(many)
    assert only == {
        "where": {},
        "limits": {"limit": 100, "skip": 0, "sort": {"pid": "asc"}},
    }


async def test_fields_follow_scitaceans_rules(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        # One value in a list: datasets whose proposalIds hold it.
        shared = await client.query_datasets({"proposalIds": ["shared"]})
        assert _pids(shared) == [f"p/{n:02d}" for n in range(0, 25, 4)]
        # Several values: any of them; and every field must hold.
        either = await client.query_datasets(
            {"proposalIds": ["prop.1", "prop.2"], "type": "raw", "datasetName": "Run 2"}
        )
        assert _pids(either) == ["p/02", "p/16"]
        # A scalar compares exactly.
        assert _pids(await client.query_datasets({"datasetName": "Run 6"})) == [
            "p/06",
            "p/13",
            "p/20",
        ]
        assert await client.query_datasets({"datasetName": "run 6"}) == []


async def test_where_is_passed_through_and_combined(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets(
            {"type": "derived"},
            where={
                "scientificMetadata.temperature.value": {"$gte": 118},
                "datasetName": {"$regex": "^run [0-4]$", "$options": "i"},
            },
        )
    assert _pids(found) == ["p/21", "p/23"]  # 19 is "Run 5"
    assert _filters(many)[-1]["where"] == {
        "$and": [
            {"type": "derived"},
            {
                "scientificMetadata.temperature.value": {"$gte": 118},
                "datasetName": {"$regex": "^run [0-4]$", "$options": "i"},
            },
        ]
    }


async def test_datetimes_are_sent_as_date_markers(many: ScicatServer) -> None:
    since = datetime(2024, 1, 23, tzinfo=UTC)
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets(where={"creationTime": {"$gte": since}})
    assert _pids(found) == ["p/22", "p/23", "p/24"]
    assert _filters(many)[-1]["where"] == {
        "creationTime": {"$gte": {"$date": "2024-01-23T00:00:00.000Z"}}
    }


async def test_a_begin_end_range_on_a_date_field_as_in_scitacean(
    many: ScicatServer,
) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        # Scitacean's (fullquery's) spelling, ends included.
        found = await client.query_datasets(
            {
                "creationTime": {
                    "begin": "2024-01-03T00:00:00Z",
                    "end": "2024-01-05T00:00:00Z",
                },
                "type": "raw",
            }
        )
        assert _pids(found) == ["p/02", "p/04"]
        assert _filters(many)[-1]["where"] == {
            "creationTime": {
                "$gte": {"$date": "2024-01-03T00:00:00Z"},
                "$lte": {"$date": "2024-01-05T00:00:00Z"},
            },
            "type": "raw",
        }
        # Datetimes, and one end only.
        since = await client.query_datasets(
            {"creationTime": {"begin": datetime(2024, 1, 24, tzinfo=UTC)}}
        )
        assert _pids(since) == ["p/23", "p/24"]
        assert _filters(many)[-1]["where"] == {
            "creationTime": {"$gte": {"$date": "2024-01-24T00:00:00.000Z"}}
        }


async def test_order_and_limit(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        newest = await client.query_datasets(order="creationTime:desc", limit=3)
        assert _pids(newest) == ["p/24", "p/23", "p/22"]
        # Ties (same name) are broken by pid.
        by_name = await client.query_datasets(order=["datasetName:desc"], limit=5)
        assert _pids(by_name) == ["p/06", "p/13", "p/20", "p/05", "p/12"]
        # The same order written as text, ascending by default.
        asc = await client.query_datasets(
            order="datasetName, creationTime:desc", limit=4
        )
        assert _pids(asc) == ["p/21", "p/14", "p/07", "p/00"]
    sorts = [f["limits"]["sort"] for f in _filters(many)]
    assert sorts[0] == {"creationTime": "desc", "pid": "asc"}
    assert sorts[2] == {"datasetName": "asc", "creationTime": "desc", "pid": "asc"}
    assert [f["limits"]["limit"] for f in _filters(many)] == [3, 5, 4]


async def test_pages_by_pid_continue_after_the_last_one(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        pages = client.query_datasets_pages({"type": "raw"}, page_size=4)
        assert isinstance(pages, DatasetPages)
        sizes = [len(page) async for page in pages]
    assert sizes == [4, 4, 4, 1]
    assert pages.received == 13
    filters = _filters(many)
    assert [f["where"] for f in filters] == [
        {"type": "raw"},
        {"$and": [{"type": "raw"}, {"pid": {"$gt": "p/06"}}]},
        {"$and": [{"type": "raw"}, {"pid": {"$gt": "p/14"}}]},
        {"$and": [{"type": "raw"}, {"pid": {"$gt": "p/22"}}]},
    ]
    assert {f["limits"]["skip"] for f in filters} == {0}


async def test_keyset_pages_never_shift_when_the_catalogue_changes(
    many: ScicatServer,
) -> None:
    seen: list[str] = []
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        async for page in client.query_datasets_pages(page_size=5):
            seen += _pids(page)
            if len(seen) == 5:
                # Meanwhile someone removes a dataset already seen and adds one
                # that sorts before the position reached.
                many.remove_dataset("p/01")
                late = make_dataset(pid="p/00a", source_folder="/data/late")
                many.add_dataset(late.dataset)
    assert seen == [f"p/{n:02d}" for n in range(25)]


async def test_other_orders_page_by_offset(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets(
            order="creationTime:desc", page_size=10, limit=23
        )
    assert _pids(found) == [f"p/{n:02d}" for n in range(24, 1, -1)]
    limits = [f["limits"] for f in _filters(many)]
    assert [(x["skip"], x["limit"]) for x in limits] == [(0, 10), (10, 10), (20, 3)]


async def test_files_come_along_on_request(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets({"datasetName": "Run 3"}, files=True)
    assert _pids(found) == ["p/03", "p/10", "p/17", "p/24"]
    assert [len(d.files) for d in found] == [2, 2, 2, 2]
    assert found[0].files[0].size == 4
    [flt] = _filters(many)
    assert flt["include"] == ["origdatablocks"]
    assert flt["limits"]["limit"] == 10  # smaller pages when files come along


async def test_results_without_files_say_so_and_cannot_be_downloaded_by_mistake(
    many: ScicatServer, tmp_path: Any
) -> None:
    from alink.transfer.link import LinkFileTransfer

    async with Client.from_token(
        url=many.url, token=many.token("admin"), file_transfer=LinkFileTransfer()
    ) as client:
        [bare] = await client.query_datasets({"pid": "p/03"})
        [full] = await client.query_datasets({"pid": "p/03"}, files=True)
        assert (bare.files_listed, full.files_listed) == (False, True)
        assert bare.files == ()
        # The catalogue's figures, as Scitacean's query results show them.
        assert (bare.number_of_files, bare.size) == (2, 5)
        assert (full.number_of_files, full.size) == (2, 5)
        target = tmp_path / "out"
        with pytest.raises(ValueError, match=r"without its file list .*get_dataset"):
            await client.download_files(bare, target=target)
        assert not target.exists()
    # Read back as it came: no file list added.
    assert "origdatablocks" not in bare.to_scicat()
    assert bare.replace(fields={"datasetName": "x"}).files_listed is False
    import pickle

    assert pickle.loads(pickle.dumps(bare)).files_listed is False
    assert bare.replace(files=[]).files_listed is True


async def test_anonymous_searches_find_published_datasets(many: ScicatServer) -> None:
    async with Client.without_login(url=many.url) as client:
        found = await client.query_datasets()
    assert _pids(found) == [f"p/{n:02d}" for n in range(0, 25, 5)]
    assert many.requests[-1][:2] == ("GET", "/api/v4/datasets/public")


async def test_a_user_finds_what_they_may_read(
    scicat_server_factory: Callable[..., ScicatServer],
) -> None:
    server = scicat_server_factory(
        datasets=[
            _dataset(1),
            _dataset(2, ownerGroup="group2", accessGroups=[]),
            _dataset(3, ownerGroup="group2", accessGroups=["group1"]),
        ],
        users=USERS,
    )
    async with Client.from_token(url=server.url, token=server.token("user1")) as c:
        assert _pids(await c.query_datasets()) == ["p/01", "p/03"]


async def test_limit_zero_sends_nothing(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        assert await client.query_datasets(limit=0) == []
    assert _filters(many) == []


async def test_a_filter_the_server_refuses_is_a_scicat_error(
    many: ScicatServer,
) -> None:
    token = many.token("admin")
    async with Client.from_token(url=many.url, token=token) as client:
        with pytest.raises(ScicatCommError) as info:
            await client.query_datasets({"noSuchField": 1})
        assert info.value.status_code == 400
        assert str(info.value) == (
            "SciCat refused the dataset query (400: Property where.noSuchField"
            " should not exist in the filter object)"
        )
        with pytest.raises(ScicatCommError, match=r"unknown operator: \$match"):
            await client.query_datasets(where={"pid": {"$match": 1}})
        with pytest.raises(ScicatCommError, match="Regular expression is invalid"):
            await client.query_datasets(where={"pid": {"$regex": "("}})
    assert token not in str(info.value)


async def test_a_refused_token_says_so(many: ScicatServer) -> None:
    async with Client.from_token(url=many.url, token="opaque-token") as client:
        with pytest.raises(ScicatCommError) as info:
            await client.query_datasets()
    assert info.value.status_code == 403
    assert "the token may be invalid or expired" in str(info.value)
    assert "opaque-token" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fields": ["type"]}, TypeError, "fields must be a mapping"),
        ({"fields": {"$or": []}}, ValueError, "operators belong in where="),
        ({"fields": {"size": {"$gt": 1}}}, ValueError, "write conditions in where="),
        ({"fields": {"x": object()}}, TypeError, "cannot send a object"),
        (
            {"fields": {"mode": {"size": {"$gt": 1}}}},
            ValueError,
            "mode is a MongoDB query; pass it as where=",
        ),
        (
            {"fields": {"datasetName": {"begin": "a", "end": "b"}}},
            ValueError,
            "write conditions in where=",
        ),
        (
            {"fields": {"creationTime": {"begin": "yesterday"}}},
            ValueError,
            r"fields\['creationTime'\].begin: 'yesterday' is not an ISO 8601",
        ),
        (
            {"fields": {"creationTime": {"end": 20240101}}},
            TypeError,
            "a range bound must be a datetime or an ISO 8601 text",
        ),
        (
            {"fields": {"creationTime": {"begin": datetime(2024, 1, 1)}}},
            ValueError,
            "has no time zone",
        ),
        ({"where": "type=raw"}, TypeError, "where must be a mapping"),
        (
            {"where": {"creationTime": {"$gte": datetime(2024, 1, 1)}}},
            ValueError,
            "has no time zone",
        ),
        ({"order": "creationTime:newest"}, ValueError, "'asc' or 'desc'"),
        ({"order": ":asc"}, ValueError, "field name is missing"),
        ({"order": "a,a:desc"}, ValueError, "names 'a' twice"),
        ({"order": 3}, TypeError, "order must be a string"),
        ({"limit": -1}, ValueError, "limit must be at least 0"),
        ({"limit": True}, TypeError, "limit must be an integer"),
        ({"page_size": 0}, ValueError, "page_size must be at least 1"),
        ({"files": "yes"}, TypeError, "files must be True or False"),
    ],
)
async def test_bad_arguments_fail_before_anything_is_sent(
    many: ScicatServer, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        with pytest.raises(error, match=message):
            client.query_datasets_pages(**kwargs)
        with pytest.raises(error, match=message):
            await client.query_datasets(**kwargs)
    assert many.requests == []


async def test_pids_and_paths_are_sent_as_text(many: ScicatServer) -> None:
    from alink import RemotePath

    async with Client.from_token(url=many.url, token=many.token("admin")) as client:
        found = await client.query_datasets(
            {"pid": PID.parse("p/07"), "sourceFolder": RemotePath("/data/7")}
        )
    assert _pids(found) == ["p/07"]


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (404, b'{"message":"Cannot GET /api/v4/datasets"}', "needs SciCat's v4 API"),
        (200, b'{"pid": "x"}', "something other than a JSON array"),
        (200, b"[1]", "item 0 is not a dataset object"),
        (200, b'[{"pid": "x"}]', "dataset 'x' in an unexpected shape"),
        (200, b"[{", "malformed JSON"),
        (
            500,
            b'{"message":"boom"}',
            "SciCat answered HTTP 500 to the dataset query: boom",
        ),
    ],
)
async def test_unusable_answers(
    token: str, status: int, body: bytes, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async with Client.from_token(
        url="https://scicat.test", token=token, transport=_mock(handler)
    ) as client:
        with pytest.raises(ScicatCommError, match=message):
            await client.query_datasets()


async def test_a_server_that_ignores_limits_cannot_make_us_loop(token: str) -> None:
    answer = json.dumps(
        [{"pid": f"p/{n}", "type": "raw", "sourceFolder": "/d"} for n in range(7)]
    ).encode()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=answer)

    async with Client.from_token(
        url="https://scicat.test", token=token, transport=_mock(handler)
    ) as client:
        found = await client.query_datasets(page_size=5, limit=8)
    # Pages are cut to what was asked for: 5, then the 3 still wanted.
    assert _pids(found) == [f"p/{n}" for n in range(5)] + ["p/0", "p/1", "p/2"]
    assert calls == 2
