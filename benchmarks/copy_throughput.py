"""Scenario 7 — copying files: alink's ``CopyFileTransfer`` against ``cp -r``.

A source tree (folders of at most 10,000 files, distinct content) is copied
alternately with ``cp -r`` (the whole subprocess timed) and with alink's
``CopyFileTransfer`` through its public path (connect, validate, check the
remote files, copy; timed inside the running event loop), on asyncio and
trio, in interleaved rounds after a warm-up round. Each copy is spot-checked
byte for byte (untimed) and removed before the next run.

One extra alink run per loop measures the event loop's lag meanwhile: a task
sleeps 1 ms in a loop and records how late it wakes up. It is kept out of the
timed rounds because its own wake-ups cost a little.

Cases and goals (issue 7): 2,000 files of 1 MiB (2 GiB) within 1.2 times
``cp -r``'s time; 100,000 files of 4 KiB within 1.5 times.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _linktools as lt
from ._harness import (
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    count_label,
    fmt_seconds,
    lag_summary,
    lag_table,
    lag_targets,
    log,
    markdown_table,
    remove_tree,
    rotated,
    scratch_dir,
    ticking,
    time_table,
)

NAME = "copy"
TITLE = "7. Copying files: CopyFileTransfer vs cp -r"
FULL_ONLY = False

CP = "cp -r"
PER_FOLDER = 10_000
KIB = 1 << 10
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class CopyCase:
    """``files`` files of ``size`` bytes, and how close to ``cp -r`` alink must be."""

    files: int
    size: int
    target_ratio: float

    @property
    def label(self) -> str:
        unit = (
            f"{self.size // MIB} MiB" if self.size >= MIB else f"{self.size // KIB} KiB"
        )
        return f"{count_label(self.files)} × {unit}"

    @property
    def total(self) -> int:
        return self.files * self.size


def cases(settings: Settings) -> list[CopyCase]:
    if settings.sizes:
        n = max(settings.sizes)
        return [CopyCase(n, 64 * KIB, 1.2), CopyCase(n, 4 * KIB, 1.5)]
    if settings.quick:
        return [CopyCase(200, MIB, 1.2), CopyCase(10_000, 4 * KIB, 1.5)]
    return [CopyCase(2000, MIB, 1.2), CopyCase(100_000, 4 * KIB, 1.5)]


def make_source(root: Path, case: CopyCase) -> list[str]:
    """Write the source files (distinct content); their relative paths."""
    block = os.urandom(case.size)
    names: list[str] = []
    for i in range(case.files):
        folder = f"d{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            (root / folder).mkdir(parents=True)
        name = f"{folder}/f{i:06d}"
        with open(root / name, "wb") as out:
            out.write(i.to_bytes(8, "big") + block[8:])
        names.append(name)
    return names


def spot_check(source: Path, target: Path, names: Sequence[str]) -> None:
    """Compare the first, the last and every 997th file byte for byte."""
    for name in [*names[::997], names[-1]]:
        if (source / name).read_bytes() != (target / name).read_bytes():
            raise RuntimeError(f"copy of {name} differs from its source")


def run_cp(source: Path, target: Path) -> float:
    began = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return time.perf_counter() - began


async def run_alink(
    source: Path, target: Path, names: Sequence[str], measure_lag: bool
) -> tuple[float, list[float]]:
    """Copy with alink; the elapsed time and (if asked) the loop lags meanwhile."""
    from alink import Dataset, RemotePath
    from alink.transfer.copy import CopyFileTransfer

    dataset = Dataset(type="raw", source_folder=str(source))
    base = RemotePath(str(source))
    remote = [base / n for n in names]
    local = [f"{target}/{n}" for n in names]
    lags: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        if measure_lag:
            await stack.enter_async_context(ticking(lags))
        began = time.perf_counter()
        transfer = CopyFileTransfer()
        async with transfer.connect_for_download(dataset, names[0]) as con:
            await con.download_files(remote=remote, local=local)
        elapsed = time.perf_counter() - began
    return elapsed, lags


def _space_needed(case: CopyCase) -> int:
    """Source plus one copy, with a block of slack per file."""
    return 2 * case.files * (case.size + 4096)


def measure(
    settings: Settings, case: CopyCase, loops: Sequence[lt.Backend]
) -> list[Measurement]:
    with scratch_dir(settings, NAME) as root:
        free = shutil.disk_usage(root).free
        if free < _space_needed(case) * 1.1:
            reason = (
                f"{root.parent} has {free / 2**30:.1f} GiB free, needs"
                f" {_space_needed(case) / 2**30:.1f} GiB"
            )
            log(f"  skipping {case.label}: {reason}")
            return [Measurement(case.label, CP, case.files, skipped=reason)]
        source = root / "source"
        log(f"[{NAME}] writing {case.files} files of {case.size} B")
        names = make_source(source, case)
        target = root / "copy"

        def alink(loop: lt.Backend) -> Callable[[], float]:
            def run() -> float:
                elapsed, _ = loop.run(run_alink, source, target, names, False)
                spot_check(source, target, names)
                return elapsed

            return run

        def cp() -> float:
            elapsed = run_cp(source, target)
            spot_check(source, target, names)
            return elapsed

        tools: list[tuple[str, Callable[[], float]]] = [(CP, cp)]
        tools += [(f"alink ({loop.name})", alink(loop)) for loop in loops]
        by_tool = {name: Measurement(case.label, name, case.files) for name, _ in tools}
        for round_ in range(settings.repeats + 1):  # round 0 warms up
            for name, run in rotated(tools, round_):
                gc.collect()
                try:
                    elapsed = run()
                finally:
                    remove_tree(target)
                if round_:
                    by_tool[name].seconds.append(elapsed)
        for loop in loops:
            gc.collect()
            try:
                _, lags = loop.run(run_alink, source, target, names, True)
            finally:
                remove_tree(target)
            by_tool[f"alink ({loop.name})"].extra["lag"] = lag_summary(lags)
    for m in by_tool.values():
        lag = m.extra.get("lag")
        lag_text = f"  lag p99 {lag['p99'] * 1e3:.2f} ms" if lag else ""
        log(f"  {case.label:<14} {m.tool:<16} {fmt_seconds(m.median or 0)}{lag_text}")
    return list(by_tool.values())


def targets(
    measurements: Sequence[Measurement], all_cases: Sequence[CopyCase]
) -> list[Target]:
    by_key = {(m.case, m.tool): m for m in measurements}
    found = []
    for case in all_cases:
        ref = by_key.get((case.label, CP))
        if ref is None or not ref.median:
            continue
        for m in measurements:
            if m.case != case.label or not m.tool.startswith("alink") or not m.median:
                continue
            ratio = m.median / ref.median
            found.append(
                Target(
                    f"{m.tool}, {case.label}: within {case.target_ratio}× of cp -r",
                    ratio <= case.target_ratio,
                    f"{ratio:.2f}× ({fmt_seconds(m.median)} vs"
                    f" {fmt_seconds(ref.median)})",
                )
            )
    return found


def rounds_table(measurements: Sequence[Measurement]) -> str:
    """Every timed round of every tool, in order, with the best and the spread."""
    rows = []
    for m in measurements:
        if m.skipped or not m.seconds:
            continue
        best, median = min(m.seconds), statistics.median(m.seconds)
        rows.append(
            [
                m.case,
                m.tool,
                " ".join(f"{x:.2f}" for x in m.seconds),
                fmt_seconds(best),
                f"{max(m.seconds) / best:.1f}×",
                f"{median / best:.2f}×",
            ]
        )
    return markdown_table(
        ["case", "tool", "rounds (s)", "best", "slowest / best", "median / best"],
        rows,
    )


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    loops = [b for b in lt.backends("asyncio", "trio") if not b.unavailable()]
    chosen = cases(settings)
    for case in chosen:
        result.measurements += measure(settings, case, loops)
    tools = [CP, *(f"alink ({loop.name})" for loop in loops)]
    result.sections.append(
        Section(
            "Copy time (median; ratio vs cp -r)",
            time_table(result.measurements, reference=CP, tools=tools),
            notes=[
                "Source and copies on the scratch filesystem (tmpfs), so this"
                " measures the software, not a disk. `cp -r`: the whole"
                " subprocess (includes ~1-2 ms process start). alink:"
                " `CopyFileTransfer.connect_for_download` + `download_files` inside"
                " the running loop. The target folder is new, so alink builds it"
                " under a hidden name and renames it into place once every file"
                " is complete (crash-safe), which `cp` does not do; into a folder"
                " that exists, each file would go to an unnamed temporary file"
                " linked into place (~30 % more per small file).",
                "Every copy is spot-checked byte for byte and removed (untimed).",
            ],
            targets=targets(result.measurements, chosen),
        )
    )
    result.sections.append(
        Section(
            "Every round (to tell the software from the machine)",
            rounds_table(result.measurements),
            notes=[
                "On a VM, copying between two tmpfs files can be several times"
                " slower from one round to the next whoever copies (a raw"
                " copy_file_range loop and cp -r alike); a wide spread here"
                " for every tool, cp -r included, is the machine's."
            ],
        )
    )
    result.sections.append(
        Section(
            "Event-loop lag while alink copies (1 ms ticker, one extra run)",
            lag_table(result.measurements),
            notes=[
                "Lag = how much later than 1 ms a `sleep(0.001)` woke up, over one"
                " extra alink run per loop (not one of the timed runs). The goal"
                " is the one of scenario 2 (linking)."
            ],
            targets=lag_targets(result.measurements),
        )
    )
    return result
