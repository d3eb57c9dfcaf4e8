"""The double's create, validate, datablock and delete endpoints, over HTTP.

Status codes and bodies as scicat-backend-next's v4 controllers answer:
the global ValidationPipe's 400 (one class-validator message per problem),
the policies guard's 403, ``isValid``'s bare ``{"valid": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alink.testing import ScicatSeed, ScicatServer

from ._helpers import bearer, example, q

pytestmark = pytest.mark.anyio


def new_dataset(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "raw",
        "datasetName": "run 7",
        "owner": "Ponder Stibbons",
        "ownerGroup": "group1",
        "accessGroups": ["uu"],
        "contactEmail": "ponder.stibbons@uu.am",
        "sourceFolder": "/hex/data/7",
        "creationTime": "2024-05-01T12:00:00+02:00",
        "principalInvestigators": ["Ponder Stibbons"],
        "creationLocation": "/UU/HEX",
        "techniques": [{"pid": "DM666", "name": "dark_magic"}],
        "scientificMetadata": {"temperature": {"value": 4, "unit": "K"}},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def block(pid: str, n: int = 2, **changes: Any) -> dict[str, Any]:
    files = [
        {"path": f"f{i}.dat", "size": 10 + i, "time": "2024-05-01T10:00:00Z"}
        for i in range(n)
    ]
    body: dict[str, Any] = {
        "datasetId": pid,
        "size": sum(f["size"] for f in files),
        "chkAlg": "md5",
        "dataFileList": files,
    }
    body.update(changes)
    return body


@pytest.fixture
def post(scicat_server: ScicatServer, http: httpx.AsyncClient) -> Callable[..., Any]:
    async def send(
        path: str, body: Any, user: str | None = "user1", method: str = "POST"
    ) -> httpx.Response:
        headers = bearer(scicat_server.token(user)) if user else {}
        return await http.request(
            method, f"{scicat_server.url}/v4/{path}", json=body, headers=headers
        )

    return send


async def test_create_answers_201_with_the_stored_dataset(
    post: Callable[..., Any], scicat_server: ScicatServer
) -> None:
    r = await post("datasets", new_dataset())
    assert r.status_code == 201
    created = r.json()
    pid = created["pid"]
    assert pid.startswith("PID.prefix.a0b1/")
    assert created["_id"] == pid
    # Times are stored in UTC with milliseconds, as SciCat answers them.
    assert created["creationTime"] == "2024-05-01T10:00:00.000Z"
    assert created["createdBy"] == created["updatedBy"] == "user1"
    assert created["size"] == created["numberOfFiles"] == 0
    assert created["isPublished"] is False
    assert created["version"] == "4"
    assert created["datasetlifecycle"]["archiveStatusMessage"] == "datasetCreated"
    assert set(created["techniques"][0]) == {"pid", "name", "_id"}
    # The same key set as a dataset read from a real SciCat (but the
    # fields this one was not given).
    shape = set(example("dataset-raw.v4.json")) - {"origdatablocks"}
    assert set(created) - {"orcidOfOwner"} <= shape | {"ownerEmail"}
    assert shape - set(created) <= {"ownerEmail", "classification", "description"}
    assert scicat_server.dataset(pid) == created


async def test_read_back_with_get(
    post: Callable[..., Any], scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    pid = (await post("datasets", new_dataset())).json()["pid"]
    r = await post("origdatablocks", block(pid, 3))
    assert r.status_code == 201
    stored_block = r.json()
    assert stored_block["ownerGroup"] == "group1"  # copied from the dataset
    assert stored_block["accessGroups"] == ["uu"]
    assert stored_block["isPublished"] is False
    assert [f["time"] for f in stored_block["dataFileList"]] == [
        "2024-05-01T10:00:00.000Z"
    ] * 3
    assert all(len(f["_id"]) == 24 for f in stored_block["dataFileList"])
    shape = set(example("origdatablocks.json")[0])
    assert set(stored_block) == shape
    r = await http.get(
        f"{scicat_server.url}/v4/datasets/{q(pid)}",
        params={"include": "origdatablocks"},
        headers=bearer(scicat_server.token("user1")),
    )
    got = r.json()
    # The dataset's size and file count follow its datablocks.
    assert (got["size"], got["numberOfFiles"]) == (33, 3)
    assert got["origdatablocks"] == [stored_block]


async def test_missing_and_malformed_fields_are_400_with_messages(
    post: Callable[..., Any], scicat_server: ScicatServer
) -> None:
    body = new_dataset(
        contactEmail=None,
        datasetName=None,
        creationTime="yesterday",
        type="processed",
        isPublished="yes",
        keywords=["a", 3],
        techniques=[{"pid": "x", "_id": "1"}],
        proposalId="123",
    )
    r = await post("datasets", body)
    assert r.status_code == 400
    answer = r.json()
    assert answer["error"] == "Bad Request"
    assert answer["statusCode"] == 400
    assert answer["message"] == [
        "property proposalId should not exist",
        "type must be one of the following values: raw, derived",
        "Expected an email or a list of semicolon separated emails, got undefined",
        "creationTime must be a valid ISO 8601 date string",
        "each value in keywords must be a string",
        "datasetName must be a string",
        "isPublished must be a boolean value",
        "techniques.0.property _id should not exist",
        "techniques.0.name must be a string",
    ]
    assert len(scicat_server.pids) == 3  # nothing was created


async def test_is_valid_says_only_yes_or_no_and_allows_unknown_fields(
    post: Callable[..., Any], scicat_server: ScicatServer
) -> None:
    r = await post("datasets/isValid", new_dataset())
    assert (r.status_code, r.json()) == (200, {"valid": True})
    r = await post("datasets/isValid", new_dataset(contactEmail="not an email"))
    assert (r.status_code, r.json()) == (200, {"valid": False})
    # Not checked by isValid, refused by create: SciCat's own difference.
    r = await post("datasets/isValid", new_dataset(proposalId="x"))
    assert r.json() == {"valid": True}
    assert len(scicat_server.pids) == 3


@pytest.mark.parametrize("path", ["datasets", "datasets/isValid", "origdatablocks"])
async def test_anonymous_writes_are_forbidden(
    post: Callable[..., Any], path: str
) -> None:
    r = await post(path, new_dataset(), user=None)
    assert r.status_code == 403
    assert r.json()["message"] == "Forbidden resource"


async def test_only_members_of_the_owner_group_create(
    post: Callable[..., Any], scicat_seed: ScicatSeed
) -> None:
    for path in ("datasets", "datasets/isValid"):
        r = await post(path, new_dataset(), user="user2")
        assert r.status_code == 403
        assert r.json()["message"] == "Unauthorized access"
    r = await post("origdatablocks", block(scicat_seed.raw_pid), user="user2")
    assert (r.status_code, r.json()["message"]) == (403, "Unauthorized access")
    r = await post("datasets", new_dataset(ownerGroup="group2"), user="admin")
    assert r.status_code == 201


async def test_a_taken_pid_is_409(
    post: Callable[..., Any], scicat_seed: ScicatSeed
) -> None:
    r = await post("datasets", new_dataset(pid="mine/1"))
    assert (r.status_code, r.json()["pid"]) == (201, "mine/1")
    r = await post("datasets", new_dataset(pid="mine/1"))
    assert r.status_code == 409
    assert r.json()["message"] == "A dataset with this unique key already exists!"


async def test_bad_datablocks_are_400(
    post: Callable[..., Any], scicat_seed: ScicatSeed
) -> None:
    pid = scicat_seed.raw_pid
    files = [
        {"path": "a", "size": 1, "time": "2024-01-01T00:00:00Z", "_id": "x"},
        {"path": 3, "size": "big"},
    ]
    r = await post("origdatablocks", block(pid, dataFileList=files, chkAlg=""))
    assert r.status_code == 400
    assert r.json()["message"] == [
        "chkAlg should not be empty",
        "dataFileList.0.property _id should not exist",
        "dataFileList.1.path must be a string",
        "dataFileList.1.size must be a number conforming to the specified constraints",
        "dataFileList.1.time must be a valid ISO 8601 date string",
    ]
    r = await post("origdatablocks", block(pid, dataFileList=[], size=None))
    assert r.json()["message"] == [
        "size must be an integer number",
        "dataFileList should not be empty",
    ]


async def test_a_datablock_for_an_unknown_dataset(post: Callable[..., Any]) -> None:
    r = await post("origdatablocks", block("nope/1"), user="admin")
    assert r.status_code == 404
    assert r.json()["message"] == (
        "Dataset: nope/1 not found for attaching an origdatablock"
    )
    r = await post("origdatablocks", block("nope/1"))
    assert r.status_code == 403


async def test_malformed_json_is_400(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        f"{scicat_server.url}/v4/datasets",
        content=b'{"type": ',
        headers={
            **bearer(scicat_server.token("user1")),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("Unexpected token")


async def test_delete_needs_a_delete_group(
    post: Callable[..., Any], scicat_server: ScicatServer
) -> None:
    pid = (await post("datasets", new_dataset())).json()["pid"]
    block_id = (await post("origdatablocks", block(pid))).json()["_id"]
    for path in (f"origdatablocks/{block_id}", f"datasets/{q(pid)}"):
        r = await post(path, None, method="DELETE")
        assert r.status_code == 403
        assert r.json()["message"] == "Forbidden resource"
    r = await post(f"origdatablocks/{block_id}", None, user="admin", method="DELETE")
    assert r.status_code == 200
    assert r.json()["_id"] == block_id
    assert scicat_server.dataset(pid)["numberOfFiles"] == 0
    r = await post(f"origdatablocks/{block_id}", None, user="admin", method="DELETE")
    assert (r.status_code, r.json()["message"]) == (
        404,
        f"OrigDatablock: {block_id} not found",
    )
    r = await post(f"datasets/{q(pid)}", None, user="admin", method="DELETE")
    assert r.status_code == 200
    assert r.json()["pid"] == pid
    assert pid not in scicat_server.pids
    r = await post(f"datasets/{q(pid)}", None, user="admin", method="DELETE")
    assert (r.status_code, r.json()["message"]) == (404, "dataset: null not found")


async def test_delete_groups(
    scicat_server_factory: Callable[..., ScicatServer],
    scicat_seed: ScicatSeed,
    http: httpx.AsyncClient,
) -> None:
    server = scicat_server_factory(
        datasets=scicat_seed.datasets,
        users={"curator": {"password": "c", "groups": ["deleters"]}},
        delete_groups=["deleters"],
    )
    r = await http.delete(
        f"{server.url}/v4/datasets/{q(scicat_seed.raw_pid)}",
        headers=bearer(server.token("curator")),
    )
    assert r.status_code == 200
    assert scicat_seed.raw_pid not in server.pids


async def test_bodies_over_the_limit_are_413(
    scicat_server_factory: Callable[..., ScicatServer],
    scicat_seed: ScicatSeed,
    http: httpx.AsyncClient,
) -> None:
    server = scicat_server_factory(
        datasets=scicat_seed.datasets, users=scicat_seed.users, max_body_size=2000
    )
    headers = bearer(server.token("user1"))
    r = await http.post(
        f"{server.url}/v4/origdatablocks",
        json=block(scicat_seed.raw_pid, 100),
        headers=headers,
    )
    assert r.status_code == 413
    assert r.json()["message"] == "request entity too large"
    r = await http.post(
        f"{server.url}/v4/origdatablocks",
        json=block(scicat_seed.raw_pid, 2),
        headers=headers,
    )
    assert r.status_code == 201


def test_server_options_are_checked() -> None:
    with pytest.raises(ValueError, match="delete_groups"):
        ScicatServer(delete_groups="admins")
    with pytest.raises(ValueError, match="max_body_size"):
        ScicatServer(max_body_size=0)
