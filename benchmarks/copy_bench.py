"""Benchmark: CopyFileTransfer downloads against ``cp -r``, and event-loop lag.

A standalone script (no test framework). For each scenario it creates a source
folder, then alternately copies it with ``cp -r`` and with alink's
``CopyFileTransfer`` (the full public path: connect, validate, check the remote
files, copy), several times, and reports the median of each, their ratio and
the event loop's lag while alink copies, measured in one extra round (a task
that sleeps 1 ms measures how late it wakes up; it is left out of the timed
rounds because its own wake-ups cost a little).

Scenarios and targets:

- ``large``: 2,000 files of 1 MiB (2 GiB); alink within 1.2x of ``cp -r``.
- ``small``: 100,000 files of 4 KiB; alink within 1.5x of ``cp -r``.

Usage::

    python benchmarks/copy_bench.py                 # both, in /dev/shm if it fits
    python benchmarks/copy_bench.py --dir /var/tmp  # on a disk instead
    python benchmarks/copy_bench.py --scenario small --repeat 5 --backend trio
    python benchmarks/copy_bench.py --quick         # 1/10 of the sizes

Space needed: three times the scenario's size (source, cp copy, alink copy);
the script checks free space first and removes everything it made.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio

from alink import Dataset, Engine, RemotePath
from alink.transfer.copy import CopyFileTransfer


@dataclass
class Scenario:
    name: str
    files: int
    size: int
    target_ratio: float
    per_folder: int = 10_000


SCENARIOS = {
    "large": Scenario("large", 2_000, 1 << 20, 1.2),
    "small": Scenario("small", 100_000, 4 << 10, 1.5),
}


@dataclass
class Result:
    scenario: str
    files: int
    bytes_total: int
    directory: str
    backend: str
    cp_seconds: list[float]
    alink_seconds: list[float]
    cp_median: float
    alink_median: float
    ratio: float
    target_ratio: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target_ratio


def make_source(root: Path, scenario: Scenario) -> list[str]:
    """Write the source files (distinct content) in folders of ``per_folder``."""
    block = os.urandom(scenario.size)
    names: list[str] = []
    for i in range(scenario.files):
        folder = f"d{i // scenario.per_folder:03d}"
        if i % scenario.per_folder == 0:
            (root / folder).mkdir(parents=True)
        name = f"{folder}/f{i:06d}"
        with open(root / name, "wb") as out:
            out.write(i.to_bytes(8, "big") + block[8:])
        names.append(name)
    return names


def run_cp(source: Path, target: Path) -> float:
    began = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return time.perf_counter() - began


async def run_alink(
    source: Path,
    target: Path,
    names: list[str],
    workers: int | None,
    measure_lag: bool,
) -> tuple[float, list[float]]:
    """Copy with alink; the elapsed time and (if asked) the loop lags meanwhile.

    The lag probe wakes the loop every millisecond, which itself costs a
    little, so timed rounds run without it and one extra round measures lag.
    """
    dataset = Dataset(type="raw", source_folder=str(source))
    base = RemotePath(str(source))
    remote = [base / n for n in names]
    local = [f"{target}/{n}" for n in names]
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    async with anyio.create_task_group() as tg:
        if measure_lag:
            tg.start_soon(ticker)
        began = time.perf_counter()
        transfer = CopyFileTransfer(
            engine=Engine(max_workers=workers) if workers is not None else None
        )
        async with transfer.connect_for_download(dataset, names[0]) as con:
            await con.download_files(remote=remote, local=local)
        elapsed = time.perf_counter() - began
        done = True
    return elapsed, lags


def verify(source: Path, target: Path, names: list[str]) -> None:
    """Spot-check contents (first, last and every 997th file)."""
    for name in names[::997] + names[-1:]:
        if (source / name).read_bytes() != (target / name).read_bytes():
            raise SystemExit(f"content mismatch in {name}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench(
    scenario: Scenario,
    directory: Path,
    repeat: int,
    backend: str,
    workers: int | None,
) -> Result:
    need = 3 * scenario.files * (scenario.size + 4096)
    free = shutil.disk_usage(directory).free
    if free < need * 1.1:
        raise SystemExit(
            f"{directory} has {free / 2**30:.1f} GiB free; {scenario.name} needs"
            f" {need / 2**30:.1f} GiB"
        )
    with tempfile.TemporaryDirectory(dir=directory, prefix="alink-bench-") as tmp:
        root = Path(tmp)
        source = root / "source"
        print(f"[{scenario.name}] writing {scenario.files} x {scenario.size} B ...")
        names = make_source(source, scenario)
        cp_times: list[float] = []
        alink_times: list[float] = []
        lags: list[float] = []
        for round_ in range(repeat):
            for tool in ("cp", "alink") if round_ % 2 == 0 else ("alink", "cp"):
                target = root / f"{tool}-copy"
                if tool == "cp":
                    cp_times.append(run_cp(source, target))
                else:
                    elapsed, _ = anyio.run(
                        run_alink,
                        source,
                        target,
                        names,
                        workers,
                        False,
                        backend=backend,
                    )
                    alink_times.append(elapsed)
                    verify(source, target, names)
                shutil.rmtree(target)
            print(
                f"[{scenario.name}] round {round_ + 1}: cp {cp_times[-1]:.3f}s,"
                f" alink {alink_times[-1]:.3f}s"
            )
        target = root / "alink-lag"
        lag_elapsed, lags = anyio.run(
            run_alink, source, target, names, workers, True, backend=backend
        )
        shutil.rmtree(target)
        print(f"[{scenario.name}] lag round: alink {lag_elapsed:.3f}s")
    cp_median = statistics.median(cp_times)
    alink_median = statistics.median(alink_times)
    return Result(
        scenario=scenario.name,
        files=scenario.files,
        bytes_total=scenario.files * scenario.size,
        directory=str(directory),
        backend=backend,
        cp_seconds=cp_times,
        alink_seconds=alink_times,
        cp_median=cp_median,
        alink_median=alink_median,
        ratio=alink_median / cp_median,
        target_ratio=scenario.target_ratio,
        lag_p50_ms=percentile(lags, 0.50) * 1e3,
        lag_p99_ms=percentile(lags, 0.99) * 1e3,
        lag_max_ms=max(lags, default=0.0) * 1e3,
    )


def default_directory() -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", choices=[*SCENARIOS, "all"], default="all", help="what to run"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write (default: /dev/shm if writable, else the temp dir)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds per tool")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--quick", action="store_true", help="1/10 of the files")
    parser.add_argument(
        "--workers", type=int, default=None, help="engine worker threads (default)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    directory = args.dir or default_directory()
    chosen = (
        list(SCENARIOS.values())
        if args.scenario == "all"
        else [SCENARIOS[args.scenario]]
    )
    results: list[Result] = []
    for scenario in chosen:
        if args.quick:
            scenario = Scenario(
                scenario.name,
                max(1, scenario.files // 10),
                scenario.size,
                scenario.target_ratio,
            )
        results.append(
            bench(scenario, directory, args.repeat, args.backend, args.workers)
        )
    print()
    print(
        f"{'scenario':8} {'files':>7} {'GiB':>5} {'cp -r':>8} {'alink':>8}"
        f" {'ratio':>6} {'target':>6} {'lag p99':>8} {'lag max':>8}  verdict"
    )
    for r in results:
        print(
            f"{r.scenario:8} {r.files:>7} {r.bytes_total / 2**30:>5.2f}"
            f" {r.cp_median:>7.3f}s {r.alink_median:>7.3f}s {r.ratio:>6.2f}"
            f" {r.target_ratio:>6.2f} {r.lag_p99_ms:>6.2f}ms {r.lag_max_ms:>6.2f}ms"
            f"  {'ok' if r.passed else 'SLOWER THAN TARGET'}"
        )
    load = os.getloadavg()[0]
    print(
        f"directory: {directory}, backend: {args.backend},"
        f" python {sys.version.split()[0]}, cpus: {os.cpu_count()},"
        f" load average now: {load:.2f}"
    )
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) | {"passed": r.passed} for r in results], indent=2)
        )
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
