"""Coverage of opcount's formulas over PyTorch's OpInfo database.

Runs every float32 CPU OpInfo sample (forward, and backward where the op supports autograd)
under ``OpCounter`` and prints the distinct aten ops reached, how many are counted, free or
unsupported, and the unsupported ones by name with call counts. It asserts nothing: the tests
in ``tests/test_opinfo_sweep.py`` do.

    python scripts/op_coverage.py                # the full sweep (every sample; minutes)
    python scripts/op_coverage.py --quick        # the CI subset, first sample of each
    python scripts/op_coverage.py --markdown docs/coverage.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import opinfo_sweep
from opinfo_sweep import Coverage


def run(quick: bool, only: list[str] | None, limit: int | None, verbose: bool) -> Coverage:
    """Sweep the OpInfos (the CI subset with ``quick``) and aggregate the results."""
    ops = opinfo_sweep.fast_ops() if quick else opinfo_sweep.op_db()
    if only:
        ops = [op for op in ops if opinfo_sweep.opinfo_name(op) in only]
    if quick and limit is None:
        limit = 1
    coverage = Coverage(opinfos=len(ops))
    start = time.perf_counter()

    def progress(name: str) -> None:
        if verbose:
            print(f"[{time.perf_counter() - start:7.1f} s] {name}", file=sys.stderr, flush=True)

    for result in opinfo_sweep.sweep(ops, limit=limit, progress=progress):
        coverage.add(result)
    coverage.seconds = time.perf_counter() - start
    return coverage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI subset, first sample each")
    parser.add_argument("--limit", type=int, help="at most this many samples per OpInfo")
    parser.add_argument("--op", action="append", help="only this OpInfo (repeatable)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables to PATH")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    coverage = run(args.quick, args.op, args.limit, args.verbose)
    print("\n".join(coverage.summary()))
    if args.markdown:
        command = "python scripts/op_coverage.py" + (" --quick" if args.quick else "")
        if args.limit:
            command += f" --limit {args.limit}"
        Path(args.markdown).write_text(coverage.markdown(command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
