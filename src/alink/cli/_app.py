"""The ``alink`` command group and its commands: ``demo``, ``download``, ``show``.

Argument parsing is click's; each command validates its input synchronously
(one line and exit code 2 on bad input, nothing touched), then runs its async
part with :func:`._run.run_job` under a progress reporter, and finally prints
its result (standard output) or one error line (standard error).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from .. import __version__
from .._errors import ProfileError
from ..client import Profile
from ..client._profiles import locate_profile, sftp_available
from . import _demo, _format, _many, _profiles
from ._auth import Login, resolve_login
from ._download import (
    DownloadRequest,
    DownloadResult,
    Mode,
    SftpServer,
    VerifyLevel,
    download,
    target_problem,
    what_was_done,
)
from ._exit import ExitCode
from ._progress import open_reporter
from ._run import fail, finish, log_to_stderr, run_job, signals_put_back
from ._show import as_json, as_text, fetch

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

#: Environment variable with colon-separated allowed roots.
ALLOWED_ROOTS_ENV = "ALINK_ALLOWED_ROOTS"
#: Environment variable naming the profile (``--profile``).
PROFILE_ENV = "ALINK_PROFILE"


class _Group(click.Group):
    """A click group whose usage errors are one line, like every other error.

    ``restore_signals=False`` (the console script) leaves SIGINT and SIGTERM
    ignored once a command's work has ended (see :func:`._run.run_job`), up
    to the process's exit; otherwise the handlers are put back.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        *,
        restore_signals: bool = True,
        **extra: Any,
    ) -> Any:
        with signals_put_back(restore=restore_signals):
            if not standalone_mode:
                return super().main(
                    args, prog_name, complete_var, standalone_mode=False, **extra
                )
            return self._main(args, prog_name, complete_var, **extra)

    def _main(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        **extra: Any,
    ) -> NoReturn:
        """``main`` in standalone mode: run the command, exit with its code."""
        try:
            code = super().main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            # Plain ``alink``: the help, as asked for, not an error.
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(ExitCode.OK)
        except click.ClickException as exc:
            where = (
                exc.ctx.command_path
                if isinstance(exc, click.UsageError) and exc.ctx
                else "alink"
            )
            hint = (
                f" (see '{where} --help')" if isinstance(exc, click.UsageError) else ""
            )
            click.echo(f"alink: error: {exc.format_message()}{hint}", err=True)
            sys.exit(ExitCode.USAGE)
        except click.Abort:
            # Ctrl-C outside a job's run (at the password prompt, say):
            # click has ended the terminal's line; one line more, and 130.
            click.echo("alink: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


class _AllowedRoot(click.ParamType):  # type: ignore[type-arg]
    """An absolute folder; relative ones are taken against the working directory.

    In ``ALINK_ALLOWED_ROOTS``, several roots are separated by colons.
    """

    name = "path"
    envvar_list_splitter = ":"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if not text.strip():
            self.fail("an allowed root must not be empty", param, ctx)
        return os.path.abspath(text)


class _Regex(click.ParamType):  # type: ignore[type-arg]
    """A Python regular expression."""

    name = "regex"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> re.Pattern[str]:
        if isinstance(value, re.Pattern):
            return value
        try:
            return re.compile(value)
        except re.error as exc:
            self.fail(
                f"{value!r} is not a valid regular expression ({exc})", param, ctx
            )


def _run_options(func: F) -> F:
    """``--backend``, ``--quiet`` and ``--debug``, shared by every command."""
    func = click.option(
        "--debug",
        is_flag=True,
        help="On errors, show the full traceback too.",
    )(func)
    func = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="Print nothing but errors: no progress, no result line (the exit"
        " code tells the outcome).",
    )(func)
    return click.option(
        "--backend",
        type=click.Choice(["asyncio", "trio"]),
        default="asyncio",
        show_default=True,
        help="Event loop to run on (trio must be installed).",
    )(func)


