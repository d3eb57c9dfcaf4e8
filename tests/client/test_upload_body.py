"""What an upload sends, decided without I/O: the dataset body, the local
check of SciCat's rules, datablock packing, and reading SciCat's 400s."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alink import File
from alink.client._upload_body import (
    Block,
    check_dataset,
    dataset_body,
    encode_entries,
    field_of_message,
    pack_datablocks,
)
from alink.testing import _upload_routes

GOOD: dict[str, Any] = {
    "type": "raw",
    "datasetName": "run",
    "ownerGroup": "group1",
    "contactEmail": "ponder.stibbons@uu.am",
    "sourceFolder": "/data/run",
    "creationTime": "2024-05-01T10:00:00.000Z",
}

#: Bodies SciCat's v4 create refuses, and the fields alink's check names.
BAD: list[tuple[dict[str, Any], set[str]]] = [
    ({"contactEmail": None}, {"contactEmail"}),
    ({"contactEmail": "a@b"}, {"contactEmail"}),
    ({"contactEmail": "a@b.c"}, {"contactEmail"}),  # one-letter top-level domain
    ({"contactEmail": "a@uu.am;"}, {"contactEmail"}),  # an empty address
    ({"contactEmail": "a@uu.am;nope"}, {"contactEmail"}),
    ({"contactEmail": "a@uu.am,b@uu.am"}, {"contactEmail"}),  # ';' separates
    ({"contactEmail": ""}, {"contactEmail"}),
    ({"ownerEmail": "a@uu.am;b@uu.am"}, {"ownerEmail"}),  # one address only
    ({"ownerEmail": "nope"}, {"ownerEmail"}),
    ({"type": "processed"}, {"type"}),
    ({"datasetName": None}, {"datasetName"}),
    ({"datasetName": 3}, {"datasetName"}),
    ({"sourceFolder": None}, {"sourceFolder"}),
    ({"ownerGroup": None}, {"ownerGroup"}),
    ({"creationTime": "yesterday"}, {"creationTime"}),
    ({"creationTime": None}, {"creationTime"}),
    ({"startTime": "5 o'clock"}, {"startTime"}),
    ({"isPublished": "yes"}, {"isPublished"}),
    ({"keywords": ["a", 1]}, {"keywords"}),
    ({"dataQualityMetrics": "high"}, {"dataQualityMetrics"}),
    ({"scientificMetadata": [1]}, {"scientificMetadata"}),
    ({"techniques": [{"pid": "x"}]}, {"techniques.0.name"}),
    ({"techniques": [{"pid": "x", "name": "y", "extra": 1}]}, {"techniques.0.extra"}),
    (
        {"relationships": [{"pid": "x", "relationship": 3}]},
        {"relationships.0.relationship"},
    ),
    ({"proposalId": "42"}, {"proposalId"}),
]
OK: list[dict[str, Any]] = [
    {},
    {"creationTime": "2024-05-01"},
    {"creationTime": "2024-05-01T12:00:00+02:00"},
    {"startTime": "2024-05-01T12:00:00.123456Z", "endTime": "2024-05-02T00:00Z"},
    {"ownerEmail": "first.last@sub.example.org"},
    {"contactEmail": "a@uu.am;b@uu.am"},  # SciCat takes a list for contactEmail
    {"contactEmail": "a@uu.am; b@uu.am ;c@uu.am"},
    {"keywords": ["a"], "principalInvestigators": ["P"], "isPublished": True},
    {"techniques": [{"pid": "x", "name": "y"}], "scientificMetadata": {}},
    {"dataQualityMetrics": 0.5, "jobParameters": {"n": 1}, "pid": "p/1"},
]


def _server_messages(body: dict[str, Any]) -> list[str]:
    return _upload_routes._validate(body, _upload_routes._DATASET, whitelist=True)


@pytest.mark.parametrize(("changes", "fields"), BAD, ids=lambda v: str(v)[:40])
def test_the_local_check_names_what_scicat_refuses(
    changes: dict[str, Any], fields: set[str]
) -> None:
    body = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    assert {f for f, _ in check_dataset(body)} == fields
    # The double (a separate mirror of SciCat's DTO) refuses it too, and its
    # messages name the same fields.
    messages = _server_messages(body)
    assert messages
    assert {field_of_message(m) for m in messages} == fields


@pytest.mark.parametrize("changes", OK, ids=lambda v: str(v)[:40])
def test_the_local_check_passes_what_scicat_takes(changes: dict[str, Any]) -> None:
    body = {**GOOD, **changes}
    assert check_dataset(body) == []
    assert _server_messages(body) == []


def test_server_managed_fields_are_not_sent() -> None:
    downloaded = {
        **GOOD,
        "_id": "p/1",
        "pid": "p/1",
        "__v": 0,
        "createdAt": "x",
        "createdBy": "u",
        "updatedAt": "x",
        "updatedBy": "u",
        "size": 10,
        "numberOfFiles": 2,
        "packedSize": 0,
        "numberOfFilesArchived": 0,
        "history": [],
        "techniques": [{"pid": "t", "name": "n", "_id": "oid"}],
        "datasetlifecycle": {"archivable": True, "_id": "oid"},
    }
    body = dataset_body(downloaded)
    assert body == {
        **GOOD,
        "pid": "p/1",
        "techniques": [{"pid": "t", "name": "n"}],
        "datasetlifecycle": {"archivable": True},
    }
    assert check_dataset(body) == []


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("contactEmail must be an email", "contactEmail"),
        (
            "Expected an email or a list of semicolon separated emails, got a.b@c",
            "contactEmail",
        ),
        ("property foo should not exist", "foo"),
        ("dataFileList.0.property _id should not exist", "dataFileList.0._id"),
        ("each value in keywords must be a string", "keywords"),
        ("nested property techniques must be either object or array", "techniques"),
        (
            "dataFileList.3.time must be a valid ISO 8601 date string",
            "dataFileList.3.time",
        ),
        ("", ""),
    ],
)
def test_field_of_message(message: str, field: str) -> None:
    assert field_of_message(message) == field


def _file(i: int, algorithm: str | None = "md5", checksum: bool = True) -> File:
    return File(
        remote_path=f"d/f{i:04d}.dat",  # type: ignore[arg-type]
        size=i,
        creation_time=datetime(2024, 1, 1, tzinfo=UTC),
        checksum=f"{i:032x}" if checksum else None,
        checksum_algorithm=algorithm if checksum else None,
        extra={"uid": "1000", "_id": "server's", "perm": 644},
    )


def test_entries_are_datafile_dtos() -> None:
    [entry] = encode_entries([_file(7)], 0, 1)
    assert json.loads(entry) == {
        "path": "d/f0007.dat",
        "size": 7,
        "time": "2024-01-01T00:00:00.000Z",
        "chk": f"{7:032x}",
        "uid": "1000",  # kept; "_id" (the server's) and a non-string perm are not
    }


def test_blocks_stay_under_the_budget_and_keep_the_order() -> None:
    files = [_file(i) for i in range(1000)]
    entries = encode_entries(files, 0, len(files))
    blocks = list(pack_datablocks(files, entries, 10_000))
    assert [i for b in blocks for i in b.indices] == list(range(1000))
    for block in blocks:
        body = block.body("p/1")
        assert len(body) <= 10_000
        parsed = json.loads(body)
        assert parsed["datasetId"] == "p/1"
        assert parsed["chkAlg"] == "md5"
        assert parsed["size"] == sum(block.indices) == block.size
        assert len(parsed["dataFileList"]) == len(block.indices)
    assert len(blocks) == -(-sum(len(e) + 1 for e in entries) // (10_000 - 128))


def test_one_algorithm_per_block() -> None:
    files = [
        _file(0, "md5"),
        _file(1, checksum=False),
        _file(2, "md5"),
        _file(3, "sha256"),
        _file(4, checksum=False),
    ]
    entries = encode_entries(files, 0, len(files))
    blocks = list(pack_datablocks(files, entries, 1 << 20))
    assert [(list(b.indices), b.algorithm) for b in blocks] == [
        ([0, 1, 2], "md5"),
        ([3, 4], "sha256"),
    ]
    only_plain = list(pack_datablocks(files[1:2], entries[1:2], 1 << 20))
    assert only_plain[0].algorithm is None
    assert "chkAlg" not in json.loads(only_plain[0].body("p"))


def test_an_entry_larger_than_the_budget_gets_its_own_block() -> None:
    files = [_file(i) for i in range(3)]
    entries = encode_entries(files, 0, 3)
    blocks = list(pack_datablocks(files, entries, 10))
    assert [list(b.indices) for b in blocks] == [[0], [1], [2]]


def test_halves() -> None:
    files = [_file(i) for i in range(5)]
    entries = encode_entries(files, 0, 5)
    block = Block(range(5), "md5", entries, 10)
    first, second = block.halves([f.size for f in files])
    assert (list(first.indices), first.size) == ([0, 1], 1)
    assert (list(second.indices), second.size) == ([2, 3, 4], 9)
    assert first.entries + second.entries == entries
