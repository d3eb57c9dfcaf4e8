"""Turn a SciCat dataset response body into a :class:`~alink.Dataset`.

Decoding uses msgspec (several times faster than :mod:`json` for 100k-file
datasets) into plain dicts, so unknown fields survive; the model is built by
:meth:`Dataset.from_scicat`. Every problem with the body becomes a
:class:`~alink.ScicatCommError` that says what was wrong, never a bare
``KeyError``/``TypeError``.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import msgspec

from .._errors import ScicatCommError
from .._model import Dataset

__all__ = ["OFFLOAD_BYTES", "dataset_from_body", "parse_dataset"]

#: Bodies larger than this are decoded on a worker thread (the event loop
#: stays responsive while 100k files are parsed).
OFFLOAD_BYTES = 1 << 20

#: Every file is one JSON object; the rest of a dataset (metadata, blocks,
#: lifecycle) needs far fewer. Before decoding, a body with more than
#: ``2 * max_files + _OBJECT_SLACK`` opening braces is refused, which bounds
#: the memory a hostile body can make us allocate.
_OBJECT_SLACK = 100_000


def _not_found(what: str) -> ScicatCommError:
    return ScicatCommError(
        f"{what} was not found in SciCat (or you may not read it)", status_code=404
    )


def _count_files(data: dict[str, Any]) -> int:
    """How many file entries the JSON lists (shape errors are left to the model)."""
    blocks = data.get("origdatablocks")
    if not isinstance(blocks, list):
        return 0
    total = 0
    for block in blocks:
        if isinstance(block, dict):
            entries = block.get("dataFileList")
            if isinstance(entries, list):
                total += len(entries)
    return total


def dataset_from_body(body: bytes | bytearray, *, what: str, max_files: int) -> Dataset:
    """Decode and build a dataset; blocking (CPU-bound for big bodies).

    An empty body or JSON ``null`` means "no such dataset" (that is how
    SciCat's public endpoint answers for unknown PIDs).

    Raises:
        ScicatCommError: not found (``status_code`` 404), malformed JSON, a
            body that is not a dataset, or more than ``max_files`` files.
    """
    if not body or body.isspace():
        raise _not_found(what)
    if body.count(b"{") > 2 * max_files + _OBJECT_SLACK:
        raise _too_many(what, max_files, None)
    try:
        data = _decode(body)
    except msgspec.DecodeError as exc:
        raise ScicatCommError(f"SciCat sent malformed JSON for {what}: {exc}") from None
    if data is None:
        raise _not_found(what)
    if not isinstance(data, dict):
        raise ScicatCommError(
            f"SciCat sent a JSON {_json_kind(data)} for {what}; expected a dataset"
            " object"
        )
    count = _count_files(data)
    if count > max_files:
        raise _too_many(what, max_files, count)
    try:
        return Dataset.from_scicat(data)
    except (ValueError, TypeError) as exc:
        raise ScicatCommError(
            f"SciCat sent {what} in an unexpected shape: {exc}"
        ) from None


#: File entries decoded by one call: each call holds the GIL throughout, so
#: it must stay short (~0.5 ms) for the event loop's thread to get a turn.
_FILES_PER_CALL = 1024

_OBJECT = dict[str, msgspec.Raw]
#: A block's fields: lists come as their elements' undecoded text (for
#: ``dataFileList``, one per file), everything else decoded.
_BLOCKS = list[
    dict[str, list[msgspec.Raw] | dict[str, Any] | str | int | float | bool | None]
]


def _decode(body: bytes | bytearray) -> Any:
    """``msgspec.json.decode(body)``, in calls that each hold the GIL briefly.

    A C-level decode of a whole 100k-file dataset holds the GIL for ~80 ms,
    however it is offloaded: every other thread, the event loop's included,
    stands still. Here two fast scans that build no per-file objects
    (~10 ms each at 100k files) delimit the dataset's fields and then its
    blocks' fields and files, and the file lists are decoded a slice per
    call. The result is the same plain data. A body of another shape is
    decoded whole, for the caller to explain.
    """
    try:
        fields = msgspec.json.decode(body, type=_OBJECT)
    except msgspec.ValidationError:  # valid JSON, not an object
        return msgspec.json.decode(body)
    return {
        key: _decode_blocks(raw) if key == "origdatablocks" else _whole(raw)
        for key, raw in fields.items()
    }


def _whole(raw: msgspec.Raw) -> Any:
    return msgspec.json.decode(raw)


def _decode_blocks(raw: msgspec.Raw) -> Any:
    try:
        blocks = msgspec.json.decode(raw, type=_BLOCKS)
    except msgspec.ValidationError:
        return msgspec.json.decode(raw)
    return [
        {
            key: (
                _decode_files(value)
                if key == "dataFileList"
                else list(map(_whole, value))
            )
            if type(value) is list
            else value
            for key, value in block.items()
        }
        for block in blocks
    ]


def _decode_files(entries: list[msgspec.Raw]) -> list[Any]:
    files: list[Any] = []
    for start in range(0, len(entries), _FILES_PER_CALL):
        piece = b",".join(entries[start : start + _FILES_PER_CALL])
        files += msgspec.json.decode(b"[" + piece + b"]")
    return files


def _too_many(what: str, limit: int, count: int | None) -> ScicatCommError:
    found = f"{count} files" if count is not None else "too many JSON objects"
    return ScicatCommError(
        f"{what} lists {found}, more than the limit of {limit} files"
        " (raise max_files if the dataset is really this big)"
    )


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


async def parse_dataset(
    body: bytes | bytearray, *, what: str, max_files: int
) -> Dataset:
    """:func:`dataset_from_body`, on a worker thread when the body is large."""
    if len(body) > OFFLOAD_BYTES:
        return await anyio.to_thread.run_sync(
            lambda: dataset_from_body(body, what=what, max_files=max_files)
        )
    return dataset_from_body(body, what=what, max_files=max_files)
