"""Cut a dataset body into runs of file entries and a small skeleton.

A dataset of 100k files is ~19 MB of JSON, nearly all of it the entries of
``origdatablocks[*].dataFileList``. Decoded generically in one call, it holds
the GIL for 60-80 ms and makes a dict (and a string per field) for every
entry. Here instead:

- every file list is cut into *runs* of consecutive entries, ~128 KiB
  each, at positions found with C-level byte searches. Each run is decoded
  on its own, where it lies in the body, in one C call of well under a
  millisecond, into typed entries (``alink._model._CatalogueEntry``: only
  the fields a ``File`` needs; not tracked by the garbage collector); the
  run's text is kept for the files' lazy ``extra`` (see
  ``alink._model._LazyExtra``);
- the rest of the body, with each file list's runs replaced by placeholder
  strings, is the *skeleton* (a few kilobytes), decoded generically, so
  every dataset and block field is kept exactly as the general path keeps
  it.

Why the result is exactly what decoding the whole body gives. A run is
decoded as ``[`` + the run + ``]``, so its decode succeeds only if the run is
a comma-separated sequence of complete JSON values. A cut made inside a
string or inside a nested value leaves the run's text ending there, and the
decode fails (an unterminated string or bracket): then the next candidate
position is tried. The skeleton is decoded and each placeholder (a string
with a NUL and a random token, so no body holds it by chance) must come out
as exactly the elements of the ``dataFileList`` of a block, in body order;
the text before a placeholder is the same in the skeleton and in the body, so
the decoder stood between two array elements there in both, and the run's
values take the placeholder's place. Anything else (a placeholder elsewhere
or missing, a run that never decodes, an entry of another shape, more files
than allowed) gives ``None``, and the caller decodes the whole body the
general way, which also gives the exact error for a malformed one.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import msgspec

from .._model import (
    _CatalogueEntry,
    _entry_numbers,
    _EntryTable,
    _set_entry_table,
)

__all__ = ["RUN_BYTES", "Cut", "Run", "cut_steps", "runs_by_block"]

#: Bytes of entries per run (~650 typical SciCat entries): decoding a run is
#: one C call that holds the GIL, ~0.2 ms on the benchmark machine.
RUN_BYTES = 128 << 10
#: Candidate end positions tried per run before the general path is used
#: (a cut can only land in a string if a path holds ``}]`` or ``},{``).
_MAX_TRIES = 8

_KEY = b'"dataFileList"'
_WHITESPACE = frozenset(b" \t\n\r")
_COLON, _COMMA, _OPEN, _CLOSE = 0x3A, 0x2C, 0x5B, 0x5D
_BRACE_OPEN, _BRACE_CLOSE = 0x7B, 0x7D


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive entries of a file list, decoded typed."""

    entries: list[_CatalogueEntry]


@dataclass(frozen=True, slots=True)
class Cut:
    """A body cut into runs: the skeleton and, per cut file list in body
    order, its runs and the placeholder strings standing for them."""

    skeleton: bytes
    arrays: list[list[Run]]
    placeholders: list[list[str]]


def _skip_space(body: bytearray, at: int, end: int) -> int:
    while at < end and body[at] in _WHITESPACE:
        at += 1
    return at


class _Malformed:
    """A trial cut that does not decode: try the next candidate."""


_MALFORMED = _Malformed()


#: Decodes a run (a JSON array of entries).
_ENTRIES = msgspec.json.Decoder(list[_CatalogueEntry])
#: Held while a run is decoded, so that its entries' numbers are consecutive
#: even when several threads read datasets at once.
_numbering = threading.Lock()


