"""Scenario 6 — the SciCat client: ``get_dataset`` and checksum verification.

Part 1, **get_dataset**: one dataset with 1k and one with 100k files is served
by :class:`alink.testing.ScicatServer` (a real HTTP server on 127.0.0.1) in a
child process, as a real SciCat runs elsewhere. alink's
``Client.get_dataset`` (on asyncio and trio) and Scitacean's synchronous
``Client.get_dataset`` (called outside any event loop) read the *same*
server in the same run. Each run makes a fresh client
(untimed) and times only the ``get_dataset`` call — request, JSON decoding
and building the dataset model. One untimed warm-up request per dataset comes
first (the server caches its encoded answer).

Part 2, **checksum verification**: files with md5 checksums in their
datablock are linked with ``Client.download_files(..., verify="checksum")``
and ``LinkFileTransfer``; reading and hashing every byte is nearly all of
that call's work. It is compared with ``find -print0 | xargs -0 -P<n>
md5sum`` over the same files (the whole subprocess is timed). The same
download with ``verify="none"`` is measured too; the difference of the
medians is the verification's own cost.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import multiprocessing
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import msgspec

from . import _linktools as lt
from ._harness import (
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    count_label,
    fmt_seconds,
    gc_summary,
    gc_watch,
    lag_summary,
    log,
    markdown_table,
    remove_tree,
    rotated,
    scratch_dir,
    ticking,
    time_table,
)

NAME = "client"
TITLE = "6. SciCat client: get_dataset and checksum verification"
FULL_ONLY = False

#: Goal (issue 16): alink's get_dataset of 100k files at least this many times
#: faster than Scitacean's.
TARGET_SPEEDUP = 10.0
#: Goal for smaller datasets (fixed costs weigh more): the earlier one.
TARGET_SPEEDUP_SMALL = 3.0
#: Goal (issue 16): the event loop's longest stall during get_dataset.
TARGET_LAG_MAX = 0.025
#: Extra alink runs with a 1 ms ticker per loop (full mode).
LAG_RUNS = 3
#: Goal: checksum verification within this factor of ``md5sum``.
TARGET_VERIFY = 1.3
#: md5sum processes at once: as many as alink's own checksum workers.
HASH_PROCESSES = max(1, min(4, os.cpu_count() or 1))
MIB = 1 << 20

SCITACEAN = "scitacean"
MD5SUM = f"md5sum (xargs -P{HASH_PROCESSES})"
ALINK_CHECKSUM = 'alink verify="checksum"'
ALINK_NONE = 'alink verify="none"'


def dataset_sizes(settings: Settings) -> tuple[int, ...]:
    """Files per dataset for ``get_dataset``."""
    if settings.sizes:
        return settings.sizes
    return (1000, 10_000) if settings.quick else (1000, 100_000)


def checksum_files(settings: Settings) -> tuple[int, int]:
    """(file count, bytes per file) for the verification part."""
    if settings.sizes:
        return max(settings.sizes), 16 << 10
    return (128, MIB) if settings.quick else (2048, MIB)


def _scitacean_kwargs() -> dict[str, Any]:
    """Scitacean >= 26 refuses http:// unless told it talks to a test server."""
    from scitacean import Client

    if "allow_http" in inspect.signature(Client.from_token).parameters:
        return {"allow_http": True}
    return {}


def _scitacean_missing() -> str | None:
    try:
        import scitacean  # noqa: F401
    except ImportError:
        return "scitacean is not installed (pip install -e '.[bench]')"
    return None


# ----------------------------------------------------------------- get_dataset


