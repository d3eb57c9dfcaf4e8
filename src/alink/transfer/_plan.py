"""Pure planning: validate and normalise (remote, local) pairs before any I/O.

Nothing here touches the filesystem or an event loop. The functions work on
plain ``str`` paths in the hot loop (``Path`` objects per file are far too
slow for 100k files) and keep the typed objects at the API edge.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

from .._errors import UnsafePathError
from .._paths import RemotePath

__all__ = [
    "Plan",
    "RemoteInput",
    "LocalInput",
    "absolute_remote",
    "find_duplicates",
    "group_by_parent",
    "plan_pairs",
]

RemoteInput: TypeAlias = "RemotePath | str"
LocalInput: TypeAlias = "str | os.PathLike[str]"

_BAD_NAMES = frozenset(("", ".", ".."))
#: How many offending paths an error message lists before it says "and N more".
_SHOWN = 5


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


def _is_normal_absolute(text: str) -> bool:
    """Whether an absolute path is already in the form ``posixpath.normpath`` gives."""
    return (
        text.startswith("/")
        and "//" not in text
        and "/./" not in text
        and "/../" not in text
        and not text.endswith(("/.", "/..", "/"))
    )


def _summarise(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    more = len(items) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


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
    cwd_prefix = cwd.rstrip("/") + "/"
    escaping: list[str] = []
    bad_names: list[str] = []
    sources_append = plan.sources.append
    targets_append = plan.targets.append
    for i in range(start, stop):
        text = _remote_text(remote[i])
        if not text.startswith("/"):
            text = absolute_remote(text, cwd)
        elif "/.." in text:
            text = RemotePath._from_clean(text).resolve().posix
        if not text.startswith(prefix) or len(text) == len(prefix):
            escaping.append(_remote_text(remote[i]))
            continue
        target = _local_text(local[i])
        if target.rpartition("/")[2] in _BAD_NAMES:
            bad_names.append(target)
            continue
        if not _is_normal_absolute(target):
            target = posixpath.normpath(
                target if target.startswith("/") else cwd_prefix + target
            )
        sources_append(text)
        targets_append(target)
    if escaping:
        raise UnsafePathError(
            f"{len(escaping)} remote path(s) lie outside the dataset's source folder"
            f" {source_folder!r}: {_summarise(escaping)}"
        )
    if bad_names:
        raise UnsafePathError(
            f"{len(bad_names)} local path(s) do not end in a file name"
            f" ('', '.' and '..' are refused): {_summarise(bad_names)}"
        )
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


def check_no_duplicates(targets: Sequence[str]) -> None:
    """Raise ``ValueError`` if two pairs would write the same local path."""
    if len(set(targets)) == len(targets):
        return
    duplicates = find_duplicates(targets)
    raise ValueError(
        f"{len(duplicates)} local path(s) are used more than once:"
        f" {_summarise(duplicates)}"
    )


def group_by_parent(paths: Iterable[str]) -> dict[str, list[int]]:
    """Map each parent folder to the indices of the paths directly inside it."""
    groups: dict[str, list[int]] = {}
    for index, path in enumerate(paths):
        parent = path.rpartition("/")[0] or "/"
        bucket = groups.get(parent)
        if bucket is None:
            groups[parent] = [index]
        else:
            bucket.append(index)
    return groups
