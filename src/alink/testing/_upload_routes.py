"""The endpoints that create and delete datasets and orig datablocks (uploads).

Behaviour of scicat-backend-next's v4 controllers:

* ``POST /api/v4/datasets/isValid`` -> 200 ``{"valid": bool}``. The body is
  checked against ``CreateDatasetDto`` *without* refusing unknown fields,
  and nothing says why a dataset is invalid.
* ``POST /api/v4/datasets`` -> 201 with the stored dataset; NestJS's global
  ``ValidationPipe`` (whitelist, forbidNonWhitelisted) answers 400 with one
  class-validator message per problem (``"contactEmail must be an email"``,
  ``"property foo should not exist"``); a pid already taken -> 409.
* ``POST /api/v4/origdatablocks`` -> 201 with the stored block (its groups
  copied from the dataset, which then gets its ``size`` and
  ``numberOfFiles`` recomputed); 400 as above.
* ``DELETE /api/v4/datasets/{pid}`` and ``/api/v4/origdatablocks/{id}`` ->
  200 with what was removed; only members of the delete groups may
  (``DELETE_GROUPS``; here also users without groups), else 403.

Anonymous requests get 403 "Forbidden resource" (the policies guard runs
before validation); a user may create datasets and datablocks only for an
``ownerGroup`` they belong to (a user without groups: any), else 403
"Unauthorized access". Known differences: deleting a dataset here also
removes its datablocks (SciCat's v4 leaves them orphaned); units in
``scientificMetadata`` are not converted to SI.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ._routes import Request, Response, _decode, _segments, nest_error
from ._store import DatasetStore, encode_json
from ._users import User

__all__ = ["WriteConfig", "upload_route"]

_FORBIDDEN = nest_error(403, "Forbidden resource")
_UNAUTHORIZED = nest_error(403, "Unauthorized access")


@dataclasses.dataclass(frozen=True, slots=True)
class WriteConfig:
    """Server settings for the write endpoints."""

    pid_prefix: str = "PID.prefix.a0b1"
    delete_groups: frozenset[str] = frozenset()

    def may_delete(self, user: User) -> bool:
        return user.groups is None or not user.groups.isdisjoint(self.delete_groups)


# --- class-validator, as far as SciCat's DTOs use it ------------------------

# validator.js' isEmail, closely enough: one address; the domain's last label
# has two letters or more.
_EMAIL = re.compile(r"^[^@\s;,<>()\[\]\\\"]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
_ISO_DATE = re.compile(
    r"^\d{4}-?\d{2}-?\d{2}"
    r"(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$",
    re.IGNORECASE,
)
_FQDN = re.compile(r"^(?:[a-z]+://)?(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")


def _is_date_string(value: object) -> bool:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return False
    try:
        _parse_time(value)
    except ValueError:
        return False
    return True


def _parse_time(value: str) -> datetime:
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _utc(value: str) -> str:
    """A valid ISO date string as SciCat stores and answers it."""
    stamp = _parse_time(value).astimezone(UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


Check = Callable[[object], bool]


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_int(v: object) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()
    )


def _is_email_list(v: object) -> bool:
    """SciCat's ``CustomEmailList``: one address, or several separated by
    semicolons (spaces around each allowed)."""
    return (
        isinstance(v, str)
        and bool(v)
        and all(_EMAIL.match(item.strip()) for item in v.split(";"))
    )


def _js_text(value: object, present: bool) -> str:
    """``${value}`` in JavaScript, for a JSON value (or an absent one)."""
    if not present:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_js_text(v, True) if v is not None else "" for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_CHECKS: dict[str, tuple[Check, str]] = {
    "string": (_is_str, "{p} must be a string"),
    "email": (
        lambda v: isinstance(v, str) and bool(_EMAIL.match(v)),
        "{p} must be an email",
    ),
    "email_list": (
        _is_email_list,
        "Expected an email or a list of semicolon separated emails, got {v}",
    ),
    "int": (_is_int, "{p} must be an integer number"),
    "number": (
        _is_number,
        "{p} must be a number conforming to the specified constraints",
    ),
    "date": (_is_date_string, "{p} must be a valid ISO 8601 date string"),
    "bool": (lambda v: isinstance(v, bool), "{p} must be a boolean value"),
    "type": (
        lambda v: v in ("raw", "derived"),
        "{p} must be one of the following values: raw, derived",
    ),
    "fqdn": (
        lambda v: isinstance(v, str) and bool(_FQDN.match(v)),
        "{p} must be a valid domain name",
    ),
    "object": (lambda v: isinstance(v, dict), "{p} must be an object"),
    "array": (lambda v: isinstance(v, list), "{p} must be an array"),
    "not_empty": (lambda v: v not in ("", None, []), "{p} should not be empty"),
    "array_not_empty": (
        lambda v: isinstance(v, list) and len(v) > 0,
        "{p} should not be empty",
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Prop:
    name: str
    checks: tuple[str, ...]
    optional: bool = False
    each_string: bool = False
    nested: _Dto | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Dto:
    props: tuple[_Prop, ...]

    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.props)


def _validate(
    value: Mapping[str, Any], dto: _Dto, *, whitelist: bool, prefix: str = ""
) -> list[str]:
    """class-validator's messages for ``value`` (NestJS flattens nested ones)."""
    messages: list[str] = []
    if whitelist:
        known = dto.names()
        messages.extend(
            f"{prefix}property {key} should not exist"
            for key in value
            if key not in known
        )
    for prop in dto.props:
        present = prop.name in value and value[prop.name] is not None
        if prop.optional and not present:
            continue
        item = value.get(prop.name)
        for check in prop.checks:
            test, text = _CHECKS[check]
            if not test(item):
                shown = _js_text(item, prop.name in value)
                messages.append(prefix + text.format(p=prop.name, v=shown))
        if prop.each_string:
            items = item if isinstance(item, list) else [item]
            if not all(isinstance(i, str) for i in items):
                messages.append(f"{prefix}each value in {prop.name} must be a string")
        if prop.nested is not None and isinstance(item, list):
            for n, element in enumerate(item):
                where = f"{prefix}{prop.name}.{n}."
                if not isinstance(element, dict):
                    messages.append(
                        f"{prefix}nested property {prop.name} must be either object"
                        " or array"
                    )
                    continue
                messages.extend(
                    _validate(element, prop.nested, whitelist=whitelist, prefix=where)
                )
    return messages


