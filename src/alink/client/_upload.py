"""``Client.upload_new_dataset_now``: files, dataset and datablocks, all or nothing.

The order is SciCat's (and Scitacean's): check the dataset (here, then with
the server), upload the files through the transfer, create the dataset, then
its orig datablocks. What a failing or cancelled step leaves is undone in a
shielded scope: the datablocks and the dataset this call created are deleted
(where SciCat allows it), the uploaded files are reverted. Anything that
could not be undone is named in a :class:`~alink.PartialUploadError`.

Requests that create something are never retried after they may have
reached the server, and they are shielded from cancellation while in flight
(bounded by the client's timeout): otherwise a cancelled request could have
created a dataset whose pid alink never learns, and could not delete.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import msgspec

from .._errors import (
    IntegrityError,
    InvalidDatasetError,
    PartialUploadError,
    ScicatCommError,
)
from .._model import PID, Dataset, File
from .._names import summarise
from .._paths import RemotePath
from ..transfer._engine import Engine
from ..typing import UploadConnection, Uploader
from ._http import HttpSession, Reply, _path_segment
from ._parse import parse_dataset
from ._token import Token
from ._upload_body import (
    check_dataset,
    dataset_body,
    encode_entries,
    field_of_message,
    pack_datablocks,
)

__all__ = ["upload_new_dataset"]

_log = logging.getLogger("alink.client")

#: Files above which entries are encoded on worker threads.
_OFFLOAD_FILES = 2048

#: Why a dataset without files is refused. Scitacean's ``add_local_files``
#: changes the dataset in place; alink's returns a new one, so the ported
#: line ``dataset.add_local_files(...)`` drops the files and the upload would
#: register a permanent catalogue entry with none (only SciCat's
#: ``DELETE_GROUPS`` can remove it).
_EMPTY = (
    "refusing to upload a dataset without files; nothing was sent."
    " Dataset.add_local_files returns a new dataset, it does not change the"
    " one it is called on: use its result"
    " (dataset = dataset.add_local_files(...)). To register a dataset without"
    " files on purpose, pass allow_empty=True"
)


@dataclasses.dataclass(slots=True)
class _Created:
    """What this upload has created so far (for the undo)."""

    pid: str | None = None
    blocks: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    uploaded: list[File] = dataclasses.field(default_factory=list)
    con: UploadConnection | None = None
    source: RemotePath | None = None


async def upload_new_dataset(
    session: HttpSession,
    token: Token | None,
    transfer: object,
    dataset: Dataset,
    *,
    checksum_algorithm: str | None,
    max_datablock_bytes: int,
    max_files: int,
    allow_empty: bool,
) -> Dataset:
    """See :meth:`alink.Client.upload_new_dataset_now`."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a Dataset, got {type(dataset).__name__}")
    if not dataset.files and not allow_empty:
        raise ValueError(_EMPTY)
    if isinstance(max_datablock_bytes, bool) or not isinstance(
        max_datablock_bytes, int
    ):
        raise TypeError("max_datablock_bytes must be an integer")
    if max_datablock_bytes < 1024:
        raise ValueError("max_datablock_bytes must be at least 1024")
    if token is None:
        raise ValueError(
            "uploading needs a logged-in client (Client.from_token or"
            " Client.from_credentials); SciCat refuses anonymous uploads"
        )
    token.check_not_expired()
    uploader = transfer if isinstance(transfer, Uploader) else None
    if uploader is not None:
        dataset = dataset.replace(source_folder=uploader.source_folder_for(dataset))
    both = [
        f.remote_path.posix for f in dataset.files if f.is_on_local and f.is_on_remote
    ]
    if both:
        raise ValueError(
            "refusing to upload files that are both local and on the remote"
            f" (which one is meant?): {summarise(both)}; set their local_path to"
            " None to register them as they are"
        )
    to_upload = [f for f in dataset.files if f.is_on_local]
    if to_upload and uploader is None:
        raise ValueError(
            "cannot upload the dataset's local files: the client has no file"
            " transfer that can upload"
            + ("" if transfer is None else f" ({type(transfer).__name__} cannot)")
            + "; create it with file_transfer=CopyFileTransfer() (or another"
            " uploading transfer)"
        )
    body = dataset_body(dataset.fields)
    _check(body, dataset)
    name = dataset.name or "(unnamed)"
    await _validate_with_server(session, token, body, name)
    pid = body.get("pid")
    if isinstance(pid, str) and pid:
        await _refuse_existing_pid(session, token, pid)
    if not to_upload:
        return await _register(
            session,
            token,
            body,
            list(dataset.files),
            _Created(),
            name,
            max_datablock_bytes,
            max_files,
        )
    assert uploader is not None
    entered = False
    try:
        async with uploader.connect_for_upload(
            dataset, to_upload[0].remote_path
        ) as con:
            entered = True
            files = await _prepare_files(dataset.files, checksum_algorithm)
            created = _Created(con=con, source=dataset.source_folder)
            return await _upload_and_register(
                session,
                token,
                body,
                files,
                created,
                name,
                max_datablock_bytes,
                max_files,
            )
    except NotImplementedError as exc:
        if entered:
            raise
        raise NotImplementedError(
            f"cannot upload dataset {name!r}: {type(uploader).__name__} cannot"
            f" upload files ({exc}). Nothing was uploaded or created; use a"
            " transfer that uploads, such as CopyFileTransfer"
        ) from exc


