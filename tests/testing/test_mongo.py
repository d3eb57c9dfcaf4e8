"""The double's MongoDB engine: matching, ordering and projection rules (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from alink.testing._mongo import (
    QueryError,
    cast_markers,
    matches,
    project,
    sort_documents,
)

DOC: dict[str, Any] = {
    "pid": "p/1",
    "size": 300,
    "ratio": 0.5,
    "isPublished": False,
    "datasetName": "Run 42 calibration",
    "keywords": ["neutron", "calibration"],
    "proposalIds": ["abc.123", "def.456"],
    "techniques": [{"pid": "T1", "name": "SANS"}, {"pid": "T2", "name": "XAS"}],
    "scientificMetadata": {"temperature": {"value": 123, "unit": "K"}},
    "creationTime": "2024-03-01T12:00:00.000Z",
    "description": None,
}


def date(text: str) -> Any:
    return cast_markers({"$date": text})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, True),
        ({"pid": "p/1"}, True),
        ({"pid": "p/2"}, False),
        ({"size": 300.0}, True),  # numbers compare by value
        ({"isPublished": 0}, False),  # a boolean is not a number
        ({"keywords": "neutron"}, True),  # an array holds the value
        ({"keywords": ["neutron", "calibration"]}, True),  # the whole array
        ({"keywords": ["calibration", "neutron"]}, False),  # order matters
        ({"techniques.name": "XAS"}, True),  # a path through an array
        ({"techniques.0.name": "SANS"}, True),
        ({"techniques.0.name": "XAS"}, False),
        ({"scientificMetadata.temperature.value": {"$gt": 100}}, True),
        ({"scientificMetadata.temperature.value": {"$lt": 100}}, False),
        ({"missing": None}, True),  # null matches a missing field
        ({"description": None}, True),
        ({"missing": {"$exists": False}}, True),
        ({"pid": {"$exists": True}}, True),
        ({"pid": {"$ne": "p/2"}}, True),
        ({"missing": {"$ne": 1}}, True),
        ({"keywords": {"$ne": "neutron"}}, False),
        ({"proposalIds": {"$in": ["x", "def.456"]}}, True),
        ({"proposalIds": {"$nin": ["x", "def.456"]}}, False),
        ({"missing": {"$in": [None]}}, True),
        ({"size": {"$gte": 300, "$lte": 300}}, True),
        ({"size": {"$gt": "1"}}, False),  # a string never compares to a number
        ({"datasetName": {"$regex": "^run", "$options": "i"}}, True),
        ({"datasetName": {"$regex": "^run"}}, False),
        ({"keywords": {"$regex": "^neu"}}, True),
        ({"datasetName": {"$not": {"$regex": "calib"}}}, False),
        ({"techniques": {"$elemMatch": {"pid": "T2", "name": "XAS"}}}, True),
        ({"techniques": {"$elemMatch": {"pid": "T1", "name": "XAS"}}}, False),
        ({"$or": [{"pid": "x"}, {"size": 300}]}, True),
        ({"$and": [{"pid": "p/1"}, {"size": 1}]}, False),
        ({"$nor": [{"pid": "x"}, {"size": 1}]}, True),
    ],
)
def test_matching(query: dict[str, Any], expected: bool) -> None:
    assert matches(DOC, query) is expected


def test_dates_compare_as_dates_never_as_text() -> None:
    after = {"creationTime": {"$gte": date("2024-01-01T00:00:00Z")}}
    before = {"creationTime": {"$lt": date("2024-01-01T00:00:00Z")}}
    assert matches(DOC, after)
    assert not matches(DOC, before)
    # A time zone offset names the same instant.
    assert matches(DOC, {"creationTime": date("2024-03-01T13:00:00+01:00")})
    # As in MongoDB, a plain string is not a date: it never matches one.
    assert not matches(DOC, {"creationTime": {"$gte": "2024-01-01"}})
    assert not matches(DOC, {"creationTime": "2024-03-01T12:00:00.000Z"})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"$in": [1]}, "unknown top level operator: $in"),
        ({"pid": {"$match": 1}}, "unknown operator: $match"),
        ({"pid": {"$eq": 1, "x": 2}}, "unknown operator: x"),
        ({"$or": []}, "$or argument must be a non-empty array"),
        ({"$and": [1]}, "$and argument's entries must be objects"),
        ({"pid": {"$in": "p/1"}}, "$in needs an array"),
        ({"pid": {"$options": "i"}}, "$options needs a $regex"),
        ({"pid": {"$regex": "("}}, "Regular expression is invalid"),
        ({"pid": {"$regex": "a", "$options": "q"}}, "invalid flag in regex options"),
        ({"pid": {"$not": "a"}}, "$not needs a regex or a document"),
        ({"pid": {"$elemMatch": 1}}, "$elemMatch needs an Object"),
    ],
)
def test_errors_have_mongodbs_wording(query: dict[str, Any], message: str) -> None:
    with pytest.raises(
        QueryError, match=message.replace("$", r"\$").replace("(", r"\(")
    ):
        matches(DOC, query)


def test_a_bad_date_marker() -> None:
    with pytest.raises(QueryError, match="invalid date"):
        cast_markers({"creationTime": {"$gte": {"$date": "yesterday"}}})


def test_sorting_follows_mongodbs_order_of_kinds() -> None:
    docs: list[dict[str, Any]] = [
        {"v": "b"},
        {"v": 2},
        {},
        {"v": True},
        {"v": None},
        {"v": 10},
        {"v": "a"},
        {"v": {"x": 1}},
    ]
    order = sort_documents(docs, [("v", False)])
    assert [docs[i].get("v", "<missing>") for i in order] == [
        "<missing>",  # missing and null tie; input order kept
        None,
        2,
        10,
        "a",
        "b",
        {"x": 1},
        True,
    ]


def test_sorting_by_several_keys_and_arrays() -> None:
    docs: list[dict[str, Any]] = [
        {"g": 1, "n": "c", "a": [5, 1]},
        {"g": 2, "n": "a", "a": [3]},
        {"g": 1, "n": "b", "a": [2, 4]},
    ]
    by_group_then_name = sort_documents(docs, [("g", True), ("n", False)])
    assert [docs[i]["n"] for i in by_group_then_name] == ["a", "b", "c"]
    # An array sorts by its smallest element ascending, its largest descending.
    assert [docs[i]["n"] for i in sort_documents(docs, [("a", False)])] == [
        "c",
        "b",
        "a",
    ]
    assert [docs[i]["n"] for i in sort_documents(docs, [("a", True)])] == [
        "c",
        "b",
        "a",
    ]


def test_sorting_dates_by_instant() -> None:
    docs = [
        {"creationTime": "2024-01-01T12:00:00+02:00"},  # 10:00 UTC
        {"creationTime": "2024-01-01T11:00:00Z"},
    ]
    assert sort_documents(docs, [("creationTime", False)]) == [0, 1]


def test_projection_keeps_id_and_dotted_fields() -> None:
    doc = {"_id": "p/1", **DOC}
    assert project(doc, ["datasetName", "techniques.name", "nope"]) == {
        "_id": "p/1",
        "datasetName": "Run 42 calibration",
        "techniques": [{"name": "SANS"}, {"name": "XAS"}],
    }
    assert project(doc, ["scientificMetadata.temperature.unit"]) == {
        "_id": "p/1",
        "scientificMetadata": {"temperature": {"unit": "K"}},
    }
