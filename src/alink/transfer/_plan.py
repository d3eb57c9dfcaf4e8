"""Pure planning: validate and normalise (remote, local) pairs before any I/O.

Nothing here touches the filesystem or an event loop. The functions work on
plain ``str`` paths in the hot loop (``Path`` objects per file are far too
slow for 100k files) and keep the typed objects at the API edge.
"""

from __future__ import annotations

import itertools
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PosixPath
from typing import TypeAlias, cast

from .._errors import UnsafePathError
from .._names import check_encodable, encodable, summarise
from .._paths import RemotePath

__all__ = [
    "Plan",
    "RemoteInput",
    "LocalInput",
    "absolute_remote",
    "find_duplicates",
    "Layout",
    "run_indices",
    "run_length",
    "plan_pairs",
]

RemoteInput: TypeAlias = "RemotePath | str"
LocalInput: TypeAlias = "str | os.PathLike[str]"

_BAD_NAMES = frozenset(("", ".", ".."))


@dataclass(slots=True)
class Plan:
    """What a download will do: ``targets[i]`` becomes a copy/link of ``sources[i]``.

    Both lists hold absolute, lexically normalised paths.
    """

    sources: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)


def absolute_remote(path: RemoteInput, cwd: str) -> str:
    """The absolute, ``..``-free text of a remote path (relative: against cwd)."""
    remote = path if isinstance(path, RemotePath) else RemotePath(path)
    if not remote.is_absolute():
        remote = RemotePath(cwd) / remote
    return remote.resolve().posix


def _remote_text(item: object) -> str:
    if isinstance(item, RemotePath):
        return item.posix
    if isinstance(item, str):
        return RemotePath(item).posix
    raise TypeError(
        f"remote paths must be RemotePath or str, got {type(item).__name__}"
    )


def _local_text(item: object) -> str:
    if isinstance(item, str):
        text = item
    else:
        try:
            text = os.fspath(cast("os.PathLike[str]", item))
        except TypeError:
            raise TypeError(
                f"local paths must be str or os.PathLike, got {type(item).__name__}"
            ) from None
        if not isinstance(text, str):
            raise TypeError(f"local paths must be text, got {type(text).__name__}")
    if "\x00" in text:
        raise UnsafePathError(f"local path contains a NUL byte: {text!r}")
    return text


def _plan_plain_slice(
    prefix: str,
    remote: Sequence[RemoteInput],
    local: Sequence[LocalInput],
    start: int,
    stop: int,
    plan: Plan,
) -> bool:
    """Plan a slice whose paths are all plain, checking them a slice at a time.

    "Plain": every remote path starts with ``prefix`` and has no ``..``;
    every local path is absolute with no ``//``, no segment starting with a
    dot and no trailing slash. Such paths need no normalisation. The checks
    run as a few C-level searches over the NUL-joined slice instead of
    several per path. Returns ``False`` (planning nothing) if any path is
    not plain, or the inputs are not ``RemotePath``/``str``/``Path``.
    """
    count = stop - start
    if count <= 0:
        return True
    try:
        # bytes or non-paths make the joins below raise TypeError: slow path.
        texts = [
            r._path if type(r) is RemotePath else _plain(r) for r in remote[start:stop]
        ]
        targets = [
            p if type(p) is str else str(p) if type(p) is PosixPath else os.fspath(p)
            for p in local[start:stop]
        ]
    except TypeError:
        return False
    joined = "\x00".join(texts)
    if (
        joined.count("\x00") != count - 1
        or not joined.startswith(prefix)
        or joined.count("\x00" + prefix) != count - 1
        or "/.." in joined
        or not encodable(joined)
    ):
        return False
    joined = "\x00".join(targets)
    if (
        joined.count("\x00") != count - 1
        or not joined.startswith("/")
        or joined.count("\x00/") != count - 1
        or "//" in joined
        or "/." in joined
        or "/\x00" in joined
        or joined.endswith("/")
        or not encodable(joined)
    ):
        return False
    plan.sources.extend(texts)
    plan.targets.extend(targets)
    return True


def _plain(item: object) -> str:
    """A ``str`` remote path, normalised; anything else is not plain."""
    if type(item) is str and "\x00" not in item:
        return RemotePath(item)._path
    raise TypeError


def plan_pairs(
    source_folder: str,
    remote: Sequence[RemoteInput],
    local: Sequence[LocalInput],
    *,
    cwd: str,
    start: int = 0,
    stop: int | None = None,
    into: Plan | None = None,
) -> Plan:
    """Validate ``remote[start:stop]`` / ``local[start:stop]`` and add them to a plan.

    ``source_folder`` must be absolute and normalised. Every remote path must
    lie strictly inside it after lexical normalisation, and every local path
    must end in a real file name; otherwise :class:`UnsafePathError` names the
    offending paths. Relative paths are taken against ``cwd``.

    Call it on consecutive slices to keep each call short; run
    :func:`find_duplicates` on the finished plan.
    """
    if len(remote) != len(local):
        raise ValueError(
            f"remote and local must have the same length, got {len(remote)} remote"
            f" and {len(local)} local paths"
        )
    plan = into if into is not None else Plan()
    stop = len(remote) if stop is None else stop
    prefix = source_folder.rstrip("/") + "/"
    if _plan_plain_slice(prefix, remote, local, start, stop, plan):
        return plan
    cwd_prefix = cwd.rstrip("/") + "/"
    escaping: list[str] = []
    bad_names: list[str] = []
    sources_append = plan.sources.append
    targets_append = plan.targets.append
    prefix_len = len(prefix)
    first = len(plan.sources)
    # The hot loop: plain str checks; anything unusual takes the slow path.
    for item, place in zip(
        itertools.islice(remote, start, stop),
        itertools.islice(local, start, stop),
        strict=True,
    ):
        text = item._path if type(item) is RemotePath else _remote_text(item)
        if text[:1] != "/":
            text = absolute_remote(text, cwd)
        elif "/.." in text:
            text = RemotePath._from_clean(text).resolve().posix
        if not text.startswith(prefix) or len(text) == prefix_len:
            escaping.append(_remote_text(item))
            continue
        target = place if type(place) is str else _local_text(place)
        if (
            target[:1] != "/"
            or "//" in target
            or "/." in target
            or target.endswith("/")
            or "\x00" in target
        ):
            target = _local_text(target)  # NUL check
            if target.rpartition("/")[2] in _BAD_NAMES:
                bad_names.append(target)
                continue
            target = posixpath.normpath(
                target if target.startswith("/") else cwd_prefix + target
            )
        sources_append(text)
        targets_append(target)
    if escaping:
        raise UnsafePathError(
            f"{len(escaping)} remote path(s) lie outside the dataset's source folder"
            f" {source_folder!r}: {summarise(escaping)}"
        )
    if bad_names:
        raise UnsafePathError(
            f"{len(bad_names)} local path(s) do not end in a file name"
            f" ('', '.' and '..' are refused): {summarise(bad_names)}"
        )
    check_encodable(plan.sources[first:], "remote")
    check_encodable(plan.targets[first:], "local")
    return plan


