"""What an upload sends to SciCat, decided without I/O.

- :func:`dataset_body`: the dataset's fields without those the server
  manages (``_id``, ``createdAt``, sizes, ...), so a dataset made from a
  downloaded one can be uploaded as a new one.
- :func:`check_dataset`: the rules of scicat-backend-next's v4
  ``CreateDatasetDto`` (required fields, types, no unknown fields), so a bad
  field is named *before* files are hashed and uploaded. SciCat's own
  ``POST /datasets/isValid`` answers only ``{"valid": false}``, and does not
  refuse unknown fields, which ``POST /datasets`` then does.
- :func:`pack_datablocks`: the orig datablocks, split so that no request
  body exceeds a byte budget (see :data:`DEFAULT_MAX_DATABLOCK_BYTES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from .._build import format_time
from .._model import File

__all__ = [
    "DEFAULT_MAX_DATABLOCK_BYTES",
    "Block",
    "check_dataset",
    "dataset_body",
    "encode_entries",
    "field_of_message",
    "is_iso_time",
    "pack_datablocks",
]

#: Largest orig datablock request alink sends by default, in bytes of JSON.
#:
#: SciCat's backend parses request bodies of up to 16 MiB (``json({limit:
#: "16mb"})`` in its ``main.ts``) and MongoDB stores a datablock as one
#: document of at most 16 MiB. Measured with 33-character paths, one file
#: entry weighs 128 bytes with an md5, 160 with a sha256 and 224 with blake2b
#: (Scitacean's default), 40 more with uid/gid/perm: 8 MiB, half of both
#: limits, holds 32,000 to 65,000 files. Each datablock makes the backend
#: re-read every datablock of the dataset (to recompute its size), so fewer,
#: larger blocks cost it less. A proxy with a lower limit answers 413: the
#: block is then halved and sent again, and the rest of the upload keeps
#: under the size that passed.
DEFAULT_MAX_DATABLOCK_BYTES = 8 * 1024 * 1024

#: Fields the server sets itself; left out of what is sent.
SERVER_FIELDS = frozenset(
    (
        "_id",
        "id",
        "__v",
        "createdAt",
        "createdBy",
        "updatedAt",
        "updatedBy",
        "history",
        "size",
        "packedSize",
        "numberOfFiles",
        "numberOfFilesArchived",
        "scientificMetadataValid",
        "origdatablocks",
        "datablocks",
        "attachments",
        "instruments",
        "proposals",
        "samples",
    )
)

_STRINGS = (
    "pid",
    "version",
    "instrumentGroup",
    "owner",
    "orcidOfOwner",
    "sourceFolderHost",
    "validationStatus",
    "description",
    "classification",
    "license",
    "comment",
    "creationLocation",
    "dataFormat",
    "jobLogData",
    "runNumber",
    "scientificMetadataSchema",
)
_STRING_LISTS = (
    "accessGroups",
    "keywords",
    "sharedWith",
    "principalInvestigators",
    "proposalIds",
    "sampleIds",
    "instrumentIds",
    "inputDatasets",
    "usedSoftware",
)
_OBJECTS = ("scientificMetadata", "jobParameters", "datasetlifecycle")
_TIMES = ("startTime", "endTime")
_NESTED = {"techniques": ("pid", "name"), "relationships": ("pid", "relationship")}
_TYPES = ("raw", "derived")

#: Every field SciCat's v4 ``POST /datasets`` accepts.
KNOWN_FIELDS = frozenset(
    (
        "type",
        "contactEmail",
        "ownerEmail",
        "sourceFolder",
        "creationTime",
        "datasetName",
        "ownerGroup",
        "isPublished",
        "dataQualityMetrics",
        *_STRINGS,
        *_STRING_LISTS,
        *_OBJECTS,
        *_TIMES,
        *_NESTED,
    )
)

# validator.js' isEmail, closely enough: one address, a dotted domain whose
# last label has two letters or more.
_EMAIL = re.compile(r"^[^@\s;,<>()\[\]\\\"]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")

#: Keys of a ``dataFileList`` entry (SciCat's ``DataFileDto``).
FILE_KEYS = ("path", "size", "time", "chk", "uid", "gid", "perm", "type")


def _strip_ids(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "_id"}
    return value


def dataset_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields to send: ``fields`` without :data:`SERVER_FIELDS`.

    The ``_id`` of technique, relationship and lifecycle entries (which a
    downloaded dataset has) is left out too.
    """
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if key in SERVER_FIELDS:
            continue
        if key in _NESTED and isinstance(value, list):
            value = [_strip_ids(v) for v in value]
        elif key == "datasetlifecycle":
            value = _strip_ids(value)
        body[key] = value
    return body


