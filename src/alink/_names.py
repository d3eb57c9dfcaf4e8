"""Which texts can be file names on this system."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._errors import UnsafePathError

__all__ = ["check_encodable", "encodable", "summarise"]

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()
_SHOWN = 5


def summarise(items: Sequence[str], *, shown: int = _SHOWN) -> str:
    """The first few items, quoted, and how many more there are.

    Error messages name offending paths without growing with the input.
    """
    text = ", ".join(repr(i) for i in items[:shown])
    more = len(items) - shown
    return f"{text} and {more} more" if more > 0 else text


def encodable(text: str) -> bool:
    """Whether ``text`` can be a path on this system (e.g. no lone surrogate,
    which JSON allows but no filesystem name can hold)."""
    if text.isascii():  # constant time: a flag of the string
        return True
    try:
        text.encode(_FS_ENCODING, _FS_ERRORS)
    except UnicodeEncodeError:
        return False
    return True


def check_encodable(texts: Sequence[str], what: str) -> None:
    """Refuse paths the OS cannot take, before anything is created."""
    if encodable("\x00".join(texts)):  # one C-level pass for the slice
        return
    bad = [t for t in texts if not encodable(t)]
    raise UnsafePathError(
        f"{len(bad)} {what} path(s) cannot be file names on this system"
        f" (they hold characters with no encoding): {summarise(bad)}"
    )
