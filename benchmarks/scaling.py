"""Scenario 4 — scaling and memory: 10k, 100k and 1M files.

Does the time per file stay flat as datasets grow, how much memory does a run
need beyond its inputs, and does the number of threads stay bounded? Each
(tool, layout, size) is measured in a fresh process
(:mod:`benchmarks._scaling_child`) so memory numbers are not polluted by
other tools. Full mode only (or ``--only scaling``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._harness import (
    LAYOUTS,
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    TreeSpec,
    count_label,
    free_inodes,
    log,
    make_remote_tree,
    markdown_table,
    remove_tree,
    rotated,
    scratch_dir,
)

NAME = "scaling"
TITLE = "4. Scaling and memory"
FULL_ONLY = True

TOOLS = ("alink (asyncio)", "alink (trio)", "python loop", "C symlink()", "scitacean")
ALINKS = ("alink (asyncio)", "alink (trio)")
TARGET_RSS_MB = 64
TARGET_THREADS = 8
#: Time per file at the largest size may be at most this times the smallest's.
TARGET_FLATNESS = 1.5


def sizes(settings: Settings) -> tuple[int, ...]:
    if settings.sizes:
        return settings.sizes
    return (10_000, 100_000) if settings.quick else (10_000, 100_000, 1_000_000)


def run_child(
    tool: str, spec: TreeSpec, remote: Path, local: Path, repeats: int
) -> dict[str, Any]:
    """Measure one (tool, layout, size) in a fresh interpreter."""
    package_parent = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_parent, env.get("PYTHONPATH")) if p
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._scaling_child",
            "--tool",
            tool,
            "--layout",
            spec.layout,
            "--count",
            str(spec.count),
            "--remote",
            str(remote),
            "--local",
            str(local),
            "--repeats",
            str(repeats),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"scaling child for {tool} {spec.label} failed:\n{done.stderr[-2000:]}"
        )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _mb(kb: float | None) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f} MB"


def time_per_file_table(measurements: Sequence[Measurement]) -> str:
    counts = sorted({m.files for m in measurements})
    rows = []
    for layout in LAYOUTS:
        for tool in TOOLS:
            row = [f"{tool}, {layout}"]
            for n in counts:
                m = next(
                    (
                        x
                        for x in measurements
                        if x.tool == tool and x.files == n and x.case.startswith(layout)
                    ),
                    None,
                )
                if m is None or m.median is None:
                    row.append("skipped" if m else "–")
                else:
                    row.append(f"{m.median / n * 1e6:.2f} µs")
            rows.append(row)
    return markdown_table(["tool, layout", *(count_label(n) for n in counts)], rows)


def memory_table(measurements: Sequence[Measurement]) -> str:
    rows = []
    for m in measurements:
        if m.skipped or m.tool == "C symlink()":
            continue
        peaks = m.extra.get("peak_extra_kb") or []
        rows.append(
            [
                m.case,
                m.tool,
                _mb(m.extra.get("inputs_kb")),
                _mb(max(peaks)) if peaks else "n/a",
                str(m.extra.get("max_threads", "–")),
            ]
        )
    return markdown_table(
        ["case", "tool", "inputs (RSS)", "peak extra RSS during run", "max threads"],
        rows,
    )


def targets(measurements: Sequence[Measurement]) -> list[Target]:
    found = []
    for tool in ALINKS:
        ms = [m for m in measurements if m.tool == tool and m.median]
        if not ms:
            continue
        for layout in LAYOUTS:
            curve = sorted(
                (m.files, m.median / m.files)  # type: ignore[operator]
                for m in ms
                if m.case.startswith(layout)
            )
            if len(curve) >= 2:
                ratio = curve[-1][1] / curve[0][1]
                found.append(
                    Target(
                        f"{tool}, {layout}: time per file stays flat"
                        f" (≤ {TARGET_FLATNESS}× from {count_label(curve[0][0])} to"
                        f" {count_label(curve[-1][0])})",
                        ratio <= TARGET_FLATNESS,
                        " → ".join(f"{t * 1e6:.2f} µs" for _, t in curve)
                        + f" ({ratio:.2f}×)",
                    )
                )
        peaks = [
            (m.case, max(m.extra["peak_extra_kb"]) / 1024)
            for m in ms
            if m.extra.get("peak_extra_kb")
        ]
        if peaks:
            found.append(
                Target(
                    f"{tool}: ≤ {TARGET_RSS_MB} MB extra RSS beyond the inputs",
                    all(p <= TARGET_RSS_MB for _, p in peaks),
                    ", ".join(f"{c}: {p:.1f} MB" for c, p in peaks),
                )
            )
        else:
            found.append(
                Target(
                    f"{tool}: ≤ {TARGET_RSS_MB} MB extra RSS",
                    None,
                    "peak RSS could not be reset here (/proc/self/clear_refs)",
                )
            )
        threads = [(m.case, m.extra.get("max_threads", 0)) for m in ms]
        found.append(
            Target(
                f"{tool}: bounded threads (≤ {TARGET_THREADS} at every size)",
                all(t <= TARGET_THREADS for _, t in threads),
                ", ".join(f"{c}: {t}" for c, t in threads),
            )
        )
    return found


def measure_size(
    spec: TreeSpec, remote: Path, local: Path, rounds: int
) -> list[Measurement]:
    """Every tool on one tree: ``rounds`` interleaved rounds of one child each.

    A child that fails marks its tool as skipped (with the error) instead of
    ending the whole run.
    """
    ms = {t: Measurement(case=spec.label, tool=t, files=spec.count) for t in TOOLS}
    for round_ in range(rounds):
        for tool in rotated(list(TOOLS), round_):
            m = ms[tool]
            if m.skipped or "failed" in m.extra:
                continue
            try:
                data = run_child(tool, spec, remote, local, 1)
            except RuntimeError as exc:
                # Keep the rounds that worked; stop this tool for this size.
                reason = str(exc).splitlines()[-1][:300]
                m.extra["failed"] = f"round {round_ + 1}: {reason}"
                if not m.seconds:
                    m.skipped = f"failed: {reason}"
                log(f"  {tool} failed: {exc}")
                remove_tree(local)
                continue
            if "skipped" in data:
                m.skipped = data["skipped"]
                log(f"  skipping {tool}: {m.skipped}")
                continue
            m.seconds += data.pop("seconds")
            m.extra["peak_extra_kb"] = m.extra.get("peak_extra_kb", []) + data.pop(
                "peak_extra_kb"
            )
            m.extra["max_threads"] = max(
                m.extra.get("max_threads", 0), data.pop("max_threads")
            )
            m.extra.setdefault("runs", []).append(data)
            m.extra["inputs_kb"] = data["inputs_kb"]
    for m in ms.values():
        if m.median is not None:
            peaks = m.extra["peak_extra_kb"]
            log(
                f"  {spec.label:>12}  {m.tool:<16} median {m.median:.3f} s"
                f"  {m.median / m.files * 1e6:.2f} µs/file"
                f"  peak +{_mb(max(peaks) if peaks else None)}"
                f"  threads {m.extra['max_threads']}"
            )
    return list(ms.values())


def rounds_for(settings: Settings, n: int) -> int:
    """Interleaved rounds per size (fewer at 1M files, where each costs ~20 s)."""
    return min(settings.repeats, 2 if n >= 1_000_000 else 3)


def remote_home(root: Path, n: int) -> tuple[Path, str | None]:
    """Where the remote tree of ``n`` files goes: the scratch tmpfs if it has
    inodes for it and the links, else a folder on the temp disk (with a note).
    """
    need = 2 * n + n // 2 + 10_000  # margin: the machine may be shared
    if free_inodes(root) >= need:
        return root, None
    disk = Path(tempfile.gettempdir())
    note = (
        f"{count_label(n)}: scratch had {free_inodes(root)} free inodes (< {need}),"
        f" so the remote tree was created under {disk} (disk; links still on"
        " scratch)"
    )
    log(f"[{NAME}] {note}")
    return disk, note


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    notes: list[str] = []
    with scratch_dir(settings, NAME) as root:
        for layout in LAYOUTS:
            for n in sizes(settings):
                spec = TreeSpec(layout, n)
                home, note = remote_home(root, n)
                if note:
                    notes.append(note)
                with tempfile.TemporaryDirectory(
                    prefix=f"alink-bench-{NAME}-remote-", dir=home
                ) as remote_dir:
                    remote = Path(remote_dir) / f"remote-{layout}-{n}"
                    log(f"[{NAME}] {spec.label}: creating {n} remote files")
                    make_remote_tree(remote, spec)
                    result.measurements += measure_size(
                        spec, remote, root / "local", rounds_for(settings, n)
                    )
    result.data["rounds"] = {
        count_label(n): rounds_for(settings, n) for n in sizes(settings)
    }
    result.data["remote_tree_notes"] = notes
    ms = result.measurements
    notes += [
        f"{m.tool}, {m.case}: {m.extra['failed']} (the other rounds are shown)"
        for m in ms
        if "failed" in m.extra and m.seconds
    ]
    result.sections += [
        Section(
            "Time per file (median of the interleaved rounds, a fresh process per run)",
            time_per_file_table(ms),
            targets=[t for t in targets(ms) if "per file" in t.goal],
        ),
        Section(
            "Memory and threads",
            memory_table(ms),
            notes=[
                "inputs = RSS growth from building the tool's input lists"
                " (RemotePath/Path objects for the libraries, str for the loop);"
                " peak extra RSS = VmHWM during a run minus VmRSS just before it"
                " (VmHWM reset through /proc/self/clear_refs), the largest over the"
                " runs; max threads = most threads seen by a 5 ms sampler,"
                " main thread included, the sampler excluded.",
                *notes,
            ],
            targets=[t for t in targets(ms) if "per file" not in t.goal],
        ),
    ]
    return result
