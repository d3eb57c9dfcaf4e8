"""SciCat's v4 dataset filter (``GET /api/v4/datasets?filter=...``), parsed and checked.

The filter is JSON with four parts, as scicat-backend-next reads it::

    {"where": {...MongoDB query...},
     "include": ["origdatablocks", ...],        # or [{"relation": ...}]
     "fields": ["datasetName", "pid"],          # an inclusion projection
     "limits": {"limit": 10, "skip": 0, "sort": {"datasetName": "asc"}}}

Checks, in the backend's order and with its messages:

1. the text must be JSON (``Invalid JSON in filter: ...``);
2. every key of the flattened filter (nested objects joined with dots,
   arrays are leaves) must be a filter keyword, a MongoDB operator allowed
   in ``where``, or a dataset field name; anything below
   ``scientificMetadata`` (and the other free-form objects) is allowed
   (``Property X should not exist in the filter object``);
3. every ``include`` must name a dataset relation;
4. MongoDB's own errors (a bad operator in its place, a bad regex, a
   negative skip) come back as 400 with MongoDB's message.

Defaults: ``limit`` 10, ``skip`` 0, sorted by ``createdAt`` newest first —
a client that wants everything must page.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from ._mongo import (
    DATE_FIELDS,
    QueryError,
    cast_markers,
    matches,
    project,
    sort_documents,
)
from ._store import LOOKUP_KEYS, DatasetStore, encode_json
from ._users import User

__all__ = [
    "parse_query",
    "DATASET_KEYS",
    "DatasetFilter",
    "FilterError",
    "fullquery",
    "parse_filter",
    "search",
]

#: Field names of a v4 dataset (``OutputDatasetDto``), allowed in filters.
DATASET_KEYS = frozenset(
    {
        "pid",
        "owner",
        "ownerEmail",
        "orcidOfOwner",
        "contactEmail",
        "sourceFolder",
        "sourceFolderHost",
        "size",
        "packedSize",
        "numberOfFiles",
        "numberOfFilesArchived",
        "creationTime",
        "type",
        "validationStatus",
        "keywords",
        "description",
        "datasetName",
        "classification",
        "license",
        "isPublished",
        "techniques",
        "sharedWith",
        "relationships",
        "datasetlifecycle",
        "scientificMetadata",
        "comment",
        "dataQualityMetrics",
        "principalInvestigators",
        "startTime",
        "endTime",
        "creationLocation",
        "dataFormat",
        "proposalIds",
        "sampleIds",
        "instrumentIds",
        "inputDatasets",
        "usedSoftware",
        "jobParameters",
        "jobLogData",
        "runNumber",
        "ownerGroup",
        "accessGroups",
        "instrumentGroup",
        "createdBy",
        "updatedBy",
        "createdAt",
        "updatedAt",
        "version",
        "origdatablocks",
        "datablocks",
        "attachments",
        "instruments",
        "proposals",
        "samples",
    }
)

_WHERE_KEYS = frozenset(
    {
        "where",
        "$in",
        "$or",
        "$and",
        "$nor",
        "$match",
        "$eq",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$ne",
        "$nin",
        "$not",
        "$exists",
        "$regex",
        "$options",
        "$elemMatch",
        "$date",
    }
)
_ALLOWED_KEYS = DATASET_KEYS | _WHERE_KEYS | {"include", "fields"}
_ALLOWED_KEYS |= {"limits", "limit", "skip", "sort"}
#: Free-form objects: any key below them is accepted.
_ARBITRARY = frozenset(
    {"scientificMetadata", "jobParameters", "jobParams", "jobResultObject"}
)

DEFAULT_LIMIT = 10


def parse_query(query: str) -> dict[str, list[str]]:
    """The parameters of a query string (or form body), as Express reads them.

    Express (its ``qs`` parser) turns ``+`` into a space and undoes the
    ``%XX`` escapes of each key and value with ``decodeURIComponent``; a
    part whose escapes are malformed or not UTF-8 is kept as it was given
    (with its ``+`` made spaces), where Python's ``parse_qs`` would put
    U+FFFD in its place. Empty values are kept; a part without ``=`` is a
    key with an empty value.
    """
    params: dict[str, list[str]] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params.setdefault(_component(key), []).append(_component(value))
    return params


#: A ``%`` that does not start a ``%XX`` escape (``decodeURIComponent`` throws).
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _component(text: str) -> str:
    text = text.replace("+", " ")
    if "%" not in text or BAD_ESCAPE.search(text) is not None:
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text  # not UTF-8 (or a lone surrogate): kept as given


class FilterError(ValueError):
    """A filter the backend answers with 400; the message is the backend's."""


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetFilter:
    """A checked filter, ready to run against the store."""

    where: dict[str, Any]
    includes: tuple[str, ...]
    fields: tuple[str, ...] | None
    sort: tuple[tuple[str, bool], ...]  # (path, descending)
    skip: int
    limit: int