def find_duplicates(paths: Sequence[str]) -> list[str]:
    """Paths that occur more than once, each listed once, in input order."""
    seen: set[str] = set()
    add = seen.add
    size = 0
    duplicates: dict[str, None] = {}
    for path in paths:
        add(path)
        if len(seen) == size:
            duplicates[path] = None
        size = len(seen)
    return list(duplicates)


#: Items handed to one C-level set operation: big single calls hold the GIL
#: (and so stall the event loop thread) for their whole duration.
_GIL_SLICE = 4096


class DuplicateCheck:
    """Finds local paths used twice, fed one slice at a time."""

    __slots__ = ("_seen", "_size")

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._size = 0

    def add(self, targets: Sequence[str], start: int, stop: int) -> None:
        """Add ``targets[start:stop]`` in small C-level steps (GIL-friendly)."""
        for a in range(start, stop, _GIL_SLICE):
            self._seen.update(targets[a : min(stop, a + _GIL_SLICE)])
        self._size += stop - start

    def check(self, targets: Sequence[str]) -> None:
        """Raise ``ValueError`` naming the paths used more than once.

        Frees the set either way: it can be large, and the next steps of a
        download need their memory.
        """
        unique, self._seen = len(self._seen), set()
        if unique == self._size:
            return
        duplicates = find_duplicates(targets)
        raise ValueError(
            f"{len(duplicates)} local path(s) are used more than once:"
            f" {summarise(duplicates)}"
        )


def check_no_duplicates(targets: Sequence[str]) -> None:
    """Raise ``ValueError`` if two pairs would write the same local path."""
    check = DuplicateCheck()
    check.add(targets, 0, len(targets))
    check.check(targets)


Runs = list[tuple[int, int]]


@dataclass(slots=True)
class Layout:
    """Where a plan's files are: remote folders and the local folders needed.

    Remote folders map to runs ``(start, stop)`` of consecutive plan indices,
    not to one index per file: inputs are usually grouped by folder, and a
    million small ``int`` objects would cost tens of megabytes.
    """

    remote_runs: dict[str, Runs] = field(default_factory=dict)
    local_folders: dict[str, None] = field(default_factory=dict)

    def add(self, plan: Plan, start: int, stop: int) -> None:
        """Record ``plan[start:stop]``; call on consecutive slices."""
        if stop <= start:
            return
        parent = _uniform_parent(plan.sources, start, stop)
        if parent is not None:
            _add_run(self.remote_runs.setdefault(parent, []), start, stop)
        else:
            runs = self.remote_runs
            last = ""
            last_runs: Runs = []
            for i in range(start, stop):
                parent = plan.sources[i].rpartition("/")[0] or "/"
                if parent != last:
                    last = parent
                    last_runs = runs.setdefault(parent, [])
                _add_run(last_runs, i, i + 1)
        parent = _uniform_parent(plan.targets, start, stop)
        if parent is not None:
            self.local_folders[parent] = None
        else:
            folders = self.local_folders
            last = ""
            for target in itertools.islice(plan.targets, start, stop):
                parent = target.rpartition("/")[0] or "/"
                if parent != last:
                    last = parent
                    folders[parent] = None


def _add_run(runs: Runs, start: int, stop: int) -> None:
    if runs and runs[-1][1] == start:
        runs[-1] = (runs[-1][0], stop)
    else:
        runs.append((start, stop))


def _uniform_parent(paths: Sequence[str], start: int, stop: int) -> str | None:
    """The folder holding all of ``paths[start:stop]`` directly, if there is one.

    Answered with a few C-level searches over the NUL-joined slice (plan
    paths never contain NUL) instead of splitting every path.
    """
    parent = paths[start].rpartition("/")[0]
    prefix = parent + "/"
    count = stop - start
    joined = "\x00".join(paths[start:stop])
    if (
        joined.startswith(prefix)
        and joined.count("\x00" + prefix) == count - 1
        and joined.count("/") == count * prefix.count("/")
    ):
        return parent or "/"
    return None


def run_indices(runs: Runs) -> Iterator[int]:
    """Every index in ``runs``, in order."""
    for start, stop in runs:
        yield from range(start, stop)


def run_length(runs: Runs) -> int:
    """How many indices ``runs`` hold."""
    return sum(stop - start for start, stop in runs)