class _Decoder:
    """Decodes the runs of one body into typed entries and records each
    run's text in the body's :class:`~alink._model._EntryTable`."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table = _EntryTable()

    def run(self, body: bytearray, first: int, last: int) -> Run | _Malformed | None:
        """Decode the entries ``body[first:last + 1]`` (``{`` ... ``}``).

        The bytes just before and after (a ``[``, ``,``, ``]`` or white
        space, outside every entry) are made ``[`` and ``]`` for the call and
        put back, so the run is decoded where it lies, without copying it.
        ``None``: the JSON is well formed but an entry has another shape (or
        brought a field named like ``at``).
        """
        before, after = first - 1, last + 1
        saved = body[before], body[after]
        body[before], body[after] = _OPEN, _CLOSE
        view = memoryview(body)
        try:
            with _numbering:
                start = next(_entry_numbers)
                entries = _ENTRIES.decode(view[before : after + 1])
                end = next(_entry_numbers)
        except msgspec.ValidationError:
            return None
        except msgspec.DecodeError:
            return _MALFORMED
        finally:
            body[before], body[after] = saved
        if end - start - 1 != len(entries):
            return None  # an entry had its own "at": the counter was not called
        deque(map(_set_entry_table, entries, repeat(self.table)), maxlen=0)
        self.table.add(start + 1, view[first:after])
        return Run(entries)


def _next_gap(body: bytearray, start: int, end: int) -> tuple[int, int]:
    """The first ``}`` at or after ``start`` followed by ``,`` and ``{`` (white
    space allowed): ``(index of the brace, index of the next "{")``, or
    ``(-1, -1)``."""
    brace = body.find(b"}", start)
    while brace >= 0:
        at = _skip_space(body, brace + 1, end)
        if at < end and body[at] == _COMMA:
            at = _skip_space(body, at + 1, end)
            if at < end and body[at] == _BRACE_OPEN:
                return brace, at
        brace = body.find(b"}", brace + 1)
    return -1, -1


def _next_close(body: bytearray, start: int, stop: int, first: int) -> tuple[int, int]:
    """The first ``]`` in ``[start, stop)`` that follows a ``}`` after
    ``first`` (white space allowed): ``(index of the brace, index of the
    bracket)``, or ``(-1, -1)``."""
    bracket = body.find(b"]", start, stop)
    while bracket >= 0:
        brace = bracket - 1
        while brace > first and body[brace] in _WHITESPACE:
            brace -= 1
        if brace > first and body[brace] == _BRACE_CLOSE:
            return brace, bracket
        bracket = body.find(b"]", bracket + 1, stop)
    return -1, -1


def _next_run(
    body: bytearray, first: int, run_bytes: int, decoder: _Decoder
) -> tuple[Run, int, bool] | None:
    """The run starting at the entry ``body[first]``.

    Returns ``(run, where the next run starts or the list's "]" is, whether
    the list ended)``, or ``None`` if none of the candidate ends decodes.
    """
    end = len(body)
    close_from, gap_from = first, first + run_bytes
    for _ in range(_MAX_TRIES):
        gap, after_gap = _next_gap(body, gap_from, end)
        brace, bracket = _next_close(body, close_from, gap if gap >= 0 else end, first)
        last = brace if brace >= 0 else gap
        if last < 0:
            return None
        run = decoder.run(body, first, last)
        if run is None:
            return None
        if isinstance(run, Run):
            if brace >= 0:
                return run, bracket, True
            return run, after_gap, False
        if brace >= 0:  # that "}]" was inside a string or a nested value
            close_from = bracket + 1
        else:
            gap_from = gap + 1
    return None


def cut_steps(
    body: bytearray, *, max_files: int, run_bytes: int | None = None
) -> Generator[None, None, Cut | None]:
    """Cut ``body`` into runs and a skeleton, pausing after each run.

    ``body`` is modified during each decode call and restored before it
    returns; the runs' raw texts are views into it (it must not be resized
    afterwards). Returns ``None`` where the general path must decode the
    body: see the module's docstring; also past ``max_files`` entries.
    ``run_bytes`` defaults to :data:`RUN_BYTES`.
    """
    run_bytes = RUN_BYTES if run_bytes is None else run_bytes
    decoder = _Decoder()
    end = len(body)
    token = secrets.token_hex(8)
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    arrays: list[list[Run]] = []
    placeholders: list[list[str]] = []
    kept = 0  # body[kept:] is not in pieces yet
    files = 0
    search = 0
    while (key := body.find(_KEY, search)) >= 0:
        search = key + len(_KEY)
        at = _skip_space(body, search, end)
        if at >= end or body[at] != _COLON:
            continue
        at = _skip_space(body, at + 1, end)
        if at >= end or body[at] != _OPEN:
            continue
        first = _skip_space(body, at + 1, end)
        if first >= end or body[first] != _BRACE_OPEN:
            continue  # empty, or not objects: the skeleton keeps it as it is
        pieces.append(view[kept:first])
        runs: list[Run] = []
        cursor = first
        while True:
            found = _next_run(body, cursor, run_bytes, decoder)
            if found is None:
                return None
            run, cursor, ended = found
            files += len(run.entries)
            if files > max_files:
                return None
            runs.append(run)
            yield
            if ended:
                break
        names = [f"\x00alink:{token}:{len(arrays)}:{i}" for i in range(len(runs))]
        pieces.append(b",".join(msgspec.json.encode(name) for name in names))
        arrays.append(runs)
        placeholders.append(names)
        kept = search = cursor  # the list's "]"
    pieces.append(view[kept:])
    return Cut(b"".join(pieces), arrays, placeholders)


def runs_by_block(data: Any, cut: Cut) -> dict[int, list[Run]] | None:
    """Which block each cut file list belongs to, from the decoded skeleton.

    ``None`` unless every list's placeholders are, in body order, exactly
    the ``dataFileList`` of a block of ``data["origdatablocks"]``.
    """
    if not cut.arrays:
        return {}
    blocks = data.get("origdatablocks") if isinstance(data, dict) else None
    if not isinstance(blocks, list):
        return None
    found: dict[int, list[Run]] = {}
    expected = iter(zip(cut.placeholders, cut.arrays, strict=True))
    names, runs = next(expected)
    for index, block in enumerate(blocks):
        if isinstance(block, dict) and block.get("dataFileList") == names:
            found[index] = runs
            step = next(expected, None)
            if step is None:
                return found
            names, runs = step
    return None
