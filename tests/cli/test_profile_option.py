"""``alink --profile NAME ...`` and ``alink profiles``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alink.cli import ExitCode, cli

from .conftest import FILES, RAW_PID, Site, links_in, no_secret, one_error_line

Run = Callable[..., Result]


@pytest.fixture
def run(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> Run:
    """``run(*args)``: alink with a profiles file naming the double as ``site``."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f"""
[profiles.site]
url = "{site.url}"
transfer = "copy"
token_env = "SITE_TOKEN"

[profiles.plain]
url = "{site.url}"
token = "{site.token}"
plain_text_token = true
"""
    )
    for name in ("SCICAT_TOKEN", "SCICAT_URL", "ALINK_PROFILE", "ALINK_ALLOWED_ROOTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALINK_PROFILES", str(profiles))
    monkeypatch.setenv("SITE_TOKEN", site.token)

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        extra = ["--backend", backend] if "download" in args or "show" in args else []
        return CliRunner().invoke(cli, [*args, *extra], env=env, catch_exceptions=False)

    return invoke


def test_the_profile_gives_url_token_and_transfer(
    run: Run, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    result = run("--profile", "site", "download", RAW_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    # transfer = "copy": real files, no links.
    assert links_in(target) == {}
    for rel, data in FILES.items():
        assert (target / Path(rel).name).read_bytes() == data
    assert "copied" in result.stdout
    no_secret(result, site.token)


def test_options_win_over_the_profile(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run(
        "--profile", "site", "download", RAW_PID, "--target", str(target), "--link"
    )
    assert result.exit_code == 0, result.stderr
    assert len(links_in(target)) == len(FILES)
    # An explicit --url wins too (here: a wrong one, so it fails).
    result = run(
        "--profile",
        "site",
        "show",
        RAW_PID,
        "--url",
        "http://127.0.0.1:9/api",
        "--retries",
        "0",
    )
    assert result.exit_code == ExitCode.SCICAT


def test_the_profile_wins_over_scicat_url(run: Run) -> None:
    result = run(
        "--profile", "site", "show", RAW_PID, env={"SCICAT_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 0, result.stderr
    assert RAW_PID in result.stdout


def test_alink_profile_environment_variable(run: Run) -> None:
    result = run("show", RAW_PID, env={"ALINK_PROFILE": "site"})
    assert result.exit_code == 0, result.stderr


def test_a_plain_text_token_by_consent(run: Run, site: Site) -> None:
    result = run("--profile", "plain", "show", RAW_PID)
    assert result.exit_code == 0, result.stderr
    no_secret(result, site.token)


def test_unknown_profile_is_one_usage_line(run: Run) -> None:
    result = run("--profile", "nope", "show", RAW_PID)
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert (
        "unknown profile 'nope'; known profiles: ess, plain, site, staging.ess" in line
    )


def test_the_token_variable_must_be_set(run: Run) -> None:
    result = run("--profile", "site", "show", RAW_PID, env={"SITE_TOKEN": None})
    assert result.exit_code == ExitCode.USAGE
    assert "SITE_TOKEN, which is not set" in one_error_line(result)


def test_token_env_or_public_win_over_the_profiles_token(run: Run, site: Site) -> None:
    result = run(
        "--profile",
        "site",
        "show",
        RAW_PID,
        "--token-env",
        "OTHER",
        env={"OTHER": None},
    )
    assert result.exit_code == ExitCode.USAGE
    assert "OTHER is not set" in one_error_line(result)
    public = run("--profile", "site", "show", RAW_PID, "--public")
    assert public.exit_code == ExitCode.NOT_FOUND  # raw is not published


def test_a_broken_profiles_file(run: Run, tmp_path: Path) -> None:
    (tmp_path / "profiles.toml").write_text("[profiles.x\n")
    result = run("--profile", "site", "show", RAW_PID)
    assert result.exit_code == ExitCode.USAGE
    assert "is not valid TOML" in one_error_line(result)


def test_listing_profiles_never_shows_tokens(
    run: Run, site: Site, tmp_path: Path
) -> None:
    result = run("profiles")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"profiles file: {tmp_path / 'profiles.toml'}"
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["ess", "plain", "site", "staging.ess"]
    site_line = next(line for line in lines if line.split()[0] == "site")
    assert "transfer: copy" in site_line
    assert "token: $SITE_TOKEN" in site_line
    assert "https://scicat.ess.eu/api" in result.stdout
    no_secret(result, site.token)


def test_no_url_and_no_profile(run: Run) -> None:
    result = run("show", RAW_PID)
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert "--url" in line
    assert "--profile" in line
    assert os.environ.get("SCICAT_URL") is None


def test_a_profile_may_allow_its_own_plain_http_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.0.0.0 is no loopback name, but connecting to it fails at once: an
    # error that names it means the URL got past the http checks.
    profiles = tmp_path / "lab.toml"
    profiles.write_text(
        '[profiles.lab]\nurl = "http://0.0.0.0:9"\ntoken_env = "LAB_TOKEN"\n'
        "allow_http = true\n"
        '[profiles.strict]\nurl = "http://0.0.0.0:9"\ntoken_env = "LAB_TOKEN"\n'
    )
    monkeypatch.setenv("ALINK_PROFILES", str(profiles))
    monkeypatch.setenv("LAB_TOKEN", "t0k3n")
    monkeypatch.delenv("SCICAT_URL", raising=False)

    def show(*args: str) -> Result:
        return CliRunner().invoke(
            cli, [*args, "show", RAW_PID, "--retries", "0"], catch_exceptions=False
        )

    result = show("--profile", "lab")
    assert result.exit_code == ExitCode.SCICAT, result.stderr
    assert "0.0.0.0:9" in one_error_line(result)
    result = show("--profile", "strict")
    assert result.exit_code == ExitCode.USAGE
    assert "--allow-http" in one_error_line(result)
    # The profile vouches for its own URL, not for --url's.
    result = CliRunner().invoke(
        cli,
        ["--profile", "lab", "show", RAW_PID, "--url", "http://0.0.0.0:8"],
        catch_exceptions=False,
    )
    assert result.exit_code == ExitCode.USAGE
    assert "--allow-http" in one_error_line(result)
