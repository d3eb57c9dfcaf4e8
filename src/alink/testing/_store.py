"""Datasets and orig datablocks of the fake SciCat server, kept as encoded JSON.

Each dataset and each datablock is encoded once, when it is added; answers
are assembled from those bytes and cached per (pid, includes, public), so
serving a dataset with 100k files costs a dictionary lookup after the first
request. Every change to a dataset drops its cached answers.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ._users import User

__all__ = ["LOOKUP_KEYS", "DatasetStore", "encode_json"]

#: Relations a v4 dataset request may ``include`` (SciCat's lookup keys).
LOOKUP_KEYS = (
    "instruments",
    "proposals",
    "origdatablocks",
    "datablocks",
    "attachments",
    "samples",
)


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError(f"naive datetime {value!r} has no time zone")
        text = value.isoformat(timespec="milliseconds")
        return text.removesuffix("+00:00") + "Z"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Express's ``res.json`` writes it."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


def _encode_checked(value: Any, what: str) -> bytes:
    try:
        return encode_json(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class _Access:
    """The fields SciCat's access rules look at."""

    published: bool
    owner_group: object
    access_groups: frozenset[str]
    shared_with: frozenset[str]

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> _Access:
        def strings(key: str) -> frozenset[str]:
            value = fields.get(key)
            if not isinstance(value, list):
                return frozenset()
            return frozenset(v for v in value if isinstance(v, str))

        return cls(
            published=fields.get("isPublished") is True,
            owner_group=fields.get("ownerGroup"),
            access_groups=strings("accessGroups"),
            shared_with=strings("sharedWith"),
        )

    def readable_by(self, user: User | None) -> bool:
        """SciCat's read rule: any / owner group / access group / shared / public."""
        if self.published:
            return True
        if user is None:
            return False
        if user.groups is None:
            return True
        return (
            self.owner_group in user.groups
            or not self.access_groups.isdisjoint(user.groups)
            or user.email in self.shared_with
        )


@dataclasses.dataclass(slots=True)
class _Block:
    block_id: str
    published: bool
    encoded: bytes
    size: int = 0
    count: int = 0


@dataclasses.dataclass(slots=True)
class _Entry:
    fields: dict[str, Any]
    encoded: bytes
    access: _Access
    blocks: list[_Block] = dataclasses.field(default_factory=list)
    cache: dict[tuple[str, tuple[str, ...], bool], bytes] = dataclasses.field(
        default_factory=dict
    )


def _prepare_dataset(dataset: object) -> tuple[str, dict[str, Any], list[Any]]:
    if not isinstance(dataset, Mapping):
        raise ValueError(
            f"a dataset must be a mapping (SciCat JSON), got {type(dataset).__name__}"
        )
    pid = dataset.get("pid")
    if not isinstance(pid, str) or not pid:
        raise ValueError(f"a dataset needs a non-empty string 'pid', got {pid!r}")
    fields = {k: v for k, v in dataset.items() if k != "origdatablocks"}
    if "_id" not in fields:  # v4 answers carry the pid as Mongo '_id'
        fields = {"_id": pid, **fields}
    embedded = dataset.get("origdatablocks")
    if embedded is None:
        embedded = []
    if not isinstance(embedded, list):
        raise ValueError(f"dataset {pid!r}: 'origdatablocks' must be a list")
    return pid, fields, embedded


