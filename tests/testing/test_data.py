"""Server content: adding, changing and removing data; validation; big datasets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from alink.testing import ScicatServer, make_dataset

from ._helpers import bearer, example, q


def _get(server: ScicatServer, pid: str, query: str = "?include=origdatablocks") -> Any:
    r = httpx.get(
        f"{server.url}/v4/datasets/{q(pid)}{query}",
        headers=bearer(server.token("admin")),
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def server() -> Any:
    with ScicatServer(users={"admin": "pw"}) as s:
        yield s


def test_ten_thousand_files_are_served_exactly(server: ScicatServer) -> None:
    files = [
        (f"run/{i // 1000:02d}/frame_{i:05d}.h5", i, f"{i:032x}") for i in range(10_000)
    ]
    ds, blocks = make_dataset(pid="big/1", source_folder="/data/big", files=files)
    server.add_dataset(ds, blocks)
    body = _get(server, "big/1")
    [block] = body["origdatablocks"]
    got = [(f["path"], f["size"], f["chk"]) for f in block["dataFileList"]]
    assert got == files
    assert body["numberOfFiles"] == 10_000
    assert body["size"] == sum(range(10_000))
    # Cached answer is byte-identical.
    first = httpx.get(
        f"{server.url}/v4/datasets/big%2F1?include=origdatablocks",
        headers=bearer(server.token("admin")),
    ).content
    assert json.loads(first) == body


def test_changes_invalidate_cached_answers(server: ScicatServer) -> None:
    ds, blocks = make_dataset(pid="p/1", source_folder="/d", files=[("a", 1)])
    server.add_dataset(ds, blocks)
    assert _get(server, "p/1")["datasetName"] == "Dataset p/1"  # cached now
    server.update_dataset("p/1", {"datasetName": "renamed"})
    body = _get(server, "p/1")
    assert body["datasetName"] == "renamed"
    server.add_orig_datablock(
        {"datasetId": "p/1", "size": 2, "dataFileList": [{"path": "b", "size": 2}]}
    )
    body = _get(server, "p/1")
    assert [b["dataFileList"][0]["path"] for b in body["origdatablocks"]] == ["a", "b"]
    added = body["origdatablocks"][1]
    assert added["isPublished"] is False  # SciCat's default
    assert added["_id"]
    server.remove_dataset("p/1")
    r = httpx.get(
        f"{server.url}/v4/datasets/p%2F1", headers=bearer(server.token("admin"))
    )
    assert r.status_code == 404
    assert server.pids == []


def test_server_keeps_its_own_copy(server: ScicatServer) -> None:
    ds, blocks = make_dataset(pid="p/1", source_folder="/d", files=[("a", 1)])
    server.add_dataset(ds, blocks)
    ds["datasetName"] = "changed by caller"
    blocks[0]["dataFileList"].append({"path": "sneaky", "size": 0})
    body = _get(server, "p/1")
    assert body["datasetName"] == "Dataset p/1"
    assert len(body["origdatablocks"][0]["dataFileList"]) == 1
    copy = server.dataset("p/1")
    copy["datasetName"] = "x"
    assert server.dataset("p/1")["datasetName"] == "Dataset p/1"


def test_embedded_origdatablocks_are_accepted(server: ScicatServer) -> None:
    full = example("dataset-raw.v4.json")
    server.add_dataset(full)
    assert _get(server, full["pid"]) == full
    assert "origdatablocks" not in server.dataset(full["pid"])


def test_missing_id_is_the_pid_and_datetimes_are_iso(server: ScicatServer) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    server.add_dataset({"pid": "p/2", "type": "raw", "creationTime": when})
    body = _get(server, "p/2", "")
    assert body == {
        "_id": "p/2",
        "pid": "p/2",
        "type": "raw",
        "creationTime": "2024-05-06T07:08:09.123Z",
    }


@pytest.mark.parametrize(
    ("dataset", "blocks", "message"),
    [
        ({"type": "raw"}, [], "pid"),
        ({"pid": ""}, [], "pid"),
        ({"pid": 5}, [], "pid"),
        ("p/1", [], "mapping"),
        ({"pid": "p/1", "x": object()}, [], "JSON-serialisable"),
        ({"pid": "p/1", "t": datetime(2024, 1, 1)}, [], "time zone"),
        ({"pid": "p/1", "origdatablocks": {}}, [], "must be a list"),
        ({"pid": "p/1"}, [{"datasetId": "p/2", "dataFileList": []}], "names dataset"),
        ({"pid": "p/1"}, [{"datasetId": "p/1"}], "dataFileList"),
        ({"pid": "p/1"}, [{"datasetId": "p/1", "dataFileList": {}}], "dataFileList"),
        ({"pid": "p/1"}, ["block"], "mapping"),
    ],
)
def test_malformed_data_is_refused_and_nothing_is_added(
    dataset: Any, blocks: list[Any], message: str
) -> None:
    server = ScicatServer()
    with pytest.raises(ValueError, match=message):
        server.add_dataset(dataset, blocks)
    assert server.pids == []


def test_other_data_errors() -> None:
    server = ScicatServer(datasets=[{"pid": "p/1"}])
    with pytest.raises(ValueError, match="already exists"):
        server.add_dataset({"pid": "p/1"})
    with pytest.raises(ValueError, match="not on the server"):
        server.add_orig_datablock({"datasetId": "p/9", "dataFileList": []})
    with pytest.raises(ValueError, match="datasetId"):
        server.add_orig_datablock({"dataFileList": []})
    with pytest.raises(ValueError, match="no dataset"):
        server.update_dataset("p/9", {"x": 1})
    with pytest.raises(ValueError, match="cannot be changed"):
        server.update_dataset("p/1", {"pid": "p/2"})
    with pytest.raises(ValueError, match="add_orig_datablock"):
        server.update_dataset("p/1", {"origdatablocks": []})
    with pytest.raises(ValueError, match="no dataset"):
        server.remove_dataset("p/9")
    with pytest.raises(ValueError, match="no dataset"):
        server.dataset("p/9")
    with pytest.raises(ValueError, match="not on the server"):
        ScicatServer(orig_datablocks=[{"datasetId": "x", "dataFileList": []}])


def test_user_errors() -> None:
    server = ScicatServer(users={"u": "p"})
    with pytest.raises(ValueError, match="already exists"):
        server.add_user("u", "q")
    with pytest.raises(ValueError, match="no user"):
        server.token("nobody")
    with pytest.raises(ValueError, match="non-empty"):
        server.add_user("", "p")
    with pytest.raises(ValueError, match="not a string"):
        server.add_user("v", "p", groups="group1")
    with pytest.raises(ValueError, match="expected keys"):
        ScicatServer(users={"u": {"pass": "p"}})
    with pytest.raises(ValueError, match="password or a mapping"):
        ScicatServer(users={"u": 42})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="positive"):
        ScicatServer(token_lifetime=0)
    with pytest.raises(ValueError, match="seconds"):
        server.token("u", expires_in="1h")  # type: ignore[arg-type]


@pytest.mark.slow
def test_hundred_thousand_files_in_several_blocks(server: ScicatServer) -> None:
    files = [(f"d{i % 97}/f{i:06d}", 1, None) for i in range(100_000)]
    ds, blocks = make_dataset(
        pid="big/2", source_folder="/data/big", files=files, files_per_block=30_000
    )
    server.add_dataset(ds, blocks)
    body = _get(server, "big/2")
    assert [len(b["dataFileList"]) for b in body["origdatablocks"]] == [
        30_000,
        30_000,
        30_000,
        10_000,
    ]
    paths = [f["path"] for b in body["origdatablocks"] for f in b["dataFileList"]]
    assert paths == [p for p, _, _ in files]
