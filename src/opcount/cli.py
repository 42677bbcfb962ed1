"""The ``opcount`` command: count a model from the shell.

``opcount torchvision:resnet50`` builds the model with ``weights=None``, feeds one input of the
size its published weights use, counts the forward pass in eval mode and prints the totals and
top-level modules. Usage errors exit with status 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .counter import OpCounter
from .errors import OpCountError


class UsageError(OpCountError):
    """A bad command line: reported in one line with exit status 2."""


def build_torchvision(name: str) -> tuple[nn.Module, torch.Tensor]:
    """A torchvision model with random weights and a batch-1 input at its weights' crop size."""
    try:
        import torchvision.models as tv_models
    except ImportError as error:
        raise UsageError(
            "torchvision is not installed; install it with: pip install 'opcount[vision]'"
        ) from error
    available = tv_models.list_models()
    if name not in available:
        close = difflib.get_close_matches(name.lower(), available, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"unknown torchvision model {name!r}.{hint} List them with: "
            "python -c 'import torchvision; print(torchvision.models.list_models())'"
        )
    model = tv_models.get_model(name, weights=None)
    return model.eval(), torch.randn(1, 3, *_input_size(name))


def _input_size(name: str) -> tuple[int, int]:
    """(height, width) from the model's published weights' preset, else 224 x 224."""
    import torchvision.models as tv_models

    try:
        weights = tv_models.get_model_weights(name)
        preset = next(iter(weights)).transforms()
    except (ValueError, StopIteration, TypeError):
        return 224, 224
    crop = getattr(preset, "crop_size", None)
    if crop:
        return int(crop[0]), int(crop[-1])
    return 224, 224


def parse_model(spec: str) -> tuple[nn.Module, torch.Tensor]:
    """Build the model a MODEL argument names."""
    source, sep, name = spec.partition(":")
    if not sep or not name:
        raise UsageError(
            f"model {spec!r} must look like torchvision:NAME, e.g. torchvision:resnet50"
        )
    if source == "torchvision":
        return build_torchvision(name)
    raise UsageError(f"unknown model source {source!r} in {spec!r}; use torchvision:NAME")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opcount",
        description="Count the FLOPs, MACs and bytes of a PyTorch model, per aten op and module.",
    )
    parser.add_argument("model", help="the model to count, e.g. torchvision:resnet50")
    parser.add_argument("--csv", metavar="PATH", help="write one row per aten op call to PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``opcount`` command; returns the exit status."""
    parser = make_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # model constructors' own FutureWarnings are noise here; unsupported ops are listed in
        # the printed summary instead of a warning
        warnings.simplefilter("ignore")
        try:
            model, x = parse_model(args.model)
        except UsageError as error:
            print(f"opcount: error: {error}", file=sys.stderr)
            return 2
        with torch.no_grad(), OpCounter(model) as counter:
            model(x)
    print(f"{args.model}, input {list(x.shape)}, forward, eval mode")
    print(counter)
    if args.csv:
        counter.to_csv(args.csv)
        print(f"wrote {len(counter.to_dataframe())} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
