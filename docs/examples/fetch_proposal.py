"""Find the datasets of a proposal and link all of them, a folder per dataset.

Usage::

    export SCICAT_TOKEN=...
    python fetch_proposal.py PROPOSAL --url https://scicat.example.org --target DIR
    python fetch_proposal.py PROPOSAL --profile ess --target DIR   # a profile instead

Each dataset is all or nothing; one that fails (storage not mounted here, a
file that does not match the catalogue) is reported and the others go on.
The exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from alink import Client
from alink.client import DownloadsProgress, DownloadSummary
from alink.transfer.link import LinkFileTransfer


# --8<-- [start:fetch]
async def fetch_proposal(
    client: Client, proposal: str, target: Path, *, newest: int | None = None
) -> DownloadSummary:
    """Link the raw datasets of ``proposal`` (or the ``newest`` few) into ``target``."""
    datasets = []
    # Page by page: a proposal may have thousands of datasets.
    async for page in client.query_datasets_pages(
        {"proposalIds": [proposal], "type": "raw"},
        order="creationTime:desc",
        limit=newest,
        files=True,  # the file lists come along: no second request per dataset
    ):
        datasets.extend(page)

    def progress(state: DownloadsProgress) -> None:
        print(
            f"\r{state.finished}/{state.datasets} datasets,"
            f" {state.files_done}/{state.files_total} files",
            end="",
            file=sys.stderr,
        )

    summary = await client.download_datasets(
        datasets, target=target, max_concurrent=4, progress=progress, verify="size"
    )
    print(file=sys.stderr)
    return summary


# --8<-- [end:fetch]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proposal")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url")
    where.add_argument("--profile")
    parser.add_argument("--target", required=True, type=Path)
    parser.add_argument("--newest", type=int, help="only the newest N datasets")
    args = parser.parse_args(argv)
    token = os.environ.get("SCICAT_TOKEN") or None
    if token is None and args.url:
        sys.exit("set SCICAT_TOKEN to your SciCat token")

    async def run() -> DownloadSummary:
        async with Client.from_token(
            url=args.url,
            profile=args.profile,
            token=token,
            file_transfer=None if args.profile else LinkFileTransfer(),
        ) as client:
            return await fetch_proposal(
                client, args.proposal, args.target, newest=args.newest
            )

    summary = anyio.run(run)
    print(summary.describe())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
