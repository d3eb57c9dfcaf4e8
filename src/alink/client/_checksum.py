"""File checksums as SciCat records them (``chk`` computed with ``chkAlg``).

Synchronous and blocking: call these on worker threads only.
"""

from __future__ import annotations

import hashlib

__all__ = ["checksum_of_file", "normalize_algorithm"]

#: Read buffer: large enough that hashing is not dominated by system calls.
_BUFFER_SIZE = 1 << 20

#: Algorithms whose digest length must be chosen by the caller; SciCat has none.
_VARIABLE_LENGTH = frozenset(("shake_128", "shake_256"))


def normalize_algorithm(name: str) -> str:
    """The :mod:`hashlib` name of a checksum algorithm as SciCat spells it.

    Case and dashes are normalised: ``"MD5"`` -> ``"md5"``, ``"SHA-256"`` ->
    ``"sha256"``, ``"sha3-256"`` -> ``"sha3_256"``, ``"blake2b"`` stays.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: :mod:`hashlib` offers no such algorithm here.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"a checksum algorithm must be a string, got {type(name).__name__}"
        )
    text = name.strip().lower()
    available = hashlib.algorithms_available
    for candidate in (text, text.replace("-", "_"), text.replace("-", "")):
        if candidate in available and candidate not in _VARIABLE_LENGTH:
            return candidate
    raise ValueError(
        f"unsupported checksum algorithm {name!r}; supported are e.g. 'md5',"
        " 'sha256', 'blake2b' (any fixed-length hashlib algorithm)"
    )


def checksum_of_file(path: str, algorithm: str) -> str:
    """The hex digest of the file at ``path`` (symlinks are followed).

    ``algorithm`` must already be normalised (:func:`normalize_algorithm`).
    """
    digest = hashlib.new(algorithm)
    buffer = bytearray(_BUFFER_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()
