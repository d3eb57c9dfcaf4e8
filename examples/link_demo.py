"""Link a generated 20,000-file dataset and show that the event loop stays free.

Run: python examples/link_demo.py [--files N] [--backend asyncio|trio]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio

from alink import Dataset, RemotePath
from alink.transfer.link import LinkFileTransfer


def make_storage(root: Path, count: int) -> list[RemotePath]:
    """Pretend facility storage: ``count`` small files in nested folders."""
    paths = []
    for i in range(count):
        folder = root / f"scan{i // 1000:03d}" / f"part{i // 100 % 10}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        path = folder / f"frame{i:06d}.dat"
        path.write_bytes(b"%d\n" % i)
        paths.append(RemotePath(str(path)))
    return paths


async def main(count: int) -> None:
    # tmpfs when there is one: the demo shows alink, not the disk's speed.
    scratch = "/dev/shm" if await anyio.Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="alink-demo-", dir=scratch) as tmp:
        storage = Path(tmp) / "facility" / "run42"
        remote = await anyio.to_thread.run_sync(make_storage, storage, count)
        prefix = len(str(storage)) + 1
        local = [Path(tmp) / "download" / p.posix[prefix:] for p in remote]
        dataset = Dataset(type="raw", source_folder=str(storage))

        worst_lag = 0.0
        finished = anyio.Event()

        async def ticker() -> None:
            nonlocal worst_lag
            while not finished.is_set():
                start = time.perf_counter()
                await anyio.sleep(0.001)
                worst_lag = max(worst_lag, time.perf_counter() - start - 0.001)

        shown = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal shown
            now = time.perf_counter()
            if now - shown > 0.1 or done == total:
                shown = now
                print(f"\r  linked {done:>7}/{total}", end="", flush=True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            began = time.perf_counter()
            transfer = LinkFileTransfer()
            async with transfer.connect_for_download(dataset, remote[0]) as con:
                await con.download_files(remote=remote, local=local, progress=progress)
            elapsed = time.perf_counter() - began
            finished.set()

        sample = local[:: max(1, count // 100)]
        ok = all([await anyio.Path(p).is_symlink() for p in sample])
        print(
            f"\n  {count} files linked in {elapsed:.2f} s"
            f" ({count / elapsed:,.0f} files/s); event loop blocked at most"
            f" {worst_lag * 1000:.1f} ms; spot check {'passed' if ok else 'FAILED'}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.files, backend=args.backend)
