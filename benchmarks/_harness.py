"""Shared benchmark machinery: settings, scratch trees, repeats, results, output.

Scenario modules only describe *what* to measure; everything every scenario
needs — where scratch files go (tmpfs when available), how a measurement is
repeated and summarised, how results become a Markdown table and JSON — lives
here once, so new scenario groups (client, copy, checksums) can be added as
small modules.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import anyio

__all__ = [
    "LAYOUTS",
    "LINK_CASES",
    "Layout",
    "Order",
    "Measurement",
    "Scenario",
    "ScenarioResult",
    "Section",
    "Settings",
    "Target",
    "TreeSpec",
    "count_label",
    "fmt_seconds",
    "free_inodes",
    "gc_summary",
    "gc_watch",
    "log",
    "machine_info",
    "make_remote_tree",
    "markdown_table",
    "percentile",
    "remove_tree",
    "rotated",
    "scratch_base",
    "scratch_dir",
    "time_table",
]

T = TypeVar("T")

Layout = Literal["flat", "nested"]
LAYOUTS: tuple[Layout, ...] = ("flat", "nested")
#: In which order a nested dataset lists its files: each folder's files
#: together, round robin over the folders (as a datablock written by parallel
#: detectors, or merged from several runs, has them), or shuffled.
Order = Literal["grouped", "alternating", "random"]
#: The (layout, order) cases of the link scenarios: the same file set of the
#: nested layout in three orders, and one folder.
LINK_CASES: tuple[tuple[Layout, Order], ...] = (
    ("flat", "grouped"),
    ("nested", "grouped"),
    ("nested", "alternating"),
    ("nested", "random"),
)

#: Number of sub-folders in the "nested" layout of the link scenarios.
NESTED_FOLDERS = 100


def log(message: str) -> None:
    """Progress output: stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- settings


@dataclass(slots=True)
class Settings:
    """What the command line asked for, shared by every scenario.

    Attributes:
        quick: Smoke run (small sizes, 1-2 repeats) instead of the full run.
        repeats: Timed repetitions per (case, tool); a warm-up run comes first.
        scratch: Folder for temporary trees (tmpfs when available).
        sizes: Overrides a scenario's file counts (tests use tiny ones).
        install_fuse: Let the FUSE scenario ``apt-get install fuse3`` when
            ``fusermount3`` is missing (root only).
    """

    quick: bool = False
    repeats: int = 5
    scratch: Path = field(default_factory=lambda: scratch_base())
    sizes: tuple[int, ...] | None = None
    install_fuse: bool = False

    @classmethod
    def for_mode(cls, *, quick: bool, **kwargs: Any) -> Settings:
        """Default repeats for the mode: 2 in quick mode, 5 in full mode."""
        kwargs.setdefault("repeats", 2 if quick else 5)
        return cls(quick=quick, **kwargs)


def scratch_base() -> Path:
    """``$ALINK_BENCH_SCRATCH``, else ``/dev/shm`` (tmpfs) when present and
    writable, else the temp folder.

    Link creation on a disk filesystem measures the journal, not the tool; tmpfs
    keeps the numbers about the software.
    """
    chosen = os.environ.get("ALINK_BENCH_SCRATCH")
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove a scratch tree (a symlink is removed, never followed)."""
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.lexists(path):
        shutil.rmtree(path)


@contextlib.contextmanager
def scratch_dir(settings: Settings, prefix: str) -> Iterator[Path]:
    """A fresh temporary folder under the scratch base, removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=f"alink-bench-{prefix}-", dir=settings.scratch))
    try:
        yield path
    finally:
        remove_tree(path)


# ------------------------------------------------------------------- file trees


@dataclass(frozen=True, slots=True)
class TreeSpec:
    """The shape of a dataset: ``count`` files, flat or spread over sub-folders,
    listed in some order.

    The relative paths are a pure function of the spec, so a child process can
    rebuild the same list without receiving it. Every order of a nested spec
    lists the same files.
    """

    layout: Layout
    count: int
    folders: int = NESTED_FOLDERS
    order: Order = "grouped"

    @property
    def label(self) -> str:
        """E.g. ``flat 10k``, ``nested 100k`` or ``nested alternating 100k``."""
        order = "" if self.order == "grouped" else f" {self.order}"
        return f"{self.layout}{order} {count_label(self.count)}"

    def subfolders(self) -> list[str]:
        """Relative sub-folders (empty for the flat layout)."""
        if self.layout == "flat":
            return []
        return [f"d{i:03d}" for i in range(min(self.folders, self.count))]

    def relative_paths(self) -> list[str]:
        """Relative file paths in the spec's order (grouped: files of one folder
        together; alternating: one file of each folder in turn; random: a
        fixed shuffle)."""
        if self.layout == "flat":
            paths = [f"f{i:07d}" for i in range(self.count)]
            by_folder = [paths]
        else:
            subs = self.subfolders()
            per, extra = divmod(self.count, len(subs))
            by_folder = []
            index = 0
            for n, sub in enumerate(subs):
                size = per + (1 if n < extra else 0)
                by_folder.append(
                    [f"{sub}/f{i:07d}" for i in range(index, index + size)]
                )
                index += size
            paths = [p for files in by_folder for p in files]
        if self.order == "alternating":
            paths = [
                p
                for turn in itertools.zip_longest(*by_folder)
                for p in turn
                if p is not None
            ]
        elif self.order == "random":
            random.Random(self.count).shuffle(paths)
        return paths


