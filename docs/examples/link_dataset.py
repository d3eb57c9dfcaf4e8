"""Link the files of one SciCat dataset into a folder: a plain ``anyio.run`` script.

Usage::

    export SCICAT_TOKEN=...
    python link_dataset.py PID --url https://scicat.example.org --target DIR [--trio]

The same code runs on asyncio (default) and trio.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# --8<-- [start:link]
import anyio

from alink import Client, Dataset
from alink.transfer.link import LinkFileTransfer


async def link_dataset(*, url: str, token: str, pid: str, target: Path) -> Dataset:
    """Fetch dataset ``pid`` and symlink all its files into ``target``."""
    async with Client.from_token(
        url=url, token=token, file_transfer=LinkFileTransfer()
    ) as client:
        dataset = await client.get_dataset(pid)
        # Links point at the facility's own files, so checking sizes is enough.
        return await client.download_files(dataset, target=target, verify="size")


# anyio.run(link_dataset, ...) runs it; add backend="trio" for trio.
# --8<-- [end:link]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pid")
    parser.add_argument("--url", required=True)
    parser.add_argument("--target", required=True, type=Path)
    parser.add_argument("--trio", action="store_true", help="run on trio")
    args = parser.parse_args(argv)
    token = os.environ.get("SCICAT_TOKEN")
    if not token:
        sys.exit("set SCICAT_TOKEN to your SciCat token")

    async def run() -> Dataset:
        return await link_dataset(
            url=args.url, token=token, pid=args.pid, target=args.target
        )

    dataset = anyio.run(run, backend="trio" if args.trio else "asyncio")
    for file in dataset.files:
        print(f"{file.local_path} -> {file.remote_access_path(dataset.source_folder)}")


if __name__ == "__main__":
    main()
