"""Scenario 2 — event-loop responsiveness while linking many files.

A ticker task sleeps 1 ms in a loop while a tool links a 100k-file dataset on
the same loop (alink: flat, and nested with the files grouped by folder,
alternating between folders, or shuffled; the baselines: flat); each tick's
lag (how much later than asked it woke up) is recorded. A tool that keeps
the loop free shows lags near the idle loop's; one that blocks the loop shows
a lag as long as its whole run.
Ticks that overlap the download only are counted; samples of all repeats are
pooled.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

import anyio

from . import _linktools as lt
from ._harness import (
    LINK_CASES,
    TARGET_LAG_MAX,
    TARGET_LAG_P99,
    TICK,
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    TreeSpec,
    count_label,
    fmt_seconds,
    lag_summary,
    log,
    make_remote_tree,
    markdown_table,
    remove_tree,
    scratch_dir,
)

NAME = "responsiveness"
TITLE = "2. Event-loop responsiveness during a large link"
FULL_ONLY = False

#: The naive per-file hand-off links this many files at most (lag does not
#: depend on the total, only on what one step does).
NAIVE_MAX = 10_000
NAIVE_MAX_QUICK = 2000
#: How long the idle reference run sleeps.
IDLE_SECONDS = 0.5


def size(settings: Settings) -> int:
    if settings.sizes:
        return max(settings.sizes)
    return 20_000 if settings.quick else 100_000


def naive_size(settings: Settings) -> int:
    return min(size(settings), NAIVE_MAX_QUICK if settings.quick else NAIVE_MAX)


class IdleTool(lt.AsyncLinkTool):
    """Links nothing; sleeps, so the ticker shows the idle loop's own lag."""

    label = "idle loop"

    async def arun(self, case: lt.LinkCase, inputs: Any) -> float:
        await anyio.sleep(IDLE_SECONDS)
        return IDLE_SECONDS

    def cleanup(self, case: lt.LinkCase) -> None:
        pass


