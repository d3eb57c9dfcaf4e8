"""Command line: ``python -m benchmarks [--quick] [--only NAME] [--json PATH]``.

Runs the selected scenarios, prints a Markdown report on stdout (progress goes
to stderr), writes the results as JSON (and the report as Markdown beside it)
under ``benchmarks/results/``, and draws the throughput plot.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from . import (
    client_bench,
    copy_throughput,
    fuse_latency,
    link_throughput,
    plot,
    responsiveness,
    scaling,
    sftp_transfer,
)
from ._harness import (
    ScenarioResult,
    Settings,
    log,
    machine_info,
    machine_markdown,
)

#: Every scenario module, in run order.
SCENARIOS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        link_throughput,
        responsiveness,
        fuse_latency,
        scaling,
        client_bench,
        copy_throughput,
        sftp_transfer,
    )
}
RESULTS = Path(__file__).with_name("results")


def _parser() -> argparse.ArgumentParser:
    names = [*SCENARIOS, plot.NAME]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="alink link benchmarks: alink against its baselines, same run.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small sizes, 2 repeats, no scaling scenario (about 2 minutes)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write the JSON results (default: benchmarks/results/...)",
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repeats per measurement (default 5, quick 2)"
    )
    parser.add_argument(
        "--install-fuse",
        action="store_true",
        help="apt-get install fuse3 if fusermount3 is missing (needs root)",
    )
    return parser


def select(only: list[str] | None, quick: bool) -> list[ModuleType]:
    """The scenarios to run: ``--only`` ones, else all (quick skips full-only ones)."""
    if only:
        return [SCENARIOS[n] for n in SCENARIOS if n in only]
    return [m for m in SCENARIOS.values() if not (quick and m.FULL_ONLY)]


def render(
    results: list[ScenarioResult], info: dict[str, Any], mode: str, stamp: str
) -> str:
    """The whole report as Markdown."""
    parts = [
        f"# alink link benchmarks — {mode} run, {stamp}",
        "",
        machine_markdown(info),
        *(f"\n{r.markdown()}" for r in results),
    ]
    return "\n".join(parts) + "\n"


def default_json(mode: str, only: list[str] | None) -> Path:
    suffix = "-" + "-".join(only) if only else ""
    return RESULTS / f"link-{mode}{suffix}.json"


def write_results(
    path: Path,
    results: list[ScenarioResult],
    info: dict[str, Any],
    settings: Settings,
    mode: str,
    stamp: str,
) -> None:
    """Write (or rewrite) the JSON results; called after every scenario."""
    data = {
        "mode": mode,
        "started": stamp,
        "repeats": settings.repeats,
        "machine": info,
        "scenarios": {r.name: r.to_json() for r in results},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kwargs: dict[str, Any] = {"install_fuse": args.install_fuse}
    if args.repeats:
        kwargs["repeats"] = args.repeats
    settings = Settings.for_mode(quick=args.quick, **kwargs)
    mode = "quick" if args.quick else "full"
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    json_path: Path = args.json or default_json(mode, args.only)
    info = machine_info(settings)

    if args.only == [plot.NAME]:
        source = json_path if json_path.exists() else default_json(mode, None)
        log(f"[plot] from {source}")
        plot.from_json(source, source.with_suffix(".png"))
        return 0

    results: list[ScenarioResult] = []
    failed = False
    for module in select(args.only, args.quick):
        log(f"[{module.NAME}] {module.TITLE}")
        began = time.perf_counter()
        try:
            results.append(module.run(settings))
        except Exception as exc:  # one broken scenario must not lose the others
            failed = True
            traceback.print_exc()
            results.append(
                ScenarioResult(module.NAME, module.TITLE, skipped=f"FAILED: {exc!r}")
            )
        log(f"[{module.NAME}] done in {time.perf_counter() - began:.1f} s")
        write_results(json_path, results, info, settings, mode, stamp)

    report = render(results, info, mode, stamp)
    sys.stdout.write(report)
    json_path.with_suffix(".md").write_text(report)
    log(f"results: {json_path} (+ .md)")
    if {link_throughput.NAME, scaling.NAME} & {r.name for r in results}:
        plot.from_json(json_path, json_path.with_suffix(".png"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
