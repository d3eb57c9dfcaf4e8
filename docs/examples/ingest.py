"""An ingestion service's last step: upload what a run wrote and register it.

Usage::

    export SCICAT_TOKEN=...
    python ingest.py OUTPUT_DIR --url https://scicat.example.org \\
        --storage /facility/data --owner-group group1 --contact you@facility.org

Every file below ``OUTPUT_DIR`` is uploaded (keeping its sub-folders) into a
new folder below ``--storage``, and registered as a new raw dataset; the
script prints the new PID. All or nothing: if anything fails, the files are
removed again and no dataset is left behind (or the error says what is).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from alink import Client, Dataset
from alink.transfer.copy import CopyFileTransfer


# --8<-- [start:ingest]
def list_files(folder: Path) -> list[Path]:
    """Every file below ``folder`` (blocking: run it on a worker thread)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


async def ingest(
    *,
    url: str,
    token: str,
    output: Path,
    storage: Path,
    owner_group: str,
    contact_email: str,
    run: str,
) -> Dataset:
    """Upload every file below ``output`` and register them as one dataset."""
    files = await anyio.to_thread.run_sync(list_files, output)
    dataset = Dataset.new(
        type="raw",
        name=f"Run {run}",
        owner=contact_email.partition("@")[0],
        owner_group=owner_group,
        contact_email=contact_email,
        principal_investigators=["Ponder Stibbons"],
        creation_location="/UU/HEX/beamline-1",
        meta={"run": run, "temperature": {"value": 4.2, "unit": "K"}},
    )
    # Sizes, times and checksums are read on worker threads, several files
    # at once; the event loop stays free for the service's other work.
    dataset = await dataset.with_local_files(*files, base_path=output)
    # Each dataset gets a folder of its own below the storage: {uid} is a
    # fresh UUID, chosen once per upload.
    transfer = CopyFileTransfer(source_folder=f"{storage}/{owner_group}/{{uid}}")
    async with Client.from_token(
        url=url, token=token, file_transfer=transfer
    ) as client:
        return await client.upload_new_dataset_now(dataset)


# --8<-- [end:ingest]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--storage", required=True, type=Path)
    parser.add_argument("--owner-group", required=True)
    parser.add_argument("--contact", required=True)
    parser.add_argument("--run", default="1")
    parser.add_argument("--trio", action="store_true", help="run on trio")
    args = parser.parse_args(argv)
    token = os.environ.get("SCICAT_TOKEN")
    if not token:
        sys.exit("set SCICAT_TOKEN to your SciCat token")

    async def run() -> Dataset:
        return await ingest(
            url=args.url,
            token=token,
            output=args.output,
            storage=args.storage,
            owner_group=args.owner_group,
            contact_email=args.contact,
            run=args.run,
        )

    dataset = anyio.run(run, backend="trio" if args.trio else "asyncio")
    print(dataset.pid)


if __name__ == "__main__":
    main()
