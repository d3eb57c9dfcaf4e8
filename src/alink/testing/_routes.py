"""The SciCat endpoints the fake server speaks, as plain functions (no sockets).

Behaviour follows scicat-backend-next (see ``scicat-examples/README.md``):

* ``POST /api/v3/auth/login`` -> 201 login answer; bad credentials -> 401.
* ``GET /api/v4/datasets/{pid}[?include=...]`` needs a valid token (else 403
  "Forbidden resource"); unknown pid -> 404; no read access -> 403
  "Unauthorized access".
* ``GET /api/v4/datasets/public/{pid}[?include=...]`` -> the dataset if it is
  published, else 200 with an empty body; only published datablocks.
* ``GET /api/v4/datasets?filter=...`` (needs a valid token, else 403) and
  ``GET /api/v4/datasets/public?filter=...`` -> a JSON array of the datasets
  the filter selects (see :mod:`._query`); a bad filter -> 400.
* ``GET /api/v3/datasets/fullquery?fields=...&limits=...`` -> Scitacean's
  search (see :func:`._query.fullquery`).
* ``GET /api/v3/datasets/{pid}`` -> the dataset (200 + empty body if unknown);
  ``GET /api/v3/datasets/{pid}/origdatablocks`` -> its datablocks.
* anything else -> 404 "Cannot METHOD /path".

Routes are matched on the raw path, then a pid is decoded as Express decodes
every route parameter, with ``decodeURIComponent``: a pid's ``/`` arrives as
``%2F`` inside one segment, ``+`` stays ``+`` (only a query string has ``+``
for a space), and a malformed escape -> 400 "Failed to decode param".

An invalid or expired token is ignored: the request is anonymous.
"""

from __future__ import annotations

import dataclasses
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from ._query import (
    BAD_ESCAPE,
    FilterError,
    fullquery,
    parse_filter,
    parse_query,
    search,
)
from ._store import LOOKUP_KEYS, DatasetStore, encode_json
from ._users import User, UserRegistry

__all__ = ["JSON", "Request", "Response", "nest_error", "route"]

JSON = "application/json; charset=utf-8"


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the router needs it."""

    method: str
    path: str  # raw (percent-encoded) path, without the query
    query: str
    content_type: str
    body: bytes
    user: User | None
    now: float


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """An answer: status, exact body bytes and their content type."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON


def nest_error(status: int, message: str | None = None) -> Response:
    """A NestJS ``HttpException`` body: ``{message, error, statusCode}``.

    Without a message NestJS uses the reason phrase and omits ``error``.
    """
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any]
    if message is None:
        body = {"message": phrase, "statusCode": status}
    else:
        body = {"message": message, "error": phrase, "statusCode": status}
    return Response(status, encode_json(body))


def _json(value: Any, status: int = 200) -> Response:
    return Response(status, encode_json(value))


_EMPTY_OK = Response(200, b"", None)
_INTERNAL = Response(
    500, encode_json({"statusCode": 500, "message": "Internal server error"})
)
_FORBIDDEN = nest_error(403, "Forbidden resource")
_UNAUTHORIZED_ACCESS = nest_error(403, "Unauthorized access")


def internal_error() -> Response:
    """What NestJS answers for an unexpected exception."""
    return _INTERNAL


def _includes(query: str) -> tuple[str, ...] | Response:
    """The ``include`` query values, validated like SciCat's include pipe."""
    values = parse_query(query).get("include", [])
    names: list[str] = []
    for value in values:
        if value.startswith("{"):  # the pipe also accepts {"include": [...]}
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            listed = parsed.get("include") if isinstance(parsed, dict) else [value]
            if isinstance(listed, list):
                names.extend(str(v) for v in listed)
        else:
            names.append(value)
    result: list[str] = []
    for name in names:
        if name == "all":
            candidates: tuple[str, ...] = LOOKUP_KEYS
        elif name in LOOKUP_KEYS:
            candidates = (name,)
        else:
            return nest_error(
                400,
                f"Provided include field {json.dumps(name)} is not part of the"
                " dataset relations",
            )
        result.extend(c for c in candidates if c not in result)
    return tuple(result)


def _login(request: Request, users: UserRegistry, token_lifetime: float) -> Response:
    fields: Any = {}
    if request.body:
        if request.content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_query(request.body.decode("utf-8", "replace"))
            fields = {k: v[-1] for k, v in form.items()}
        elif "json" in request.content_type or not request.content_type:
            try:
                fields = json.loads(request.body)
            except UnicodeDecodeError:
                return nest_error(400, "Unexpected token in JSON at position 0")
            except json.JSONDecodeError as exc:
                return nest_error(
                    400, f"Unexpected token in JSON at position {exc.pos}"
                )
    if not isinstance(fields, dict):
        return nest_error(401)
    user = users.check_password(fields.get("username"), fields.get("password"))
    if user is None:
        return nest_error(401)
    answer = users.login_response(user, lifetime=token_lifetime, now=request.now)
    return _json(answer, 201)