def _props(spec: str, *, optional: bool = False) -> tuple[_Prop, ...]:
    """``"name:check,check name2:check"`` -> properties (``each`` = string each)."""
    props = []
    for part in spec.split():
        name, _, checks = part.partition(":")
        names = tuple(c for c in checks.split(",") if c and c != "each")
        props.append(_Prop(name, names, optional, each_string="each" in checks))
    return tuple(props)


_TECHNIQUE = _Dto(_props("pid:string name:string"))
_RELATIONSHIP = _Dto(_props("pid:string relationship:string"))

#: ``CreateDatasetDto`` (v4): its own fields, ``OwnableDto``'s, then
#: ``UpdateDatasetDto``'s, in class-validator's order.
_DATASET = _Dto(
    (
        *_props("pid:string", optional=True),
        *_props("type:type"),
        *_props("version:string", optional=True),
        *_props("ownerGroup:string"),
        *_props("accessGroups:each instrumentGroup:string", optional=True),
        *_props("owner:string ownerEmail:email orcidOfOwner:string", optional=True),
        *_props("contactEmail:email_list sourceFolder:string"),
        *_props(
            "sourceFolderHost:fqdn size:int packedSize:int numberOfFiles:int"
            " numberOfFilesArchived:int",
            optional=True,
        ),
        *_props("creationTime:date"),
        *_props(
            "validationStatus:string keywords:each description:string", optional=True
        ),
        *_props("datasetName:string"),
        *_props("classification:string license:string isPublished:bool", optional=True),
        _Prop("techniques", ("array",), optional=True, nested=_TECHNIQUE),
        *_props("sharedWith:each", optional=True),
        _Prop("relationships", ("array",), optional=True, nested=_RELATIONSHIP),
        *_props(
            "datasetlifecycle: scientificMetadata:object"
            " scientificMetadataSchema:string comment:string"
            " dataQualityMetrics:number principalInvestigators:each"
            " startTime:date endTime:date creationLocation:string dataFormat:string"
            " proposalIds:each sampleIds:each instrumentIds:each inputDatasets:each"
            " usedSoftware:each jobParameters:object jobLogData:string"
            " runNumber:string",
            optional=True,
        ),
    )
)

_DATA_FILE = _Dto(
    (
        *_props("path:string size:number time:date"),
        *_props(
            "chk:string uid:string gid:string perm:string type:string", optional=True
        ),
    )
)

