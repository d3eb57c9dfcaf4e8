"""The ``kind`` fixture: which download transfer a reliability test runs."""

from __future__ import annotations

import pytest

from ._helpers import KINDS, use_kind


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``link``, ``copy`` or ``hardlink`` (a test may parametrise ``kind``
    indirectly with other values, e.g. ``copy-named``)."""
    return use_kind(str(request.param), monkeypatch)