def _prepare_block(block: object, default_pid: str | None) -> tuple[str, _Block]:
    if not isinstance(block, Mapping):
        raise ValueError(
            f"an orig datablock must be a mapping, got {type(block).__name__}"
        )
    fields = dict(block)
    if default_pid is not None:
        fields.setdefault("datasetId", default_pid)
    pid = fields.get("datasetId")
    if not isinstance(pid, str) or not pid:
        raise ValueError(
            "an orig datablock needs a string 'datasetId' naming its dataset,"
            f" got {pid!r}"
        )
    if default_pid is not None and pid != default_pid:
        raise ValueError(
            f"an orig datablock of dataset {default_pid!r} names dataset {pid!r}"
        )
    files = fields.get("dataFileList")
    if not isinstance(files, list):
        raise ValueError(
            f"orig datablock of dataset {pid!r}: 'dataFileList' must be a list,"
            f" got {type(files).__name__}"
        )
    if "_id" not in fields:
        fields = {"_id": str(uuid.uuid4()), **fields}
    fields.setdefault("isPublished", False)  # SciCat's default for datablocks
    block_id = str(fields["_id"])
    encoded = _encode_checked(fields, f"orig datablock {block_id!r}")
    size = fields.get("size")
    return pid, _Block(
        block_id,
        fields["isPublished"] is True,
        encoded,
        size if isinstance(size, int) and not isinstance(size, bool) else 0,
        len(files),
    )