def make_remote_tree(root: Path, spec: TreeSpec) -> list[str]:
    """Create ``spec``'s empty files under ``root``; return their relative paths.

    Files are empty: linking never reads content, and empty files keep a 1M
    file tree cheap on tmpfs.
    """
    root.mkdir(parents=True, exist_ok=True)
    for sub in spec.subfolders():
        (root / sub).mkdir(exist_ok=True)
    rel = spec.relative_paths()
    base = str(root)
    flags = os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC
    for path in rel:
        os.close(os.open(f"{base}/{path}", flags, 0o644))
    return rel


def count_label(n: int) -> str:
    """``1000 -> '1k'``, ``1000000 -> '1M'``, other numbers unchanged."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# ----------------------------------------------------------------- measurements


@dataclass(slots=True)
class Measurement:
    """Repeated timings of one tool on one case, or why it was skipped."""

    case: str
    tool: str
    files: int
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def median(self) -> float | None:
        """Median of the timed repeats (the headline number)."""
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def best(self) -> float | None:
        """Fastest repeat (closest to the machine's capability)."""
        return min(self.seconds) if self.seconds else None

    def rate(self) -> float | None:
        """Files per second at the median time."""
        median = self.median
        return self.files / median if median else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        data["best"] = self.best
        data["files_per_second"] = self.rate()
        return data


def rotated(items: Sequence[T], round_: int) -> list[T]:
    """``items`` rotated by ``round_``: interleaved rounds vary who goes first."""
    if not items:
        return []
    shift = round_ % len(items)
    return [*items[shift:], *items[:shift]]


def free_inodes(path: Path) -> int:
    """Inodes still available on the filesystem holding ``path``."""
    return os.statvfs(path).f_favail


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


#: A ticker task's interval when a scenario measures the event loop's lag.
TICK = 0.001
#: Lag goal (p99) wherever lag is measured: the one of scenario 2 (linking).
TARGET_LAG_P99 = 0.005
#: Lag goal (max) while linking.
TARGET_LAG_MAX = 0.025


@contextlib.asynccontextmanager
async def ticking(lags: list[float]) -> AsyncIterator[None]:
    """Tick every :data:`TICK` on the running loop while the block runs.

    Each tick's lateness (how much later than asked its ``sleep`` returned)
    is appended to ``lags``.
    """
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            began = time.perf_counter()
            await anyio.sleep(TICK)
            lags.append(time.perf_counter() - began - TICK)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.02)  # let the ticker settle into its rhythm
        try:
            yield
        finally:
            done.set()


def lag_summary(lags: Sequence[float]) -> dict[str, float]:
    """Ticks, p50, p99 and max of a run's lags (seconds), for ``extra["lag"]``."""
    return {
        "ticks": len(lags),
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": max(lags, default=0.0),
    }


@contextlib.contextmanager
def gc_watch() -> Iterator[list[tuple[int, float]]]:
    """Record the garbage collections of the block: ``(generation, seconds)``.

    Uses ``gc.callbacks``, so collections on every thread are seen (each one
    holds the GIL: its duration is a stall for every thread).
    """
    events: list[tuple[int, float]] = []
    started: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            events.append(
                (int(info["generation"]), time.perf_counter() - started.pop())
            )

    gc.callbacks.append(callback)
    try:
        yield events
    finally:
        gc.callbacks.remove(callback)


def gc_summary(events: Sequence[tuple[int, float]]) -> dict[str, float]:
    """Collections and their longest and total duration, full ones apart."""
    full = [d for g, d in events if g == 2]
    return {
        "collections": len(events),
        "full": len(full),
        "longest": max((d for _, d in events), default=0.0),
        "longest_full": max(full, default=0.0),
        "total": sum(d for _, d in events),
    }


def lag_table(measurements: Sequence[Measurement]) -> str:
    """One row per measurement that has a ``lag`` summary."""
    rows = []
    for m in measurements:
        lag = m.extra.get("lag")
        if not lag:
            continue
        rows.append(
            [
                m.case,
                m.tool,
                str(lag["ticks"]),
                f"{lag['p50'] * 1e3:.2f} ms",
                f"{lag['p99'] * 1e3:.2f} ms",
                f"{lag['max'] * 1e3:.1f} ms",
            ]
        )
    return markdown_table(
        ["case", "tool (loop)", "ticks", "lag p50", "lag p99", "lag max"], rows
    )


