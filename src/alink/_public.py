"""Present re-exported classes under the public module that exports them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["present_as"]


def present_as(
    module: str, namespace: Mapping[str, object], names: Iterable[str]
) -> None:
    """Set ``__module__`` of the alink classes ``names`` in ``namespace``.

    Tracebacks and reprs then show ``alink.ScicatCommError`` rather than
    ``alink._errors.ScicatCommError`` (httpx does the same); pickle finds the
    classes under that name too. The package root calls this last, so a class
    it re-exports from a sub-package (``alink.client.Client``) is presented as
    ``alink.Client``.
    """
    for name in names:
        value = namespace[name]
        if isinstance(value, type) and value.__module__.startswith("alink."):
            value.__module__ = module
