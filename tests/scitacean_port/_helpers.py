"""Shared set-up for the Scitacean port: datasets served by the real SciCat double.

Scitacean's tests put models into a ``FakeClient``; here the same datasets
are served over real HTTP by :class:`alink.testing.ScicatServer` and read by a
real :class:`alink.Client`, so every port also exercises the wire format.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

from alink import Client, Dataset, RemotePath
from alink.testing import GeneratedDataset, ScicatServer, make_dataset
from alink.transfer.copy import CopyFileTransfer
from alink.typing import Downloader

#: The text most of Scitacean's transfer tests write into their files.
TEXT = "This is some text for testing.\n"
#: The pid of the single dataset in Scitacean's client-level transfer tests.
PID_TEXT = "UU.0123/1234567890"


def md5(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.md5(raw).hexdigest()


def rp(path: Path) -> RemotePath:
    """A local path as the remote path of a folder mounted here."""
    return RemotePath(str(path))


def published(
    pid: str,
    source_folder: str | Path,
    files: Sequence[tuple[str, bytes | str]],
    *,
    checksum_algorithm: str | None = "md5",
    **fields: Any,
) -> GeneratedDataset:
    """A published dataset listing ``files`` (path, content) with their real
    sizes and md5 checksums, readable by an anonymous client."""
    specs = [
        (
            path,
            len(content.encode() if isinstance(content, str) else content),
            md5(content),
        )
        for path, content in files
    ]
    return make_dataset(
        pid=pid,
        source_folder=str(source_folder),
        files=specs,
        checksum_algorithm=checksum_algorithm,
        is_published=True,
        **fields,
    )


@asynccontextmanager
async def scicat(
    *datasets: GeneratedDataset, file_transfer: Downloader | None = None
) -> AsyncIterator[Client]:
    """An anonymous client of a fresh SciCat double serving ``datasets``
    (Scitacean's ``FakeClient.without_login`` with datasets put in)."""
    server = ScicatServer(
        datasets=[d.dataset for d in datasets],
        orig_datablocks=[b for d in datasets for b in d.orig_datablocks],
    )
    async with (
        server,
        Client.without_login(url=server.url, file_transfer=file_transfer) as client,
    ):
        yield client


class RefusingTransfer(CopyFileTransfer):
    """A real transfer whose connect always fails: proof that a download did
    (or did not) need the transfer at all (Scitacean's ``RaisingDownloader``)."""

    @asynccontextmanager
    async def connect_for_download(  # type: ignore[override]
        self,
        dataset: Dataset,
        representative_file_path: RemotePath | str | None = None,
    ) -> AsyncIterator[NoReturn]:
        raise RuntimeError("Download disabled")
        yield  # pragma: no cover
