"""Helpers shared by the tests of ``alink.testing``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

EXAMPLES = Path("/work/shared/scicat-examples")


def example(name: str) -> Any:
    """A JSON file of the shared SciCat examples (skips if they are absent)."""
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"SciCat examples not available at {EXAMPLES}")
    return json.loads(path.read_text())


def q(pid: str) -> str:
    """A pid as it appears in a URL path (``quote_plus``, like the clients)."""
    return quote_plus(pid)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def server_threads() -> list[threading.Thread]:
    """Threads belonging to any ScicatServer that are still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("alink-scicat")]