async def run_with_ticker(
    tool: lt.AsyncLinkTool, case: lt.LinkCase, inputs: Any
) -> tuple[float, list[float]]:
    """Run ``tool`` while a ticker measures loop lag; return (seconds, lags)."""
    ticks: list[tuple[float, float]] = []
    finished = anyio.Event()

    async def ticker() -> None:
        while not finished.is_set():
            began = time.perf_counter()
            await anyio.sleep(TICK)
            ticks.append((began, time.perf_counter()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.02)  # let the ticker settle into its rhythm
        start = time.perf_counter()
        elapsed = await tool.arun(case, inputs)
        end = time.perf_counter()
        finished.set()
    lags = [
        (woke - began) - TICK for began, woke in ticks if began < end and woke > start
    ]
    return elapsed, lags


def measure(
    tool: lt.AsyncLinkTool, case: lt.LinkCase, settings: Settings, repeats: int
) -> Measurement:
    m = Measurement(case=case.label, tool=tool.name, files=case.count)
    reason = tool.unavailable()
    if reason:
        m.skipped = reason
        log(f"  skipping {tool.name}: {reason}")
        return m
    pooled: list[float] = []
    for i in range(repeats + 1):
        inputs = tool.prepare(case)  # fresh objects each run, as in scenario 1
        gc.collect()
        elapsed, lags = tool.backend.run(run_with_ticker, tool, case, inputs)
        del inputs
        if not isinstance(tool, IdleTool):
            case.verify(tool.output(case))
        tool.cleanup(case)
        if i > 0:  # the first run warms up
            m.seconds.append(elapsed)
            pooled += lags
    m.extra = {"lag": lag_summary(pooled)}
    lag = m.extra["lag"]
    log(
        f"  {tool.name:<28} {case.count:>7} files  p50 {lag['p50'] * 1e3:.2f} ms"
        f"  p99 {lag['p99'] * 1e3:.2f} ms  max {lag['max'] * 1e3:.1f} ms"
    )
    return m


def table(measurements: Sequence[Measurement]) -> str:
    rows = []
    for m in measurements:
        case = m.case.rsplit(" ", 1)[0] if m.files else "–"
        if m.skipped:
            rows.append([m.tool, case, count_label(m.files), "skipped", "", "", "", ""])
            continue
        lag = m.extra["lag"]
        rows.append(
            [
                m.tool,
                case,
                count_label(m.files) if m.files else "–",
                fmt_seconds(m.median or 0.0),
                str(lag["ticks"]),
                f"{lag['p50'] * 1e3:.2f} ms",
                f"{lag['p99'] * 1e3:.2f} ms",
                f"{lag['max'] * 1e3:.1f} ms",
            ]
        )
    return markdown_table(
        [
            "tool (loop)",
            "case",
            "files",
            "run time",
            "ticks",
            "lag p50",
            "lag p99",
            "lag max",
        ],
        rows,
    )


def targets(measurements: Sequence[Measurement]) -> list[Target]:
    found = []
    for m in measurements:
        if not m.tool.startswith("alink") or m.skipped:
            continue
        lag = m.extra["lag"]
        found.append(
            Target(
                f"{m.tool}, {m.case}: lag p99 ≤ {TARGET_LAG_P99 * 1e3:.0f} ms,"
                f" max ≤ {TARGET_LAG_MAX * 1e3:.0f} ms",
                lag["p99"] <= TARGET_LAG_P99 and lag["max"] <= TARGET_LAG_MAX,
                f"p99 {lag['p99'] * 1e3:.2f} ms, max {lag['max'] * 1e3:.1f} ms",
            )
        )
    return found


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    n = size(settings)
    repeats = min(settings.repeats, 3)
    loops = lt.backends("asyncio", "trio")
    with scratch_dir(settings, NAME) as root:
        cases: dict[tuple[str, str], lt.LinkCase] = {}
        for layout, order in LINK_CASES:
            spec = TreeSpec(layout, n, order=order)
            remote = root / f"remote-{layout}"
            if order == "grouped":
                log(f"[{NAME}] creating {n} remote files ({layout})")
                rel = make_remote_tree(remote, spec)
            else:  # the same files, listed in another order
                rel = spec.relative_paths()
            case = lt.LinkCase(spec, remote, root / f"local-{layout}", rel)
            case.prepare_local()
            cases[layout, order] = case
        big = cases["flat", "grouped"]
        small_spec = TreeSpec("flat", naive_size(settings))
        small = lt.LinkCase(
            small_spec, big.remote, big.local, big.rel[: small_spec.count]
        )
        idle = lt.LinkCase(TreeSpec("flat", 0), big.remote, big.local, [])
        runs: list[tuple[lt.AsyncLinkTool, lt.LinkCase]] = []
        for loop in loops:
            runs += [(IdleTool(loop), idle)]
            runs += [(lt.AlinkTool(loop), case) for case in cases.values()]
            runs += [
                (lt.ScitaceanInlineTool(loop), big),
                (lt.NaiveThreadTool(loop), small),
            ]
        for tool, case in runs:
            result.measurements.append(measure(tool, case, settings, repeats))
        for case in cases.values():
            remove_tree(case.local)
    result.sections.append(
        Section(
            f"Ticker lag (1 ms sleeps) while linking {count_label(n)} files",
            table(result.measurements),
            notes=[
                f"Lag = how much later than 1 ms a `sleep(0.001)` woke up; ticks of"
                f" {repeats} runs after a warm-up are pooled. 'idle loop' is the loop"
                " with nothing else to do (its timer granularity).",
                "flat = one folder; nested = 100 folders, their files grouped by"
                " folder, alternating between the folders, or shuffled (the same"
                " files each time).",
                "scitacean inline = Scitacean's synchronous download called from a"
                " coroutine: the loop is blocked for the whole run, so one tick"
                " lasts as long as the download.",
                f"naive to_thread links {count_label(naive_size(settings))} files (one"
                " thread hand-off per file is slow; its lag does not grow with the"
                " total).",
            ],
            targets=targets(result.measurements),
        )
    )
    return result