def _check(body: dict[str, Any], dataset: Dataset) -> None:
    problems = check_dataset(body)
    untimed = [
        f.remote_path.posix
        for f in dataset.files
        if not f.is_on_local and f.creation_time is None
    ]
    if untimed:
        problems.append(
            (
                "dataFileList.time",
                f"{len(untimed)} file(s) on the remote have no creation time"
                f" (SciCat requires one): {summarise(untimed)}",
            )
        )
    if problems:
        fields = list(dict.fromkeys(p[0] for p in problems))
        raise InvalidDatasetError(
            "the dataset cannot be uploaded; nothing was sent: "
            + "; ".join(p[1] for p in problems),
            fields=fields,
            problems=[p[1] for p in problems],
        )


async def _refuse_existing_pid(session: HttpSession, token: Token, pid: str) -> None:
    """Refuse, before anything is uploaded, a pid SciCat has already.

    A dataset read from SciCat keeps its pid; uploading a changed copy of
    it would upload the files, be refused (409) and revert them. Any answer
    but "found" (not found, not allowed, an error) lets the upload go on:
    SciCat decides then.
    """
    try:
        reply = await session.request(
            "GET",
            f"v4/datasets/{_path_segment(pid)}",
            what=f"dataset {pid!r}",
            token=token,
        )
    except ScicatCommError:
        return
    if 200 <= reply.status_code < 300 and _field(reply.body, "pid") == pid:
        raise ValueError(
            f"SciCat has a dataset with pid {pid!r} already; nothing was"
            " uploaded. To register a changed copy of a dataset read from"
            " SciCat as a new one, upload dataset.as_new() (no pid, none of"
            " the fields SciCat set)"
        )


async def _validate_with_server(
    session: HttpSession, token: Token, body: dict[str, Any], name: str
) -> None:
    what = f"the validation of dataset {name!r}"
    reply = await session.request(
        "POST",
        "v4/datasets/isValid",
        what=what,
        token=token,
        content=msgspec.json.encode(body),
    )
    if 200 <= reply.status_code < 300:
        try:
            answer = msgspec.json.decode(reply.body)
        except msgspec.DecodeError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("valid"), bool):
            raise ScicatCommError(
                f"SciCat's answer to {what} is not {{'valid': true|false}}",
                status_code=reply.status_code,
            )
        if answer["valid"]:
            return
        raise InvalidDatasetError(
            f"SciCat's validation refused dataset {name!r} (POST"
            " /datasets/isValid answered valid: false, without saying why);"
            " nothing was uploaded. alink's own check of the fields passed, so"
            " look at what this SciCat instance adds: its dataset types, PID"
            " rules or scientific metadata schema",
            status_code=reply.status_code,
        )
    raise _refusal(reply, token, what)


