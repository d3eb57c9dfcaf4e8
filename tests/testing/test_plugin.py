"""alink's pytest plugin: fixtures without set-up, registered once, cheap to load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import alink.testing.fixtures

USER_TEST = """
    import httpx

    def test_the_fixtures_are_there(scicat_server, scicat_token, scicat_seed):
        url = f"{scicat_server.url}/v4/datasets/public/"
        r = httpx.get(url + scicat_seed.published_pid.replace("/", "%2F"))
        assert r.status_code == 200
        assert scicat_token.count(".") == 2  # a JWT
"""


def test_this_suite_gets_the_fixtures_from_the_entry_point(
    pytestconfig: pytest.Config,
) -> None:
    manager = pytestconfig.pluginmanager
    assert manager.get_plugin("alink.testing.fixtures") is alink.testing.fixtures
    names = [name for name, _ in manager.list_name_plugin()]
    assert names.count("alink.testing.fixtures") == 1
    assert any(
        plugin is alink.testing.fixtures for plugin, _ in manager.list_plugin_distinfo()
    )


def test_a_users_suite_needs_no_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TEST))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_pytest_plugins_in_a_conftest_is_not_a_second_registration(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["alink.testing.fixtures"]\n')
    pytester.makepyfile(test_user=textwrap.dedent(USER_TEST))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_plugin_can_be_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TEST))
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:alink.testing.fixtures"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'scicat_server' not found*"])


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import pytest
        before = set(sys.modules)
        import alink.testing.fixtures
        new = sorted(set(sys.modules) - before)
        print(json.dumps(new))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    assert "alink.testing.fixtures" in loaded
    heavy = {
        "hypothesis",
        "trio",
        "httpx",
        "alink.client",
        "alink.testing.strategies",
        "alink.testing.transfer",
    }
    assert not heavy & loaded


def test_the_entry_point_names_the_fixtures_module() -> None:
    import importlib.metadata

    [entry] = [
        e
        for e in importlib.metadata.entry_points(group="pytest11")
        if e.value.startswith("alink")
    ]
    assert entry.name == entry.value == "alink.testing.fixtures"
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    assert '"alink.testing.fixtures" = "alink.testing.fixtures"' in (
        pyproject.read_text()
    )
