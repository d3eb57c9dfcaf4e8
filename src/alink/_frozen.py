"""Read-only JSON containers: a dataset's nested field values.

A :class:`~alink.Dataset` is immutable, and so must be what its fields hold:
``ds.fields["scientificMetadata"]`` is shared by every dataset made from
``ds`` (``replace``, ``download_files``' result), so changing it in place
would change them all, silently. The containers here read, compare and
serialise (``json.dumps``) like the ``dict`` and ``list`` they subclass, and
refuse every change with a ``TypeError`` that says what to do instead.
``copy.copy`` and ``copy.deepcopy`` give plain, editable containers.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NoReturn, SupportsIndex

__all__ = ["FrozenDict", "FrozenList", "freeze", "freeze_entry", "thaw", "thaw_entry"]

_READ_ONLY = (
    "a dataset's fields are read-only (datasets are immutable): edit a copy"
    " (copy.deepcopy(value)) and pass it to dataset.replace(fields={...})"
)


def _refuse() -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict[str, Any]):
    """A JSON object that cannot change (see the module's docstring)."""

    __slots__ = ()

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        _refuse()

    def __delitem__(self, key: str) -> NoReturn:
        _refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def clear(self) -> NoReturn:
        _refuse()

    def pop(self, *args: Any) -> NoReturn:
        _refuse()

    def popitem(self) -> NoReturn:
        _refuse()

    def setdefault(self, *args: Any) -> NoReturn:
        _refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thaw(self)  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # Unpickled as a plain dict: the dataset that holds it freezes again.
        return (dict, (dict(self),))


class FrozenList(list[Any]):
    """A JSON array that cannot change (see the module's docstring)."""

    __slots__ = ()

    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        _refuse()

    def __delitem__(self, index: Any) -> NoReturn:
        _refuse()

    def __iadd__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def __imul__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def append(self, value: Any) -> NoReturn:
        _refuse()

    def extend(self, values: Any) -> NoReturn:
        _refuse()

    def insert(self, index: Any, value: Any) -> NoReturn:
        _refuse()

    def pop(self, *args: Any) -> NoReturn:
        _refuse()

    def remove(self, value: Any) -> NoReturn:
        _refuse()

    def clear(self) -> NoReturn:
        _refuse()

    def sort(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def reverse(self) -> NoReturn:
        _refuse()

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self)  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (list, (list(self),))


def freeze(value: Any) -> Any:
    """``value`` with every ``dict`` and ``list`` in it made read-only (copied).

    Frozen containers are taken as they are (their contents are frozen), so
    freezing the fields of a dataset made from another one costs nothing.
    Other values (strings, numbers, ``None``, tuples, anything else) are
    kept.
    """
    kind = type(value)
    if kind is FrozenDict or kind is FrozenList:
        return value
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList([freeze(v) for v in value])
    return value


def thaw(value: Any) -> Any:
    """A plain, editable deep copy of a frozen (or plain) JSON value."""
    if isinstance(value, dict | MappingProxyType):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


#: Container types a JSON value may be (plain or frozen).
_CONTAINERS = frozenset((dict, list, FrozenDict, FrozenList))


def freeze_entry(entry: dict[str, Any]) -> FrozenDict:
    """:func:`freeze` for a JSON object whose values are mostly plain (a
    file's catalogue entry): one C-level copy when no value is a container."""
    if _CONTAINERS.isdisjoint(map(type, entry.values())):
        return FrozenDict(entry)
    frozen: FrozenDict = freeze(entry)
    return frozen


def thaw_entry(entry: Any) -> dict[str, Any]:
    """:func:`thaw` for such an object: a plain copy, thawed only where needed."""
    out = dict(entry)
    if not _CONTAINERS.isdisjoint(map(type, out.values())):
        out = thaw(out)
    return out