def _refusal(reply: Reply, token: Token, what: str) -> Exception:
    """The error for a non-2xx answer: bad fields (400) or a comm error."""
    status = reply.status_code
    messages = _messages(reply.body, token)
    text = "; ".join(messages) or reply.server_message(token)
    if status == 400:
        fields = [field_of_message(m) for m in messages]
        return InvalidDatasetError(
            f"SciCat refused {what} (400): {text}",
            fields=[f for f in dict.fromkeys(fields) if f],
            problems=messages,
            status_code=status,
        )
    if status in (401, 403):
        hint = (
            "the token may be invalid or expired, or the user may not create"
            " datasets for this ownerGroup"
        )
        return ScicatCommError(
            f"SciCat refused {what} ({status}: {text}); {hint}", status_code=status
        )
    return ScicatCommError(
        f"SciCat answered HTTP {status} to {what}{': ' + text if text else ''}",
        status_code=status,
    )


def _messages(body: bytes | bytearray, token: Token) -> list[str]:
    """The ``message`` of a NestJS error body as a list (400s hold one per field)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    if not isinstance(data, dict):
        return []
    message = data.get("message")
    items = message if isinstance(message, list) else [message]
    return [token.scrub(str(m)) for m in items if isinstance(m, str) and m]


async def _prepare_files(
    files: Sequence[File], checksum_algorithm: str | None
) -> list[File]:
    """Read size, time and checksum of local files that do not have them yet."""
    from .._describe import describe_files

    wanted = [
        i
        for i, f in enumerate(files)
        if f.is_on_local
        and (f.creation_time is None or (f.checksum is None and checksum_algorithm))
    ]  # ~10 ms for 100k files
    described = await describe_files(
        [files[i] for i in wanted], checksum_algorithm=checksum_algorithm
    )
    out = list(files)
    for i, file in zip(wanted, described, strict=True):
        out[i] = file
    return out


async def _upload_and_register(
    session: HttpSession,
    token: Token,
    body: dict[str, Any],
    files: list[File],
    created: _Created,
    name: str,
    max_datablock_bytes: int,
    max_files: int,
) -> Dataset:
    assert created.con is not None
    local = [i for i, f in enumerate(files) if f.is_on_local]
    uploaded = await created.con.upload_files(*(files[i] for i in local))
    created.uploaded = list(uploaded)
    if len(local) > _OFFLOAD_FILES:
        changed = await anyio.to_thread.run_sync(_as_uploaded, files, local, uploaded)
    else:
        changed = _as_uploaded(files, local, uploaded)
    if changed:
        await _undo_and_raise(
            session,
            token,
            created,
            name,
            IntegrityError(
                f"{len(changed)} local file(s) changed size while dataset {name!r}"
                f" was being uploaded (still being written?): {summarise(changed)}"
            ),
            "checking the uploaded files",
        )
    return await _register(
        session, token, body, files, created, name, max_datablock_bytes, max_files
    )


def _as_uploaded(
    files: list[File], local: Sequence[int], uploaded: Sequence[File]
) -> list[str]:
    """Mark ``files[local[i]]`` as uploaded (in place); return the remote paths
    of those whose size changed on the way (a file still being written)."""
    changed: list[str] = []
    for i, up in zip(local, uploaded, strict=True):
        if up.size != files[i].size:
            changed.append(files[i].remote_path.posix)
        # Register what was described (checksum, time), now on the remote.
        files[i] = dataclasses.replace(
            files[i], remote_path=up.remote_path, is_on_remote=True, local_path=None
        )
    return changed


async def _register(
    session: HttpSession,
    token: Token,
    body: dict[str, Any],
    files: list[File],
    created: _Created,
    name: str,
    max_datablock_bytes: int,
    max_files: int,
) -> Dataset:
    """Create the dataset and its datablocks; undo everything if that fails."""
    step = "creating the dataset"
    try:
        dataset_json = await _create_dataset(session, token, body, created, name)
        step = "creating its orig datablocks"
        blocks_json = await _create_blocks(
            session, token, files, created, name, max_datablock_bytes
        )
    except BaseException as exc:
        await _undo_and_raise(session, token, created, name, exc, step)
        raise AssertionError("unreachable") from exc  # pragma: no cover
    assert created.pid is not None  # _create_dataset sets it or raises
    # The dataset as stored now: SciCat recomputed its size and file count
    # (and its update time) with each datablock. Its fields alone are small.
    what = f"the new dataset {created.pid!r}"
    stored = bytes(dataset_json)
    try:
        reply = await session.request(
            "GET", f"v4/datasets/{_path_segment(created.pid)}", what=what, token=token
        )
    except ScicatCommError as exc:
        _log.warning("could not read back %s (%s); answering as created", what, exc)
    else:
        if 200 <= reply.status_code < 300 and _field(reply.body, "pid") == created.pid:
            stored = bytes(reply.body)
        else:
            _log.warning("could not read back %s (HTTP %s)", what, reply.status_code)
    head = msgspec.json.decode(stored)
    head.pop("origdatablocks", None)
    whole = (
        msgspec.json.encode(head)[:-1]
        + b',"origdatablocks":['
        + b",".join(blocks_json)
        + b"]}"
    )
    # Never refuse what was just registered (the limit guards reads).
    limit = max(max_files, len(files))
    return await parse_dataset(whole, what=what, max_files=limit)


async def _create_dataset(
    session: HttpSession,
    token: Token,
    body: dict[str, Any],
    created: _Created,
    name: str,
) -> bytes:
    what = f"the creation of dataset {name!r}"
    with anyio.CancelScope(shield=True):
        reply = await session.request(
            "POST",
            "v4/datasets",
            what=what,
            token=token,
            content=msgspec.json.encode(body),
            idempotent=False,
        )
        if 200 <= reply.status_code < 300:
            pid = _field(reply.body, "pid")
            if pid is None:
                raise ScicatCommError(
                    f"SciCat's answer to {what} names no pid",
                    status_code=reply.status_code,
                )
            created.pid = pid
    await anyio.lowlevel.checkpoint()  # a cancellation that came meanwhile
    if created.pid is None:
        raise _refusal(reply, token, what)
    return bytes(reply.body)


def _field(body: bytes | bytearray, key: str) -> str | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


async def _create_blocks(
    session: HttpSession,
    token: Token,
    files: list[File],
    created: _Created,
    name: str,
    max_bytes: int,
) -> list[bytes]:
    """POST the orig datablocks; halve a block the server finds too large."""
    assert created.pid is not None
    entries: list[bytes] = []
    if len(files) <= _OFFLOAD_FILES:
        entries = encode_entries(files, 0, len(files))
    else:
        await Engine().run_chunked(
            lambda a, b: entries.extend(encode_entries(files, a, b)), len(files)
        )
    sizes = [f.size for f in files]
    pending = deque(pack_datablocks(files, entries, max_bytes))
    budget = max_bytes
    answers: list[bytes] = []
    total = len(files)
    while pending:
        block = pending.popleft()
        if block.weight > budget and len(block.entries) > 1:
            pending.extendleft(reversed(block.halves(sizes)))
            continue
        payload = block.body(created.pid)
        what = (
            f"orig datablock of files {block.indices.start + 1}-{block.indices.stop}"
            f" of {total} of dataset {created.pid!r}"
        )
        answer: bytes | None = None
        with anyio.CancelScope(shield=True):
            reply = await session.request(
                "POST",
                "v4/origdatablocks",
                what=what,
                token=token,
                content=payload,
                idempotent=False,
            )
            if 200 <= reply.status_code < 300:
                block_id = _field(reply.body, "_id") or _field(reply.body, "id")
                if block_id is None:
                    raise ScicatCommError(
                        f"SciCat's answer to {what} names no _id",
                        status_code=reply.status_code,
                    )
                created.blocks.append((block_id, len(block.entries)))
                answer = bytes(reply.body)
        await anyio.lowlevel.checkpoint()
        if answer is not None:
            answers.append(answer)
            continue
        if reply.status_code == 413 and len(block.entries) > 1:
            budget = min(budget, len(payload) // 2)
            _log.info(
                "SciCat refused a datablock of %d bytes (413); sending at most"
                " %d bytes per datablock",
                len(payload),
                budget,
            )
            pending.extendleft(reversed(block.halves(sizes)))
            continue
        raise _refusal(reply, token, what)
    return answers


async def _undo_and_raise(
    session: HttpSession,
    token: Token,
    created: _Created,
    name: str,
    exc: BaseException,
    step: str,
) -> None:
    """Undo what ``created`` lists (shielded); raise ``exc`` or a
    :class:`PartialUploadError` naming what is left."""
    with anyio.CancelScope(shield=True):
        undone = await _undo(session, token, created)
    done, left = undone.done, undone.left
    failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if not left:
        if done:
            exc.add_note(
                f"alink undid the upload of dataset {name!r}: " + "; ".join(done)
            )
        raise exc
    message = (
        f"uploading dataset {name!r} failed while {step} ({failure}), and could"
        f" not be fully undone. {' '.join(left)}"
        + (f" Undone: {'; '.join(done)}." if done else "")
    )
    if not isinstance(exc, Exception):  # cancelled, interrupted: never swallow
        _log.error("%s", message)
        raise exc
    raise PartialUploadError(
        message,
        pid=PID.parse(created.pid) if undone.dataset_left and created.pid else None,
        datablocks=undone.blocks,
        files=undone.files,
    ) from exc


@dataclasses.dataclass(slots=True)
class _Undone:
    """The outcome of an undo: sentences for the message, and what is left."""

    done: list[str] = dataclasses.field(default_factory=list)
    left: list[str] = dataclasses.field(default_factory=list)
    dataset_left: bool = False
    blocks: list[str] = dataclasses.field(default_factory=list)
    files: list[RemotePath] = dataclasses.field(default_factory=list)


async def _undo(session: HttpSession, token: Token, created: _Created) -> _Undone:
    """Delete the blocks, then the dataset, then revert the files; never raises
    (but for a bug)."""
    undone = _Undone()
    done, left, left_blocks = undone.done, undone.left, undone.blocks
    block_errors: list[str] = []
    for block_id, _count in reversed(created.blocks):
        error = await _delete(
            session,
            token,
            f"v4/origdatablocks/{_path_segment(block_id)}",
            f"orig datablock {block_id!r}",
        )
        if error is None:
            continue
        left_blocks.append(block_id)
        block_errors.append(error)
    left_blocks.reverse()
    if created.blocks and not left_blocks:
        done.append(f"deleted its {len(created.blocks)} orig datablock(s)")
    dataset_left = False
    if created.pid is not None:
        error = await _delete(
            session,
            token,
            f"v4/datasets/{_path_segment(created.pid)}",
            f"dataset {created.pid!r}",
        )
        if error is None:
            done.append(f"deleted dataset {created.pid!r} from SciCat")
        else:
            undone.dataset_left = dataset_left = True
            kept = sum(n for i, n in created.blocks if i in left_blocks)
            left.append(
                f"Dataset {created.pid!r} is still in SciCat with"
                f" {len(left_blocks)} orig datablock(s) ({kept} file(s)), not"
                f" all of its files: SciCat did not delete it ({error}). Ask a"
                " SciCat administrator (a member of its DELETE_GROUPS) to delete"
                f" dataset {created.pid!r}, then upload again."
            )
    if left_blocks and not dataset_left:
        left.append(
            f"Orig datablock(s) {summarise(left_blocks)} of the deleted dataset"
            f" {created.pid!r} are still in SciCat ({block_errors[0]}); ask a"
            " SciCat administrator to delete them."
        )
    if created.uploaded and created.con is not None:
        try:
            await created.con.revert_upload(*created.uploaded)
        except Exception as error:
            source = created.source or RemotePath("/")
            left_files = [source / f.remote_path for f in created.uploaded]
            undone.files = left_files
            left.append(
                f"Uploaded files may still be in {source.posix!r} (reverting"
                f" failed: {type(error).__name__}: {error}):"
                f" {summarise([p.posix for p in left_files])}; remove them by hand."
            )
        else:
            where = f" from {created.source.posix!r}" if created.source else ""
            done.append(f"removed the {len(created.uploaded)} uploaded file(s){where}")
    return undone


async def _delete(
    session: HttpSession, token: Token, path: str, what: str
) -> str | None:
    """DELETE ``path``; ``None`` if gone (404 counts), else why not."""
    try:
        reply = await session.request(
            "DELETE", path, what=f"deleting {what}", token=token
        )
    except ScicatCommError as exc:
        return str(exc)
    message = reply.server_message(token)
    if 200 <= reply.status_code < 300:
        return None
    if reply.status_code == 404 and not message.startswith("Cannot DELETE"):
        return None  # already gone ("Cannot DELETE ...": no such route)
    return f"HTTP {reply.status_code}{': ' + message if message else ''}"
