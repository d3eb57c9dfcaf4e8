"""The remote folder a transfer uploads a dataset to."""

from __future__ import annotations

import contextlib
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._errors import UnsafePathError
from .._paths import RemotePath
from ..filesystem import escape_path

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = ["source_folder_for"]

#: SciCat's time fields: a pattern sees them as times, as in Scitacean.
_TIMES = frozenset(("creationTime", "endTime", "createdAt", "updatedAt"))
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class _DatasetFields:
    """Attribute access to a dataset for patterns: ``{dset.owner}``, ``{dset.pid}``."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def __getattr__(self, name: str) -> Any:
        if name in ("pid", "type", "name", "owner", "source_folder"):
            return getattr(self._dataset, name)
        fields: Mapping[str, Any] = self._dataset.fields
        for key in (name, _camel(name)):
            if key in fields:
                value = fields[key]
                if key in _TIMES and isinstance(value, str):
                    with contextlib.suppress(ValueError):
                        return datetime.fromisoformat(value)
                return value
        raise AttributeError(f"the dataset has no field {name!r}")


class _PathFormatter(string.Formatter):
    """Formats each placeholder as one safe path segment, escaped as
    Scitacean escapes it (:func:`~alink.filesystem.escape_path`), so a
    pattern names the same folder with either library."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            raise ValueError("a source folder placeholder refers to an unset field")
        if not isinstance(value, datetime):
            value = str(value)
        text: str = escape_path(super().format_field(value, format_spec))
        if text in ("", ".", ".."):
            raise UnsafePathError(f"placeholder value {text!r} is not a folder name")
        return text

    def get_value(
        self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return getattr(kwargs["dset"], key)
        return super().get_value(key, args, kwargs)


def source_folder_for(dataset: Dataset, pattern: RemotePath | None) -> RemotePath:
    """Where uploads of ``dataset`` go: ``pattern`` filled in, or its source folder.

    The pattern may use ``{uid}`` (a fresh UUID), ``{dset.<field>}`` and
    shorthands for dataset fields such as ``{pid}``, ``{name}``, ``{owner}``
    or ``{owner_group}``. Each value becomes one path segment, escaped as
    in Scitacean (every character but letters, digits, space, ``_``, ``.``
    and ``-`` becomes ``_``; times are written as ``str(datetime)``), so a
    field cannot steer the path elsewhere and both libraries agree. A dataset whose
    source folder was already made from the pattern keeps it: the folder a
    ``{uid}`` chose stays the same when it is asked for again (the client
    sets it as the source folder, then the transfer connects).
    """
    if pattern is None:
        if dataset.source_folder is None:
            raise ValueError(
                "cannot determine the source folder: neither the dataset nor the"
                " transfer has one"
            )
        return dataset.source_folder
    marker = f"alinkuid{uuid.uuid4().hex}"
    text = _PathFormatter().format(
        pattern.posix, dset=_DatasetFields(dataset), uid=marker
    )
    if marker not in text:
        return RemotePath(text)
    current = dataset.source_folder
    if current is not None:
        made = re.escape(text).replace(marker, _UUID)
        if re.fullmatch(made, current.posix):
            return current
    return RemotePath(text.replace(marker, str(uuid.uuid4())))
