"""Profiles: built-in and user-file facility settings for Client's factories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alink import Client, Profile, ProfileError
from alink.client import _profiles, builtin_profiles, load_profiles, profiles_path
from alink.testing import ScicatSeed, ScicatServer
from alink.transfer.copy import CopyFileTransfer
from alink.transfer.link import LinkFileTransfer
from alink.transfer.select import SelectFileTransfer
from alink.transfer.sftp import SFTPFileTransfer

Write = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No profiles file of the person running the tests leaks in."""
    monkeypatch.delenv("ALINK_PROFILES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Write:
    """``write(toml)``: the profiles file, named by ALINK_PROFILES."""
    path = tmp_path / "profiles.toml"

    def run(text: str) -> Path:
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("ALINK_PROFILES", str(path))
        return path

    return run


def test_builtin_profiles_are_scitaceans_facilities() -> None:
    profiles = builtin_profiles()
    assert sorted(profiles) == ["ess", "staging.ess"]
    ess = profiles["ess"]
    assert ess.url == "https://scicat.ess.eu/api"
    assert ess.frontend_url == "https://scicat.ess.eu"
    transfer = ess.make_file_transfer()
    assert isinstance(transfer, SelectFileTransfer)
    assert ess.has_token is False
    assert ess.read_token() is None


@pytest.mark.parametrize("name", ["ess", "staging.ess"])
def test_builtin_ess_profiles_fall_back_to_sftp_like_scitaceans(name: str) -> None:
    pytest.importorskip("asyncssh")
    transfer = builtin_profiles()[name].make_file_transfer()
    assert isinstance(transfer, SelectFileTransfer)
    link, copy, sftp = transfer.children
    assert isinstance(link, LinkFileTransfer)
    assert isinstance(copy, CopyFileTransfer)
    assert isinstance(sftp, SFTPFileTransfer)
    assert sftp.host == "sftp.esss.dk"
    assert sftp.port is None  # the SSH config's, else 22


def test_without_asyncssh_the_ess_profile_links_or_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_profiles, "sftp_available", lambda: False)
    transfer = builtin_profiles()["ess"].make_file_transfer()
    assert isinstance(transfer, SelectFileTransfer)
    assert [type(c) for c in transfer.children] == [
        LinkFileTransfer,
        CopyFileTransfer,
    ]


def test_making_the_ess_transfer_neither_connects_nor_imports_asyncssh() -> None:
    code = (
        "import sys, socket\n"
        "def refuse(*a, **k): raise AssertionError('a connection was opened')\n"
        "socket.socket.connect = refuse\n"
        "from alink.client import builtin_profiles\n"
        "t = builtin_profiles()['ess'].make_file_transfer()\n"
        "assert 'SFTPFileTransfer' in repr(t), t\n"
        "assert 'asyncssh' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_user_profile_can_name_an_sftp_host(write: Write) -> None:
    pytest.importorskip("asyncssh")
    write(
        '[profiles.x]\nurl = "https://h"\ntransfer = "auto"\n'
        'sftp_host = "files.h.example"\n'
        '[profiles.y]\nurl = "https://h"\ntransfer = "copy"\n'
        'sftp_host = "files.h.example"\n'
    )
    profiles = load_profiles()
    auto = profiles["x"].make_file_transfer()
    assert isinstance(auto, SelectFileTransfer)
    assert isinstance(auto.children[-1], SFTPFileTransfer)
    assert auto.children[-1].host == "files.h.example"
    assert isinstance(profiles["y"].make_file_transfer(), CopyFileTransfer)


@pytest.mark.anyio
async def test_without_login_takes_url_and_transfer_from_a_builtin() -> None:
    async with Client.without_login(profile="ess") as client:
        assert client.url == "https://scicat.ess.eu/api"
        assert isinstance(client.file_transfer, SelectFileTransfer)
        assert client.profile is not None
        assert client.profile.name == "ess"
    # Explicit arguments win over the profile.
    mine = LinkFileTransfer()
    async with Client.without_login(
        profile="ess", url="https://other.example.org", file_transfer=mine
    ) as client:
        assert client.url == "https://other.example.org/api"
        assert client.file_transfer is mine


def test_the_default_file_is_under_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert profiles_path() == tmp_path / "config" / "alink" / "profiles.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert profiles_path() == Path.home() / ".config" / "alink" / "profiles.toml"
    monkeypatch.setenv("ALINK_PROFILES", "~/elsewhere.toml")
    assert profiles_path() == Path.home() / "elsewhere.toml"


def test_a_missing_default_file_means_builtins_only() -> None:
    assert sorted(load_profiles()) == ["ess", "staging.ess"]


def test_the_default_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config" / "alink" / "profiles.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.here]\nurl = "http://localhost:3000"\n')
    here = load_profiles()["here"]
    assert here.url == "http://localhost:3000"
    assert here.source == path
    assert here.make_file_transfer() is None