#: ``CreateOrigDatablockDto`` (v4).
_BLOCK = _Dto(
    (
        *_props("datasetId:string"),
        *_props("accessGroups:each instrumentGroup:string", optional=True),
        *_props("size:int"),
        *_props("chkAlg:string,not_empty", optional=True),
        _Prop("dataFileList", ("array", "array_not_empty"), nested=_DATA_FILE),
        *_props("ownerGroup:string,not_empty", optional=True),
    )
)


#: Where the stored dataset's fields go, as Mongoose's schema orders them.
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SCHEMA_ORDER = _words(
    "_id pid owner ownerEmail orcidOfOwner contactEmail sourceFolder sourceFolderHost"
    " size packedSize numberOfFiles numberOfFilesArchived creationTime type"
    " validationStatus keywords description datasetName classification license"
    " version isPublished datasetlifecycle techniques relationships sharedWith"
    " scientificMetadata scientificMetadataSchema comment dataQualityMetrics"
    " principalInvestigators startTime endTime creationLocation dataFormat"
    " proposalIds sampleIds instrumentIds inputDatasets usedSoftware jobParameters"
    " jobLogData runNumber ownerGroup accessGroups instrumentGroup createdBy"
    " updatedBy createdAt updatedAt __v"
)
_ARRAY_FIELDS = frozenset(
    _words(
        "keywords techniques relationships sharedWith principalInvestigators"
        " proposalIds sampleIds instrumentIds inputDatasets usedSoftware accessGroups"
    )
)
_TIME_FIELDS = ("creationTime", "startTime", "endTime")
_LIFECYCLE = {
    "archivable": True,
    "retrievable": False,
    "publishable": False,
    "isOnCentralDisk": True,
    "archiveStatusMessage": "datasetCreated",
    "retrieveStatusMessage": "",
    "retrieveIntegrityCheck": False,
}

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


def _object_id() -> str:
    """A fresh Mongo-ObjectId-looking id (24 hex digits)."""
    stamp = int(time.time()) & 0xFFFFFFFF
    return f"{stamp:08x}{os.urandom(5).hex()}{next(_counter) & 0xFFFFFF:06x}"


def _now() -> str:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


def _json_body(request: Request) -> Any | Response:
    """The request body as JSON, or body-parser's 400."""
    if not request.body:
        return {}
    try:
        return json.loads(request.body)
    except UnicodeDecodeError:
        return nest_error(400, "Unexpected token in JSON at position 0")
    except json.JSONDecodeError as exc:
        return nest_error(400, f"Unexpected token in JSON at position {exc.pos}")


def _bad_request(messages: Sequence[str]) -> Response:
    body = {"message": list(messages), "error": "Bad Request", "statusCode": 400}
    return Response(400, encode_json(body))


def _may_own(user: User, owner_group: object) -> bool:
    return user.groups is None or owner_group in user.groups


def _dto_body(
    request: Request, dto: _Dto, *, whitelist: bool
) -> dict[str, Any] | Response:
    data = _json_body(request)
    if isinstance(data, Response):
        return data
    if not isinstance(data, dict):
        return _bad_request(["an unknown value was passed to the validate function"])
    if whitelist:
        messages = _validate(data, dto, whitelist=True)
        if messages:
            return _bad_request(messages)
    return data


# --- routes -----------------------------------------------------------------


def _is_valid(request: Request, user: User) -> Response:
    data = _dto_body(request, _DATASET, whitelist=False)
    if isinstance(data, Response):
        return data
    if not _may_own(user, data.get("ownerGroup")):
        return _UNAUTHORIZED
    valid = not _validate(data, _DATASET, whitelist=False)
    return Response(200, encode_json({"valid": valid}))


def _create_dataset(
    request: Request, user: User, store: DatasetStore, config: WriteConfig
) -> Response:
    data = _dto_body(request, _DATASET, whitelist=True)
    if isinstance(data, Response):
        return data
    if not _may_own(user, data.get("ownerGroup")):
        return _UNAUTHORIZED
    pid = data.get("pid") or f"{config.pid_prefix}/{uuid.uuid4()}"
    now = _now()
    given = {k: v for k, v in data.items() if v is not None}
    for name in _TIME_FIELDS:
        if name in given:
            given[name] = _utc(given[name])
    for name in _ARRAY_FIELDS:
        if isinstance(given.get(name), str):
            given[name] = [given[name]]  # Mongoose casts a value to [value]
    lifecycle = {**_LIFECYCLE, **given.pop("datasetlifecycle", {})}
    lifecycle.setdefault("_id", _object_id())
    values: dict[str, Any] = {
        "size": 0,
        "packedSize": 0,
        "numberOfFiles": 0,
        "numberOfFilesArchived": 0,
        "version": "4",
        "isPublished": False,
        **{name: [] for name in _ARRAY_FIELDS},
        **given,
        "_id": pid,
        "pid": pid,
        "datasetlifecycle": lifecycle,
        "techniques": [{**t, "_id": _object_id()} for t in given.get("techniques", [])],
        "createdBy": user.username,
        "updatedBy": user.username,
        "createdAt": now,
        "updatedAt": now,
        "__v": 0,
    }
    stored = {k: values[k] for k in _SCHEMA_ORDER if k in values}
    stored.update({k: v for k, v in values.items() if k not in stored})
    try:
        store.add_dataset(stored)
    except ValueError:
        return nest_error(409, "A dataset with this unique key already exists!")
    return Response(201, encode_json(stored))