def is_iso_time(value: object) -> bool:
    """Whether ``value`` is a time SciCat takes: a ``datetime``, or ISO 8601
    text (``Z`` for UTC allowed)."""
    if isinstance(value, datetime):
        return True
    if not isinstance(value, str) or not value[:4].isdigit():
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_dataset(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, problem)`` for everything SciCat's v4 create would refuse."""
    problems: list[tuple[str, str]] = []

    def bad(name: str, text: str) -> None:
        problems.append((name, f"{name} {text}"))

    for name in body:
        if name not in KNOWN_FIELDS:
            problems.append((name, f"SciCat does not know the field {name!r}"))
    if body.get("type") not in _TYPES:
        bad("type", f"must be 'raw' or 'derived', got {body.get('type')!r}")
    contact = body.get("contactEmail")
    if not (
        isinstance(contact, str)
        and contact
        and all(_EMAIL.match(item.strip()) for item in contact.split(";"))
    ):
        bad(
            "contactEmail",
            "must be an email address, or several separated by semicolons,"
            f" got {contact!r}",
        )
    owner = body.get("ownerEmail")
    if owner is not None and not (isinstance(owner, str) and _EMAIL.match(owner)):
        bad("ownerEmail", f"must be one email address, got {owner!r}")
    for name in ("sourceFolder", "datasetName", "ownerGroup"):
        if not isinstance(body.get(name), str):
            bad(name, "is required (a string)")
    if not is_iso_time(body.get("creationTime")):
        bad("creationTime", "is required (an ISO 8601 time)")
    for name in _TIMES:
        if name in body and not is_iso_time(body[name]):
            bad(name, "must be an ISO 8601 time")
    for name in _STRINGS:
        if name in body and not isinstance(body[name], str):
            bad(name, f"must be a string, got {body[name]!r}")
    for name in _STRING_LISTS:
        if name in body and not _is_str_list(body[name]):
            bad(name, "must be a list of strings")
    for name in _OBJECTS:
        if name in body and not isinstance(body[name], Mapping):
            bad(name, "must be an object")
    if "isPublished" in body and not isinstance(body["isPublished"], bool):
        bad("isPublished", "must be true or false")
    quality = body.get("dataQualityMetrics")
    if "dataQualityMetrics" in body and (
        isinstance(quality, bool) or not isinstance(quality, int | float)
    ):
        bad("dataQualityMetrics", "must be a number")
    for name, keys in _NESTED.items():
        items = body.get(name)
        if name not in body:
            continue
        if not isinstance(items, list):
            bad(name, "must be a list")
            continue
        for n, item in enumerate(items):
            where = f"{name}.{n}"
            if not isinstance(item, Mapping):
                bad(where, f"must be an object with {' and '.join(keys)}")
                continue
            for key in keys:
                if not isinstance(item.get(key), str):
                    bad(f"{where}.{key}", "must be a string")
            for key in item:
                if key not in keys:
                    problems.append(
                        (f"{where}.{key}", f"SciCat does not know {where}.{key}")
                    )
    return problems


#: How SciCat words a contactEmail that is not a list of addresses.
_EMAIL_LIST_MESSAGE = "Expected an email or a list of semicolon separated emails"


