"""Which texts can be file names on this system."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._errors import UnsafePathError

__all__ = ["check_encodable", "encodable"]

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()
_SHOWN = 5


def encodable(text: str) -> bool:
    """Whether ``text`` can be a path on this system (e.g. no lone surrogate,
    which JSON allows but no filesystem name can hold)."""
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
    shown = ", ".join(repr(t) for t in bad[:_SHOWN])
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    raise UnsafePathError(
        f"{len(bad)} {what} path(s) cannot be file names on this system"
        f" (they hold characters with no encoding): {shown}{more}"
    )