def lag_targets(measurements: Sequence[Measurement]) -> list[Target]:
    """The lag goal (:data:`TARGET_LAG_P99`) for each measured lag."""
    found = []
    for m in measurements:
        lag = m.extra.get("lag")
        if lag:
            found.append(
                Target(
                    f"{m.tool}, {m.case}: lag p99 ≤ {TARGET_LAG_P99 * 1e3:.0f} ms",
                    lag["p99"] <= TARGET_LAG_P99,
                    f"p99 {lag['p99'] * 1e3:.2f} ms, max {lag['max'] * 1e3:.1f} ms",
                )
            )
    return found


# ---------------------------------------------------------------------- results


@dataclass(slots=True)
class Target:
    """A goal from the issue and whether this run met it (``None``: not measured)."""

    goal: str
    met: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "✅ met", False: "❌ missed", None: "➖ n/a"}[self.met]
        return f"- {mark} — **{self.goal}**: {self.detail}"


@dataclass(slots=True)
class Section:
    """One table of a scenario's report, with its notes and targets."""

    title: str
    table: str
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", self.table]
        if self.targets:
            parts += ["", "Targets:", *(t.line() for t in self.targets)]
        if self.notes:
            parts += ["", *(f"> {n}" for n in self.notes)]
        return "\n".join(parts)


@dataclass(slots=True)
class ScenarioResult:
    """Everything one scenario produced: tables for people, data for JSON."""

    name: str
    title: str
    sections: list[Section] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def markdown(self) -> str:
        head = f"## {self.title}"
        if self.skipped:
            return f"{head}\n\nSkipped: {self.skipped}"
        return "\n\n".join([head, *(s.markdown() for s in self.sections)])

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "skipped": self.skipped,
            "measurements": [m.to_json() for m in self.measurements],
            "targets": [asdict(t) for s in self.sections for t in s.targets],
            "notes": [n for s in self.sections for n in s.notes],
            "data": self.data,
        }


class Scenario(Protocol):
    """What ``__main__`` needs from a scenario module."""

    NAME: str
    TITLE: str
    FULL_ONLY: bool

    def run(self, settings: Settings) -> ScenarioResult: ...


# ----------------------------------------------------------------------- tables


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (first column left, others right)."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_seconds(seconds: float) -> str:
    """Seconds with a unit that keeps 3 significant digits readable."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def time_table(
    measurements: Sequence[Measurement],
    *,
    reference: str,
    tools: Sequence[str] | None = None,
) -> str:
    """Rows = cases, columns = tools; cells = median time and ratio to ``reference``.

    The ratio is ``tool time / reference time``: above 1 the tool is slower than
    the reference, below 1 faster.
    """
    cases = list(dict.fromkeys(m.case for m in measurements))
    tools = list(tools or dict.fromkeys(m.tool for m in measurements))
    by_key = {(m.case, m.tool): m for m in measurements}
    rows = []
    for case in cases:
        ref = by_key.get((case, reference))
        ref_time = ref.median if ref else None
        row = [case]
        for tool in tools:
            m = by_key.get((case, tool))
            if m is None:
                row.append("–")
            elif m.skipped or m.median is None:
                row.append("skipped")
            elif ref_time:
                row.append(f"{fmt_seconds(m.median)} ({m.median / ref_time:.2f}×)")
            else:
                row.append(fmt_seconds(m.median))
        rows.append(row)
    return markdown_table(["case", *tools], rows)


# ---------------------------------------------------------------------- machine


def _first_line_with(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def _filesystem_of(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (from /proc/mounts)."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount = parts[1]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, parts[2]
    return f"{kind} ({best or '?'})"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(settings: Settings) -> dict[str, Any]:
    """Cores, memory, Python, kernel, scratch filesystem and library versions."""
    mem_kb = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first_line_with("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory": (
            f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "unknown"
        ),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "scratch": str(settings.scratch),
        "scratch_filesystem": _filesystem_of(settings.scratch),
        "versions": {
            name: _version(name)
            for name in (
                "alink",
                "anyio",
                "trio",
                "uvloop",
                "scitacean",
                "mfusepy",
                "asyncssh",
                "paramiko",
            )
        },
    }


def machine_markdown(info: dict[str, Any]) -> str:
    """The machine description as a short bullet list."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    return "\n".join(
        [
            f"- CPU: {info['cpu']} ({info['cores']} cores)",
            f"- Memory: {info['memory']}",
            f"- Python: {info['python']}; kernel: {info['kernel']}",
            "- Load average at start (1/5/15 min):"
            f" {' / '.join(str(x) for x in info['load_average_at_start'])}",
            f"- Scratch: `{info['scratch']}` on {info['scratch_filesystem']}",
            f"- Versions: {versions}",
        ]
    )
