"""Profiles: named SciCat instances (URL, file transfer, where the token comes from).

Like Scitacean's ``Profile``, a profile bundles what a client needs to reach
one facility's SciCat, so code and the command line can say
``profile="ess"`` instead of repeating URLs. Profiles come from

1. a built-in set (:func:`builtin_profiles`: ESS production and staging,
   as in Scitacean), and
2. the user's profiles file, TOML, at ``$ALINK_PROFILES`` if set, else
   ``$XDG_CONFIG_HOME/alink/profiles.toml`` (``~/.config/alink/...``; on
   Windows ``%APPDATA%\\alink\\profiles.toml``). A profile there with the
   name of a built-in one changes only the keys it gives.

.. code-block:: toml

    [profiles.myfacility]
    url = "https://scicat.myfacility.org"     # required (unless built in)
    transfer = "auto"                         # "link", "copy" or "auto"
    allowed_roots = ["/data/facility"]        # only datasets below these
    sftp_host = "sftp.myfacility.org"         # "auto" then tries SFTP too
    token_env = "MYFACILITY_SCICAT_TOKEN"     # the token is in this variable
    # token_file = "~/.config/alink/myfacility.token"   # ... or in this file

    [profiles.ess]                            # a built-in one, plus a token
    token_env = "ESS_SCICAT_TOKEN"

**Tokens are never kept in the profiles file by default.** A profile names
where the token is: an environment variable (``token_env``) or a file
readable by you alone (``token_file``; alink refuses one that group or
others can read, like ssh does for keys). A token written into the profiles
file itself (``token = "..."``) is refused unless the profile also says
``plain_text_token = true``. alink never writes a token anywhere.

Reading a profile is synchronous: the file is a few hundred bytes (smaller
than the CA bundle httpx reads when a client is made).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import stat
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .._errors import ProfileError
from ..typing import Downloader, FileTransfer
from ._http import normalize_base_url

__all__ = [
    "ESS_SFTP_HOST",
    "PROFILES_ENV",
    "Profile",
    "TransferName",
    "builtin_profiles",
    "load_profiles",
    "locate_profile",
    "make_transfer",
    "sftp_available",
    "profiles_path",
    "resolve",
]

#: The environment variable naming the profiles file (overrides the default).
PROFILES_ENV = "ALINK_PROFILES"

#: The transfers a profile can name.
TransferName = Literal["link", "copy", "auto"]
_TRANSFERS = ("link", "copy", "auto")

#: Keys a profile in the file may have.
_KEYS = (
    "url",
    "frontend_url",
    "transfer",
    "allowed_roots",
    "sftp_host",
    "allow_http",
    "token_env",
    "token_file",
    "token",
    "plain_text_token",
)

#: How many known names an "unknown profile" error lists.
_NAMES_SHOWN = 10


#: The built-in ESS profiles' SFTP server, as in Scitacean's ESS profile
#: (its SSH port: the SSH config's, else 22).
ESS_SFTP_HOST = "sftp.esss.dk"


def sftp_available() -> bool:
    """Whether asyncssh (the ``alink[sftp]`` extra) is installed.

    Checked without importing it: making a transfer must stay cheap, and
    asyncssh is imported only when an SFTP connection is opened.
    """
    return importlib.util.find_spec("asyncssh") is not None


def make_transfer(
    name: TransferName,
    allowed_roots: Sequence[str] | None = None,
    sftp_host: str | None = None,
) -> Downloader:
    """A new file transfer: ``"link"``, ``"copy"``, or ``"auto"``.

    ``"auto"`` links, else copies, else (when ``sftp_host`` is given and
    asyncssh is installed) downloads from ``sftp_host`` over SFTP. Nothing
    connects here; the SFTP child logs in like ``ssh`` when it is tried.
    """
    from ..transfer.copy import CopyFileTransfer
    from ..transfer.link import LinkFileTransfer
    from ..transfer.select import SelectFileTransfer

    if name == "link":
        return LinkFileTransfer(allowed_roots=allowed_roots)
    if name == "copy":
        return CopyFileTransfer(allowed_roots=allowed_roots)
    if name == "auto":
        children: list[FileTransfer] = [
            LinkFileTransfer(allowed_roots=allowed_roots),
            CopyFileTransfer(allowed_roots=allowed_roots),
        ]
        if sftp_host is not None and sftp_available():
            from ..transfer.sftp import SFTPFileTransfer

            children.append(
                SFTPFileTransfer(host=sftp_host, allowed_roots=allowed_roots)
            )
        return SelectFileTransfer(children)
    raise ValueError(f"unknown transfer {name!r}; expected one of {_TRANSFERS}")


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """How to reach one SciCat instance.

    Attributes:
        url: The SciCat URL (``https://host`` or its ``/api``).
        file_transfer: The transfer to download with; ``None``: the one
            ``transfer`` names, or none.
        name: The profile's name (``None`` for one made in code).
        frontend_url: The web interface, for people (unused by alink).
        transfer: ``"link"``, ``"copy"`` or ``"auto"``: the transfer
            :meth:`make_file_transfer` builds (also what the command line
            uses when no ``--link``/``--copy``/``--auto`` is given).
        allowed_roots: Source folders the transfer may read from (see
            ``LinkFileTransfer(allowed_roots=...)``).
        sftp_host: With ``transfer="auto"``: an SSH file server (or SSH
            config alias) tried after link and copy, when asyncssh is
            installed (``alink[sftp]``), so the profile also works where the
            storage is not mounted. Other transfers ignore it.
        allow_http: Let the profile's own ``url`` be plain ``http://`` to
            another machine (a network you trust; tokens and passwords
            cross it unencrypted). A ``url=`` given instead of the
            profile's needs its own ``allow_http=True``.
        token_env: The environment variable that holds the token.
        token_file: A file (readable by its owner only) that holds the token.
        source: The profiles file that defined it (``None``: built in or
            made in code).
    """

    url: str
    file_transfer: Downloader | None = None
    name: str | None = None
    frontend_url: str | None = None
    transfer: TransferName | None = None
    allowed_roots: tuple[str, ...] | None = None
    token_env: str | None = None
    token_file: Path | None = None
    token: str | None = dataclasses.field(default=None, repr=False, compare=False)
    source: Path | None = None
    sftp_host: str | None = None
    allow_http: bool = False

    def __post_init__(self) -> None:
        label = f"profile {self.name!r}" if self.name else "the profile"
        if not isinstance(self.url, str) or not self.url.strip():
            raise ProfileError(f"{label}: 'url' must be a non-empty string")
        try:
            normalize_base_url(self.url)
        except ValueError as exc:
            raise ProfileError(f"{label}: bad 'url': {exc}") from None
        if self.transfer is not None and self.transfer not in _TRANSFERS:
            raise ProfileError(
                f"{label}: 'transfer' must be one of {', '.join(_TRANSFERS)};"
                f" got {self.transfer!r}"
            )
        if self.file_transfer is not None and self.transfer is not None:
            raise ProfileError(f"{label}: give 'file_transfer' or 'transfer', not both")
        if self.allowed_roots is not None and self.transfer is None:
            raise ProfileError(
                f"{label}: 'allowed_roots' needs 'transfer' (link, copy or auto)"
            )
        if not isinstance(self.allow_http, bool):
            raise ProfileError(f"{label}: 'allow_http' must be true or false")
        if self.sftp_host is not None and (
            not isinstance(self.sftp_host, str)
            or not self.sftp_host.strip()
            or any(c.isspace() for c in self.sftp_host)
        ):
            raise ProfileError(
                f"{label}: 'sftp_host' must be a host name, got {self.sftp_host!r}"
            )
        sources = [
            key
            for key in ("token_env", "token_file", "token")
            if getattr(self, key) is not None
        ]
        if len(sources) > 1:
            raise ProfileError(
                f"{label}: give one place for the token, not {' and '.join(sources)}"
            )
        if self.token_env is not None and (
            not self.token_env.strip() or "=" in self.token_env
        ):
            raise ProfileError(
                f"{label}: 'token_env' is not an environment variable name:"
                f" {self.token_env!r}"
            )

    @property
    def has_token(self) -> bool:
        """Whether the profile says where a token comes from."""
        return (
            self.token_env is not None
            or self.token_file is not None
            or self.token is not None
        )

    def describe_token(self) -> str:
        """Where the token comes from, for people (never the token itself)."""
        if self.token_env is not None:
            return f"${self.token_env}"
        if self.token_file is not None:
            return f"file {self.token_file}"
        if self.token is not None:
            return "the profiles file (plain text)"
        return "none"

    def make_file_transfer(self) -> Downloader | None:
        """``file_transfer``, or a new transfer of the kind ``transfer`` names."""
        if self.file_transfer is not None:
            return self.file_transfer
        if self.transfer is None:
            return None
        return make_transfer(self.transfer, self.allowed_roots, self.sftp_host)

    def read_token(self) -> str | None:
        """The token from where the profile says it is; ``None`` if it names none.

        Raises:
            ProfileError: the variable is not set, or the file is missing,
                empty or readable by others.
        """
        label = f"profile {self.name!r}" if self.name else "the profile"
        if self.token is not None:
            return self.token
        if self.token_env is not None:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise ProfileError(
                    f"{label} takes its token from the environment variable"
                    f" {self.token_env}, which is not set or empty"
                )
            return value
        if self.token_file is not None:
            return _read_token_file(self.token_file, label)
        return None


def _read_token_file(path: Path, label: str) -> str:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ProfileError(f"{label}: the token file {path} is not a file")
            if os.name == "posix" and info.st_mode & 0o077:
                mode = stat.S_IMODE(info.st_mode)
                raise ProfileError(
                    f"{label}: the token file {path} can be read by others"
                    f" (mode {mode:04o}); make it private: chmod 600 {path}"
                )
            data = handle.read(64 * 1024)
    except FileNotFoundError:
        raise ProfileError(f"{label}: the token file {path} does not exist") from None
    except IsADirectoryError:
        raise ProfileError(f"{label}: the token file {path} is a folder") from None
    except PermissionError:
        raise ProfileError(f"{label}: cannot read the token file {path}") from None
    token = data.decode("utf-8", "replace").strip()
    if not token:
        raise ProfileError(f"{label}: the token file {path} is empty")
    return token


def builtin_profiles() -> dict[str, Profile]:
    """The profiles alink knows without a file (the facilities Scitacean knows).

    ``ess`` and ``staging.ess``: the European Spallation Source's SciCat;
    files are linked where ESS storage is mounted, else copied, else (with
    ``alink[sftp]`` installed) downloaded over SFTP from
    :data:`ESS_SFTP_HOST`, as Scitacean's ESS profile does.
    """
    return {
        "ess": Profile(
            name="ess",
            url="https://scicat.ess.eu/api",
            frontend_url="https://scicat.ess.eu",
            transfer="auto",
            sftp_host=ESS_SFTP_HOST,
        ),
        "staging.ess": Profile(
            name="staging.ess",
            url="https://staging.scicat.ess.eu/api",
            frontend_url="https://staging.scicat.ess.eu",
            transfer="auto",
            sftp_host=ESS_SFTP_HOST,
        ),
    }


def profiles_path() -> Path:
    """Where the user's profiles file is (it need not exist).

    ``$ALINK_PROFILES`` if set; else ``$XDG_CONFIG_HOME/alink/profiles.toml``
    (default ``~/.config``); on Windows ``%APPDATA%\\alink\\profiles.toml``.
    """
    named = os.environ.get(PROFILES_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "alink" / "profiles.toml"


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list):
        raise ProfileError(f'{where} must be a list of paths, e.g. ["/data"]')
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(f"{where} must hold non-empty strings")
    return tuple(value)


def _from_table(
    name: str, table: Mapping[str, Any], path: Path, base: Profile | None
) -> Profile:
    where = f"{path}: profile {name!r}"
    unknown = [k for k in table if k not in _KEYS]
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r}; a profile may have"
            f" {', '.join(_KEYS)}"
        )
    strings = (
        "url",
        "frontend_url",
        "transfer",
        "sftp_host",
        "token_env",
        "token_file",
        "token",
    )
    for key in strings:
        if key in table and not isinstance(table[key], str):
            raise ProfileError(f"{where}: {key!r} must be a string")
    if "allow_http" in table and not isinstance(table["allow_http"], bool):
        raise ProfileError(f"{where}: 'allow_http' must be true or false")
    plain = table.get("plain_text_token", False)
    if not isinstance(plain, bool):
        raise ProfileError(f"{where}: 'plain_text_token' must be true or false")
    if "token" in table and not plain:
        raise ProfileError(
            f"{where} holds a token in plain text. Put it in an environment"
            ' variable (token_env = "NAME") or a file only you can read'
            ' (token_file = "...", chmod 600), or, to accept the risk, add'
            " plain_text_token = true"
        )
    if plain and "token" not in table:
        raise ProfileError(f"{where}: 'plain_text_token' without a 'token'")
    fields: dict[str, Any] = {}
    if base is not None:
        fields = {
            f.name: getattr(base, f.name)
            for f in dataclasses.fields(Profile)
            if f.name not in ("token_env", "token_file", "token")
            or not _names_token(table)
        }
    elif "url" not in table:
        raise ProfileError(f"{where}: 'url' is missing")
    for key in (
        "url",
        "frontend_url",
        "transfer",
        "sftp_host",
        "allow_http",
        "token_env",
        "token",
    ):
        if key in table:
            fields[key] = table[key]
    if "token_file" in table:
        token_file = Path(table["token_file"]).expanduser()
        if not token_file.is_absolute():
            token_file = path.parent / token_file  # relative to the profiles file
        fields["token_file"] = token_file
    if "allowed_roots" in table:
        fields["allowed_roots"] = _string_list(
            table["allowed_roots"], f"{where}: 'allowed_roots'"
        )
    fields["name"] = name
    fields["source"] = path
    try:
        return Profile(**fields)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def _names_token(table: Mapping[str, Any]) -> bool:
    return any(k in table for k in ("token_env", "token_file", "token"))


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """Every known profile by name: the built-in ones, then the user's file.

    ``path`` defaults to :func:`profiles_path`. A missing default file just
    means no user profiles; a file named by ``path`` or ``$ALINK_PROFILES``
    must exist.

    Raises:
        ProfileError: the file is missing (when named), unreadable, not
            valid TOML, or has unknown keys or bad values (the message names
            the file, the profile and the key).
    """
    named = path is not None or bool(os.environ.get(PROFILES_ENV, "").strip())
    file = Path(path).expanduser() if path is not None else profiles_path()
    profiles = builtin_profiles()
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        if named:
            raise ProfileError(f"the profiles file {file} does not exist") from None
        return profiles
    except OSError as exc:
        raise ProfileError(
            f"cannot read the profiles file {file}: {exc.strerror or exc}"
        ) from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(f"{file} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{file} is not valid TOML: {exc}") from None
    unknown = [k for k in data if k != "profiles"]
    if unknown:
        raise ProfileError(
            f"{file}: unknown key {unknown[0]!r} at the top; profiles go in"
            " [profiles.NAME] tables"
        )
    tables = data.get("profiles", {})
    if not isinstance(tables, dict):
        raise ProfileError(f"{file}: 'profiles' must be a table of [profiles.NAME]")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ProfileError(
                f"{file}: profiles.{name} must be a table ([profiles.{name}])"
            )
        profiles[name] = _from_table(name, table, file, profiles.get(name))
    return profiles


def locate_profile(profile: str | Profile) -> Profile:
    """A :class:`Profile` as given, or the known profile with that name.

    Raises:
        ProfileError: no profile has that name (the message lists known
            ones), or the profiles file is broken.
        TypeError: ``profile`` is neither a name nor a :class:`Profile`.
    """
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str):
        kind = type(profile)
        if kind.__module__.partition(".")[0] == "scitacean":
            raise TypeError(
                f"a {kind.__module__}.{kind.__qualname__} cannot be used here:"
                " give alink.Profile(url=..., file_transfer=...) or a profile name"
            )
        raise TypeError(
            f"profile must be a name or an alink.Profile, got {kind.__name__}"
        )
    profiles = load_profiles()
    found = profiles.get(profile)
    if found is not None:
        return found
    names = sorted(profiles)
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f", ... ({len(names) - _NAMES_SHOWN} more)"
    raise ProfileError(
        f"unknown profile {profile!r}; known profiles: {shown}"
        f" (add your own in {profiles_path()})"
    )


def resolve(
    *,
    profile: str | Profile | None,
    url: str | None,
    file_transfer: Downloader | None,
    allow_http: bool = False,
) -> tuple[str, Downloader | None, Profile | None, bool]:
    """The URL, transfer and ``allow_http`` a client uses: explicit arguments
    win over the profile.

    The profile's ``allow_http`` covers the profile's own URL only, never a
    ``url`` given instead of it.

    Raises:
        TypeError: neither ``url`` nor ``profile`` was given.
        ProfileError: see :func:`locate_profile`.
    """
    if profile is None:
        if url is None:
            raise TypeError("give the SciCat url= (or a profile=)")
        return url, file_transfer, None, allow_http
    found = locate_profile(profile)
    transfer = (
        file_transfer if file_transfer is not None else found.make_file_transfer()
    )
    if url is not None:
        return url, transfer, found, allow_http
    return found.url, transfer, found, allow_http or found.allow_http
