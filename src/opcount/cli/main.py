"""The ``opcount`` command: count any model from a shell.

``opcount torchvision:resnet50`` builds the model with random weights, feeds an input of the size
its published weights use, counts the run and prints the module table. Exit status: 0 ok, 1 the
model itself failed (its error and the module that was running are shown), 2 bad usage (a
one-line message that names the bad value; never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch

from ..counter import OpCounter
from ..errors import OpCountError
from ..reports.format import format_compute
from .inputs import DTYPES, InputSpec, InputSpecError, parse_input
from .models import LoadedModel, ModelError, UsageError, load_model
from .sweep import SweepRow, render_sweep, sweep_frame, sweep_models
from .timing import add_arguments as add_time_arguments
from .timing import check as check_time_options
from .timing import report as time_report

_DEVICES = ("cpu", "cuda", "meta")
_FLOAT_DTYPES = ("float32", "bfloat16", "float16")
_BY = ("module", "op", "category", "phase")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (argparse's own usage dump is noise here)."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="opcount",
        description=(
            "Count the FLOPs, MACs and bytes of a PyTorch model, per aten op and per module. "
            "MODEL is torchvision:NAME (e.g. torchvision:resnet50), timm:NAME, "
            "package.module:callable or path/to/file.py:callable; hf:MODEL_TYPE, "
            "hf:path/to/config.json or hf:DIR builds a Hugging Face model from its config "
            "(nothing is downloaded)."
        ),
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="model(s) to count")
    parser.add_argument(
        "--input",
        action="append",
        metavar="SHAPE[:DTYPE]",
        help="an input, e.g. 1x3x224x224 or 1x128:int64; repeat for several inputs",
    )
    parser.add_argument("--batch", type=int, metavar="N", help="batch size (first dim of inputs)")
    parser.add_argument("--backward", action="store_true", help="also count backward of a loss")
    parser.add_argument("--train", action="store_true", help="run in train mode (default eval)")
    parser.add_argument(
        "--optimizer",
        metavar="NAME",
        help="count a whole training step with this optimizer (adamw, adam, sgd, adagrad, "
        "rmsprop); implies --backward --train",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or meta (meta: no memory)")
    parser.add_argument("--dtype", help="float32, bfloat16 or float16 (model and float inputs)")
    parser.add_argument("--depth", type=int, default=1, help="module tree depth to print")
    parser.add_argument("--by", default="module", help="table: module, op, category or phase")
    parser.add_argument("--csv", metavar="PATH", help="write the rows (or sweep table) as CSV")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    parser.add_argument("--parquet", metavar="PATH", help="write the rows as Parquet")
    parser.add_argument(
        "--html", metavar="PATH", help="write a self-contained HTML report (a sweep: one page)"
    )
    parser.add_argument(
        "--all",
        metavar="SOURCE",
        help="count every model of SOURCE: torchvision (classification) or torchvision:all",
    )
    parser.add_argument(
        "--list-models", nargs="?", const="", metavar="FILTER", help="list model names and exit"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the totals line")
    parser.add_argument(
        "--config",
        action="append",
        metavar="KEY=VALUE",
        help="hf: override a config field, e.g. num_hidden_layers=2; repeatable",
    )
    parser.add_argument("--prompt", type=int, metavar="N", help="hf: prompt length (default 128)")
    parser.add_argument(
        "--generate", type=int, metavar="N", help="hf: prefill the prompt, then N decode steps"
    )
    add_time_arguments(parser)
    return parser


def _check_options(args: argparse.Namespace) -> tuple[list[InputSpec] | None, torch.dtype | None]:
    if args.device not in _DEVICES:
        raise UsageError(f"--device {args.device!r}: choose one of {', '.join(_DEVICES)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here; use cpu or meta")
    if args.dtype is not None and args.dtype not in _FLOAT_DTYPES:
        raise UsageError(f"--dtype {args.dtype!r}: choose one of {', '.join(_FLOAT_DTYPES)}")
    if args.by not in _BY:
        raise UsageError(f"--by {args.by!r}: choose one of {', '.join(_BY)}")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be a positive integer")
    if args.depth < 0:
        raise UsageError(f"--depth {args.depth}: must be 0 or more")
    if args.optimizer is not None:
        from ..training.optimizers import OPTIMIZERS

        if args.optimizer.lower() not in OPTIMIZERS:
            raise UsageError(
                f"--optimizer {args.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}"
            )
        args.backward = args.train = True  # a training step: the loss's backward, train mode
    specs = [parse_input(text) for text in args.input] if args.input else None
    return specs, DTYPES[args.dtype] if args.dtype else None


def _list_models(pattern: str) -> None:
    import torchvision.models as tvm

    names = [f"torchvision:{n}" for n in tvm.list_models()]
    try:
        import timm

        names += [f"timm:{n}" for n in timm.list_models()]
    except ImportError:
        pass
    for name in names:
        if pattern.lower() in name.lower():
            print(name)


def _print_single(args: argparse.Namespace, loaded: LoadedModel, counter: OpCounter) -> None:
    shapes = [list(a.shape) for a in loaded.args if isinstance(a, torch.Tensor)]
    passes = "forward + backward" if args.backward else "forward"
    if args.optimizer:
        passes += f" + {args.optimizer} step"
    mode = "train" if args.train else "eval"
    header = f"{loaded.name}, inputs {shapes}, {passes}, {mode} mode, {args.device}"
    if args.quiet:
        print(
            f"{loaded.name}: {format_compute(counter.total_macs, 'MACs')}, "
            f"{format_compute(counter.total_flops, 'FLOPs')}"
        )
        return
    print(header)
    if args.by == "module":
        print(counter.table(depth=args.depth))
    else:
        frame = getattr(counter, f"by_{args.by}")()
        print(frame.to_string(index=False))


def _title(args: argparse.Namespace, loaded: LoadedModel) -> str:
    passes = "forward + backward" if args.backward else "forward"
    return f"{loaded.name}: {passes}, {'train' if args.train else 'eval'} mode, {args.device}"


def _export(args: argparse.Namespace, counter: OpCounter) -> None:
    for option, method in (("csv", "to_csv"), ("json", "to_json"), ("parquet", "to_parquet")):
        path = getattr(args, option)
        if path:
            getattr(counter, method)(path)
            print(f"wrote {len(counter.to_dataframe())} rows to {path}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    specs, dtype = _check_options(args)
    if args.list_models is not None:
        _list_models(args.list_models)
        return 0
    names = list(args.models)
    if args.all:
        names += _all_models(args.all)
    if not names:
        raise UsageError("no MODEL given; e.g. opcount torchvision:resnet50 (see --help)")
    if len(names) == 1 and names[0].startswith("hf:"):
        from .hf import run_hf

        return run_hf(args, names[0], specs, dtype, _print_single, _export)
    if args.config or args.prompt is not None or args.generate is not None:
        raise UsageError("--config, --prompt and --generate apply to one hf: model")
    check_time_options(args, len(names))
    if len(names) == 1:
        from .runner import count_run

        loaded = load_model(names[0], args.device, specs, args.batch)
        counter = count_run(
            loaded,
            backward=args.backward,
            train=args.train,
            dtype=dtype,
            timing=args.timing,
            optimizer=args.optimizer,
        )
        _print_single(args, loaded, counter)
        _export(args, counter)
        if args.html:
            device = args.device_spec or args.roofline  # a roofline on that device's roofs
            counter.to_html(args.html, title=_title(args, loaded), device=device)
            print(f"wrote the HTML report to {args.html}", file=sys.stderr)
        time_report(args, counter)
        return 0
    if args.json or args.parquet:
        raise UsageError("--json and --parquet write one model's rows; use --csv for a sweep")
    if args.optimizer:
        raise UsageError("--optimizer counts one model's training step; name a single MODEL")
    rows: list[SweepRow] = sweep_models(
        names,
        device=args.device,
        specs=specs,
        batch=args.batch,
        backward=args.backward,
        train=args.train,
        dtype=dtype,
    )
    print(render_sweep(rows, backward=args.backward))
    if args.csv:
        sweep_frame(rows).to_csv(args.csv, index=False)
        print(f"wrote {len(rows)} rows to {args.csv}", file=sys.stderr)
    if args.html:
        from ..reports.html import sweep_page, write_page

        write_page(sweep_page([asdict(r) for r in rows]), args.html)
        print(f"wrote the HTML report of {len(rows)} models to {args.html}", file=sys.stderr)
    return 1 if any(r.error for r in rows) else 0


def _all_models(source: str) -> list[str]:
    if source not in ("torchvision", "torchvision:all"):
        raise UsageError(f"--all {source!r}: use torchvision (classification) or torchvision:all")
    import torchvision.models as tvm

    module = tvm if source == "torchvision" else None
    return [f"torchvision:{n}" for n in tvm.list_models(module=module)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``opcount`` command; returns the exit status."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        return _run(args)
    except (UsageError, InputSpecError) as error:
        print(f"opcount: error: {error}", file=sys.stderr)
        return 2
    except ModelError as error:
        print(f"opcount: {error}", file=sys.stderr)
        return 1
    except OpCountError as error:
        print(f"opcount: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
