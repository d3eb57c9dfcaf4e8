"""``import alink`` leaves the client (and httpx) for later; nothing else changes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_import_alink_does_not_import_httpx() -> None:
    out = _run(
        "import sys, alink\n"
        "print('httpx' in sys.modules, 'alink.client' in sys.modules)"
    )
    assert out == "False False"


@pytest.mark.parametrize(
    "first",
    [
        "import alink; alink.Client",
        "from alink import Client",
        "import alink.client",
        "from alink.client import Client",
        "from alink import *",
    ],
)
def test_client_names_are_alink_names_whatever_is_imported_first(first: str) -> None:
    out = _run(
        f"{first}\n"
        "import alink, alink.client\n"
        "names = ['Client', 'DownloadReport', 'Profile']\n"
        "print([getattr(alink, n).__module__ for n in names],"
        " alink.Client is alink.client.Client, 'Client' in dir(alink))"
    )
    assert out == "['alink', 'alink', 'alink'] True True"


def test_unknown_names_still_raise_attribute_error() -> None:
    import alink

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        alink.nope  # type: ignore[attr-defined]  # noqa: B018