def _create_block(request: Request, user: User, store: DatasetStore) -> Response:
    data = _dto_body(request, _BLOCK, whitelist=True)
    if isinstance(data, Response):
        return data
    pid = data["datasetId"]
    if store.readable(pid, user) is None:
        if user.groups is not None:
            return _UNAUTHORIZED
        return nest_error(
            404, f"Dataset: {pid} not found for attaching an origdatablock"
        )
    dataset = store.dataset(pid)
    if not _may_own(user, dataset.get("ownerGroup")):
        return _UNAUTHORIZED
    now = _now()
    files = [
        {**entry, "time": _utc(entry["time"]), "_id": _object_id()}
        for entry in data["dataFileList"]
    ]
    block: dict[str, Any] = {
        "_id": str(uuid.uuid4()),
        "ownerGroup": dataset.get("ownerGroup"),
        "accessGroups": dataset.get("accessGroups", []),
    }
    if dataset.get("instrumentGroup") is not None:
        block["instrumentGroup"] = dataset["instrumentGroup"]
    block.update(
        {
            "isPublished": False,
            "datasetId": pid,
            "size": int(data["size"]),
            **({"chkAlg": data["chkAlg"]} if data.get("chkAlg") else {}),
            "dataFileList": files,
            "createdBy": user.username,
            "updatedBy": user.username,
            "createdAt": now,
            "updatedAt": now,
            "__v": 0,
        }
    )
    store.add_block(block)
    _recount(store, pid, user)
    return Response(201, encode_json(block))


def _recount(store: DatasetStore, pid: str, user: User) -> None:
    """SciCat's ``updateDatasetSizeAndFiles`` after a datablock changes."""
    size, count = store.block_totals(pid)
    store.update_dataset(
        pid,
        {
            "size": size,
            "numberOfFiles": count,
            "updatedBy": user.username,
            "updatedAt": _now(),
        },
    )


def _delete_dataset(store: DatasetStore, pid: str) -> Response:
    if store.readable(pid, None) is None:
        return nest_error(404, "dataset: null not found")
    removed = store.dataset(pid)
    store.remove_dataset(pid)
    return Response(200, encode_json(removed))


def _delete_block(store: DatasetStore, block_id: str, user: User) -> Response:
    removed = store.remove_block(block_id)
    if removed is None:
        return nest_error(404, f"OrigDatablock: {block_id} not found")
    pid, encoded = removed
    _recount(store, pid, user)
    return Response(200, encoded)


def upload_route(
    request: Request, *, store: DatasetStore, config: WriteConfig
) -> Response | None:
    """Answer the upload endpoints; ``None`` for any other request."""
    if request.method not in ("POST", "DELETE"):
        return None
    seg = _segments(request.path)
    if seg[:2] != ["api", "v4"]:
        return None
    rest = list(seg[2:])
    method = request.method
    user = request.user
    if method == "POST" and rest in (["datasets"], ["datasets", "isValid"]):
        if user is None:
            return _FORBIDDEN
        if rest == ["datasets"]:
            return _create_dataset(request, user, store, config)
        return _is_valid(request, user)
    if method == "POST" and rest == ["origdatablocks"]:
        if user is None:
            return _FORBIDDEN
        return _create_block(request, user, store)
    if (
        method == "DELETE"
        and len(rest) == 2
        and rest[0] in ("datasets", "origdatablocks")
    ):
        key = _decode(rest[1])
        if key is None:
            return None
        if isinstance(key, Response):
            return key  # undecodable: 400 before any guard, as in Express
        if user is None or not config.may_delete(user):
            return _FORBIDDEN
        if rest[0] == "datasets":
            return _delete_dataset(store, key)
        return _delete_block(store, key, user)
    return None
