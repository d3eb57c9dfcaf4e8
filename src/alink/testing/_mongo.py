"""A small MongoDB query engine over JSON documents, for the fake server's searches.

SciCat's v4 list endpoints hand the ``where`` part of a filter to MongoDB
(an aggregate ``$match``) and sort with ``$sort``. This module answers the
same questions over the server's JSON documents, with MongoDB's rules where
a test could notice them:

- dotted paths reach into sub-documents and through arrays
  (``"techniques.name"``); a condition on an array field holds when it holds
  for the array or for one of its elements;
- comparisons only compare values of the same kind (numbers with numbers,
  strings with strings, ...), and ``null`` matches a missing field;
- sorting follows MongoDB's order of kinds (null < numbers < strings <
  objects < arrays < booleans < dates); an array sorts by its smallest
  element ascending and by its largest descending;
- dates: SciCat stores date fields (``creationTime``, ``createdAt``, ...) as
  BSON dates. Here they are ISO-8601 text, read as dates when compared or
  sorted, so a plain string never equals or orders against them — exactly
  as in MongoDB. A query writes a date as ``{"$date": "2024-01-01T00:00:00Z"}``
  (the extended-JSON marker recent scicat-backend-next versions cast).

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``
(+ ``$options``) ``$not $elemMatch $and $or $nor``. Anything else raises
:class:`QueryError` with MongoDB's wording, which the server answers as 400.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DATE_FIELDS",
    "QueryError",
    "cast_markers",
    "matches",
    "project",
    "sort_documents",
]

#: Dataset fields SciCat's schema types as dates (dotted paths).
DATE_FIELDS = frozenset(
    {
        "creationTime",
        "createdAt",
        "updatedAt",
        "startTime",
        "endTime",
        "datasetlifecycle.dateOfDiskPurging",
        "datasetlifecycle.archiveRetentionTime",
        "datasetlifecycle.dateOfPublishing",
        "datasetlifecycle.publishedOn",
    }
)

_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class QueryError(ValueError):
    """A query MongoDB would refuse; the message is MongoDB's."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Date:
    """A BSON date (milliseconds since the epoch, as MongoDB keeps them)."""

    millis: int


def _parse_date(text: str) -> _Date | None:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return _Date(math.floor(stamp.timestamp() * 1000))