def field_of_message(message: str) -> str:
    """The field a NestJS/class-validator message is about.

    ``"contactEmail must be an email"`` -> ``contactEmail``;
    ``"Expected an email or a list of semicolon separated emails, got x"``
    -> ``contactEmail`` (SciCat's own check, which names no field);
    ``"property foo should not exist"`` -> ``foo``;
    ``"dataFileList.0.property _id should not exist"`` -> ``dataFileList.0._id``;
    ``"each value in keywords must be a string"`` -> ``keywords``.
    """
    text = message.strip()
    # SciCat's check of contactEmail (a custom one) does not name the field.
    if text.startswith(_EMAIL_LIST_MESSAGE):
        return "contactEmail"
    prefix, dot, rest = text.rpartition(".property ")
    if dot:
        return f"{prefix}.{rest.split()[0]}" if rest else prefix
    for lead in ("property ", "each value in ", "nested property "):
        if text.startswith(lead):
            text = text[len(lead) :]
            break
    return text.split()[0] if text else ""


def file_entry(file: File) -> dict[str, Any]:
    """A file as a ``dataFileList`` entry (``time`` must be set)."""
    entry: dict[str, Any] = {"path": file.remote_path.posix, "size": file.size}
    if file.creation_time is not None:
        entry["time"] = format_time(file.creation_time)
    if file.checksum is not None:
        entry["chk"] = file.checksum
    for key in ("uid", "gid", "perm", "type"):
        value = file.extra.get(key)
        if isinstance(value, str):
            entry[key] = value
    return entry


def encode_entries(files: Sequence[File], start: int, stop: int) -> list[bytes]:
    """``files[start:stop]`` as encoded ``dataFileList`` entries."""
    encode = msgspec.json.encode
    return [encode(file_entry(f)) for f in files[start:stop]]


@dataclass(slots=True)
class Block:
    """One orig datablock to create: a run of the dataset's files."""

    #: Indices into the dataset's registered files, in order.
    indices: range
    algorithm: str | None
    entries: list[bytes]
    size: int

    @property
    def weight(self) -> int:
        """Bytes of its request body, about (the entries and their commas)."""
        return sum(len(e) + 1 for e in self.entries) + 128

    def body(self, pid: str) -> bytes:
        """The ``POST /origdatablocks`` body."""
        head: dict[str, Any] = {"datasetId": pid, "size": self.size}
        if self.algorithm is not None:
            head["chkAlg"] = self.algorithm
        return b"".join(
            (
                msgspec.json.encode(head)[:-1],
                b',"dataFileList":[',
                b",".join(self.entries),
                b"]}",
            )
        )

    def halves(self, sizes: Sequence[int]) -> tuple[Block, Block]:
        """The block split in two (for a server that refused its size)."""
        mid = len(self.entries) // 2
        first, second = self.indices[:mid], self.indices[mid:]
        return (
            Block(
                first, self.algorithm, self.entries[:mid], sum(sizes[i] for i in first)
            ),
            Block(
                second,
                self.algorithm,
                self.entries[mid:],
                sum(sizes[i] for i in second),
            ),
        )


def pack_datablocks(
    files: Sequence[File], entries: Sequence[bytes], max_bytes: int
) -> Iterator[Block]:
    """Consecutive files in blocks of at most ``max_bytes`` (a single larger
    entry gets a block of its own).

    A block has one checksum algorithm (``chkAlg``): a file with another one
    starts a new block; files without a checksum fit in any block.
    """
    start = 0
    while start < len(files):
        algorithm: str | None = None
        weight = 128
        size = 0
        stop = start
        while stop < len(files):
            file = files[stop]
            own = file.checksum_algorithm if file.checksum is not None else None
            if own is not None and algorithm is not None and own != algorithm:
                break
            grown = weight + len(entries[stop]) + 1
            if grown > max_bytes and stop > start:
                break
            algorithm = algorithm or own
            weight = grown
            size += file.size
            stop += 1
        yield Block(range(start, stop), algorithm, list(entries[start:stop]), size)
        start = stop
