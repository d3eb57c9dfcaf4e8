"""Link several SciCat datasets concurrently: a trio pipeline.

A producer feeds PIDs into a memory channel; a few workers take PIDs from it,
fetch each dataset and link its files into ``target/<pid>``; their reports go
through a second channel to the collector. One ``Client`` (one connection
pool) serves all workers. If anything fails, the nursery cancels the other
workers, and each cancelled download removes what it had linked.

Usage::

    export SCICAT_TOKEN=...
    python trio_pipeline.py --url https://scicat.example.org --target DIR PID [PID ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import trio

from alink import Client
from alink.transfer.link import LinkFileTransfer


@dataclass(frozen=True)
class Linked:
    """One finished dataset."""

    pid: str
    folder: Path
    files: int


def folder_for(target: Path, pid: str) -> Path:
    """``target/<pid>``, with the PID made one safe folder name."""
    name = quote(pid, safe="")
    if name in ("", ".", ".."):
        raise ValueError(f"cannot make a folder name from PID {pid!r}")
    return target / name


async def link_datasets(
    *,
    url: str,
    token: str,
    pids: Sequence[str],
    target: Path,
    workers: int = 3,
) -> list[Linked]:
    """Link every dataset in ``pids`` into its own folder below ``target``."""
    results: list[Linked] = []
    async with Client.from_token(
        url=url, token=token, file_transfer=LinkFileTransfer()
    ) as client:
        pid_send, pid_receive = trio.open_memory_channel[str](0)
        done_send, done_receive = trio.open_memory_channel[Linked](0)

        async def produce() -> None:
            async with pid_send:
                for pid in pids:
                    await pid_send.send(pid)

        async def work(
            pids_in: trio.MemoryReceiveChannel[str],
            done_out: trio.MemorySendChannel[Linked],
        ) -> None:
            async with pids_in, done_out:
                async for pid in pids_in:
                    dataset = await client.get_dataset(pid)
                    folder = folder_for(target, pid)
                    dataset = await client.download_files(
                        dataset, target=folder, keep_tree=True, verify="size"
                    )
                    files = sum(1 for f in dataset.files if f.local_path is not None)
                    await done_out.send(Linked(pid, folder, files))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            # Each worker gets its own clone; a channel closes with its last clone.
            async with pid_receive, done_send:
                for _ in range(workers):
                    nursery.start_soon(work, pid_receive.clone(), done_send.clone())
            async with done_receive:
                async for linked in done_receive:
                    results.append(linked)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pids", nargs="+", metavar="PID")
    parser.add_argument("--url", required=True)
    parser.add_argument("--target", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)
    token = os.environ.get("SCICAT_TOKEN")
    if not token:
        sys.exit("set SCICAT_TOKEN to your SciCat token")

    async def run() -> list[Linked]:
        return await link_datasets(
            url=args.url,
            token=token,
            pids=args.pids,
            target=args.target,
            workers=args.workers,
        )

    for linked in trio.run(run):
        print(f"{linked.pid}: {linked.files} files in {linked.folder}")


if __name__ == "__main__":
    main()
