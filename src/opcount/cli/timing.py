"""The CLI's time options: ``--roofline NAME``, ``--timing``, ``--trace PATH``, ``--device-spec``
NAME."""

from __future__ import annotations

import argparse
import sys

from ..counter import OpCounter
from ..devices import device_spec
from ..errors import OpCountError
from ..timing.table import format_seconds
from .models import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the time options to the ``opcount`` parser."""
    parser.add_argument(
        "--roofline",
        metavar="NAME",
        help="print estimated time, share, bound and intensity per module on device NAME "
        "(e.g. h100-sxm; see opcount.DEVICES)",
    )
    parser.add_argument(
        "--timing", action="store_true", help="measure each op's time (a time_s column)"
    )
    parser.add_argument(
        "--trace",
        metavar="PATH",
        help="write a Trace Event Format file (chrome://tracing, ui.perfetto.dev); times are "
        "measured with --timing, else estimated on --device-spec",
    )
    parser.add_argument(
        "--device-spec",
        metavar="NAME",
        help="device for the trace's estimated times and est_time_s args, and the --html "
        "roofline (default: --roofline's)",
    )


def check(args: argparse.Namespace, models: int) -> None:
    """Usage errors of the time options, before any model runs."""
    used = [
        f"--{n}" for n in ("roofline", "trace", "device-spec") if getattr(args, n.replace("-", "_"))
    ]
    if args.timing:
        used.append("--timing")
    if used and models > 1:
        raise UsageError(f"{', '.join(used)} report one model's run; give one MODEL")
    for option in ("roofline", "device_spec"):
        name = getattr(args, option)
        if name is not None:
            try:
                device_spec(name)
            except OpCountError as error:
                raise UsageError(f"--{option.replace('_', '-')} {name!r}: {error}") from None
    if args.trace and not args.timing and not (args.device_spec or args.roofline):
        raise UsageError(
            "--trace needs times: add --timing (measured) or --device-spec NAME (estimated)"
        )


def report(args: argparse.Namespace, counter: OpCounter) -> None:
    """Print and write what the time options ask for, after the run."""
    if args.timing and not args.quiet:
        measured = float(counter.to_dataframe()["time_s"].sum())
        print(f"measured: {format_seconds(measured)} in the ops' own calls")
    if args.roofline:
        if args.quiet:
            seconds = counter.estimated_time(args.roofline)
            print(f"estimated on {args.roofline}: {format_seconds(seconds)}")
        else:
            print(counter.roofline_table(args.roofline, depth=args.depth))
    if args.trace:
        counter.to_chrome_trace(args.trace, args.device_spec or args.roofline)
        print(f"wrote the trace to {args.trace}", file=sys.stderr)
