"""``alink show``: text and JSON output, logins, and one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from alink.cli import ExitCode, _auth

from .conftest import (
    FILES,
    PUBLIC_PID,
    RAW_PID,
    TOKEN_ENV,
    Invoke,
    Site,
    no_secret,
    one_error_line,
)


def test_show_prints_fields_and_files(invoke: Invoke, site: Site) -> None:
    result = invoke("show", RAW_PID)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "PID:" in out
    assert RAW_PID in out
    assert "Name:" in out
    assert "CLI test run" in out
    assert "Type:" in out
    assert "raw" in out
    assert f"Source folder: {site.storage / 'raw'}" in out
    assert "Files:         5 files, 34.9 KiB" in out
    lines = out.splitlines()
    header = lines.index(
        next(line for line in lines if line.strip().startswith("SIZE"))
    )
    listed = {line.split("  ")[-1].strip(): line for line in lines[header + 1 :]}
    assert set(listed) == set(FILES)
    assert listed["meta.json"].strip().startswith("12 B")
    assert listed["scan2/frame3.h5"].strip().startswith("32.2 KiB")


def test_show_json_is_machine_readable(invoke: Invoke, site: Site) -> None:
    result = invoke("show", RAW_PID, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["pid"] == RAW_PID
    assert data["datasetName"] == "CLI test run"
    assert data["sourceFolder"] == str(site.storage / "raw")
    assert data["numberOfFiles"] == len(FILES)
    assert data["size"] == sum(len(v) for v in FILES.values())
    by_path = {f["path"]: f for f in data["files"]}
    assert set(by_path) == set(FILES)
    meta = by_path["meta.json"]
    assert meta["size"] == len(FILES["meta.json"])
    assert meta["remotePath"] == str(site.storage / "raw" / "meta.json")
    assert meta["checksumAlgorithm"] == "md5"
    assert len(meta["checksum"]) == 32
    # JSON mode prints nothing else, not even progress.
    assert result.stderr == ""


def test_show_public_without_login(invoke: Invoke) -> None:
    result = invoke("show", PUBLIC_PID, "--public", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["numberOfFiles"] == 2


def test_public_cannot_see_unpublished(invoke: Invoke) -> None:
    result = invoke("show", RAW_PID, "--public")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "not found" in one_error_line(result)


def test_unknown_pid(invoke: Invoke) -> None:
    result = invoke("show", "20.500.12269/no-such-dataset")
    assert result.exit_code == ExitCode.NOT_FOUND
    line = one_error_line(result)
    assert "no-such-dataset" in line
    assert "not found" in line
    assert result.stdout == ""


def test_login_with_username_and_password_env(invoke: Invoke) -> None:
    result = invoke(
        "show",
        RAW_PID,
        "--username",
        "user1",
        env={TOKEN_ENV: None, "SCICAT_PASSWORD": "pw1"},
    )
    assert result.exit_code == 0, result.stderr
    assert RAW_PID in result.stdout


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend stdin is a terminal (click's test runner's is not)."""
    monkeypatch.setattr(_auth, "_has_terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_login_with_password_prompt(invoke: Invoke) -> None:
    result = invoke(
        "show", RAW_PID, "--username", "user1", input="pw1\n", env={TOKEN_ENV: None}
    )
    assert result.exit_code == 0, result.stderr
    assert "password for user1" in result.stderr
    no_secret(result, "pw1")


@pytest.mark.usefixtures("terminal")
def test_wrong_password(invoke: Invoke) -> None:
    result = invoke(
        "show",
        RAW_PID,
        "--username",
        "user1",
        input="wrong-pw\n",
        env={TOKEN_ENV: None},
    )
    assert result.exit_code == ExitCode.LOGIN
    assert "user1" in one_error_line(result)
    no_secret(result, "wrong-pw")


@pytest.mark.usefixtures("terminal")
def test_no_password_available(invoke: Invoke) -> None:
    result = invoke("show", RAW_PID, "--username", "user1", env={TOKEN_ENV: None})
    assert result.exit_code == ExitCode.USAGE
    assert "SCICAT_PASSWORD" in one_error_line(result)


def test_no_terminal_to_ask_is_one_clear_error(site: Site) -> None:
    # A real process with stdin that is not a terminal: no GetPassWarning,
    # no traceback, only the error line.
    env = {k: v for k, v in os.environ.items() if k not in ("SCICAT_TOKEN",)}
    env.pop("SCICAT_PASSWORD", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alink",
            "show",
            RAW_PID,
            "--url",
            site.url,
            "--username",
            "user1",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.USAGE
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("alink: error: no password for 'user1'")
    assert "SCICAT_PASSWORD" in lines[0]
    assert "Warning" not in done.stderr


def test_missing_token_env_var(invoke: Invoke) -> None:
    result = invoke("show", RAW_PID, env={TOKEN_ENV: None})
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert TOKEN_ENV in line
    assert "--public" in line


def test_token_from_another_env_var(invoke: Invoke, site: Site) -> None:
    result = invoke(
        "show",
        RAW_PID,
        "--token-env",
        "MY_SCICAT",
        env={TOKEN_ENV: None, "MY_SCICAT": site.token},
    )
    assert result.exit_code == 0, result.stderr


def test_invalid_token_is_refused_and_never_printed(invoke: Invoke, site: Site) -> None:
    # A well-formed JWT the server does not accept: the request is anonymous.
    bogus = site.token[:-4] + ("AAAA" if not site.token.endswith("AAAA") else "BBBB")
    result = invoke("show", RAW_PID, "--debug", env={TOKEN_ENV: bogus})
    assert result.exit_code == ExitCode.NOT_FOUND
    no_secret(result, bogus)
    no_secret(result, bogus[-40:])


def test_options_that_exclude_each_other(invoke: Invoke) -> None:
    result = invoke("show", RAW_PID, "--public", "--username", "user1")
    assert result.exit_code == ExitCode.USAGE
    assert "exclude each other" in one_error_line(result)


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://example.org", "http://user:secret@127.0.0.1/api", "/api"],
)
def test_bad_url(invoke: Invoke, url: str) -> None:
    result = invoke("show", RAW_PID, "--url", url, url=False)
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert "--url" in line
    assert "secret" not in line


def test_plain_http_to_another_host_needs_allow_http(invoke: Invoke) -> None:
    # The token would cross the network unencrypted: refused before any login.
    result = invoke("show", RAW_PID, "--url", "http://scicat.example.org", url=False)
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert "unencrypted" in line
    assert "--allow-http" in line


def test_allow_http_reaches_the_client(invoke: Invoke) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # 0.0.0.0 is no loopback name, but connecting to it needs no DNS and
    # fails at once: the URL got past both checks (CLI and Client).
    url = f"http://0.0.0.0:{port}"
    result = invoke(
        "show", RAW_PID, "--url", url, "--allow-http", "--retries", "0", url=False
    )
    assert result.exit_code == ExitCode.SCICAT
    assert f"0.0.0.0:{port}" in one_error_line(result)


def test_unreachable_server_names_the_url(invoke: Invoke) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on ``port`` once the socket is closed.
    url = f"http://127.0.0.1:{port}"
    result = invoke("show", RAW_PID, "--url", url, "--retries", "0", url=False)
    assert result.exit_code == ExitCode.SCICAT
    assert f"127.0.0.1:{port}" in one_error_line(result)


def test_url_from_environment(invoke: Invoke, site: Site) -> None:
    result = invoke("show", RAW_PID, url=False, env={"SCICAT_URL": site.url})
    assert result.exit_code == 0, result.stderr


def test_missing_url_is_one_line(invoke: Invoke) -> None:
    result = invoke("show", RAW_PID, url=False)
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert "--url" in line
    assert "alink show --help" in line


def test_debug_shows_the_traceback(invoke: Invoke) -> None:
    result = invoke("show", "20.500.12269/no-such-dataset", "--debug")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "Traceback" in result.stderr
    assert "ScicatCommError" in result.stderr
