"""Turn a SciCat dataset response body into a :class:`~alink.Dataset`.

Two ways, one result:

- the fast path (:mod:`._runs`): the file lists are cut into runs decoded by
  msgspec into typed, untracked structs plus each entry's raw JSON, the rest
  of the body is decoded generically, and the files are built from the
  structs, each keeping its entry's JSON as its lazy ``extra``;
- the general path: msgspec decodes the whole body into plain dicts and
  :meth:`Dataset.from_scicat` builds the model from them.

The fast path gives exactly what the general path gives (the same fields,
files, ``extra`` mappings and round trip) or declines, and then the general
path runs; so the general path alone decides every error. Every problem with
the body becomes a :class:`~alink.ScicatCommError` that says what was wrong,
never a bare ``KeyError``/``TypeError``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import msgspec

from .._errors import ScicatCommError
from .._gcpause import collector_paused
from .._model import Dataset, _NotFast
from .._steps import finish
from ..transfer._engine import Engine
from ._runs import cut_steps, runs_by_block

__all__ = ["OFFLOAD_BYTES", "dataset_from_body", "parse_dataset"]

#: Bodies larger than this are decoded on a worker thread (the event loop
#: stays responsive while 100k files are parsed).
OFFLOAD_BYTES = 1 << 20
#: How long a hand-off of a big body's steps to a worker thread lasts. Each
#: hand-off costs ~0.3 ms of CPU (6-7 ms over a 100k-file dataset at 4 ms
#: each); longer ones do not stall the loop longer: a step holds the GIL for
#: well under a millisecond, and the loop's thread gets it back within the
#: interpreter's switch interval (5 ms). They bound how soon a cancellation
#: is seen.
_HANDOFF_SECONDS = 0.025

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
    return finish(_dataset_steps(body, what=what, max_files=max_files))


def _dataset_steps(
    body: bytes | bytearray, *, what: str, max_files: int
) -> Generator[None, None, Dataset]:
    """:func:`dataset_from_body` in steps of a few milliseconds each."""
    if not body or body.isspace():
        raise _not_found(what)
    fast = yield from _fast_steps(body, max_files=max_files)
    if fast is not None:
        return fast
    return (yield from _general_steps(body, what=what, max_files=max_files))


def _general_steps(
    body: bytes | bytearray, *, what: str, max_files: int
) -> Generator[None, None, Dataset]:
    """The general path: the whole body decoded into dicts, then the model."""
    if not body or body.isspace():
        raise _not_found(what)
    if body.count(b"{") > 2 * max_files + _OBJECT_SLACK:
        raise _too_many(what, max_files, None)
    try:
        # One C call that holds the GIL throughout (~80 ms for 100k files):
        # only for bodies the fast path declines.
        data = msgspec.json.decode(body)
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
    yield
    try:
        return (yield from Dataset._from_scicat_steps(data, owned=True))
    except (ValueError, TypeError) as exc:
        raise ScicatCommError(
            f"SciCat sent {what} in an unexpected shape: {exc}"
        ) from None


def _fast_steps(
    body: bytes | bytearray, *, max_files: int
) -> Generator[None, None, Dataset | None]:
    """The fast path (see the module): the dataset, or ``None`` to decline."""
    # Runs are decoded where they lie, in a buffer of our own (see cut_steps).
    buffer = body if isinstance(body, bytearray) else bytearray(body)
    cut = yield from cut_steps(buffer, max_files=max_files)
    if cut is None or cut.skeleton.count(b"{") > 2 * max_files + _OBJECT_SLACK:
        return None
    try:
        data = msgspec.json.decode(cut.skeleton)
    except msgspec.DecodeError:
        return None
    runs = runs_by_block(data, cut)
    if runs is None or not isinstance(data, dict):
        return None
    yield
    try:
        return (yield from Dataset._from_scicat_steps(data, runs))
    except (_NotFast, ValueError, TypeError):
        # The general path decides what is wrong, and says it in its words.
        return None


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
    """:func:`dataset_from_body`; a large body on worker threads, in steps.

    Each hand-off to a worker thread lasts up to 25 ms, in steps of well
    under a millisecond (a run's decode, a run's files), and the event
    loop's thread gets the GIL within the switch interval: decoding and
    building a 100k-file dataset is some 70 ms of work that holds the GIL.
    Automatic garbage collection is paused meanwhile (see
    :mod:`alink._gcpause`).
    """
    if len(body) <= OFFLOAD_BYTES:
        return dataset_from_body(body, what=what, max_files=max_files)
    built: list[Dataset] = []

    def steps() -> Iterator[None]:
        built.append((yield from _dataset_steps(body, what=what, max_files=max_files)))

    # Full collections walking the process while 100k files are made would
    # stall the loop for tens of milliseconds each: see alink._gcpause.
    with collector_paused():
        await Engine(batch_seconds=_HANDOFF_SECONDS).run_steps([steps()])
    return built[0]