def test_a_named_file_must_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALINK_PROFILES", str(tmp_path / "nope.toml"))
    with pytest.raises(ProfileError, match=r"nope\.toml does not exist"):
        load_profiles()


@pytest.mark.anyio
async def test_from_token_reads_the_token_from_the_variable_the_profile_names(
    write: Write,
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(
        f"""
[profiles.local]
url = "{scicat_server.url}"
transfer = "link"
allowed_roots = ["/hex"]
token_env = "LOCAL_SCICAT_TOKEN"
"""
    )
    token = scicat_server.token("user1")
    monkeypatch.setenv("LOCAL_SCICAT_TOKEN", token)
    async with Client.from_token(profile="local") as client:
        dataset = await client.get_dataset(scicat_seed.raw_pid)
        transfer = client.file_transfer
        assert client.is_logged_in
    assert dataset.name == "My darkest magic yet"
    assert isinstance(transfer, LinkFileTransfer)
    assert "'/hex'" in repr(transfer)
    assert token not in repr(client.profile)
    # The variable must be set when the client is made.
    monkeypatch.delenv("LOCAL_SCICAT_TOKEN")
    with pytest.raises(ProfileError, match="LOCAL_SCICAT_TOKEN, which is not set"):
        Client.from_token(profile="local")
    # An explicit token does not need it.
    async with Client.from_token(profile="local", token=token) as client:
        assert client.is_logged_in


@pytest.mark.anyio
async def test_a_private_token_file(
    write: Write,
    tmp_path: Path,
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
) -> None:
    token_file = tmp_path / "secret" / "local.token"
    token_file.parent.mkdir()
    token_file.write_text(scicat_server.token("user1") + "\n")
    os.chmod(token_file, 0o600)
    write(
        f"""
[profiles.local]
url = "{scicat_server.url}"
token_file = "secret/local.token"   # relative to the profiles file
"""
    )
    async with Client.from_token(profile="local") as client:
        assert (await client.get_dataset(scicat_seed.raw_pid)).pid is not None
    os.chmod(token_file, 0o644)
    with pytest.raises(ProfileError, match=r"can be read by others \(mode 0644\)"):
        Client.from_token(profile="local")
    token_file.unlink()
    with pytest.raises(ProfileError, match="does not exist"):
        Client.from_token(profile="local")


def test_an_empty_token_file(write: Write, tmp_path: Path) -> None:
    token_file = tmp_path / "t"
    token_file.write_text("  \n")
    os.chmod(token_file, 0o600)
    write(f'[profiles.x]\nurl = "https://h"\ntoken_file = "{token_file}"\n')
    with pytest.raises(ProfileError, match="is empty"):
        load_profiles()["x"].read_token()


def test_a_plain_text_token_needs_consent(write: Write) -> None:
    path = write('[profiles.x]\nurl = "https://h"\ntoken = "s3cret-token"\n')
    with pytest.raises(ProfileError) as info:
        load_profiles()
    text = str(info.value)
    assert str(path) in text
    assert "holds a token in plain text" in text
    assert "token_env" in text
    assert "token_file" in text
    assert "plain_text_token = true" in text
    assert "s3cret-token" not in text
    write(
        '[profiles.x]\nurl = "https://h"\ntoken = "s3cret-token"\n'
        "plain_text_token = true\n"
    )
    profile = load_profiles()["x"]
    assert profile.read_token() == "s3cret-token"
    assert "s3cret-token" not in repr(profile)
    assert profile.describe_token() == "the profiles file (plain text)"


@pytest.mark.anyio
async def test_from_credentials_with_a_profile(
    write: Write, scicat_server: ScicatServer, scicat_seed: ScicatSeed
) -> None:
    write(f'[profiles.local]\nurl = "{scicat_server.url}"\ntransfer = "copy"\n')
    client = await Client.from_credentials(
        profile="local",
        username="user1",
        password=scicat_seed.password("user1"),
    )
    async with client:
        assert isinstance(client.file_transfer, CopyFileTransfer)
        assert (await client.get_dataset(scicat_seed.raw_pid)).name is not None


@pytest.mark.anyio
async def test_the_profile_may_be_passed_positionally_as_in_scitacean(
    write: Write, scicat_server: ScicatServer, scicat_seed: ScicatSeed
) -> None:
    # Scitacean's idiom: Client.from_token("ess", token=...).
    async with Client.without_login("ess") as anonymous:
        assert anonymous.url == "https://scicat.ess.eu/api"
    async with Client.from_token("ess", token="tok") as with_token:
        assert with_token.profile is not None
        assert with_token.profile.name == "ess"
    write(f'[profiles.local]\nurl = "{scicat_server.url}"\n')
    client = await Client.from_credentials(
        "local", username="user1", password=scicat_seed.password("user1")
    )
    async with client:
        assert client.is_logged_in
    # Only the profile: everything else stays keyword-only.
    with pytest.raises(TypeError):
        Client.from_token("ess", "tok")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Client.without_login("ess", None)  # type: ignore[misc]


@pytest.mark.anyio
async def test_a_profiles_plain_http_url_needs_allow_http(write: Write) -> None:
    write('[profiles.lab]\nurl = "http://scicat.lab.example.org"\n')
    with pytest.raises(ValueError, match="allow_http=True"):
        Client.without_login("lab")
    async with Client.without_login("lab", allow_http=True) as client:
        assert client.url == "http://scicat.lab.example.org/api"


@pytest.mark.anyio
async def test_a_profile_may_allow_its_own_http_url(write: Write) -> None:
    write('[profiles.lab]\nurl = "http://scicat.lab.example.org"\nallow_http = true\n')
    assert load_profiles()["lab"].allow_http is True
    async with Client.without_login("lab") as client:
        assert client.url == "http://scicat.lab.example.org/api"
    # It vouches for its own URL only, not for one given instead.
    with pytest.raises(ValueError, match="allow_http=True"):
        Client.without_login("lab", url="http://elsewhere.example.org")
    with pytest.raises(ValueError, match="allow_http=True"):
        Client.from_token("lab", url="http://elsewhere.example.org", token="t")


def test_a_user_file_can_add_a_token_source_to_a_builtin(write: Write) -> None:
    write('[profiles.ess]\ntoken_env = "ESS_SCICAT_TOKEN"\n')
    ess = load_profiles()["ess"]
    assert ess.url == "https://scicat.ess.eu/api"
    assert ess.transfer == "auto"
    assert ess.token_env == "ESS_SCICAT_TOKEN"
    assert ess.describe_token() == "$ESS_SCICAT_TOKEN"


def test_unknown_names_list_the_known_ones_capped(write: Write) -> None:
    write("".join(f'[profiles.p{n:02d}]\nurl = "https://h{n}"\n' for n in range(15)))
    with pytest.raises(ProfileError) as info:
        Client.without_login(profile="nope")
    text = str(info.value)
    assert text.startswith("unknown profile 'nope'; known profiles: ess, p00, p01,")
    assert "p08, ... (7 more)" in text
    assert "p14" not in text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[profiles.x\nurl = 1", "is not valid TOML: .*line 1"),
        ('[profiles.x]\nurl = "https://h"\ncolour = "blue"\n', "unknown key 'colour'"),
        ('title = "mine"\n', "unknown key 'title' at the top"),
        ('profiles = "x"\n', "'profiles' must be a table"),
        ("[profiles]\nx = 1\n", r"profiles\.x must be a table"),
        ("[profiles.x]\n", "'url' is missing"),
        ("[profiles.x]\nurl = 3\n", "'url' must be a string"),
        ('[profiles.x]\nurl = "ftp://h"\n', "bad 'url'"),
        (
            '[profiles.x]\nurl = "https://h"\ntransfer = "sftp"\n',
            "'transfer' must be one of",
        ),
        (
            '[profiles.x]\nurl = "https://h"\nallowed_roots = ["/d"]\n',
            "'allowed_roots' needs 'transfer'",
        ),
        (
            '[profiles.x]\nurl = "https://h"\ntransfer = "link"\n'
            'allowed_roots = "/d"\n',
            "must be a list of paths",
        ),
        (
            '[profiles.x]\nurl = "https://h"\ntoken_env = "A"\ntoken_file = "/t"\n',
            "one place for the token, not token_env and token_file",
        ),
        ('[profiles.x]\nurl = "https://h"\ntoken_env = "A=B"\n', "not an environment"),
        (
            '[profiles.x]\nurl = "https://h"\nplain_text_token = true\n',
            "'plain_text_token' without a 'token'",
        ),
        ('[profiles.x]\nurl = "https://h"\nsftp_host = 22\n', "must be a string"),
        (
            '[profiles.x]\nurl = "https://h"\nallow_http = "yes"\n',
            "'allow_http' must be true or false",
        ),
        (
            '[profiles.x]\nurl = "https://h"\nsftp_host = "a b"\n',
            "'sftp_host' must be a host name",
        ),
    ],
)
def test_broken_files_say_where_and_what(write: Write, toml: str, message: str) -> None:
    path = write(toml)
    with pytest.raises(ProfileError, match=message) as info:
        load_profiles()
    assert str(path) in str(info.value)


