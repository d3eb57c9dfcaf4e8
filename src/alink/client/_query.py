"""Dataset searches: Scitacean's ``query_datasets`` call shape over SciCat's v4 filter.

A search is ``GET {base}/v4/datasets?filter=<JSON>`` (logged in) or
``GET {base}/v4/datasets/public?filter=<JSON>`` (anonymous: published
datasets only). The filter's ``where`` is a MongoDB query, built here from

- ``fields`` — Scitacean's argument: every key must match. A list means "any
  of these values" (SciCat's fullquery rule, which Scitacean relies on: for
  a list field such as ``proposalIds``, a value matches when the list holds
  it); a ``{"begin": ..., "end": ...}`` on a date field (``creationTime``,
  ...) is the range between them, ends included, as fullquery reads it;
- ``where`` — a MongoDB query of your own (``$regex``, ``$gte``, ``$or``...),
  passed through; both together must hold.

SciCat answers at most ``limit`` datasets per request (10 when not told),
so results always come in pages. By default they are sorted by ``pid`` and
each page asks for the pids after the last one seen ("keyset" paging): a
dataset added or removed meanwhile never shifts the pages. With another
``order``, pages are taken with ``skip``, which a changing catalogue can
shift (a dataset may then be missed or seen twice).

Everything that can be checked locally (types, JSON, the order's spelling)
is checked before anything is sent; what only SciCat can judge (an unknown
field or operator) comes back as a 400, raised as
:class:`~alink.ScicatCommError` with the server's message.

This module is the pure part (turning arguments into filters) plus the
paging iterator; the HTTP request itself is the client's session.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from .._errors import ScicatCommError
from .._model import PID, Dataset
from .._paths import RemotePath
from .._steps import finish
from ..transfer._engine import Engine
from ._http import HttpSession, Reply
from ._parse import OFFLOAD_BYTES
from ._token import Token
from ._upload_body import is_iso_time

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PAGE_SIZE_WITH_FILES",
    "DatasetPages",
    "Query",
    "build_query",
]

#: Datasets per request (metadata only: a few kB each).
DEFAULT_PAGE_SIZE = 100
#: Datasets per request when their file lists come along (can be MBs each).
DEFAULT_PAGE_SIZE_WITH_FILES = 10

#: Dataset fields of date type, where fullquery reads ``{begin, end}`` as a
#: range (SciCat's dataset schema).
_DATE_FIELDS = frozenset(
    ("creationTime", "startTime", "endTime", "createdAt", "updatedAt")
)
_RANGE_KEYS = frozenset(("begin", "end"))

#: The field that makes the order total (pids are unique).
_TIEBREAK = "pid"

_Order = str | Sequence[str] | None


# --- arguments -> filter (pure) -------------------------------------------


def _json_value(value: Any, where: str) -> Any:
    """A query value as JSON; dates become SciCat's ``{"$date": ...}`` marker."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:  # NaN
            raise ValueError(f"{where}: NaN cannot be matched")
        return value
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(
                f"{where}: the datetime {value.isoformat()} has no time zone;"
                " give one (e.g. datetime(..., tzinfo=UTC)) so SciCat compares"
                " the right instant"
            )
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return {"$date": text.removesuffix("+00:00") + "Z"}
    if isinstance(value, date):
        raise TypeError(
            f"{where}: a date without a time is ambiguous; use a datetime with a"
            " time zone"
        )
    if isinstance(value, PID):
        return str(value)
    if isinstance(value, RemotePath):
        return value.posix
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {key!r}")
            out[key] = _json_value(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{where}: cannot send a {type(value).__name__} to SciCat (use str, int,"
        " float, bool, None, datetime, PID, RemotePath, lists and mappings)"
    )


def _date_bound(value: Any, where: str) -> Any:
    """One end of a ``{begin, end}`` range: a datetime (with a time zone) or
    an ISO 8601 text, sent as SciCat's ``{"$date": ...}`` marker."""
    if isinstance(value, str):
        if not is_iso_time(value):
            raise ValueError(f"{where}: {value!r} is not an ISO 8601 time")
        return {"$date": value}
    if isinstance(value, datetime):
        return _json_value(value, where)
    raise TypeError(
        f"{where}: a range bound must be a datetime or an ISO 8601 text, got"
        f" {type(value).__name__}"
    )


def _date_range(key: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Scitacean's (fullquery's) ``{begin, end}`` as ``$gte``/``$lte``."""
    condition: dict[str, Any] = {}
    if "begin" in value:
        condition["$gte"] = _date_bound(value["begin"], f"fields[{key!r}].begin")
    if "end" in value:
        condition["$lte"] = _date_bound(value["end"], f"fields[{key!r}].end")
    return condition


def _where_from_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, Mapping):
        raise TypeError(
            f"fields must be a mapping of SciCat field names to values, got"
            f" {type(fields).__name__}"
        )
    where: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"field names must be non-empty strings, got {key!r}")
        if key.startswith("$"):
            raise ValueError(
                f"fields[{key!r}]: operators belong in where=, e.g."
                f" where={{{key!r}: [...]}}"
            )
        if key == "mode" and isinstance(value, Mapping):
            raise ValueError(
                "fields['mode']: Scitacean's fullquery mode is a MongoDB query;"
                " pass it as where= instead, e.g. where=fields.pop('mode')"
            )
        if (
            key in _DATE_FIELDS
            and isinstance(value, Mapping)
            and value
            and set(value) <= _RANGE_KEYS
        ):
            where[key] = _date_range(key, value)
            continue
        if isinstance(value, Mapping):
            raise ValueError(
                f"fields[{key!r}]: a mapping is not a value to match; write"
                f" conditions in where=, e.g. where={{{key!r}: {{'$gte': ...}}}}"
            )
        if isinstance(value, set | frozenset):
            value = sorted(value, key=repr)
        if isinstance(value, list | tuple):
            items = [_json_value(v, f"fields[{key!r}]") for v in value]
            # SciCat's fullquery: one value matches as is, several as $in.
            where[key] = items[0] if len(items) == 1 else {"$in": items}
        else:
            where[key] = _json_value(value, f"fields[{key!r}]")
    return where


def _sort_from_order(order: _Order) -> dict[str, str]:
    """``"creationTime:desc"``, ``"a:asc,b:desc"`` or a list of such -> a sort."""
    if order is None:
        items: list[str] = []
    elif isinstance(order, str):
        items = [part for part in order.split(",") if part.strip()]
    elif isinstance(order, Sequence) and all(isinstance(o, str) for o in order):
        items = list(order)
    else:
        raise TypeError(
            "order must be a string like 'creationTime:desc' or a list of them"
        )
    sort: dict[str, str] = {}
    for item in items:
        name, sep, way = item.strip().partition(":")
        name, way = name.strip(), (way.strip().lower() if sep else "asc")
        if not name:
            raise ValueError(f"order {item!r}: the field name is missing")
        if way not in ("asc", "desc"):
            raise ValueError(
                f"order {item!r}: the direction must be 'asc' or 'desc', got {way!r}"
            )
        if name in sort:
            raise ValueError(f"order names {name!r} twice")
        sort[name] = way
    sort.setdefault(_TIEBREAK, "asc")  # a total order: pages never overlap
    return sort


def _count(value: int | None, name: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """A checked search: what to match, in which order, how many, page size."""

    where: Mapping[str, Any]
    sort: Mapping[str, str]
    files: bool
    limit: int | None
    page_size: int

    @property
    def keyset(self) -> bool:
        """Whether pages continue after the last pid (sorted by pid alone)."""
        return list(self.sort.items()) == [(_TIEBREAK, "asc")]

    def filter_json(self, *, after: str | None, skip: int, count: int) -> str:
        """The ``filter`` parameter of the request for the next ``count`` datasets."""
        where: Mapping[str, Any] = self.where
        if after is not None:
            tail = {_TIEBREAK: {"$gt": after}}
            where = {"$and": [dict(where), tail]} if where else tail
        limits: dict[str, Any] = {"limit": count, "skip": skip, "sort": dict(self.sort)}
        out: dict[str, Any] = {"where": dict(where), "limits": limits}
        if self.files:
            out["include"] = ["origdatablocks"]
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def build_query(
    fields: Mapping[str, Any] | None,
    *,
    where: Mapping[str, Any] | None,
    order: _Order,
    limit: int | None,
    files: bool,
    page_size: int | None,
) -> Query:
    """Check the arguments of a search and turn them into a :class:`Query`.

    Raises:
        TypeError: an argument has the wrong type, or a value cannot be sent.
        ValueError: a value that cannot mean anything (operators in
            ``fields``, a bad order direction, a naive datetime, ...).
    """
    parts: list[dict[str, Any]] = []
    if fields:
        parts.append(_where_from_fields(fields))
    elif fields is not None and not isinstance(fields, Mapping):
        raise TypeError(f"fields must be a mapping, got {type(fields).__name__}")
    if where is not None:
        if not isinstance(where, Mapping):
            raise TypeError(
                f"where must be a mapping (a MongoDB query), got {type(where).__name__}"
            )
        converted = _json_value(where, "where")
        if converted:
            parts.append(converted)
    combined = parts[0] if len(parts) == 1 else ({"$and": parts} if parts else {})
    if not isinstance(files, bool):
        raise TypeError("files must be True or False")
    size = _count(page_size, "page_size", minimum=1)
    if size is None:
        size = DEFAULT_PAGE_SIZE_WITH_FILES if files else DEFAULT_PAGE_SIZE
    return Query(
        where=combined,
        sort=_sort_from_order(order),
        files=files,
        limit=_count(limit, "limit", minimum=0),
        page_size=size,
    )


# --- a page of answers -----------------------------------------------------


def _page_steps(
    body: bytes | bytearray, *, max_files: int
) -> Generator[None, None, list[Dataset]]:
    """Decode a JSON array of datasets and build them, pausing between datasets."""
    if body.count(b"{") > 2 * max_files + 100_000:
        raise ScicatCommError(
            f"SciCat's answer to the dataset query holds more than {max_files}"
            " files (raise max_files, or lower page_size)"
        )
    try:
        data = msgspec.json.decode(body) if body.strip() else []
    except msgspec.DecodeError as exc:
        raise ScicatCommError(
            f"SciCat sent malformed JSON for the dataset query: {exc}"
        ) from None
    if not isinstance(data, list):
        raise ScicatCommError(
            "SciCat answered the dataset query with something other than a JSON"
            f" array ({type(data).__name__})"
        )
    datasets: list[Dataset] = []
    total = 0
    for index, item in enumerate(data):
        yield
        if not isinstance(item, dict):
            raise ScicatCommError(
                f"SciCat's answer to the dataset query: item {index} is not a"
                " dataset object"
            )
        blocks = item.get("origdatablocks")
        if isinstance(blocks, list):
            total += sum(
                len(b.get("dataFileList") or ())
                for b in blocks
                if isinstance(b, dict) and isinstance(b.get("dataFileList"), list)
            )
            if total > max_files:
                raise ScicatCommError(
                    f"the datasets of one page list more than {max_files} files"
                    " (raise max_files, or lower page_size)"
                )
        try:
            datasets.append((yield from Dataset._from_scicat_steps(item, owned=True)))
        except (ValueError, TypeError) as exc:
            name = item.get("pid", f"item {index}")
            raise ScicatCommError(
                f"SciCat sent dataset {name!r} in an unexpected shape: {exc}"
            ) from None
    return datasets


async def _parse_page(body: bytes | bytearray, *, max_files: int) -> list[Dataset]:
    if len(body) <= OFFLOAD_BYTES:
        return finish(_page_steps(body, max_files=max_files))
    built: list[list[Dataset]] = []

    def steps() -> Iterator[None]:
        built.append((yield from _page_steps(body, max_files=max_files)))

    await Engine().run_steps([steps()])
    return built[0]


def _error(reply: Reply, token: Token | None, path: str) -> ScicatCommError:
    status = reply.status_code
    message = reply.server_message(token)
    detail = f": {message}" if message else ""
    if status == 400:
        text = f"SciCat refused the dataset query (400{detail})"
    elif status in (401, 403):
        hint = (
            "the token may be invalid or expired"
            if token is not None
            else "this SciCat requires a login to search"
        )
        text = f"SciCat refused the dataset query ({status}{detail}); {hint}"
    elif status == 404:
        text = (
            f"SciCat has no dataset search at /{path} (404{detail}); it needs"
            " SciCat's v4 API (scicat-backend-next 4 or later)"
        )
    else:
        text = f"SciCat answered HTTP {status} to the dataset query{detail}"
    return ScicatCommError(text, status_code=status)


class DatasetPages:
    """The results of a search, one page (a list of datasets) at a time.

    ``async for page in client.query_datasets_pages(...)``. Each step sends
    one request; nothing is fetched ahead. Iterate once; an error (bad
    filter, lost connection) is raised from the step that met it.
    """

    __slots__ = (
        "_after",
        "_done",
        "_max_files",
        "_query",
        "_seen",
        "_session",
        "_token",
    )

    def __init__(
        self,
        *,
        session: HttpSession,
        token: Token | None,
        query: Query,
        max_files: int,
    ) -> None:
        self._session = session
        self._token = token
        self._query = query
        self._max_files = max_files
        self._seen = 0
        self._after: str | None = None
        self._done = query.limit == 0

    @property
    def query(self) -> Query:
        """The checked search this iterator runs."""
        return self._query

    @property
    def received(self) -> int:
        """How many datasets the pages so far held."""
        return self._seen

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"DatasetPages(received={self._seen}, {state})"

    def __aiter__(self) -> DatasetPages:
        return self

    async def __anext__(self) -> list[Dataset]:
        if self._done:
            raise StopAsyncIteration
        query = self._query
        count = query.page_size
        if query.limit is not None:
            count = min(count, query.limit - self._seen)
        keyset = query.keyset
        text = query.filter_json(
            after=self._after if keyset else None,
            skip=0 if keyset else self._seen,
            count=count,
        )
        if self._token is not None:
            self._token.check_not_expired()
            path = "v4/datasets"
        else:
            path = "v4/datasets/public"
        reply = await self._session.request(
            "GET",
            path,
            what="the dataset query",
            token=self._token,
            params={"filter": text},
        )
        if not 200 <= reply.status_code < 300:
            self._done = True
            raise _error(reply, self._token, path)
        page = await _parse_page(reply.body, max_files=self._max_files)
        if len(page) > count:  # a server that ignores limits: keep our promise
            page = page[:count]
        self._seen += len(page)
        last = page[-1].fields.get("pid") if page else None
        if isinstance(last, str):
            self._after = last
        elif keyset and page:
            self._done = True  # cannot continue after a dataset without a pid
        if len(page) < count or (query.limit is not None and self._seen >= query.limit):
            self._done = True
        if not page:
            raise StopAsyncIteration
        return page

    async def all(self) -> list[Dataset]:
        """Every remaining dataset, in one list."""
        out: list[Dataset] = []
        async for page in self:
            out.extend(page)
        return out
