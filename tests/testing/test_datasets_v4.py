"""GET /api/v4/datasets/{pid}: authenticated reads, includes, 403/404/400."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from alink.testing import ScicatSeed, ScicatServer, make_dataset

from ._helpers import bearer, example, q

pytestmark = pytest.mark.anyio


def _url(server: ScicatServer, pid: str, query: str = "") -> str:
    return f"{server.url}/v4/datasets/{q(pid)}{query}"


async def test_raw_dataset_with_files_matches_the_example(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid),
        params={"include": "origdatablocks"},
        headers=bearer(scicat_token),
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.json() == example("dataset-raw.v4.json")


async def test_derived_dataset_matches_the_example(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.derived_pid, "?include=origdatablocks"),
        headers=bearer(scicat_token),
    )
    assert r.status_code == 200
    assert r.json() == example("dataset-derived.v4.json")


async def test_without_include_there_is_no_origdatablocks_key(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid), headers=bearer(scicat_token)
    )
    assert r.status_code == 200
    expected = example("dataset-raw.v4.json")
    del expected["origdatablocks"]
    assert r.json() == expected


async def test_the_pid_slash_travels_as_percent_2f(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    pid = scicat_seed.raw_pid
    assert "/" in pid
    r = await http.get(_url(scicat_server, pid), headers=bearer(scicat_token))
    assert r.json()["pid"] == pid
    assert (
        scicat_server.requests[-1].path == f"/api/v4/datasets/{pid.replace('/', '%2F')}"
    )
    # Lower-case hex decodes too; a bare '/' splits the path: another route.
    r = await http.get(
        f"{scicat_server.url}/v4/datasets/{pid.replace('/', '%2f')}",
        headers=bearer(scicat_token),
    )
    assert r.json()["pid"] == pid
    r = await http.get(
        f"{scicat_server.url}/v4/datasets/{pid}", headers=bearer(scicat_token)
    )
    assert r.status_code == 404
    assert r.json()["message"] == f"Cannot GET /api/v4/datasets/{pid}"


async def test_pids_with_special_characters_round_trip(
    scicat_server: ScicatServer, scicat_token: str, http: httpx.AsyncClient
) -> None:
    pid = "20.500.12269/a b+c?d#e%f&g=h/ü"
    ds, blocks = make_dataset(pid=pid, source_folder="/data/x", files=[("f", 1)])
    scicat_server.add_dataset(ds, blocks)
    r = await http.get(
        _url(scicat_server, pid, "?include=origdatablocks"),
        headers=bearer(scicat_token),
    )
    # quote_plus turns ' ' into '+', which SciCat (decodeURIComponent) keeps as
    # '+': such a pid is not found, exactly as on a real server.
    assert r.status_code == 404
    r = await http.get(
        f"{scicat_server.url}/v4/datasets/{quote(pid, safe='')}?include=origdatablocks",
        headers=bearer(scicat_token),
    )
    assert r.status_code == 200
    assert r.json()["pid"] == pid
    assert r.json()["origdatablocks"][0]["datasetId"] == pid


async def test_unknown_pid_is_404_like_scicat(
    scicat_server: ScicatServer, scicat_token: str, http: httpx.AsyncClient
) -> None:
    r = await http.get(
        _url(scicat_server, "PID.prefix/nope"), headers=bearer(scicat_token)
    )
    assert r.status_code == 404
    assert r.json() == example("error-404.json")


@pytest.mark.parametrize("pid_kind", ["raw", "published", "unknown"])
async def test_no_token_is_403_before_anything_else(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    http: httpx.AsyncClient,
    pid_kind: str,
) -> None:
    pid = {
        "raw": scicat_seed.raw_pid,
        "published": scicat_seed.published_pid,
        "unknown": "x/unknown",
    }[pid_kind]
    r = await http.get(_url(scicat_server, pid, "?include=nonsense"))
    assert r.status_code == 403
    assert r.json() == example("error-403.json")


def _tampered(token: str) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["username"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{sig}"


def _bad_tokens(server: ScicatServer) -> dict[str, dict[str, str]]:
    good = server.token("user1")
    other = ScicatServer(users={"user1": "pw1"}).token("user1")
    return {
        "expired": bearer(server.token("user1", expires_in=-60)),
        "tampered": bearer(_tampered(good)),
        "bad-signature": bearer(
            good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        ),
        "other-server": bearer(other),
        "garbage": bearer("not-a-jwt"),
        "wrong-scheme": {"Authorization": f"Token {good}"},
        "bare-token": {"Authorization": good},
        "empty-bearer": {"Authorization": "Bearer"},
    }


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "tampered",
        "bad-signature",
        "other-server",
        "garbage",
        "wrong-scheme",
        "bare-token",
        "empty-bearer",
    ],
)
async def test_invalid_tokens_count_as_anonymous(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    http: httpx.AsyncClient,
    kind: str,
) -> None:
    headers = _bad_tokens(scicat_server)[kind]
    r = await http.get(_url(scicat_server, scicat_seed.raw_pid), headers=headers)
    assert r.status_code == 403
    assert r.json() == example("error-403.json")
    last = scicat_server.requests[-1]
    assert last.auth == "invalid"
    assert last.user is None


async def test_token_of_another_server_is_refused(
    scicat_server_factory: Any, http: httpx.AsyncClient
) -> None:
    # Same user name, different server: different secret, refused.
    a = scicat_server_factory(users={"user1": "pw1"})
    b = scicat_server_factory(users={"user1": "pw1"})
    ds, blocks = make_dataset(pid="p/1", source_folder="/d")
    b.add_dataset(ds, blocks)
    r = await http.get(_url(b, "p/1"), headers=bearer(a.token("user1")))
    assert r.status_code == 403
    r = await http.get(_url(b, "p/1"), headers=bearer(b.token("user1")))
    assert r.status_code == 200


async def test_scheme_is_case_insensitive(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    token = scicat_server.token("user1")
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid),
        headers={"Authorization": f"bearer {token}"},
    )
    assert r.status_code == 200


async def test_user_without_access_gets_403_unauthorized_access(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    token = scicat_server.token("user2")  # group2: not owner/access group
    r = await http.get(_url(scicat_server, scicat_seed.raw_pid), headers=bearer(token))
    assert r.status_code == 403
    assert r.json() == {
        "message": "Unauthorized access",
        "error": "Forbidden",
        "statusCode": 403,
    }
    # Published datasets are readable by every logged-in user, with all blocks.
    r = await http.get(
        _url(scicat_server, scicat_seed.derived_pid, "?include=origdatablocks"),
        headers=bearer(token),
    )
    assert r.status_code == 200
    assert len(r.json()["origdatablocks"]) == 1


async def test_access_by_access_group_and_shared_with(
    scicat_server_factory: Any, http: httpx.AsyncClient
) -> None:
    server = scicat_server_factory(
        users={
            "member": {"password": "p", "groups": ["faculty"]},
            "friend": {"password": "p", "groups": [], "email": "friend@uni.edu"},
            "stranger": {"password": "p", "groups": ["elsewhere"]},
        }
    )
    ds, _ = make_dataset(
        pid="p/1",
        source_folder="/d",
        owner_group="group1",
        access_groups=["faculty"],
        sharedWith=["friend@uni.edu"],
    )
    server.add_dataset(ds)
    statuses = {}
    for user in ("member", "friend", "stranger"):
        r = await http.get(_url(server, "p/1"), headers=bearer(server.token(user)))
        statuses[user] = r.status_code
    assert statuses == {"member": 200, "friend": 200, "stranger": 403}


async def test_include_all_and_other_relations(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid, "?include=all"),
        headers=bearer(scicat_token),
    )
    body = r.json()
    for relation in (
        "instruments",
        "proposals",
        "datablocks",
        "attachments",
        "samples",
    ):
        assert body[relation] == []
    assert len(body["origdatablocks"]) == 1
    # Several include parameters, repeated ones, and the JSON form.
    r = await http.get(
        _url(
            scicat_server,
            scicat_seed.raw_pid,
            "?include=attachments&include=origdatablocks&include=attachments",
        ),
        headers=bearer(scicat_token),
    )
    assert list(r.json())[-2:] == ["attachments", "origdatablocks"]
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid),
        params={"include": json.dumps({"include": ["origdatablocks"]})},
        headers=bearer(scicat_token),
    )
    assert len(r.json()["origdatablocks"]) == 1


async def test_unknown_include_is_400(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid, "?include=files"),
        headers=bearer(scicat_token),
    )
    assert r.status_code == 400
    assert r.json() == {
        "message": (
            'Provided include field "files" is not part of the dataset relations'
        ),
        "error": "Bad Request",
        "statusCode": 400,
    }


async def test_authenticated_reader_sees_unpublished_blocks(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.derived_pid, "?include=origdatablocks"),
        headers=bearer(scicat_token),
    )
    [block] = r.json()["origdatablocks"]
    assert block["isPublished"] is False


async def test_trailing_slash_is_ignored(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    scicat_token: str,
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(
        _url(scicat_server, scicat_seed.raw_pid) + "/", headers=bearer(scicat_token)
    )
    assert r.status_code == 200