def _server_options(func: F) -> F:
    """Where SciCat is and how to log in, shared by ``download`` and ``show``."""
    options = [
        click.option(
            "--url",
            envvar="SCICAT_URL",
            help="SciCat URL, e.g. https://scicat.example.org (env SCICAT_URL;"
            " default: the --profile's).",
        ),
        click.option(
            "--allow-http",
            is_flag=True,
            help="Accept a plain http:// URL (the token or password then travels"
            " unencrypted). Not needed for localhost/127.0.0.1/::1, nor for a"
            " --profile's own URL when the profile says allow_http = true.",
        ),
        click.option(
            "--token-env",
            default="SCICAT_TOKEN",
            show_default=True,
            metavar="NAME",
            help="Environment variable that holds your SciCat token.",
        ),
        click.option(
            "--username",
            metavar="USER",
            help="Log in with a user name; the password comes from"
            " SCICAT_PASSWORD or a prompt.",
        ),
        click.option(
            "--public",
            is_flag=True,
            help="Do not log in (published datasets only).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=30.0,
            show_default=True,
            metavar="SECONDS",
            help="Timeout of each phase of a request to SciCat.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=3,
            show_default=True,
            help="Retries of a request after a connection error or a 502/503/504.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _check_backend(backend: str) -> None:
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        fail("--backend trio: trio is not installed (pip install trio)")


def _profile(ctx: click.Context) -> Profile | None:
    """The ``alink --profile NAME`` profile, if one was named; exit 2 if unknown."""
    root = ctx.find_root()
    name = root.params.get("profile")
    if not name:
        return None
    if "alink.profile" not in root.meta:  # read the profiles file once
        try:
            root.meta["alink.profile"] = locate_profile(name)
        except ProfileError as exc:
            fail(f"--profile: {exc}")
    found: Profile = root.meta["alink.profile"]
    return found


def _login(ctx: click.Context, **kwargs: Any) -> Login:
    source = ctx.get_parameter_source("token_env")
    profile = _profile(ctx)
    url = kwargs["url"]
    if (
        profile is not None
        and ctx.get_parameter_source("url") is click.core.ParameterSource.ENVIRONMENT
    ):
        url = None  # --profile is more specific than SCICAT_URL
    return resolve_login(
        url=url,
        token_env=kwargs["token_env"],
        token_env_given=source is not click.core.ParameterSource.DEFAULT,
        username=kwargs["username"],
        public=kwargs["public"],
        timeout=kwargs["timeout"],
        retries=kwargs["retries"],
        profile=profile,
        allow_http=kwargs["allow_http"],
    )


@click.group(
    name="alink", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="alink")
@click.option(
    "--profile",
    envvar=PROFILE_ENV,
    metavar="NAME",
    help="A facility's settings (URL, transfer, where the token is): built in"
    f" or from your profiles file; `alink profiles` lists them (env {PROFILE_ENV}).",
)
def cli(profile: str | None) -> None:
    """alink: make the files of a SciCat dataset available locally.

    Files are symlinked when the facility storage is mounted on this machine
    (--link), or copied (--copy). Start with `alink demo`.

    Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 login failed, 4 dataset
    not found or forbidden, 5 SciCat unreachable or bad answer, 6 files not
    accessible here, 7 integrity (size/checksum), 8 file exists, 9 unsafe
    path, 10 dataset cannot be downloaded as is, 11 local filesystem error,
    12 several datasets failed for different reasons, 130 interrupted.
    """


@cli.command()
@click.option(
    "--files",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Number of files in the generated dataset.",
)
@click.option(
    "--file-size",
    type=click.IntRange(min=0),
    default=1024,
    show_default=True,
    metavar="BYTES",
    help="Size of each generated file.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Keep the storage and the links in DIR (new or empty) instead of"
    " deleting them.",
)
@click.option(
    "--verify",
    type=click.Choice(["checksum", "size", "none"]),
    default="checksum",
    show_default=True,
    help="How to check the linked files.",
)
@_run_options
def demo(
    files: int,
    file_size: int,
    keep: Path | None,
    verify: VerifyLevel,
    backend: str,
    quiet: bool,
    debug: bool,
) -> None:
    """Link a generated dataset from a local SciCat double: no network, no set-up.

    Creates temporary facility storage (on /dev/shm when there is one) with
    many small files in nested folders, serves the dataset from alink's SciCat
    test double on 127.0.0.1, fetches it with alink.Client, links every file,
    verifies, reports the speed and how long the event loop was blocked at
    most, and cleans up.
    """
    _check_backend(backend)
    options = _demo.DemoOptions(
        files=files, file_size=file_size, keep=keep, verify=verify
    )
    with log_to_stderr(debug=debug), open_reporter(quiet=quiet) as reporter:
        outcome = run_job(lambda: _demo.demo(options, reporter), backend=backend)
    result = finish(
        outcome, debug=debug, interrupted_message="the demo's files were removed"
    )
    for line in _demo.summary(result):
        click.echo(line)


@cli.command(name="download")
@click.argument("pids", nargs=-1, metavar="PID...")
@click.option(
    "--pids-from",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Also the PIDs in FILE, one a line ('-': standard input; blank lines"
    " and # comments are skipped).",
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    metavar="N",
    help="With several datasets: how many are downloaded at once.",
)
@click.option(
    "--target",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Local folder for the files (created when needed).",
)
@click.option(
    "--link",
    "mode",
    flag_value="link",
    default=True,
    help="Symlink the files (the storage must be mounted here). [default]",
)
@click.option("--copy", "mode", flag_value="copy", help="Copy the files.")
@click.option(
    "--auto",
    "mode",
    flag_value="auto",
    help="Link when the storage is mounted here, else copy (else download over"
    " SFTP from the --sftp server).",
)
@click.option(
    "--sftp",
    "sftp",
    metavar="[USER@]HOST[:PORT]",
    help="Download over SSH (SFTP) from this file server, when the storage is"
    " not mounted here; with --auto, only where linking and copying cannot."
    " Logs in like `ssh` (agent, keys, ~/.ssh/config; the host key must be"
    " in known_hosts).",
)
@click.option(
    "--select",
    "patterns",
    type=_Regex(),
    multiple=True,
    metavar="REGEX",
    help="Only files whose path (as `alink show` lists it) matches; repeatable.",
)
@click.option(
    "--keep-tree",
    is_flag=True,
    help="Keep the dataset's sub-folders (default: all files flat in DIR).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing local files, also those that differ from the"
    " catalogue (refused otherwise: they may be yours). --copy and --sftp keep"
    " identical files; --link links in place of any regular file.",
)
@click.option(
    "--checksum/--no-checksum",
    default=None,
    help="Verify checksums, not just sizes. Default: on for --copy and"
    " --auto, off for --link (a link is the facility's own file).",
)
@click.option(
    "--allowed-root",
    "allowed_roots",
    type=_AllowedRoot(),
    multiple=True,
    envvar=ALLOWED_ROOTS_ENV,
    metavar="PATH",
    help="Refuse datasets whose source folder is outside PATH; repeatable"
    f" (env {ALLOWED_ROOTS_ENV}, colon-separated).",
)
@_server_options
@_run_options
@click.pass_context
def download_command(
    ctx: click.Context,
    /,
    pids: tuple[str, ...],
    pids_from: IO[str] | None,
    max_concurrent: int,
    target: Path,
    mode: Mode,
    sftp: str | None,
    patterns: tuple[re.Pattern[str], ...],
    keep_tree: bool,
    force: bool,
    checksum: bool | None,
    allowed_roots: tuple[str, ...],
    backend: str,
    quiet: bool,
    debug: bool,
    **server: Any,
) -> None:
    """Download the files of dataset PID into DIR: link, copy, or either.

    All or nothing: if anything fails, or you press Ctrl-C, whatever this run
    created is removed again. Files already in place are kept.

    With several PIDs (or --pids-from), each dataset goes to its own folder
    DIR/<PID without prefix>, each one all or nothing: a failed dataset does
    not stop or undo the others. A line per dataset is printed; the exit
    code is not 0 if any failed.
    """
    _check_backend(backend)
    given = [p.strip() for p in pids]
    if any(not p for p in given):
        fail("the PID is empty" if len(given) == 1 else "a PID is empty")
    if pids_from is not None:
        given += _many.read_pids(pids_from, pids_from.name)
    if not given:
        raise click.UsageError("give a PID (or several, or --pids-from FILE)")
    problem = target_problem(target)
    if problem is not None:
        code, message = problem
        fail(message, code)
    server_for_sftp = _sftp_server(ctx, sftp)
    login = _login(ctx, **server)
    profile = _profile(ctx)
    if profile is not None:
        if (
            profile.transfer is not None
            and ctx.get_parameter_source("mode") is click.core.ParameterSource.DEFAULT
        ):
            mode = profile.transfer
        if profile.allowed_roots and not allowed_roots:
            allowed_roots = tuple(os.path.abspath(r) for r in profile.allowed_roots)
        if (
            mode == "auto"
            and server_for_sftp is None
            and profile.sftp_host is not None
            and sftp_available()
        ):
            # As the profile's own transfer would: link, copy, else SFTP.
            server_for_sftp = _profile_sftp_server(profile.sftp_host)
    if server_for_sftp is not None and mode != "auto":
        mode = "sftp"  # given on the command line, it wins over a profile's
    if checksum is None:
        checksum = mode != "link"
    if len(pids) != 1 or pids_from is not None:
        _download_many(
            _many.ManyRequest(
                pids=_many.unique(given),
                target=target,
                mode=mode,
                patterns=patterns,
                keep_tree=keep_tree,
                force=force,
                verify="checksum" if checksum else "size",
                allowed_roots=allowed_roots or None,
                max_concurrent=max_concurrent,
                sftp=server_for_sftp,
            ),
            login,
            backend=backend,
            quiet=quiet,
            debug=debug,
        )
        return
    pid = given[0]
    request = DownloadRequest(
        pid=pid,
        target=target,
        mode=mode,
        patterns=patterns,
        keep_tree=keep_tree,
        force=force,
        verify="checksum" if checksum else "size",
        allowed_roots=allowed_roots or None,
        sftp=server_for_sftp,
    )
    with log_to_stderr(debug=debug), open_reporter(quiet=quiet) as reporter:
        outcome = run_job(lambda: download(request, login, reporter), backend=backend)
    result = finish(
        outcome,
        debug=debug,
        interrupted_message="this run's files were removed again",
    )
    if quiet:
        return
    click.echo(_download_summary(request.pid, target, result))


def _profile_sftp_server(host: str) -> SftpServer:
    """A profile's ``sftp_host`` as the server ``--sftp`` would name."""
    try:
        return SftpServer.parse(host)
    except ValueError as exc:
        fail(f"the profile's sftp_host {host!r}: {exc}")


def _sftp_server(ctx: click.Context, value: str | None) -> SftpServer | None:
    """``--sftp``'s server; with --link or --copy it is a usage error."""
    if value is None:
        return None
    source = ctx.get_parameter_source("mode")
    if source is not click.core.ParameterSource.DEFAULT and ctx.params["mode"] in (
        "link",
        "copy",
    ):
        fail(
            f"--sftp and --{ctx.params['mode']} exclude each other; use --auto to"
            " try linking, then copying, then SFTP"
        )
    try:
        return SftpServer.parse(value)
    except ValueError as exc:
        fail(f"--sftp {value!r}: {exc} (expected [USER@]HOST[:PORT])")


def _download_summary(pid: str, target: Path, result: DownloadResult) -> str:
    """The closing line: how many files, where, and what was done with them."""
    done = what_was_done(
        result.mode, result.transfer, result.transferred, result.replaced, result.kept
    )
    return (
        f"{_format.plural(result.selected, 'file')}"
        f" ({_format.size(result.size)}) of {pid} ready in {target}"
        f" ({done}; {_format.duration(result.seconds)})"
    )


def _download_many(
    request: _many.ManyRequest,
    login: Login,
    *,
    backend: str,
    quiet: bool,
    debug: bool,
) -> None:
    """Run a many-dataset download and print its summary; exit with its code."""
    with log_to_stderr(debug=debug), open_reporter(quiet=quiet) as reporter:
        outcome = run_job(
            lambda: _many.download_many(request, login, reporter), backend=backend
        )
    summary = finish(
        outcome,
        debug=debug,
        interrupted_message="finished datasets were kept, the others removed again",
    )
    out, err = _many.summary_lines(summary, request)
    for line in err:
        click.echo(line, err=True)
    if not quiet:
        for line in out:
            click.echo(line)
    code = _many.exit_code(r.error for r in summary.failed if r.error is not None)
    if code is not ExitCode.OK:
        raise click.exceptions.Exit(int(code))


@cli.command()
def profiles() -> None:
    """List the known profiles (built in, and from your profiles file)."""
    try:
        lines = _profiles.listing()
    except ProfileError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(line)


@cli.command()
@click.argument("pid")
@click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of text.")
@_server_options
@_run_options
@click.pass_context
def show(
    ctx: click.Context,
    /,
    pid: str,
    as_json_: bool,
    backend: str,
    quiet: bool,
    debug: bool,
    **server: Any,
) -> None:
    """Show dataset PID: its main fields and its files (sizes, paths)."""
    _check_backend(backend)
    if not pid.strip():
        fail("the PID is empty")
    login = _login(ctx, **server)
    with log_to_stderr(debug=debug), open_reporter(quiet=quiet or as_json_) as reporter:
        outcome = run_job(lambda: fetch(login, pid.strip(), reporter), backend=backend)
    dataset = finish(outcome, debug=debug, interrupted_message="nothing was changed")
    if as_json_:
        click.echo(json.dumps(as_json(dataset), indent=2))
        return
    for line in as_text(dataset):
        click.echo(line)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console script ``alink`` (and ``python -m alink``).

    The process ends with the command, so once its work has ended a Ctrl-C
    or SIGTERM stays ignored up to the exit (the handlers are not put back).
    """
    cli.main(args=argv, prog_name="alink", restore_signals=False)
    raise AssertionError("unreachable: click exits")  # pragma: no cover