def _array(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


class DatasetStore:
    """Thread-safe table of datasets (by pid) and their orig datablocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def pids(self) -> list[str]:
        """The pids of all datasets, in insertion order."""
        with self._lock:
            return list(self._entries)

    # --- changes ----------------------------------------------------------

    def add_dataset(
        self, dataset: Mapping[str, Any], blocks: Iterable[Any] = ()
    ) -> str:
        """Add a dataset and its blocks (all validated before anything is stored)."""
        pid, fields, embedded = _prepare_dataset(dataset)
        encoded = _encode_checked(fields, f"dataset {pid!r}")
        prepared = [_prepare_block(b, pid)[1] for b in [*embedded, *blocks]]
        entry = _Entry(
            fields=json.loads(encoded), encoded=encoded, access=_Access.of(fields)
        )
        entry.blocks.extend(prepared)
        with self._lock:
            if pid in self._entries:
                raise ValueError(f"a dataset with pid {pid!r} already exists")
            self._entries[pid] = entry
        return pid

    def add_block(self, block: Mapping[str, Any]) -> None:
        """Add one orig datablock to the dataset its ``datasetId`` names."""
        pid, prepared = _prepare_block(block, None)
        with self._lock:
            entry = self._entries.get(pid)
            if entry is None:
                raise ValueError(
                    f"orig datablock names dataset {pid!r}, which is not on the server"
                    " (add the dataset first)"
                )
            entry.blocks.append(prepared)
            entry.cache.clear()

    def update_dataset(self, pid: str, changes: Mapping[str, Any]) -> None:
        """Set top-level fields of a dataset (its pid cannot change)."""
        if not isinstance(changes, Mapping):
            raise ValueError("changes must be a mapping of SciCat field names")
        if "pid" in changes and changes["pid"] != pid:
            raise ValueError("the pid of a dataset cannot be changed")
        if "origdatablocks" in changes:
            raise ValueError("add orig datablocks with add_orig_datablock()")
        with self._lock:
            entry = self._entry(pid)
            fields = {**entry.fields, **changes}
            encoded = _encode_checked(fields, f"dataset {pid!r}")
            entry.fields = json.loads(encoded)
            entry.encoded = encoded
            entry.access = _Access.of(fields)
            entry.cache.clear()

    def remove_dataset(self, pid: str) -> None:
        """Remove a dataset and its orig datablocks."""
        with self._lock:
            self._entry(pid)
            del self._entries[pid]

    def _entry(self, pid: str) -> _Entry:
        entry = self._entries.get(pid)
        if entry is None:
            raise ValueError(f"no dataset with pid {pid!r} on this server")
        return entry

    def dataset(self, pid: str) -> dict[str, Any]:
        """A copy of a dataset's fields (without datablocks)."""
        with self._lock:
            encoded = self._entry(pid).encoded
        result: dict[str, Any] = json.loads(encoded)
        return result

    # --- datablocks by id (the upload routes) -----------------------------

    def block_owner(self, block_id: str) -> str | None:
        """The pid of the dataset holding orig datablock ``block_id``, if any."""
        with self._lock:
            for pid, entry in self._entries.items():
                if any(b.block_id == block_id for b in entry.blocks):
                    return pid
        return None

    def remove_block(self, block_id: str) -> tuple[str, bytes] | None:
        """Remove orig datablock ``block_id``: ``(its dataset's pid, its JSON)``."""
        with self._lock:
            for pid, entry in self._entries.items():
                for n, block in enumerate(entry.blocks):
                    if block.block_id == block_id:
                        del entry.blocks[n]
                        entry.cache.clear()
                        return pid, block.encoded
        return None

    def block_totals(self, pid: str) -> tuple[int, int]:
        """``(size, files)`` summed over the dataset's orig datablocks."""
        with self._lock:
            blocks = self._entry(pid).blocks
            return sum(b.size for b in blocks), sum(b.count for b in blocks)

    def blocks(self, pid: str) -> list[dict[str, Any]]:
        """Copies of the dataset's orig datablocks."""
        result: list[dict[str, Any]] = json.loads(self.blocks_body(pid))
        return result

    # --- reads for the routes ---------------------------------------------

    def readable(self, pid: str, user: User | None) -> bool | None:
        """``None`` if there is no such dataset, else whether ``user`` may read it."""
        with self._lock:
            entry = self._entries.get(pid)
            return None if entry is None else entry.access.readable_by(user)

    def is_published(self, pid: str) -> bool:
        """Whether the dataset exists and has ``isPublished: true``."""
        with self._lock:
            entry = self._entries.get(pid)
            return entry is not None and entry.access.published

    def dataset_body(
        self, pid: str, includes: tuple[str, ...], *, public_blocks_only: bool
    ) -> bytes | None:
        """The v4 answer: the dataset plus one array per included relation.

        ``origdatablocks`` are the dataset's blocks (only published ones when
        ``public_blocks_only``); the other relations are not modelled and come
        back empty. ``None`` if there is no such dataset.
        """
        key = ("v4", includes, public_blocks_only)
        with self._lock:
            entry = self._entries.get(pid)
            if entry is None:
                return None
            cached = entry.cache.get(key)
            if cached is not None:
                return cached
            parts = [entry.encoded[:-1]]
            for name in includes:
                if name in entry.fields:
                    continue  # the dataset's own field wins; never duplicate a key
                if name == "origdatablocks":
                    value = _array(
                        b.encoded
                        for b in entry.blocks
                        if b.published or not public_blocks_only
                    )
                else:
                    value = b"[]"
                parts.append(b',"' + name.encode() + b'":' + value)
            parts.append(b"}")
            body = b"".join(parts)
            entry.cache[key] = body
            return body

    def plain_dataset_body(self, pid: str) -> bytes | None:
        """The dataset alone (v3 answer), ``None`` if there is none."""
        with self._lock:
            entry = self._entries.get(pid)
            return None if entry is None else entry.encoded

    def blocks_body(self, pid: str) -> bytes:
        """A JSON array of the dataset's orig datablocks (``[]`` if none)."""
        key = ("blocks", (), False)
        with self._lock:
            entry = self._entries.get(pid)
            if entry is None:
                return b"[]"
            cached = entry.cache.get(key)
            if cached is None:
                cached = entry.cache[key] = _array(b.encoded for b in entry.blocks)
            return cached

    # --- searches ---------------------------------------------------------

    def visible(
        self, user: User | None, *, published_only: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """``(pid, fields)`` of every dataset a search may return, in insertion order.

        ``published_only``: the public endpoint's view (``isPublished: true``);
        otherwise what ``user`` may read. The field dicts are shared: read them,
        never change them.
        """
        with self._lock:
            entries = [(pid, e.fields, e.access) for pid, e in self._entries.items()]
        return [
            (pid, fields)
            for pid, fields, access in entries
            if (access.published if published_only else access.readable_by(user))
        ]
