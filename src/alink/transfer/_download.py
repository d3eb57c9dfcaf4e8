"""What every download transfer shares: connect checks and the download flow.

A transfer only chooses the :class:`~alink.transfer._fs.Operation` (symlink,
copy, hard link); validation, containment, existence checks, batching,
progress and rollback live here and in the engine, once.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import anyio.to_thread

from .._errors import FileNotAccessibleError, UnsafePathError
from .._names import summarise
from .._paths import RemotePath
from . import _fs, _plan, _sources
from ._copy_ops import SourceChangedError
from ._engine import Engine, ProgressCallback, RunResult, VerifyCallback
from ._staging import Staging

if TYPE_CHECKING:
    from .._model import Dataset

__all__ = [
    "DownloadConnectionBase",
    "DownloadOptions",
    "check_allowed_roots",
    "plan_download",
    "prepare_connect",
]


class DownloadOptions:
    """Safety and performance options shared by Link and Copy transfers."""

    __slots__ = ("allowed_roots", "engine", "follow_external_symlinks")

    def __init__(
        self,
        *,
        allowed_roots: Sequence[str | RemotePath] | None,
        follow_external_symlinks: bool,
        engine: Engine | None,
    ) -> None:
        if isinstance(allowed_roots, str | RemotePath):
            raise TypeError("allowed_roots must be a sequence of paths, not one path")
        self.allowed_roots: tuple[str, ...] | None = (
            None
            if allowed_roots is None
            else tuple(_plan.absolute_remote(r, "/") for r in allowed_roots)
        )
        if self.allowed_roots is not None:
            for root, given in zip(
                self.allowed_roots, allowed_roots or (), strict=True
            ):
                if not RemotePath(given).is_absolute():
                    raise ValueError(f"allowed_roots must be absolute, got {root!r}")
        self.follow_external_symlinks = follow_external_symlinks
        self.engine = engine if engine is not None else Engine()


def _source_folder_text(dataset: Dataset, cwd: str) -> str:
    folder = dataset.source_folder
    if folder is None:
        raise ValueError(
            f"dataset {dataset.pid or ''} has no source folder; its files cannot be"
            " located on the remote".replace("  ", " ")
        )
    return _plan.absolute_remote(folder, cwd)


def check_allowed_roots(source: str, options: DownloadOptions) -> None:
    """Refuse an absolute remote folder outside ``allowed_roots`` (no I/O)."""
    roots = options.allowed_roots
    if roots is not None and not any(_fs.is_inside(source, r) for r in roots):
        raise UnsafePathError(
            f"the dataset's source folder {source!r} is not inside the allowed"
            f" roots {list(roots)!r}"
        )


def prepare_connect(dataset: Dataset, options: DownloadOptions, cwd: str) -> str:
    """The absolute source folder, checked against ``allowed_roots`` (no I/O)."""
    source = _source_folder_text(dataset, cwd)
    check_allowed_roots(source, options)
    return source


def _connect_checks(
    source: str,
    representative: RemotePath | str | None,
    options: DownloadOptions,
) -> tuple[str, ...] | None:
    """On a worker thread: the source folder and the representative file exist.

    Returns the real (symlink-free) roots that remote files must resolve into,
    or ``None`` when symlinks may point anywhere.
    """
    if not os.path.isdir(source):
        raise FileNotAccessibleError(
            f"cannot access the dataset's source folder {source!r} from this"
            " machine (is the facility storage mounted here?)",
            remote_path=RemotePath(source),
        )
    real_source = os.path.realpath(source)
    real_allowed = (
        None
        if options.allowed_roots is None
        else tuple(os.path.realpath(r) for r in options.allowed_roots)
    )
    if real_allowed is not None and not any(
        _fs.is_inside(real_source, r) for r in real_allowed
    ):
        raise UnsafePathError(
            f"the dataset's source folder {source!r} resolves to {real_source!r},"
            " outside the allowed roots"
        )
    if representative is not None:
        # Only probed, never linked or read: it may lie anywhere (as in
        # Scitacean, whose tests pass the source folder's parent).
        path = _plan.absolute_remote(RemotePath(source) / representative, "/")
        if not os.path.exists(path):
            # The source folder is here (checked above): the mount is, too.
            raise FileNotAccessibleError(
                f"cannot access {path!r} from this machine: the dataset's source"
                f" folder {source!r} is here, but not this file (missing from"
                " the storage, or the file list names it wrongly?)",
                remote_path=(
                    representative
                    if isinstance(representative, RemotePath)
                    else RemotePath(representative)
                ),
            )
    if options.follow_external_symlinks:
        return real_allowed
    return (real_source,)


async def plan_download(
    engine: Engine,
    source: str,
    remote: Sequence[RemotePath | str],
    local: Sequence[str | os.PathLike[str]],
    replace: bool | Collection[int],
    *,
    cwd: str,
) -> tuple[_plan.Plan, _plan.Layout]:
    """Validate a download's arguments and plan it; nothing is touched.

    Types, lengths, ``replace`` indices, containment in ``source``, file
    names and duplicate local paths are checked (see :func:`_plan.plan_slice`);
    relative paths are taken against ``cwd``. Every transfer's downloads
    start here, whether their remote side is a filesystem or a server.
    """
    if isinstance(remote, str | RemotePath) or isinstance(local, str | os.PathLike):
        raise TypeError("remote and local must be sequences of paths")
    if len(remote) != len(local):
        raise ValueError(
            f"remote and local must have the same length, got {len(remote)}"
            f" remote and {len(local)} local paths"
        )
    if replace is not True and replace is not False:
        bad = [i for i in replace if not 0 <= i < len(remote)]
        if bad:
            raise ValueError(f"replace indices out of range: {bad[:5]}")
    plan = _plan.Plan.sized(len(remote))
    layout = _plan.Layout()
    duplicates = _plan.DuplicateCheck(plan.targets)

    def prepare(start: int, stop: int) -> None:
        first = len(plan)
        texts = _plan.plan_slice(
            source, remote, local, cwd=cwd, start=start, stop=stop, into=plan
        )
        layout.add(plan.sources, first, texts)
        duplicates.add(texts, first)

    # All per-file work runs on worker threads, in slices: the loop stays
    # free and cancellation stays prompt.
    await engine.run_chunked(prepare, len(remote), initial=4096)
    await anyio.to_thread.run_sync(duplicates.check)
    return plan, layout


def _describe(kind: str, paths: Sequence[str]) -> str:
    return f"{len(paths)} {kind}: {summarise(paths)}"


class DownloadConnectionBase:
    """A connection to one dataset's source folder that can download files."""

    _operation: _fs.Operation

    def __init__(
        self,
        *,
        source_folder: str,
        roots: tuple[str, ...] | None,
        options: DownloadOptions,
    ) -> None:
        self._source = source_folder
        self._roots = roots
        self._options = options

    async def _prepare_operation(
        self, folders: Mapping[str, int], staging: Staging | None
    ) -> _fs.Operation:
        """The operation for one download call into ``folders``.

        ``folders`` maps each local folder to how many files it receives.
        Subclasses may return a fresh operation that keeps state, and look at
        the local side first (off the event loop).
        """
        return self._operation

    async def _plan_staging(self, folders: Mapping[str, int]) -> Staging | None:
        """Which new ``folders`` to build under a hidden name (see ``_staging``).

        Only copies gain from it; links are made straight in place.
        """
        return None

    @property
    def source_folder(self) -> RemotePath:
        """The dataset's absolute source folder on the remote."""
        return RemotePath(self._source)

    async def download_file(
        self,
        *,
        remote: RemotePath | str,
        local: str | os.PathLike[str],
    ) -> RunResult:
        """Download one file; see :meth:`download_files`."""
        return await self.download_files(remote=[remote], local=[local])

    async def download_files(
        self,
        *,
        remote: Sequence[RemotePath | str],
        local: Sequence[str | os.PathLike[str]],
        progress: ProgressCallback | None = None,
        replace: bool | Collection[int] = False,
        verify: VerifyCallback | None = None,
        verify_progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Make each ``remote[i]`` available at ``local[i]``, all or nothing.

        Everything is validated before the disk is touched; all missing remote
        files are reported at once; on any failure or cancellation, whatever
        this call created is removed again (and replaced entries come back).

        Args:
            remote: Full remote paths inside the dataset's source folder.
            local: Where each file goes; missing parent folders are created.
            progress: ``progress(done, total)``, called on the event loop as
                files complete.
            replace: ``True`` or the indices of pairs whose existing local
                entry (not a folder) is replaced atomically: the path never
                goes missing and the old entry returns if the call fails.
            verify: ``verify(index, local_path)``, called on worker threads
                for every pair once all exist; raising (e.g.
                :class:`~alink.IntegrityError`) rolls the whole call back.
            verify_progress: ``verify_progress(done, total)``, called on the
                event loop as ``verify`` calls complete.

        Returns:
            What was created, replaced and already in place.

        Raises:
            ValueError: ``remote`` and ``local`` differ in length, or a local
                path occurs twice.
            UnsafePathError: a remote path outside the source folder, a local
                path without a real file name, or a remote symlink leading out
                of the dataset.
            FileNotAccessibleError: remote files are missing, not files, or
                symlinks that cannot be resolved (loops); all are named.
            FileExistsError: something else is already at a local path.
        """
        return await self._download(
            remote, local, progress, replace, verify, verify_progress
        )

    async def _download(
        self,
        remote: Sequence[RemotePath | str],
        local: Sequence[str | os.PathLike[str]],
        progress: ProgressCallback | None,
        replace: bool | Collection[int],
        verify: VerifyCallback | None,
        verify_progress: ProgressCallback | None = None,
    ) -> RunResult:
        engine = self._options.engine
        plan, layout = await plan_download(
            engine, self._source, remote, local, replace, cwd=_plan.working_directory()
        )
        await self._check_sources(plan, layout, remote)
        # The check's lists of paths are no longer needed: freed off the loop.
        await anyio.to_thread.run_sync(layout.remote.clear)
        folders = layout.local_folders
        staging = await self._plan_staging(folders)
        operation = await self._prepare_operation(folders, staging)
        targets: Sequence[str] = plan.targets
        made = list(folders)
        if staging is not None:
            targets = staging.targets(plan.targets)
            made = [staging.folder(f) for f in made]
            if verify is not None:
                # Staged folders are in place by then: verify sees final paths.
                verify = _at_final_paths(verify, staging)
        try:
            return await engine.run(
                operation,
                plan.sources,
                targets,
                folders=made,
                fresh=staging.stand_ins if staging is not None else (),
                progress=progress,
                replace=range(len(plan)) if replace is True else (replace or ()),
                verify=verify,
                finish=staging,
                verify_progress=verify_progress,
            )
        except OSError as exc:
            if staging is not None:
                staging.explain(exc)
            unreadable = _unreadable_source(exc, plan.sources, remote)
            if unreadable is not None:
                raise unreadable from exc
            raise

    async def _check_sources(
        self,
        plan: _plan.Plan,
        layout: _plan.Layout,
        remote: Sequence[RemotePath | str],
    ) -> None:
        check = _sources.SourceCheck(
            plan.sources, layout.remote, self._roots, self._source
        )
        # Each stage's jobs (one per remote folder, say) may run on several
        # threads at once: on high-latency storage their waits overlap. Once
        # a stage has shown that the storage is slow, the next one starts
        # with every worker instead of adding them one by one.
        engine = self._options.engine
        slow = False
        try:
            for jobs in check.stages():
                if slow:
                    check.open_base()  # fewer path lookups (see there)
                slow = await engine.run_steps(
                    (_sources.check_sources(check, job) for job in jobs),
                    workers=min(len(jobs), engine.max_workers) if slow else 1,
                )
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(check.close)
        report = check.report
        if (
            report.escaping
            or report.missing
            or report.not_files
            or report.loops
            or report.denied
        ):
            # Naming 100k missing files (a RemotePath each) takes a while:
            # built off the event loop, raised here.
            raise await anyio.to_thread.run_sync(_source_error, plan, report, remote)


def _source_error(
    plan: _plan.Plan,
    report: _sources.SourceReport,
    remote: Sequence[RemotePath | str],
) -> Exception:
    """The error for what checking the remote files found (it found something)."""
    if report.escaping:
        return UnsafePathError(
            _describe(
                "remote file(s) are symlinks that resolve outside the dataset's"
                " source folder (pass follow_external_symlinks=True to allow)",
                [plan.sources[i] for i in report.escaping],
            )
        )
    kinds = [
        (kind, indices)
        for kind, indices in (
            ("remote file(s) do not exist", report.missing),
            ("remote path(s) are not regular files", report.not_files),
            (
                "remote path(s) cannot be resolved (a symlink loop, or too many"
                " levels of symbolic links)",
                report.loops,
            ),
            (
                "remote file(s) cannot be looked at (permission denied on a"
                " folder on the way)",
                report.denied,
            ),
        )
        if indices
    ]
    parts = [
        _describe(kind, [plan.sources[i] for i in indices]) for kind, indices in kinds
    ]
    bad = sorted(i for _, indices in kinds for i in indices)
    paths = [_as_remote(remote[i]) for i in bad]
    return FileNotAccessibleError(
        "; ".join(parts) + "; nothing was created",
        remote_path=paths[0],
        remote_paths=paths,
    )


def _unreadable_source(
    exc: OSError, sources: Sequence[str], remote: Sequence[RemotePath | str]
) -> FileNotAccessibleError | None:
    """A remote file the download could not read (a copy opens it; the check
    before only looks at it), or that changed since it was checked, as the
    remote file it is; else ``None``.

    Only an error about one path, a source: ``symlink()`` and ``link()``
    name the source first too, but their errors are the local side's.
    The run was undone by then; the error's notes (what could not be undone,
    if anything) carry over.
    """
    why = _SOURCE_ERRORS.get(type(exc))
    if (
        why is None
        or not isinstance(exc.filename, str)
        or getattr(exc, "filename2", None) is not None
    ):
        return None
    try:
        index = sources.index(exc.filename)
    except ValueError:
        return None  # a local path, or not a file of this download
    if isinstance(exc, SourceChangedError):
        why = f"changed after it was checked ({exc.strerror})"
    error = FileNotAccessibleError(
        f"remote file {exc.filename!r} {why}; the download was undone",
        remote_path=_as_remote(remote[index]),
    )
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error


#: What an error reading a remote file says about it.
_SOURCE_ERRORS: dict[type[OSError], str] = {
    PermissionError: "cannot be read (permission denied)",
    FileNotFoundError: "is gone (it was removed after it was checked)",
    SourceChangedError: "changed after it was checked",
}


def _at_final_paths(verify: VerifyCallback, staging: Staging) -> VerifyCallback:
    """``verify``, given each file's final path instead of its staged one."""
    final_path = staging.final_path
    return lambda index, path: verify(index, final_path(path))


def _as_remote(path: RemotePath | str) -> RemotePath:
    return path if isinstance(path, RemotePath) else RemotePath(path)
