"""Scenario 3 — linking from high-latency remote storage (FUSE, 1 ms per operation).

The remote folder is a FUSE passthrough mount (:mod:`benchmarks._latencyfs`,
run in its own process) that sleeps 1 ms before answering every request and
lets the kernel cache nothing, like a slow network filesystem. Links are
created on tmpfs; only reading the remote metadata pays the latency. A tool
that checks each file with its own ``stat`` pays one or more round trips per
file; one that lists each folder once pays a handful per folder. The number of
FUSE operations each run caused is reported too.

Needs ``/dev/fuse``, ``fusermount3`` (Debian: ``apt-get install -y fuse3``;
``--install-fuse`` does it when run as root) and ``mfusepy`` (the ``bench``
extra); the scenario is skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from . import _linktools as lt
from ._harness import (
    Measurement,
    ScenarioResult,
    Section,
    Settings,
    Target,
    TreeSpec,
    count_label,
    log,
    make_remote_tree,
    markdown_table,
    remove_tree,
    scratch_dir,
    time_table,
)

NAME = "fuse"
TITLE = "3. High-latency remote storage (FUSE, 1 ms per operation)"
FULL_ONLY = False

LATENCY = 0.001
NESTED_FOLDERS = 50
REFERENCE = "alink (asyncio)"
TARGET_SPEEDUP = 100
_SERVER = Path(__file__).with_name("_latencyfs.py")
_MOUNT_TIMEOUT = 15.0


def size(settings: Settings) -> int:
    if settings.sizes:
        return max(settings.sizes)
    return 300 if settings.quick else 2000


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def unavailable(settings: Settings) -> str | None:
    """Why FUSE cannot be used here, or ``None``."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (no FUSE support in this kernel/container)"
    if _fusermount() is None and settings.install_fuse and os.geteuid() == 0:
        log(f"[{NAME}] installing fuse3 with apt-get")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "fuse3"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
    if _fusermount() is None:
        return (
            "fusermount3 is not installed (Debian/Ubuntu: `apt-get install -y fuse3`,"
            " or run with --install-fuse as root)"
        )
    if importlib.util.find_spec("mfusepy") is None:
        return "mfusepy is not installed (pip install -e '.[bench]')"
    return None


class MountError(RuntimeError):
    """The FUSE filesystem could not be mounted here."""


class FuseServer:
    """A running :mod:`_latencyfs` process; talk to it for operation counts."""

    def __init__(self, process: subprocess.Popen[str], mountpoint: Path) -> None:
        self.process = process
        self.mountpoint = mountpoint

    def _ask(self, command: str) -> dict[str, int]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        line = _readline(stdout, 10.0)
        data: dict[str, int] = json.loads(line)
        return data

    def reset(self) -> None:
        self._ask("reset")

    def counts(self) -> dict[str, int]:
        return self._ask("counts")


