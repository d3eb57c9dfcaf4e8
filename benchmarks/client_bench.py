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
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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

#: Goal: alink's get_dataset at least this many times faster than Scitacean's.
TARGET_SPEEDUP = 3.0
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
    url: str, token: str, pid: str, lags: list[float] | None = None
) -> tuple[float, int]:
    """Time one alink ``get_dataset`` (client creation untimed).

    With ``lags``, a ticker runs on the loop meanwhile and records its lags.
    """
    from alink import Client

    async with (
        Client.from_token(url=url, token=token) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        if lags is not None:
            await stack.enter_async_context(ticking(lags))
        began = time.perf_counter()
        dataset = await client.get_dataset(pid)
        elapsed = time.perf_counter() - began
    return elapsed, len(dataset.files)


def _scitacean_get(url: str, token: str, pid: str) -> tuple[float, int]:
    """Time one Scitacean ``get_dataset`` (synchronous; no event loop runs)."""
    from scitacean import Client

    client = Client.from_token(url=url + "/v3", token=token, **_scitacean_kwargs())
    began = time.perf_counter()
    dataset = client.get_dataset(pid)
    elapsed = time.perf_counter() - began
    return elapsed, len(dataset.files)


GetRun = Callable[[str, str, str], tuple[float, int]]


def _alink_on(loop: lt.Backend) -> GetRun:
    def run(url: str, token: str, pid: str) -> tuple[float, int]:
        return loop.run(_alink_get, url, token, pid)

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


def measure_get_dataset(settings: Settings) -> list[Measurement]:
    sizes = dataset_sizes(settings)
    tools = _get_tools()
    measurements: list[Measurement] = []
    with _server_process(sizes) as (url, token):
        for n in sizes:
            pid = f"bench/{n}"
            case = f"{count_label(n)} files"
            by_tool = {name: Measurement(case, name, n) for name, _ in tools}
            if _scitacean_missing():
                measurements.append(
                    Measurement(case, SCITACEAN, n, skipped=_scitacean_missing())
                )
            for round_ in range(settings.repeats + 1):  # round 0 warms up
                for name, run in rotated(tools, round_):
                    gc.collect()
                    elapsed, got = run(url, token, pid)
                    if got != n:
                        raise RuntimeError(f"{name} read {got} files, expected {n}")
                    if round_:
                        by_tool[name].seconds.append(elapsed)
            for loop in lt.backends("asyncio", "trio"):
                if not loop.unavailable():
                    gc.collect()
                    lags: list[float] = []
                    loop.run(_alink_get, url, token, pid, lags)
                    by_tool[f"alink ({loop.name})"].extra["lag"] = lag_summary(lags)
            for m in by_tool.values():
                median = fmt_seconds(m.median or 0)
                log(f"  get_dataset {case:<12} {m.tool:<18} {median}")
            measurements += by_tool.values()
    return measurements


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
        found.append(
            Target(
                f"{m.tool}, {m.case}: ≥ {TARGET_SPEEDUP:.0f}× faster than Scitacean",
                speedup >= TARGET_SPEEDUP,
                f"{speedup:.1f}× ({fmt_seconds(m.median)} vs"
                f" {fmt_seconds(ref.median)})",
            )
        )
    return found


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
    gets = measure_get_dataset(settings)
    result.measurements += gets
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
            "Event-loop lag during get_dataset (1 ms ticker, one extra run)",
            lag_table(gets),
            notes=[
                "Lag = how much later than 1 ms a `sleep(0.001)` woke up, over one"
                " extra `get_dataset` per loop (not one of the timed runs). A big"
                " answer's files are built in steps of a few milliseconds on worker"
                " threads, but its JSON is decoded in one C call that holds the GIL"
                " (~80 ms at 100k files), and the 200k objects the dataset adds"
                " trigger full garbage collections, which walk every object of the"
                " process holding the GIL.",
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
