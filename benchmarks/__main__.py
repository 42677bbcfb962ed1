"""``python -m benchmarks [--quick] [--output PATH] [FAMILY ...]``: run, print, write Markdown."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

import torch

from . import end_to_end, hooks, meta_scale, per_op, report_building, training_loop
from .timing import Result

FAMILIES: dict[str, ModuleType] = {
    m.NAME: m for m in (per_op, hooks, end_to_end, report_building, meta_scale, training_loop)
}
"""Family name -> module with ``run(quick) -> list[Result]``, in the order they run."""

DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "benchmarks.md")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming the machine and the software measured."""
    return (
        f"{_cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"(intra-op threads: {torch.get_num_threads()}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _value(result: Result) -> str:
    if isinstance(result.value, int) or result.unit in ("MACs", "FLOPs"):
        return f"{int(result.value):,}"
    return f"{result.value:.3g}" if abs(result.value) < 100 else f"{result.value:,.0f}"


def _row(result: Result) -> list[str]:
    ratio = "" if result.ratio is None else f"{result.ratio:.2f}x"
    met = {None: "", True: "yes", False: "**no**"}[result.met]
    return [result.family, result.name, _value(result), result.unit, ratio, result.target, met]


HEADER = ["family", "measurement", "value", "unit", "vs plain", "target", "met"]


def markdown_table(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in results]
    return "\n".join(lines)


def markdown(results: Sequence[Result], command: str, seconds: float) -> str:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Overhead and scale of opcount, measured by `benchmarks/` (each family's module",
            "docstring says what its lines time). Every ratio compares variants run",
            "interleaved in one process and takes medians of repeated runs, so ratios are",
            "comparable; absolute times are this machine's only. \"vs plain\" is the run's",
            "time divided by the uninstrumented run's. Variants: *empty mode* is a",
            "`TorchDispatchMode` that only runs each op (the floor of any Python mode);",
            "*opcount* is `OpCounter()` with default options (a call equal to an earlier",
            "one in the run reuses its row); *opcount, no reuse* measures every call, as a",
            "run whose calls never repeat; *recording floor* keeps only each op, its input",
            "shapes, dtype and device and reads what attributes it (backward pass id,",
            "autograd sequence number), with no formula or bytes: about the least any counter",
            "recording every column adds; *FlopCounterMode* is",
            "`torch.utils.flop_counter.FlopCounterMode(display=False)`. *training_loop*",
            "runs 50 training steps of a small transformer (forward, backward, AdamW step,",
            "zero_grad) plain and 50 inside `opcount.StepMeter.step()`, interleaved, and",
            "compares median step times; only the meter's first step is counted (shown apart).",
            "",
            "Run it with `python -m benchmarks [--quick] [--threads N] [FAMILY ...]`",
            f"(families: {', '.join(FAMILIES)}); without family names or `--quick` it",
            "rewrites this file. `--threads 1` pins torch to one intra-op thread: where",
            "other processes keep the machine's cores busy, a second OpenMP thread waits for",
            "a core at every parallel region and the timings of all variants become noise.",
            "Per-op and hook costs are CPU time of the benchmark's thread, which other",
            "processes disturb least; the rest is wall time.",
            "",
            f"- machine: {machine()}",
            f"- date: {date}",
            f"- command: `{command}` ({seconds:.0f} s)",
            "",
            markdown_table(results),
            "",
        ]
    )


def _print(result: Result) -> None:
    cells = _row(result)
    print(f"  {cells[1]:<62} {cells[2]:>14} {cells[3]:<6} {cells[4]:>7}  {cells[5]} {cells[6]}")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None, emit: Callable[[Result], None] = _print) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "families",
        nargs="*",
        choices=[[], *FAMILIES],
        metavar="FAMILY",
        help=f"families to run (default: all): {', '.join(FAMILIES)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (default: torch's own choice); 1 keeps timings usable "
        "on a machine whose other cores are busy",
    )
    parser.add_argument(
        "--output",
        help="Markdown file to write (default: docs/benchmarks.md when every family runs "
        "without --quick; otherwise nothing is written)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = args.families or list(FAMILIES)
    output = args.output
    if output is None and not args.families and not args.quick:
        output = DEFAULT_OUTPUT
    print(machine())
    start = time.perf_counter()
    results: list[Result] = []
    for name in names:
        print(f"{name}:")
        for result in FAMILIES[name].run(args.quick):
            emit(result)
            results.append(result)
    seconds = time.perf_counter() - start
    if output:
        command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(markdown(results, command, seconds))
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
