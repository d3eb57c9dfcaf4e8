"""Scenario 1 — link throughput on tmpfs: alink against the baselines.

1k/10k/100k files, flat (one folder) and nested (100 folders, their files
grouped by folder, alternating between the folders, or shuffled). alink also
runs with a 1 ms ticker task on its loop (a service's other work). Every run
gets freshly built inputs before timing (only that tool's objects are alive,
so no tool pays the garbage collector for another's); a warm-up round, then
the timed rounds, tools interleaved; after each run the links are verified
and removed (untimed).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from . import _linktools as lt
from ._harness import (
    LINK_CASES,
    TARGET_LAG_MAX,
    TARGET_LAG_P99,
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    TreeSpec,
    count_label,
    lag_summary,
    lag_table,
    log,
    make_remote_tree,
    markdown_table,
    remove_tree,
    rotated,
    scratch_dir,
    time_table,
)

NAME = "throughput"
TITLE = "1. Link throughput on tmpfs"
FULL_ONLY = False

REFERENCE = "alink (asyncio)"
#: The naive per-file thread hand-off is run up to this many files only.
NAIVE_MAX = 10_000
NAIVE_MAX_QUICK = 1000


def naive_max(settings: Settings) -> int:
    return NAIVE_MAX_QUICK if settings.quick else NAIVE_MAX


def sizes(settings: Settings) -> tuple[int, ...]:
    if settings.sizes:
        return settings.sizes
    return (1000, 10_000) if settings.quick else (1000, 10_000, 100_000)


#: The issue's goals at 100k files.
TARGET_VS_LOOP = 1.1
TARGET_VS_LOOP_TICKER = 1.25
TARGET_VS_SCITACEAN = 3.0


def make_tools() -> list[lt.LinkTool]:
    """The compared tools, in table column order."""
    return [
        *(lt.AlinkTool(b) for b in lt.backends("asyncio", "trio", "uvloop")),
        *(lt.AlinkTickerTool(b) for b in lt.backends("asyncio", "trio")),
        lt.PythonLoopTool(),
        lt.PythonLoopSameInputsTool(),
        lt.CLoopTool(),
        lt.CpTool(),
        lt.ScitaceanTool(),
        lt.NaiveThreadTool(lt.Backend("asyncio")),
    ]


def measure_case(
    case: lt.LinkCase,
    tools: Sequence[lt.LinkTool],
    unavailable: dict[str, str],
    settings: Settings,
    *,
    verify_sample: int | None = None,
) -> list[Measurement]:
    """Time every tool on one case: a warm-up round, then ``repeats`` rounds.

    Rounds interleave the tools (the order rotates each round), so a slow
    phase of a noisy machine hits every tool alike instead of one tool's
    whole series. Each run gets freshly built inputs (untimed), so only that
    tool's objects are alive while it runs.
    """
    results = {
        t.name: Measurement(case=case.label, tool=t.name, files=case.count)
        for t in tools
    }
    active = []
    for tool in tools:
        if tool.name in unavailable:
            results[tool.name].skipped = unavailable[tool.name]
        elif isinstance(tool, lt.NaiveThreadTool) and case.count > naive_max(settings):
            results[
                tool.name
            ].skipped = (
                f"only run up to {count_label(naive_max(settings))} files (too slow)"
            )
        else:
            active.append(tool)
    for round_ in range(settings.repeats + 1):  # round 0 warms up
        for tool in rotated(active, round_):
            elapsed = run_once(tool, case, verify_sample)
            if isinstance(tool, lt.AlinkTickerTool) and round_ == 0:
                tool.lags.clear()  # the warm-up's lags are not counted
            if round_ > 0:
                results[tool.name].seconds.append(elapsed)
    for tool in active:
        if isinstance(tool, lt.AlinkTickerTool):
            results[tool.name].extra["lag"] = lag_summary(tool.lags)
            tool.lags.clear()
    for m in results.values():
        if m.seconds:
            log(f"  {case.label:>12}  {m.tool:<26} median {m.median:.4f} s")
    return list(results.values())


def run_once(tool: lt.LinkTool, case: lt.LinkCase, verify_sample: int | None) -> float:
    """Build inputs, run once (timed by the tool), verify and clean up."""
    inputs = tool.prepare(case)
    gc.collect()
    elapsed = tool.run(case, inputs)
    del inputs
    case.verify(tool.output(case), sample=verify_sample)
    tool.cleanup(case)
    return elapsed


def check_tools(tools: Sequence[lt.LinkTool]) -> dict[str, str]:
    """Map each tool that cannot run here to the reason."""
    reasons = {}
    for tool in tools:
        reason = tool.unavailable()
        if reason:
            reasons[tool.name] = reason
            log(f"  skipping {tool.name}: {reason}")
    return reasons


def _ratios(
    measurements: Sequence[Measurement], tool: str, other: str
) -> dict[str, float]:
    """Per case: median(other) / median(tool)."""
    by = {(m.case, m.tool): m.median for m in measurements}
    out = {}
    for case in dict.fromkeys(m.case for m in measurements):
        a, b = by.get((case, tool)), by.get((case, other))
        if a and b:
            out[case] = b / a
    return out


def targets(measurements: Sequence[Measurement]) -> list[Target]:
    """The issue's throughput goals, judged at its size (100k files).

    Every case counts (one folder, and the nested files in each order); the
    smaller sizes are listed for reference: their fixed costs (connecting,
    starting threads) weigh more, and the issue sets no goal for them.
    """
    found: list[Target] = []
    judged = max((m.files for m in measurements), default=0)
    cases = {m.case for m in measurements if m.files == judged}

    def listing(ratios: dict[str, float], unit: str) -> str:
        main = [f"{c}: {r:.2f}{unit}" for c, r in ratios.items() if c in cases]
        rest = [f"{c}: {r:.2f}{unit}" for c, r in ratios.items() if c not in cases]
        extra = f" (for reference: {', '.join(rest)})" if rest else ""
        return ", ".join(main) + extra

    size = count_label(judged)
    for loop in ("asyncio", "trio"):
        alink = f"alink ({loop})"
        ticker = f"alink ({loop}, 1 ms ticker)"
        for tool, goal, alone in (
            (alink, TARGET_VS_LOOP, "with nothing else on the loop"),
            (ticker, TARGET_VS_LOOP_TICKER, "while a 1 ms ticker runs on its loop"),
        ):
            vs_loop = _ratios(measurements, "python loop", tool)
            judged_ratios = [r for c, r in vs_loop.items() if c in cases]
            if judged_ratios:
                found.append(
                    Target(
                        f"{alink} ≤ {goal}× the raw Python loop at {size} files,"
                        f" {alone}",
                        max(judged_ratios) <= goal,
                        listing(vs_loop, "×"),
                    )
                )
        vs_sci = _ratios(measurements, alink, "scitacean")
        judged_ratios = [r for c, r in vs_sci.items() if c in cases]
        if judged_ratios:
            found.append(
                Target(
                    f"{alink} ≥ {TARGET_VS_SCITACEAN:g}× faster than Scitacean at"
                    f" {size} files",
                    min(judged_ratios) >= TARGET_VS_SCITACEAN,
                    listing(vs_sci, "× faster"),
                )
            )
    return found


def lag_targets(measurements: Sequence[Measurement]) -> list[Target]:
    """The loop-lag goal for the ticker runs at the judged size."""
    judged = max((m.files for m in measurements), default=0)
    found = []
    for m in measurements:
        lag = m.extra.get("lag")
        if lag and m.files == judged:
            found.append(
                Target(
                    f"{m.tool}, {m.case}: lag p99 ≤ {TARGET_LAG_P99 * 1e3:.0f} ms,"
                    f" max ≤ {TARGET_LAG_MAX * 1e3:.0f} ms",
                    lag["p99"] <= TARGET_LAG_P99 and lag["max"] <= TARGET_LAG_MAX,
                    f"p99 {lag['p99'] * 1e3:.2f} ms, max {lag['max'] * 1e3:.1f} ms",
                )
            )
    return found


def rate_table(measurements: Sequence[Measurement]) -> str:
    """Rows = cases, columns = tools; cells = thousand files per second."""
    cases = list(dict.fromkeys(m.case for m in measurements))
    tools = list(dict.fromkeys(m.tool for m in measurements))
    by = {(m.case, m.tool): m for m in measurements}
    rows = []
    for case in cases:
        row = [case]
        for tool in tools:
            rate = by[case, tool].rate() if (case, tool) in by else None
            row.append(f"{rate / 1000:.0f}k" if rate else "–")
        rows.append(row)
    return markdown_table(["files/s", *tools], rows)


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    tools = make_tools()
    try:
        unavailable = check_tools(tools)
        with scratch_dir(settings, NAME) as root:
            for layout, order in LINK_CASES:
                for n in sizes(settings):
                    spec = TreeSpec(layout, n, order=order)
                    name = f"{layout}-{order}-{n}"
                    case = lt.LinkCase(
                        spec,
                        remote=root / f"remote-{name}",
                        local=root / f"local-{name}",
                        rel=[],
                    )
                    log(f"[{NAME}] {spec.label}: creating {n} remote files")
                    case.rel = make_remote_tree(case.remote, spec)
                    case.prepare_local()
                    result.measurements += measure_case(
                        case, tools, unavailable, settings
                    )
                    remove_tree(case.remote)
                    remove_tree(case.local)
    finally:
        lt.close_all(tools)
    ms = result.measurements
    notes = [
        f"Median of {settings.repeats} runs after a warm-up run, tools interleaved"
        f" round by round; ratio = tool time / {REFERENCE} time (above 1 = slower"
        " than alink).",
        "Inputs (RemotePath/Path lists for the libraries, str lists for the loops)"
        " are built before timing; nested local sub-folders exist beforehand for"
        " every tool (cp -rs creates its own). 'python loop (Path inputs)' is the"
        " raw loop over the libraries' RemotePath/Path inputs: os.symlink converts"
        " each Path itself.",
        "nested = 100 folders, their files grouped by folder; 'alternating' lists"
        " the same files one of each folder in turn, 'random' in a fixed shuffle"
        " (every tool gets the same order). 'with a 1 ms ticker': alink while a"
        " task on its loop sleeps 1 ms in a loop (a service's other work).",
        "C symlink() times only its loop (the physical limit); cp -rs includes"
        " starting the process; alink runs include connect_for_download and the"
        " existence check of every remote file, which the raw loops skip.",
        f"naive to_thread = one `await anyio.to_thread.run_sync(os.symlink, ...)` per"
        f" file, run up to {count_label(naive_max(settings))} files.",
    ]
    result.sections.append(
        Section(
            "Time per run (median) and ratio vs alink (asyncio)",
            time_table(ms, reference=REFERENCE),
            notes=notes,
            targets=targets(ms),
        )
    )
    result.sections.append(Section("Throughput (files per second)", rate_table(ms)))
    result.sections.append(
        Section(
            "Event-loop lag of the runs with a 1 ms ticker",
            lag_table(ms),
            notes=[
                "Lag = how much later than 1 ms a `sleep(0.001)` woke up, pooled"
                f" over the {settings.repeats} timed runs of each case (the"
                " responsiveness scenario measures it with nothing else timed)."
            ],
            targets=lag_targets(ms),
        )
    )
    return result