def _flat_keys(value: Any, prefix: str = "") -> Iterator[str]:
    """Keys of nested objects joined with dots; arrays and scalars are leaves."""
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict):
            yield from _flat_keys(item, path)  # an empty object adds no key
        else:
            yield path


def _check_keys(parsed: Any) -> None:
    if isinstance(parsed, list):
        parsed = {str(i): v for i, v in enumerate(parsed)}
    if not isinstance(parsed, dict):
        return
    for key in _flat_keys(parsed):
        free = False
        for part in key.split("."):
            if not free and part not in _ALLOWED_KEYS:
                raise FilterError(
                    f"Property {key} should not exist in the filter object"
                )
            free = free or part in _ARBITRARY


def _includes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        value = [value]
    names: list[str] = []
    for item in value:
        name = item.get("relation") if isinstance(item, dict) else item
        if name == "all":
            names.extend(LOOKUP_KEYS)
        elif isinstance(name, str) and name in LOOKUP_KEYS:
            names.append(name)
        else:
            shown = json.dumps(item, separators=(",", ":"))
            raise FilterError(
                f"Provided include field {shown} is not part of the dataset relations"
            )
    return tuple(dict.fromkeys(names))


def _number(value: Any, stage: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilterError(
            f"invalid argument to {stage} stage: Expected a number in: {stage}:"
            f" {json.dumps(value)}"
        )
    if value < 0 or value != int(value):
        raise FilterError(
            f"invalid argument to {stage} stage: Expected a non-negative integer"
            f" in: {stage}: {json.dumps(value)}"
        )
    return int(value)


def _limits(value: Any) -> tuple[tuple[tuple[str, bool], ...], int, int]:
    limits: dict[str, Any] = {
        "limit": DEFAULT_LIMIT,
        "skip": 0,
        "sort": {"createdAt": "desc"},
    }
    if isinstance(value, dict):
        limits.update(value)
    sort_spec = limits.get("sort")
    if sort_spec is None:
        sort_spec = {}
    if not isinstance(sort_spec, dict):
        raise FilterError("$sort key ordering must be 1 (for ascending) or -1")
    # The backend maps "asc" to 1 and anything else to -1 (descending).
    sort = tuple((str(path), way != "asc") for path, way in sort_spec.items())
    # 0 and a missing limit both mean the default (the backend writes `|| 10`).
    limit = limits.get("limit") or DEFAULT_LIMIT
    skip = limits.get("skip") or 0
    return sort, _number(skip, "$skip"), _number(limit, "$limit")


def parse_filter(query: str) -> DatasetFilter:
    """The ``filter`` parameter of a query string, checked like the backend does.

    Raises:
        FilterError: the backend would answer 400 (message as it words it).
    """
    values = parse_query(query).get("filter")
    text = values[-1] if values else "{}"
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise FilterError(f"Invalid JSON in filter: {exc}") from None
    _check_keys(parsed)
    if not isinstance(parsed, dict):
        parsed = {}
    includes = _includes(parsed.get("include"))
    fields = parsed.get("fields")
    if fields is not None and not (
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    ):
        raise FilterError("fields must be an array of field names")
    sort, skip, limit = _limits(parsed.get("limits"))
    where = parsed.get("where")
    if where is None:
        where = {}
    try:
        where = cast_markers(where)
    except QueryError as exc:
        raise FilterError(str(exc)) from None
    if not isinstance(where, dict):
        raise FilterError("$match filter must be an expression in an object")
    return DatasetFilter(
        where=where,
        includes=includes,
        fields=tuple(fields) if fields else None,
        sort=sort,
        skip=skip,
        limit=limit,
    )


def search(
    store: DatasetStore,
    flt: DatasetFilter,
    user: User | None,
    *,
    public: bool,
) -> bytes:
    """The JSON array a v4 list endpoint answers for ``flt``.

    The backend's pipeline order: match (with the access rule added), look
    up relations, project, sort, skip, limit.

    Raises:
        FilterError: MongoDB refused the query.
    """
    where = flt.where
    if public:
        # The public controller sets isPublished: true over whatever was asked.
        where = {**where, "isPublished": True}
    try:
        found = [
            (pid, fields)
            for pid, fields in store.visible(user, published_only=public)
            if matches(fields, where)
        ]
    except QueryError as exc:
        raise FilterError(str(exc)) from None
    if flt.fields is not None:
        keep = (*flt.fields, *flt.includes)
        views: list[dict[str, Any]] = [project(fields, keep) for _, fields in found]
    else:
        views = [fields for _, fields in found]
    order = sort_documents(views, flt.sort)
    page = order[flt.skip : flt.skip + flt.limit]
    bodies: list[bytes] = []
    for index in page:
        pid = found[index][0]
        body = store.dataset_body(pid, flt.includes, public_blocks_only=public)
        if body is None:
            continue  # removed meanwhile
        if flt.fields is not None:
            full = json.loads(body)
            body = encode_json(project(full, (*flt.fields, *flt.includes)))
        bodies.append(body)
    return b"[" + b",".join(bodies) + b"]"


def _fullquery_condition(key: str, value: Any) -> Any:
    """SciCat's v3 fullquery rule for one field (``searchExpression``)."""
    if key in DATE_FIELDS and isinstance(value, dict) and "begin" in value:
        return {
            "$gte": cast_markers({"$date": value.get("begin")}),
            "$lte": cast_markers({"$date": value.get("end")}),
        }
    if isinstance(value, bool):
        return {"$eq": value}
    if isinstance(value, list):
        return value[0] if len(value) == 1 else {"$in": value}
    return value


def fullquery(store: DatasetStore, query: str, user: User | None) -> bytes:
    """``GET /api/v3/datasets/fullquery?fields=...&limits=...`` (Scitacean's search).

    ``fields`` maps field names to values: a list matches any of its values
    (one value: that value), a ``{begin, end}`` on a date field is a range,
    ``mode`` is a MongoDB query merged in as is. Anonymous callers see
    published datasets only. ``limits``: ``limit`` (default 100), ``skip``,
    ``order`` (``"field:asc"``). Free-text ``text`` and ``scientific``
    conditions need SciCat's search indexes and are refused (400).

    Raises:
        FilterError: malformed JSON, an unsupported condition, or a query
            MongoDB refuses.
    """
    params = parse_query(query)
    try:
        fields = json.loads(params.get("fields", ["{}"])[-1] or "{}")
        limits = json.loads(params.get("limits", ["{}"])[-1] or "{}")
    except ValueError as exc:
        raise FilterError(f"Invalid JSON: {exc}") from None
    if not isinstance(fields, dict) or not isinstance(limits, dict):
        raise FilterError("fields and limits must be JSON objects")
    where: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("text", "scientific", "userGroups"):
            raise FilterError(f"the fake SciCat does not support {key!r} in fullquery")
        if key == "mode":
            if not isinstance(value, dict):
                raise FilterError("mode must be a JSON object")
            where.update(cast_markers(value))
        else:
            where[key] = _fullquery_condition(key, value)
    order = limits.get("order")
    sort: tuple[tuple[str, bool], ...] = ()
    if isinstance(order, str) and ":" in order:
        name, _, way = order.partition(":")
        if way in ("asc", "desc"):
            sort = ((name, way == "desc"),)
    flt = DatasetFilter(
        where=where,
        includes=(),
        fields=None,
        sort=sort,
        skip=_number(limits.get("skip") or 0, "$skip"),
        limit=_number(limits.get("limit") or 100, "$limit"),
    )
    public = user is None
    try:
        found = [
            (pid, doc)
            for pid, doc in store.visible(user, published_only=public)
            if matches(doc, {**where, "isPublished": True} if public else where)
        ]
    except QueryError as exc:
        raise FilterError(str(exc)) from None
    order_ = sort_documents([doc for _, doc in found], flt.sort)
    page = order_[flt.skip : flt.skip + flt.limit]
    bodies = [store.plain_dataset_body(found[i][0]) for i in page]
    return b"[" + b",".join(b for b in bodies if b is not None) + b"]"
