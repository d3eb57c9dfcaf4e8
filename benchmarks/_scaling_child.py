"""One scaling measurement in a fresh process (run by :mod:`benchmarks.scaling`).

A fresh process per (tool, layout, size) keeps memory numbers honest: nothing
another tool allocated is in the way. Steps:

1. warm up the tool on the first 1000 files (imports, thread pools, caches);
2. build the tool's inputs and note the RSS (``VmRSS``);
3. per timed run: reset the peak RSS to the current RSS (write ``5`` to
   ``/proc/self/clear_refs``, Linux ≥ 4.0), run, read the peak (``VmHWM``):
   peak minus the RSS before the run is what the run itself needed beyond
   its inputs; a sampler thread records the most threads seen.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
import time
from pathlib import Path
from typing import Any

from . import _linktools as lt
from ._harness import TreeSpec, remove_tree

WARMUP_FILES = 1000


def status_kb(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def status_threads() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return threading.active_count()


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class ThreadSampler:
    """Records the most threads this process had while running (minus itself)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, status_threads() - 1)
            self._stop.wait(self.interval)

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_tool(name: str) -> lt.LinkTool:
    tools: dict[str, Any] = {
        "alink (asyncio)": lambda: lt.AlinkTool(lt.Backend("asyncio")),
        "alink (trio)": lambda: lt.AlinkTool(lt.Backend("trio")),
        "python loop": lt.PythonLoopTool,
        "scitacean": lt.ScitaceanTool,
        "C symlink()": lt.CLoopTool,
    }
    tool: lt.LinkTool = tools[name]()
    return tool


def measure(
    tool: lt.LinkTool, spec: TreeSpec, remote: Path, local: Path, repeats: int
) -> dict[str, Any]:
    rel = spec.relative_paths()
    case = lt.LinkCase(spec, remote, local, rel)
    warm = lt.LinkCase(
        TreeSpec(spec.layout, min(WARMUP_FILES, spec.count)),
        remote,
        local.with_name(local.name + "-warm"),
        rel[:WARMUP_FILES],
    )
    warm.local.mkdir()
    for sub in dict.fromkeys(r.rpartition("/")[0] for r in warm.rel):
        if sub:
            (warm.local / sub).mkdir()
    tool.run(warm, tool.prepare(warm))
    warm.verify(tool.output(warm))
    tool.cleanup(warm)
    remove_tree(warm.local)
    case.prepare_local()

    gc.collect()
    rss_start = status_kb("VmRSS")
    inputs = tool.prepare(case)
    gc.collect()
    rss_inputs = status_kb("VmRSS")
    seconds: list[float] = []
    peaks: list[int] = []
    can_reset = reset_peak()
    sample = 10_000 if spec.count > 100_000 else None
    with ThreadSampler() as sampler:
        for _ in range(repeats):
            gc.collect()
            reset_peak()
            before = status_kb("VmRSS")
            seconds.append(tool.run(case, inputs))
            peak = status_kb("VmHWM")
            if can_reset and before is not None and peak is not None:
                peaks.append(peak - before)
            case.verify(tool.output(case), sample=sample)
            tool.cleanup(case)
    del inputs
    tool.close()
    remove_tree(case.local)
    return {
        "seconds": seconds,
        "rss_start_kb": rss_start,
        "inputs_kb": (rss_inputs - rss_start if rss_start and rss_inputs else None),
        "peak_extra_kb": peaks,
        "max_threads": sampler.most,
        "peak_measurable": can_reset,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--layout", required=True, choices=["flat", "nested"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--remote", type=Path, required=True)
    parser.add_argument("--local", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tool = make_tool(args.tool)
    reason = tool.unavailable()
    if reason:
        print(json.dumps({"skipped": reason}))
        return
    began = time.perf_counter()
    data = measure(
        tool, TreeSpec(args.layout, args.count), args.remote, args.local, args.repeats
    )
    data["wall"] = time.perf_counter() - began
    print(json.dumps(data))


if __name__ == "__main__":
    main()