async def _alink_get(
    url: str,
    token: str,
    pid: str,
    lags: list[float] | None = None,
    gcs: list[tuple[int, float]] | None = None,
) -> tuple[float, int]:
    """Time one alink ``get_dataset`` (client creation untimed).

    With ``lags``, a ticker runs on the loop meanwhile and records its lags;
    with ``gcs``, the garbage collections during the call are recorded.
    """
    from alink import Client

    async with (
        Client.from_token(url=url, token=token) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        if lags is not None:
            await stack.enter_async_context(ticking(lags))
        with gc_watch() as events:
            began = time.perf_counter()
            dataset = await client.get_dataset(pid)
            elapsed = time.perf_counter() - began
        if gcs is not None:
            gcs += events
    return elapsed, len(dataset.files)


async def _idle(seconds: float, lags: list[float]) -> None:
    """The ticker alone on the loop for ``seconds``: the machine's own lag."""
    async with ticking(lags):
        await anyio.sleep(seconds)


def _scitacean_get(
    url: str, token: str, pid: str, gcs: list[tuple[int, float]] | None = None
) -> tuple[float, int]:
    """Time one Scitacean ``get_dataset`` (synchronous; no event loop runs)."""
    from scitacean import Client

    client = Client.from_token(url=url + "/v3", token=token, **_scitacean_kwargs())
    with gc_watch() as events:
        began = time.perf_counter()
        dataset = client.get_dataset(pid)
        elapsed = time.perf_counter() - began
    if gcs is not None:
        gcs += events
    return elapsed, len(dataset.files)


GetRun = Callable[[str, str, str, list[tuple[int, float]]], tuple[float, int]]


def _alink_on(loop: lt.Backend) -> GetRun:
    def run(
        url: str, token: str, pid: str, gcs: list[tuple[int, float]]
    ) -> tuple[float, int]:
        return loop.run(_alink_get, url, token, pid, None, gcs)

    return run


def _get_tools() -> list[tuple[str, GetRun]]:
    """(name, run) of every get_dataset tool; run returns (seconds, file count)."""
    tools: list[tuple[str, GetRun]] = [
        (f"alink ({loop.name})", _alink_on(loop))
        for loop in lt.backends("asyncio", "trio")
        if not loop.unavailable()
    ]
    if _scitacean_missing() is None:
        tools.append((SCITACEAN, _scitacean_get))
    return tools


def _dataset_files(n: int) -> list[tuple[str, int, str]]:
    """``n`` files over folders of 1000, with md5-shaped checksums."""
    return [
        (f"d{i // 1000:03d}/f{i:07d}.h5", 1000 + i, hashlib.md5(b"%d" % i).hexdigest())
        for i in range(n)
    ]


def _serve(conn: Connection, sizes: Sequence[int]) -> None:
    """In a child process: serve a dataset of each size until told to stop.

    A real SciCat runs elsewhere. In the measuring process, the double's
    threads would compete with the clients for the GIL, and the garbage
    collector would walk its copy of every file record on each full
    collection.
    """
    from alink.testing import ScicatServer, make_dataset

    server = ScicatServer(users={"user1": "pw1"})
    for n in sizes:
        ds, blocks = make_dataset(
            pid=f"bench/{n}", source_folder=f"/data/{n}", files=_dataset_files(n)
        )
        server.add_dataset(ds, blocks)
    with server:
        conn.send((server.url, server.token("user1")))
        conn.recv()  # anything (or the pipe closing) means stop


@contextlib.contextmanager
def _server_process(sizes: Sequence[int]) -> Iterator[tuple[str, str]]:
    """``(url, token)`` of a SciCat double running in a child process."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs, sizes), daemon=True)
    child.start()
    try:
        if not ours.poll(300):
            raise RuntimeError("the SciCat double did not start within 300 s")
        yield ours.recv()
    finally:
        with contextlib.suppress(OSError):
            ours.send(None)
        child.join(30)
        if child.is_alive():
            child.kill()


def lag_runs(settings: Settings) -> int:
    """Extra alink runs per loop with the ticker (and idle-loop references)."""
    return 1 if settings.quick or settings.sizes else LAG_RUNS


def _lag_of_runs(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Lag over several runs: the worst max, the median p99, every run's max."""
    return {
        "runs": len(runs),
        "ticks": sum(int(r["ticks"]) for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "max": max(r["max"] for r in runs),
        "maxima": [r["max"] for r in runs],
    }


def measure_get_dataset(settings: Settings, url: str, token: str) -> list[Measurement]:
    sizes = dataset_sizes(settings)
    tools = _get_tools()
    measurements: list[Measurement] = []
    for n in sizes:
        pid = f"bench/{n}"
        case = f"{count_label(n)} files"
        by_tool = {name: Measurement(case, name, n) for name, _ in tools}
        gcs: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in tools}
        if _scitacean_missing():
            measurements.append(
                Measurement(case, SCITACEAN, n, skipped=_scitacean_missing())
            )
        for round_ in range(settings.repeats + 1):  # round 0 warms up
            for name, run in rotated(tools, round_):
                gc.collect()
                events: list[tuple[int, float]] = []
                elapsed, got = run(url, token, pid, events)
                if got != n:
                    raise RuntimeError(f"{name} read {got} files, expected {n}")
                if round_:
                    by_tool[name].seconds.append(elapsed)
                    gcs[name] += events
        for name, m in by_tool.items():
            m.extra["gc"] = gc_summary(gcs[name])
            m.extra["gc"]["runs"] = len(m.seconds)
        # The loop's lag: alink runs with a 1 ms ticker, and the same ticker on
        # an idle loop for as long, interleaved (the machine's own share).
        for loop in lt.backends("asyncio", "trio"):
            if loop.unavailable():
                continue
            m = by_tool[f"alink ({loop.name})"]
            busy, idle = [], []
            for _ in range(lag_runs(settings)):
                gc.collect()
                lags: list[float] = []
                loop.run(_alink_get, url, token, pid, lags)
                busy.append(lag_summary(lags))
                lags = []
                loop.run(_idle, max(0.05, m.median or 0.05), lags)
                idle.append(lag_summary(lags))
            m.extra["lag"] = _lag_of_runs(busy)
            m.extra["idle_lag"] = _lag_of_runs(idle)
        for m in by_tool.values():
            median = fmt_seconds(m.median or 0)
            log(f"  get_dataset {case:<12} {m.tool:<18} {median}")
        measurements += by_tool.values()
    return measurements


def target_speedup(files: int) -> float:
    """The goal for alink vs Scitacean at this size (issue 16 judges 100k)."""
    return TARGET_SPEEDUP if files >= 100_000 else TARGET_SPEEDUP_SMALL


def get_dataset_targets(measurements: Sequence[Measurement]) -> list[Target]:
    by_key = {(m.case, m.tool): m for m in measurements}
    found = []
    for m in measurements:
        if not m.tool.startswith("alink") or not m.median:
            continue
        ref = by_key.get((m.case, SCITACEAN))
        if ref is None or not ref.median:
            continue
        speedup = ref.median / m.median
        goal = target_speedup(m.files)
        found.append(
            Target(
                f"{m.tool}, {m.case}: ≥ {goal:.0f}× faster than Scitacean",
                speedup >= goal,
                f"{speedup:.1f}× ({fmt_seconds(m.median)} vs"
                f" {fmt_seconds(ref.median)}; best {fmt_seconds(m.best or 0)} vs"
                f" {fmt_seconds(ref.best or 0)})",
            )
        )
    return found


def lag_goal_targets(measurements: Sequence[Measurement]) -> list[Target]:
    found = []
    for m in measurements:
        lag, idle = m.extra.get("lag"), m.extra.get("idle_lag")
        if not lag:
            continue
        maxima = ", ".join(f"{x * 1e3:.1f}" for x in lag["maxima"])
        found.append(
            Target(
                f"{m.tool}, {m.case}: loop lag max ≤ {TARGET_LAG_MAX * 1e3:.0f} ms"
                " during get_dataset",
                lag["max"] <= TARGET_LAG_MAX,
                f"max {lag['max'] * 1e3:.1f} ms over {lag['runs']} run(s)"
                f" ({maxima} ms), p99 {lag['p99'] * 1e3:.1f} ms; idle loop:"
                f" max {idle['max'] * 1e3:.1f} ms",
            )
        )
    return found


def lag_and_gc_table(measurements: Sequence[Measurement]) -> str:
    rows = []
    for m in measurements:
        lag, idle, gcs = m.extra.get("lag"), m.extra.get("idle_lag"), m.extra.get("gc")
        if not gcs:
            continue
        per_run = gcs["collections"] / max(1, gcs["runs"])
        full = gcs["full"] / max(1, gcs["runs"])
        rows.append(
            [
                m.case,
                m.tool,
                f"{lag['p99'] * 1e3:.1f} ms" if lag else "–",
                f"{lag['max'] * 1e3:.1f} ms" if lag else "–",
                f"{idle['max'] * 1e3:.1f} ms" if idle else "–",
                f"{per_run:.1f} ({full:.1f} full)",
                f"{gcs['longest'] * 1e3:.1f} ms",
                f"{gcs['total'] / max(1, gcs['runs']) * 1e3:.1f} ms",
            ]
        )
    return markdown_table(
        [
            "case",
            "tool",
            "lag p99",
            "lag max",
            "idle loop max",
            "collections / call",
            "longest collection",
            "collecting / call",
        ],
        rows,
    )


# ------------------------------------------------- where get_dataset's time goes


def _cpu_and_wall(action: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.thread_time()
    result = action()
    return time.thread_time() - cpu, time.perf_counter() - wall, result


def _first_use(dataset: Any) -> dict[str, tuple[float, float]]:
    """What reading a dataset's files costs the first time (cpu, wall)."""
    costs: dict[str, tuple[float, float]] = {}

    def paths_and_sizes() -> int:
        return sum(len(f.remote_path.posix) + f.size for f in dataset.files)

    cpu, wall, _ = _cpu_and_wall(paths_and_sizes)
    costs["read every remote_path and size"] = (cpu, wall)
    cpu, wall, _ = _cpu_and_wall(lambda: [f.extra for f in dataset.files])
    costs["read every extra"] = (cpu, wall)
    cpu, wall, _ = _cpu_and_wall(dataset.to_scicat)
    costs["to_scicat()"] = (cpu, wall)
    return costs


async def _fetch_body(url: str, token: str, pid: str) -> tuple[float, float, bytearray]:
    """One dataset request through alink's HTTP layer: (cpu, wall, body)."""
    from alink.client._http import (
        HttpSession,
        RetryPolicy,
        _path_segment,
        normalize_base_url,
    )
    from alink.client._token import Token

    session = HttpSession(
        normalize_base_url(url),
        timeout=60,
        retry=RetryPolicy(),
        max_response_size=1 << 31,
    )
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        reply = await session.request(
            "GET",
            f"v4/datasets/{_path_segment(pid)}",
            what=pid,
            token=Token(token),
            params={"include": "origdatablocks"},
        )
        return time.thread_time() - cpu, time.perf_counter() - wall, reply.body
    finally:
        await session.aclose()


Costs = dict[str, dict[str, list[tuple[float, float]]]]

HTTP_PART = "HTTP request and body (httpx, on the loop)"
BUILD_PART = "build the files"
GC_PART = "garbage collection (during decode and build)"
DROP_PART = "dropping the dataset (the caller's, later)"


def _fast_round(body: bytearray, n: int, note: Callable[..., None]) -> None:
    """The fast path, with the collector paused as get_dataset pauses it."""
    from alink._gcpause import collector_paused
    from alink._model import Dataset
    from alink._steps import finish
    from alink.client import _runs

    original = bytes(body)
    gc.collect()
    with gc_watch() as events, collector_paused():
        cpu, wall, cut = _cpu_and_wall(
            lambda: finish(_runs.cut_steps(body, max_files=10**7))
        )
        note("decode: runs of typed entries (msgspec)", "fast", cpu, wall)
        cpu, wall, data = _cpu_and_wall(lambda: msgspec.json.decode(cut.skeleton))
        runs = _runs.runs_by_block(data, cut)
        note("decode: the rest of the body (msgspec)", "fast", cpu, wall)
        cpu, wall, dataset = _cpu_and_wall(
            lambda: finish(Dataset._from_scicat_steps(data, runs))
        )
        note(BUILD_PART, "fast", cpu, wall)
    collecting = sum(d for _, d in events)
    note(GC_PART, "fast", collecting, collecting)
    if len(dataset.files) != n or bytes(body) != original:
        raise RuntimeError("the fast path did not read the dataset as it is")
    for part, (cpu, wall) in _first_use(dataset).items():
        note(f"first use: {part}", "fast", cpu, wall)
    holder = [dataset]
    del dataset
    cpu, wall, _ = _cpu_and_wall(holder.clear)
    note(DROP_PART, "fast", cpu, wall)


def _general_round(body: bytearray, n: int, note: Callable[..., None]) -> None:
    """The general path, with the collector running as before."""
    from alink._steps import finish
    from alink.client import _parse

    gc.collect()
    with gc_watch() as events:
        decode_cpu, decode_wall, decoded = _cpu_and_wall(
            lambda: msgspec.json.decode(body)
        )
        del decoded
        cpu, wall, dataset = _cpu_and_wall(
            lambda: finish(_parse._general_steps(body, what="x", max_files=10**7))
        )
    note(
        "decode: the whole body into dicts (msgspec)",
        "general",
        decode_cpu,
        decode_wall,
    )
    # _general_steps decodes the body again: what is left is the build.
    note(
        BUILD_PART, "general", max(0.0, cpu - decode_cpu), max(0.0, wall - decode_wall)
    )
    collecting = sum(d for _, d in events)
    note(GC_PART, "general", collecting, collecting)
    if len(dataset.files) != n:
        raise RuntimeError("the general path did not read the dataset")
    for part, (cpu, wall) in _first_use(dataset).items():
        note(f"first use: {part}", "general", cpu, wall)
    holder = [dataset]
    del dataset
    cpu, wall, _ = _cpu_and_wall(holder.clear)
    note(DROP_PART, "general", cpu, wall)


def measure_parts(
    settings: Settings, url: str, token: str, n: int
) -> tuple[str, dict[str, Any]]:
    """Where alink's get_dataset time goes, part by part, against the general
    path (the whole body decoded into dicts, then the model built from them:
    how every body was read before, and still how a body the fast path
    declines is read). Each part runs on its own, synchronously, in this
    process: CPU time of the thread and wall time, median of the rounds."""
    pid = f"bench/{n}"
    asyncio = lt.Backend("asyncio")
    costs: Costs = {}

    def note(part: str, way: str, cpu: float, wall: float) -> None:
        costs.setdefault(part, {}).setdefault(way, []).append((cpu, wall))

    for _ in range(max(3, settings.repeats)):
        gc.collect()
        cpu, wall, body = asyncio.run(_fetch_body, url, token, pid)
        note(HTTP_PART, "fast", cpu, wall)
        note(HTTP_PART, "general", cpu, wall)
        _fast_round(body, n, note)
        _general_round(body, n, note)
    return _parts_table(costs)


#: The rows of the parts table, in order; the first ones add up to the call.
_PART_ROWS = (
    HTTP_PART,
    "decode: runs of typed entries (msgspec)",
    "decode: the rest of the body (msgspec)",
    "decode: the whole body into dicts (msgspec)",
    BUILD_PART,
)


def _parts_table(costs: Costs) -> tuple[str, dict[str, Any]]:
    summary: dict[str, Any] = {}
    for part, ways in costs.items():
        for way, runs in ways.items():
            summary.setdefault(part, {})[way] = {
                "cpu": statistics.median(c for c, _ in runs),
                "wall": statistics.median(w for _, w in runs),
            }

    def cell(part: str, way: str) -> str:
        got = summary.get(part, {}).get(way)
        if got is None:
            return "–"
        return f"{got['cpu'] * 1e3:.1f} ms ({got['wall'] * 1e3:.1f} ms)"

    def total(way: str, key: str) -> float:
        return sum(summary.get(p, {}).get(way, {}).get(key, 0.0) for p in _PART_ROWS)

    rows = [[part, cell(part, "fast"), cell(part, "general")] for part in _PART_ROWS]
    rows.append(
        [
            "**sum: get_dataset's work**",
            *(
                f"{total(way, 'cpu') * 1e3:.1f} ms ({total(way, 'wall') * 1e3:.1f} ms)"
                for way in ("fast", "general")
            ),
        ]
    )
    later = [p for p in costs if p not in _PART_ROWS]
    rows += [
        [f"of which {p}" if p == GC_PART else p, cell(p, "fast"), cell(p, "general")]
        for p in later
    ]
    table = markdown_table(
        ["part: median CPU time (wall time)", "alink now", "general path"], rows
    )
    return table, summary


# ---------------------------------------------------------------- verification


def _write_files(root: Path, count: int, size: int) -> list[tuple[str, int, str]]:
    """``count`` distinct files of ``size`` bytes; (path, size, md5) each."""
    block = os.urandom(size)
    specs = []
    for i in range(count):
        folder = f"d{i // 256:03d}"
        if i % 256 == 0:
            (root / folder).mkdir(parents=True)
        data = i.to_bytes(8, "big") + block[8:]
        rel = f"{folder}/f{i:06d}.bin"
        (root / rel).write_bytes(data)
        specs.append((rel, size, hashlib.md5(data).hexdigest()))
    return specs


def _run_md5sum(remote: Path, count: int) -> float:
    command = (
        f"find '{remote}' -type f -print0 | xargs -0 -P{HASH_PROCESSES} -n 64 md5sum"
    )
    began = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], check=True, stdout=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - began
    lines = done.stdout.count("\n")
    if lines != count:
        raise RuntimeError(f"md5sum hashed {lines} files, expected {count}")
    return elapsed


async def _alink_fetch(url: str, token: str, pid: str) -> Any:
    from alink import Client

    async with Client.from_token(url=url, token=token) as client:
        return await client.get_dataset(pid)


async def _alink_download(
    url: str, token: str, dataset: Any, target: Path, verify: str
) -> float:
    """Time ``Client.download_files`` with ``LinkFileTransfer`` (no SciCat
    request is made: the dataset was fetched beforehand)."""
    from alink import Client
    from alink.transfer.link import LinkFileTransfer

    async with Client.from_token(
        url=url, token=token, file_transfer=LinkFileTransfer()
    ) as client:
        began = time.perf_counter()
        result = await client.download_files(
            dataset,
            target=target,
            keep_tree=True,
            verify=verify,  # type: ignore[arg-type]
        )
        elapsed = time.perf_counter() - began
    if sum(1 for f in result.files if f.local_path is not None) != len(result.files):
        raise RuntimeError("alink did not download every file")
    return elapsed


def measure_verification(settings: Settings) -> tuple[list[Measurement], str]:
    from alink.testing import ScicatServer, make_dataset

    count, size = checksum_files(settings)
    unit = f"{size // MIB} MiB" if size % MIB == 0 else f"{size // 1024} KiB"
    case = f"{count_label(count)} × {unit}"
    asyncio = lt.Backend("asyncio")
    with scratch_dir(settings, NAME) as root:
        remote = root / "remote"
        log(f"[{NAME}] writing {count} files of {size} B (+ md5)")
        specs = _write_files(remote, count, size)
        ds, blocks = make_dataset(pid="bench/chk", source_folder=remote, files=specs)
        server = ScicatServer(
            datasets=[ds], orig_datablocks=blocks, users={"user1": "pw1"}
        )
        with server:
            url, token = server.url, server.token("user1")
            dataset = asyncio.run(_alink_fetch, url, token, "bench/chk")
            target = root / "local"

            def alink(verify: str) -> Callable[[], float]:
                def run() -> float:
                    try:
                        return asyncio.run(
                            _alink_download, url, token, dataset, target, verify
                        )
                    finally:
                        remove_tree(target)

                return run

            tools: list[tuple[str, Callable[[], float]]] = [
                (MD5SUM, lambda: _run_md5sum(remote, count)),
                (ALINK_CHECKSUM, alink("checksum")),
                (ALINK_NONE, alink("none")),
            ]
            by_tool = {name: Measurement(case, name, count) for name, _ in tools}
            for round_ in range(settings.repeats + 1):
                for name, run in rotated(tools, round_):
                    gc.collect()
                    elapsed = run()
                    if round_:
                        by_tool[name].seconds.append(elapsed)
    for m in by_tool.values():
        log(f"  verify {case} {m.tool:<26} {fmt_seconds(m.median or 0)}")
    return list(by_tool.values()), case


def verification_table(
    measurements: Sequence[Measurement], case: str
) -> tuple[str, list[Target], dict[str, float]]:
    by_tool = {m.tool: m for m in measurements}
    md5 = by_tool[MD5SUM].median or 0.0
    full = by_tool[ALINK_CHECKSUM].median or 0.0
    none = by_tool[ALINK_NONE].median or 0.0
    part = max(0.0, full - none)
    rows = [
        [MD5SUM, fmt_seconds(md5), "1.00×"],
        [f"{ALINK_CHECKSUM} (whole download)", fmt_seconds(full), f"{full / md5:.2f}×"],
        [f"{ALINK_NONE} (link only)", fmt_seconds(none), f"{none / md5:.2f}×"],
        ["alink verification (difference)", fmt_seconds(part), f"{part / md5:.2f}×"],
    ]
    table = markdown_table(["tool", f"median, {case}", "vs md5sum"], rows)
    targets = [
        Target(
            f"alink checksum verification within {TARGET_VERIFY}× of md5sum",
            part / md5 <= TARGET_VERIFY,
            f"{part / md5:.2f}× (verification part {fmt_seconds(part)}, whole"
            f" download {full / md5:.2f}×, md5sum {fmt_seconds(md5)})",
        )
    ]
    data = {"md5sum": md5, "checksum": full, "none": none, "verification": part}
    return table, targets, data


# ------------------------------------------------------------------------- run


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    tools = [name for name, _ in _get_tools()]
    if SCITACEAN not in tools:
        tools.append(SCITACEAN)
    sizes = dataset_sizes(settings)
    with _server_process(sizes) as (url, token):
        gets = measure_get_dataset(settings, url, token)
        log(f"[{NAME}] where get_dataset's time goes ({count_label(max(sizes))})")
        parts, summary = measure_parts(settings, url, token, max(sizes))
    result.measurements += gets
    result.data["parts"] = summary
    result.sections.append(
        Section(
            "get_dataset from the test SciCat server (median; ratio vs Scitacean)",
            time_table(gets, reference=SCITACEAN, tools=tools),
            notes=[
                "Both clients read the same `ScicatServer` on 127.0.0.1 in the same"
                " run, served by a child process (a real SciCat runs elsewhere: in"
                " the measuring process its threads would compete for the GIL and"
                " its records would lengthen every full garbage collection); a"
                " fresh client per call (untimed), only `get_dataset` is"
                " timed: the HTTP request, decoding ~200 bytes of JSON per file and"
                " building the dataset model. Rounds are interleaved; one warm-up"
                " round first.",
                "alink runs inside `anyio.run` (loop start-up excluded); Scitacean"
                " is synchronous and runs with no event loop.",
            ],
            targets=get_dataset_targets(gets),
        )
    )
    result.sections.append(
        Section(
            "Event-loop lag and garbage collection during get_dataset",
            lag_and_gc_table(gets),
            notes=[
                f"Lag = how much later than 1 ms a `sleep(0.001)` woke up, over"
                f" {lag_runs(settings)} extra `get_dataset` call(s) per loop (not"
                " timed runs): p99 is the median of the runs' p99, max the worst"
                " run's. *Idle loop*: the same ticker with nothing else to do, for"
                " as long as a call, between those runs: what the machine itself"
                " adds (a shared 2-CPU VM can deschedule a thread for tens of"
                " milliseconds).",
                "Collections: seen by `gc.callbacks` during the timed calls"
                " (every thread's; each holds the GIL while it runs). alink"
                " pauses automatic collection while it builds a big dataset and"
                " restores it after (`alink._gcpause`); Scitacean does not.",
            ],
            targets=lag_goal_targets(gets),
        )
    )
    result.sections.append(
        Section(
            f"Where get_dataset's time goes ({count_label(max(sizes))} files)",
            parts,
            notes=[
                "Each part run on its own, synchronously, in this process (CPU"
                " time of the thread, wall time in brackets; median of the"
                " rounds), from the same body the timed calls read. *alink now*:"
                " the file lists cut into runs decoded into typed msgspec structs"
                " (not tracked by the collector), the rest of the body decoded"
                " generically, the files built from the structs, with automatic"
                " collection paused. *General path*: the whole body decoded into"
                " dicts and the model built from them, as every body was read"
                " before (and still is when the fast path declines a body), with"
                " the collector running.",
                "First use: what a program pays later, the first time it reads"
                " the files (remote paths become `RemotePath` objects when first"
                " read in both ways; alink's `extra` mappings are decoded when"
                " first read). Dropping the dataset frees its files (the caller's"
                " cost whenever it lets go of it).",
            ],
        )
    )
    verifications, case = measure_verification(settings)
    result.measurements += verifications
    table, targets, data = verification_table(verifications, case)
    result.data["verification"] = data
    result.sections.append(
        Section(
            f"Checksum verification (md5), {case} on tmpfs",
            table,
            notes=[
                "alink: `Client.download_files(dataset, verify=...)` with"
                " `LinkFileTransfer` (the dataset was fetched beforehand); the"
                " links point at the files, so verification reads every byte"
                " through them. The difference of the two medians is the cost of"
                " verification itself.",
                f"md5sum: `find -type f -print0 | xargs -0 -P{HASH_PROCESSES} -n 64"
                " md5sum`, the whole pipeline timed (includes process start-up)."
                " alink hashes each file right after linking it, on the link"
                " engine's worker threads (hashlib releases the GIL).",
            ],
            targets=targets,
        )
    )
    return result
