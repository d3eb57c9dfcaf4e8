"""What to do with local paths that already exist (pure).

Before a download, each local path is missing, a symlink, a regular file, a
folder or something else (a FIFO, a device). The rules, so that nothing a
user made is ever lost without ``force``:

- A folder is never touched: the download fails.
- A symlink into the dataset's source folder is alink's own kind of entry
  (replacing it loses nothing): it is handed to the transfer to replace. One
  that already points at the very file is "already done" for a transfer that
  links; a transfer that copies replaces it by a copy (a link is not a copy).
- A regular file that matches the catalogue — its size, and its checksum when
  checksums are compared and the catalogue has one — is kept as it is.
- Anything else (a file that differs, a symlink to somewhere else, a FIFO) may
  be the user's own work: it is a *conflict*, and the download fails before
  changing anything, unless ``force`` says to replace it.

With ``force`` every existing entry but folders is replaced.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Found", "LocalState", "Triage", "settle", "triage"]


class LocalState(enum.IntEnum):
    """What is at a local path before the download."""

    MISSING = 0
    #: A symlink, maybe dangling.
    SYMLINK = 1
    #: A regular file.
    FILE = 2
    #: A folder: never replaced.
    FOLDER = 3
    #: Anything else: a FIFO, a socket, a device.
    OTHER = 4


class Found(NamedTuple):
    """An existing local path ``k`` (its position in the layout) and what it is.

    Attributes:
        k: Position of the path in the download's layout.
        state: What kind of entry it is.
        link: The symlink's text (``SYMLINK`` only).
        size: The regular file's size in bytes (``FILE`` only).
    """

    k: int
    state: LocalState
    link: str | None = None
    size: int | None = None


@dataclass(slots=True)
class Triage:
    """Existing local paths sorted by what happens to them (positions ``k``).

    Attributes:
        folders: Folders where files should go: the download must fail.
        replace: Entries handed to the transfer to replace.
        compare: Regular files whose checksum decides (see :func:`settle`).
        kept: Entries in place already; left untouched.
        conflicts: Entries that are not alink's and differ, with why.
    """

    folders: list[int] = field(default_factory=list)
    replace: list[int] = field(default_factory=list)
    compare: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    conflicts: dict[int, str] = field(default_factory=dict)


def _inside(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root + "/")


def triage(
    found: Iterable[Found],
    *,
    force: bool,
    local: Callable[[int], str],
    remote: Callable[[int], str],
    source: str,
    size: Callable[[int], int],
    checksum: Callable[[int], bool],
) -> Triage:
    """Sort existing paths by the module's rules.

    Args:
        found: The existing paths.
        force: Replace every existing entry that is not a folder.
        local: The absolute local path of ``k``.
        remote: The absolute remote path of ``k`` (a link of ours points there).
        source: The dataset's absolute source folder.
        size: The catalogue's size of ``k``.
        checksum: Whether ``k``'s checksum is to be compared (the catalogue
            has one and verification is at the checksum level).
    """
    out = Triage()
    for entry in found:
        k, state = entry.k, entry.state
        if state is LocalState.FOLDER:
            out.folders.append(k)
        elif force:
            out.replace.append(k)
        elif state is LocalState.SYMLINK:
            text = entry.link or ""
            if text == remote(k) or _inside(
                posixpath.normpath(posixpath.join(posixpath.dirname(local(k)), text)),
                source,
            ):
                out.replace.append(k)
            else:
                out.conflicts[k] = f"a symlink to {text!r}, outside the dataset"
        elif state is LocalState.FILE:
            expected = size(k)
            if entry.size != expected:
                out.conflicts[k] = f"{entry.size} bytes, the catalogue says {expected}"
            elif checksum(k):
                out.compare.append(k)
            else:
                out.kept.append(k)
        else:
            out.conflicts[k] = "not a regular file"
    return out


def settle(
    sorted_out: Triage, up_to_date: Mapping[int, bool]
) -> tuple[list[int], set[int], dict[int, str]]:
    """The final decision: (positions to replace, sorted; positions kept as
    they are; conflicts with why, in position order).

    ``up_to_date[k]`` is the outcome of comparing file ``k``'s checksum; a
    file that could not be compared counts as differing.
    """
    kept = set(sorted_out.kept)
    conflicts = dict(sorted_out.conflicts)
    for k in sorted_out.compare:
        if up_to_date.get(k, False):
            kept.add(k)
        else:
            conflicts[k] = "its checksum differs from the catalogue's"
    return sorted(sorted_out.replace), kept, dict(sorted(conflicts.items()))