def _readline(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError("the FUSE server did not answer")
    return stream.readline()


@contextlib.contextmanager
def mounted(backing: Path, mountpoint: Path, latency: float) -> Iterator[FuseServer]:
    """Mount ``backing`` at ``mountpoint`` with latency; always unmount on exit."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            str(_SERVER),
            str(backing),
            str(mountpoint),
            "--latency",
            str(latency),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + _MOUNT_TIMEOUT
        line = ""
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(TimeoutError):
                line = _readline(process.stdout, 0.2).strip()
            if line == "ready":
                break
        while not os.path.ismount(mountpoint) and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.02)
        if not os.path.ismount(mountpoint):
            err = ""
            if process.poll() is not None and process.stderr is not None:
                err = process.stderr.read()[-500:]
            raise MountError(f"FUSE mount did not come up: {err.strip()}")
        yield FuseServer(process, mountpoint)
    finally:
        _unmount(process, mountpoint)


def _unmount(process: subprocess.Popen[str], mountpoint: Path) -> None:
    tool = _fusermount()
    if tool and os.path.ismount(mountpoint):
        done = subprocess.run([tool, "-u", str(mountpoint)], capture_output=True)
        if done.returncode != 0:
            subprocess.run([tool, "-u", "-z", str(mountpoint)], capture_output=True)
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def measure(
    server: FuseServer,
    tool: lt.LinkTool,
    case: lt.LinkCase,
    repeats: int,
) -> Measurement:
    """Time ``tool`` (warm-up + repeats) and count the FUSE operations of a run."""
    m = Measurement(case=case.label, tool=tool.name, files=case.count)
    reason = tool.unavailable()
    if reason:
        m.skipped = reason
        return m
    ops: dict[str, int] = {}
    for i in range(repeats + 1):
        inputs = tool.prepare(case)  # fresh objects each run, as in scenario 1
        gc.collect()
        server.reset()
        elapsed = tool.run(case, inputs)
        ops = server.counts()
        del inputs
        case.verify(tool.output(case))
        tool.cleanup(case)
        if i > 0:
            m.seconds.append(elapsed)
    m.extra = {"fuse_ops": ops, "fuse_ops_total": sum(ops.values())}
    log(
        f"  {case.label:>12}  {tool.name:<18} median {m.median:.4f} s,"
        f" {sum(ops.values())} FUSE ops"
    )
    return m


def ops_table(measurements: Sequence[Measurement]) -> str:
    kinds = ["getattr", "opendir", "readdir", "releasedir", "readlink"]
    rows = []
    for m in measurements:
        if m.skipped:
            continue
        ops = m.extra["fuse_ops"]
        other = sum(v for k, v in ops.items() if k not in kinds)
        rows.append(
            [m.case, m.tool]
            + [str(ops.get(k, 0)) for k in kinds]
            + [str(other), str(sum(ops.values()))]
        )
    return markdown_table(["case", "tool", *kinds, "other", "total"], rows)


def targets(measurements: Sequence[Measurement]) -> list[Target]:
    by = {(m.case, m.tool): m.median for m in measurements}
    found = []
    for case in dict.fromkeys(m.case for m in measurements):
        for alink in ("alink (asyncio)", "alink (trio)"):
            a, s = by.get((case, alink)), by.get((case, "scitacean"))
            if a and s:
                found.append(
                    Target(
                        f"{alink}, {case}: ≥ {TARGET_SPEEDUP}× faster than Scitacean"
                        + ("" if case.startswith("flat") else " (goal set for flat)"),
                        s / a >= TARGET_SPEEDUP,
                        f"{s / a:.0f}× ({a * 1e3:.1f} ms vs {s:.2f} s)",
                    )
                )
    return found


def run(settings: Settings) -> ScenarioResult:
    result = ScenarioResult(NAME, TITLE)
    reason = unavailable(settings)
    if reason:
        log(f"[{NAME}] skipped: {reason}")
        result.skipped = reason
        return result
    n = size(settings)
    repeats = min(settings.repeats, 3)
    specs = [TreeSpec("flat", n), TreeSpec("nested", n, folders=NESTED_FOLDERS)]
    tools: list[lt.LinkTool] = [
        *(lt.AlinkTool(b) for b in lt.backends("asyncio", "trio")),
        lt.ScitaceanTool(),
    ]
    with scratch_dir(settings, NAME) as root:
        backing, mountpoint = root / "backing", root / "mnt"
        cases = []
        for spec in specs:
            name = f"ds-{spec.layout}"
            rel = make_remote_tree(backing / name, spec)
            local = root / f"local-{spec.layout}"
            case = lt.LinkCase(spec, mountpoint / name, local, rel)
            case.prepare_local()
            cases.append(case)
        try:
            with mounted(backing, mountpoint, LATENCY) as server:
                for case in cases:
                    for tool in tools:
                        result.measurements.append(measure(server, tool, case, repeats))
        except MountError as exc:
            result.skipped = str(exc)
            log(f"[{NAME}] skipped: {exc}")
            return result
        finally:
            if os.path.ismount(mountpoint):  # never delete through a live mount
                raise RuntimeError(f"{mountpoint} is still mounted")
            remove_tree(mountpoint)
    folders = f"{NESTED_FOLDERS} folders"
    result.sections.append(
        Section(
            f"{count_label(n)} files, flat and over {folders}: time (median of"
            f" {repeats}) and ratio vs alink (asyncio)",
            time_table(result.measurements, reference=REFERENCE),
            notes=[
                f"Every FUSE request sleeps {LATENCY * 1e3:.0f} ms; the kernel caches"
                " no entries or attributes (timeouts 0), so each path lookup reaches"
                " the server. Links are created on tmpfs.",
                "libfuse's high-level API serves one directory listing from a single"
                " readdir call of the filesystem, so a whole folder costs one"
                " latency; a network filesystem needs one round trip per few"
                " hundred entries.",
            ],
            targets=targets(result.measurements),
        )
    )
    result.sections.append(
        Section("FUSE operations per run", ops_table(result.measurements))
    )
    return result