def _v4_dataset(request: Request, store: DatasetStore, pid: str) -> Response:
    if request.user is None:
        return _FORBIDDEN  # the policies guard runs before anything else
    includes = _includes(request.query)
    if isinstance(includes, Response):
        return includes
    readable = store.readable(pid, request.user)
    if readable is None:
        # SciCat formats the looked-up document, which is null here.
        return nest_error(404, "dataset: null not found")
    if not readable:
        return _UNAUTHORIZED_ACCESS
    body = store.dataset_body(pid, includes, public_blocks_only=False)
    return _EMPTY_OK if body is None else Response(200, body)


def _v4_public_dataset(request: Request, store: DatasetStore, pid: str) -> Response:
    includes = _includes(request.query)
    if isinstance(includes, Response):
        return includes
    if not store.is_published(pid):
        return _EMPTY_OK
    body = store.dataset_body(pid, includes, public_blocks_only=True)
    return _EMPTY_OK if body is None else Response(200, body)


def _v4_search(request: Request, store: DatasetStore, *, public: bool) -> Response:
    if not public and request.user is None:
        return _FORBIDDEN  # the policies guard runs before the filter pipes
    try:
        flt = parse_filter(request.query)
        body = search(store, flt, request.user, public=public)
    except FilterError as exc:
        return nest_error(400, str(exc))
    return Response(200, body)


def _v3_fullquery(request: Request, store: DatasetStore) -> Response:
    try:
        body = fullquery(store, request.query, request.user)
    except FilterError as exc:
        return nest_error(400, str(exc))
    return Response(200, body)


def _v3_dataset(request: Request, store: DatasetStore, pid: str) -> Response:
    readable = store.readable(pid, request.user)
    if readable is None:
        return _EMPTY_OK  # v3 returns null for an unknown pid
    if not readable:
        return _UNAUTHORIZED_ACCESS
    body = store.plain_dataset_body(pid)
    return _EMPTY_OK if body is None else Response(200, body)


def _v3_blocks(request: Request, store: DatasetStore, pid: str) -> Response:
    if store.readable(pid, request.user) is False:
        return _UNAUTHORIZED_ACCESS
    return Response(200, store.blocks_body(pid))


def _segments(path: str) -> list[str]:
    parts = path.split("/")[1:]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # Express ignores one trailing slash
    return parts


#: A ``%`` that does not start a ``%XX`` escape (``decodeURIComponent`` throws).
def _decode(segment: str) -> str | Response | None:
    """A route parameter, decoded as Express decodes it (``decodeURIComponent``).

    Only ``%XX`` escapes are undone (a ``+`` stays ``+``, ``%2F`` is a ``/``
    inside the parameter), and the escaped bytes must be UTF-8. Otherwise
    ``decodeURIComponent`` throws a ``URIError``; Express reports it as
    "Failed to decode param", which NestJS answers with 400: that answer is
    returned. ``None`` for an empty segment, which no ``:param`` matches.
    """
    if not segment:
        return None
    if BAD_ESCAPE.search(segment) is None:
        try:
            return unquote(segment, errors="strict")
        except UnicodeDecodeError:
            pass  # not UTF-8, or a lone surrogate: a URIError as well
    return nest_error(400, f"Failed to decode param '{segment}'")


def route(
    request: Request,
    *,
    store: DatasetStore,
    users: UserRegistry,
    token_lifetime: float,
) -> Response:
    """Answer ``request`` as scicat-backend-next would."""
    # Route on raw segments; only the pid parameter of a matching route is
    # decoded (before any guard runs, as in Express), so a pid's '/' arrives
    # as %2F and stays inside one segment.
    seg = _segments(request.path)
    key = (request.method, *seg[:3])
    if key == ("POST", "api", "v3", "auth") and seg[3:] == ["login"]:
        return _login(request, users, token_lifetime)
    if key == ("GET", "api", "v4", "datasets"):
        if len(seg) == 3:
            return _v4_search(request, store, public=False)
        if seg[3:] == ["public"]:
            return _v4_search(request, store, public=True)
        if len(seg) == 5 and seg[3] == "public" and (pid := _decode(seg[4])):
            if isinstance(pid, Response):
                return pid
            return _v4_public_dataset(request, store, pid)
        if len(seg) == 4 and seg[3] != "public" and (pid := _decode(seg[3])):
            if isinstance(pid, Response):
                return pid
            return _v4_dataset(request, store, pid)
    if key == ("GET", "api", "v3", "datasets") and seg[3:] == ["fullquery"]:
        return _v3_fullquery(request, store)  # declared before /:pid in SciCat
    if (
        key == ("GET", "api", "v3", "datasets")
        and (len(seg) == 4 or seg[4:] == ["origdatablocks"])
        and (pid := _decode(seg[3]))
    ):
        if isinstance(pid, Response):
            return pid
        if len(seg) == 4:
            return _v3_dataset(request, store, pid)
        return _v3_blocks(request, store, pid)
    target = request.path + (f"?{request.query}" if request.query else "")
    return nest_error(404, f"Cannot {request.method} {target}")