def cast_markers(value: Any) -> Any:
    """``{"$date": text}`` anywhere in a query becomes a date value.

    Raises:
        QueryError: a ``$date`` that is not an ISO-8601 date-time text.
    """
    if isinstance(value, list):
        return [cast_markers(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and "$date" in value:
        text = value["$date"]
        date = _parse_date(text) if isinstance(text, str) else None
        if date is None:
            raise QueryError(f"invalid date in $date: {text!r}")
        return date
    return {k: cast_markers(v) for k, v in value.items()}


# --- values at a path ----------------------------------------------------


def _leaves(value: Any, parts: Sequence[str]) -> list[Any]:
    """The values a dotted path reaches, traversing arrays as MongoDB does."""
    if not parts:
        return [value]
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict):
        return _leaves(value[head], rest) if head in value else []
    if isinstance(value, list):
        found: list[Any] = []
        if head.isdigit() and int(head) < len(value):
            found += _leaves(value[int(head)], rest)
        for item in value:
            if isinstance(item, dict):
                found += _leaves(item, parts)
        return found
    return []


def _typed(path: str, value: Any) -> Any:
    """A stored value as MongoDB holds it: date fields become dates."""
    if path in DATE_FIELDS and isinstance(value, str):
        date = _parse_date(value)
        if date is not None:
            return date
    return value


def _values(doc: Mapping[str, Any], path: str) -> list[Any]:
    return [_typed(path, v) for v in _leaves(doc, path.split("."))]


# --- order and equality --------------------------------------------------

_RANK_EMPTY_ARRAY = 0
_RANK_NULL = 1
_RANK_NUMBER = 2
_RANK_STRING = 3
_RANK_OBJECT = 4
_RANK_ARRAY = 5
_RANK_BOOL = 8
_RANK_DATE = 9


def _rank(value: Any) -> int:
    if value is None:
        return _RANK_NULL
    if isinstance(value, bool):
        return _RANK_BOOL
    if isinstance(value, int | float):
        return _RANK_NUMBER
    if isinstance(value, str):
        return _RANK_STRING
    if isinstance(value, dict):
        return _RANK_OBJECT
    if isinstance(value, list):
        return _RANK_ARRAY
    if isinstance(value, _Date):
        return _RANK_DATE
    return _RANK_OBJECT


def _key(value: Any) -> tuple[Any, ...]:
    """A total order over JSON values and dates, MongoDB's order of kinds first."""
    rank = _rank(value)
    if rank in (_RANK_NUMBER, _RANK_BOOL):
        return (rank, float(value))
    if rank == _RANK_STRING:
        return (rank, value)
    if rank == _RANK_DATE:
        return (rank, value.millis)
    if rank == _RANK_ARRAY:
        return (rank, tuple(_key(v) for v in value))
    if rank == _RANK_OBJECT and isinstance(value, dict):
        return (rank, tuple((k, _key(v)) for k, v in value.items()))
    return (rank,)


def _candidates(leaves: list[Any]) -> list[Any]:
    """Each value and, for arrays, each element (what a condition is tried on)."""
    out: list[Any] = []
    for leaf in leaves:
        out.append(leaf)
        if isinstance(leaf, list):
            out.extend(leaf)
    return out


def _equals(leaves: list[Any], wanted: Any) -> bool:
    if wanted is None and not leaves:
        return True  # {field: null} matches a missing field
    target = _key(wanted)
    return any(_key(c) == target for c in _candidates(leaves))


def _compare(leaves: list[Any], op: str, bound: Any) -> bool:
    if bound is None:
        # Only $gte/$lte null match (null and missing fields); nothing is
        # greater or less than null.
        return op in ("$gte", "$lte") and _equals(leaves, None)
    rank = _rank(bound)
    target = _key(bound)
    for candidate in _candidates(leaves):
        if _rank(candidate) != rank:
            continue  # MongoDB compares values of one kind only
        key = _key(candidate)
        if (
            (op == "$gt" and key > target)
            or (op == "$gte" and key >= target)
            or (op == "$lt" and key < target)
            or (op == "$lte" and key <= target)
        ):
            return True
    return False


# --- matching ------------------------------------------------------------


def matches(doc: Mapping[str, Any], query: Any) -> bool:
    """Whether ``doc`` satisfies the MongoDB ``query`` (markers already cast).

    Raises:
        QueryError: the query is not one MongoDB accepts.
    """
    if not isinstance(query, dict):
        raise QueryError("$match filter must be an expression in an object")
    for key, condition in query.items():
        if key.startswith("$"):
            if not _logical(doc, key, condition):
                return False
        elif not _field_matches(doc, key, condition):
            return False
    return True


def _logical(doc: Mapping[str, Any], op: str, branches: Any) -> bool:
    if op not in ("$and", "$or", "$nor"):
        raise QueryError(f"unknown top level operator: {op}")
    if not isinstance(branches, list) or not branches:
        raise QueryError(f"{op} argument must be a non-empty array")
    for branch in branches:
        if not isinstance(branch, dict):
            raise QueryError(f"{op} argument's entries must be objects")
    results = (matches(doc, b) for b in branches)
    if op == "$and":
        return all(results)
    if op == "$or":
        return any(results)
    return not any(results)


def _is_operators(condition: Any) -> bool:
    """Whether a condition is ``{"$op": ...}`` rather than a literal value."""
    if not isinstance(condition, dict) or not condition:
        return False
    keys = list(condition)
    if not keys[0].startswith("$"):
        return False
    for key in keys:
        if not key.startswith("$"):
            raise QueryError(f"unknown operator: {key}")
    return True


def _field_matches(doc: Mapping[str, Any], path: str, condition: Any) -> bool:
    leaves = _values(doc, path)
    if _is_operators(condition):
        return _operators_match(leaves, condition)
    return _equals(leaves, condition)


def _operators_match(leaves: list[Any], operators: Mapping[str, Any]) -> bool:
    if "$options" in operators and "$regex" not in operators:
        raise QueryError("$options needs a $regex")
    for op, arg in operators.items():
        if op == "$options":
            continue
        if not _operator(leaves, op, arg, operators):
            return False
    return True


def _operator(
    leaves: list[Any], op: str, arg: Any, siblings: Mapping[str, Any]
) -> bool:
    if op == "$eq":
        return _equals(leaves, arg)
    if op == "$ne":
        return not _equals(leaves, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _compare(leaves, op, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise QueryError(f"{op} needs an array")
        found = any(_equals(leaves, wanted) for wanted in arg)
        return found if op == "$in" else not found
    if op == "$exists":
        present = bool(leaves)
        return present if _truthy(arg) else not present
    if op == "$regex":
        pattern = _regex(arg, siblings.get("$options", ""))
        return any(
            isinstance(c, str) and pattern.search(c) is not None
            for c in _candidates(leaves)
        )
    if op == "$not":
        if not isinstance(arg, dict) or not arg:
            raise QueryError("$not needs a regex or a document")
        if not _is_operators(arg):
            raise QueryError("$not needs a regex or a document")
        return not _operators_match(leaves, arg)
    if op == "$elemMatch":
        if not isinstance(arg, dict):
            raise QueryError("$elemMatch needs an Object")
        return any(
            _element_matches(element, arg)
            for leaf in leaves
            if isinstance(leaf, list)
            for element in leaf
        )
    raise QueryError(f"unknown operator: {op}")


def _element_matches(element: Any, condition: dict[str, Any]) -> bool:
    if _is_operators(condition):
        return _operators_match([element], condition)
    return isinstance(element, dict) and matches(element, condition)


def _truthy(value: Any) -> bool:
    return value not in (False, 0, None)


def _regex(pattern: Any, options: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise QueryError("$regex has to be a string")
    if not isinstance(options, str):
        raise QueryError("$options has to be a string")
    flags = 0
    for letter in options:
        flag = _REGEX_FLAGS.get(letter)
        if flag is None:
            raise QueryError(f"invalid flag in regex options: {letter}")
        flags |= flag
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise QueryError(f"Regular expression is invalid: {exc}") from None


# --- projection and sorting ----------------------------------------------


def project(doc: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """An inclusion projection: ``_id`` and the listed (dotted) fields."""
    out: dict[str, Any] = {}
    if "_id" in doc:
        out["_id"] = doc["_id"]
    for path in fields:
        _copy_path(doc, out, path.split("."))
    return out


def _copy_path(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(source, dict) or head not in source:
        return
    value = source[head]
    if not rest:
        target[head] = value
    elif isinstance(value, dict):
        inner = target.get(head)
        if not isinstance(inner, dict):
            inner = target[head] = {}
        _copy_path(value, inner, rest)
    elif isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                kept: dict[str, Any] = {}
                _copy_path(item, kept, rest)
                items.append(kept)
        target[head] = items


def _sort_key(doc: Mapping[str, Any], path: str, descending: bool) -> tuple[Any, ...]:
    leaves = _values(doc, path)
    if not leaves:
        return _key(None)
    keys: list[tuple[Any, ...]] = []
    for leaf in leaves:
        if isinstance(leaf, list):
            if not leaf:
                keys.append((_RANK_EMPTY_ARRAY,))
            keys.extend(_key(v) for v in leaf)
        else:
            keys.append(_key(leaf))
    return max(keys) if descending else min(keys)


def sort_documents(
    docs: Sequence[Mapping[str, Any]], sort: Sequence[tuple[str, bool]]
) -> list[int]:
    """Indices of ``docs`` in ``$sort`` order; ``sort`` is ``(path, descending)``.

    Ties keep their input order (MongoDB's is unspecified; this one is stable).
    """
    order = list(range(len(docs)))
    for path, descending in reversed(sort):
        order.sort(
            key=lambda i: _sort_key(docs[i], path, descending), reverse=descending
        )
    return order