def test_not_utf8(write: Write) -> None:
    path = write("")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profiles()


def test_allow_http_in_code_must_be_a_bool() -> None:
    with pytest.raises(ProfileError, match="'allow_http' must be true or false"):
        Profile(url="http://h.example.org", allow_http=1)  # type: ignore[arg-type]


def test_profiles_made_in_code() -> None:
    profile = Profile(url="https://h", transfer="copy", allowed_roots=("/d",))
    assert isinstance(profile.make_file_transfer(), CopyFileTransfer)
    with pytest.raises(ProfileError, match="not both"):
        Profile(url="https://h", transfer="link", file_transfer=LinkFileTransfer())
    with pytest.raises(TypeError, match=r"profile must be a name or an alink\.Profile"):
        Client.without_login(profile=3)  # type: ignore[arg-type]


def test_missing_url_or_token() -> None:
    with pytest.raises(TypeError, match="give the SciCat url="):
        Client.without_login()
    with pytest.raises(TypeError, match="give token="):
        Client.from_token(profile="ess")


def test_a_scitacean_profile_is_pointed_to_alinks() -> None:
    scitacean = pytest.importorskip("scitacean")
    theirs = scitacean.Profile(url="https://scicat.example.org", file_transfer=None)
    with pytest.raises(TypeError, match=r"scitacean\..*Profile.*alink\.Profile"):
        Client.without_login(theirs)
