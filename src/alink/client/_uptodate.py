"""What to do with local paths that already exist (pure).

Before a download, each local path is missing, an entry (a file or a
symlink, possibly dangling) or a folder. Folders are never touched. An entry
is kept when it is up to date — its size and checksum match the catalogue —
and replaced atomically otherwise. With ``force``, or when checksums are not
compared (verification lowered to ``"size"``/``"none"``, so that nothing has
to be read), every entry is replaced without looking inside.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["LocalState", "Triage", "settle", "triage"]


class LocalState(enum.IntEnum):
    """What is at a local path before the download."""

    MISSING = 0
    #: A file or a symlink (maybe dangling): may be replaced.
    ENTRY = 1
    #: A folder: never replaced.
    FOLDER = 2


@dataclass(slots=True)
class Triage:
    """Existing local paths sorted by what happens to them (indices ``k``).

    Attributes:
        folders: Folders where files should go: the download must fail.
        replace: Entries replaced without comparing.
        compare: Entries whose checksum decides (see :func:`settle`).
    """

    folders: list[int] = field(default_factory=list)
    replace: list[int] = field(default_factory=list)
    compare: list[int] = field(default_factory=list)


def triage(
    existing: Iterable[tuple[int, LocalState]], *, force: bool, compare: bool
) -> Triage:
    """Sort existing paths; ``compare`` says whether checksums are compared."""
    out = Triage()
    for k, state in existing:
        if state is LocalState.FOLDER:
            out.folders.append(k)
        elif state is LocalState.ENTRY:
            (out.compare if compare and not force else out.replace).append(k)
    return out


def settle(
    sorted_out: Triage, up_to_date: Mapping[int, bool]
) -> tuple[list[int], set[int]]:
    """The final decision: (indices to replace, sorted; indices kept as they are).

    ``up_to_date[k]`` is the outcome of comparing entry ``k``; an entry that
    was not compared counts as stale.
    """
    fresh = {k for k in sorted_out.compare if up_to_date.get(k, False)}
    replace = sorted_out.replace + [k for k in sorted_out.compare if k not in fresh]
    return sorted(replace), fresh
