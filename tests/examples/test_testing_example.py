"""docs/examples/test_downloads.py, the test module docs/testing.md shows, run
verbatim as a user's suite: a folder with that one file, no conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import EXAMPLES

EXAMPLE = EXAMPLES / "test_downloads.py"


def test_the_testing_page_shows_the_example_file() -> None:
    page = (EXAMPLES.parent / "testing.md").read_text()
    assert '--8<-- "docs/examples/test_downloads.py"' in page


def test_the_example_passes_as_a_users_suite(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLE, Path(pytester.path) / EXAMPLE.name)
    assert not (Path(pytester.path) / "conftest.py").exists()
    # Warnings are errors, as in many suites (and in this one).
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    # Four tests, each on asyncio and on trio.
    result.assert_outcomes(passed=8)
